//! A MAAR that missed its node's move (the CMD's update lost, then a restart or a refresh)
//! re-registers the node with Handoff Indicator 5: the CMD refuses it and sends the update
//! again, and the MAAR ends redirecting the prefix to the serving MAAR, whichever of the two
//! answers arrives first.

use std::time::Duration;

use super::{
    tests::{CMD, M1, M2, MN, RealCmd, answer, cmd_pbu, maar, pba_of, pbu_of, registered, start},
    *,
};
use anchor_cmd::MobilityStore as _;
use anchor_signal::{HandoffIndicator, Lifetime, Pbu, Status};

fn handoff_of(pbu: &Pbu) -> Option<HandoffIndicator> {
    pbu.options.iter().find_map(|o| match o {
        MobilityOption::HandoffIndicator(h) => Some(*h),
        _ => None,
    })
}

#[test]
fn an_attachment_says_unknown_and_a_refresh_and_a_detachment_say_not_changed() {
    let mut m = maar(M1, "2001:db8:a1::/48");
    let now = start();
    let (_, attach) = registered(&mut m, now);
    assert_eq!(handoff_of(&attach), Some(HandoffIndicator::UNKNOWN));
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m.poll(now.plus(Duration::from_secs(20)), &mut out, &mut actions);
    let refresh = pbu_of(&out[0]);
    assert_eq!(handoff_of(refresh), Some(HandoffIndicator::NOT_CHANGED));
    out.clear();
    m.detach(now.plus(Duration::from_secs(21)), &MN, &mut out)
        .unwrap();
    assert_eq!(
        handoff_of(pbu_of(&out[0])),
        Some(HandoffIndicator::NOT_CHANGED)
    );
}

#[test]
fn a_restored_registered_node_is_re_registered_as_not_changed() {
    let now = start();
    let mut m = maar(M1, "2001:db8:a1::/48");
    registered(&mut m, now);
    let pending = maar(M1, "2001:db8:a1::/48");
    let mut registering = pending;
    let mut out = Vec::new();
    registering.attach(now, MN, "acc", &mut out).unwrap();

    for (engine, expected) in [
        (m, HandoffIndicator::NOT_CHANGED),
        (registering, HandoffIndicator::UNKNOWN),
    ] {
        let mut restarted = maar(M1, "2001:db8:a1::/48");
        let (mut out, mut actions) = (Vec::new(), Vec::new());
        restarted.restore(now, engine.snapshot(), &mut out, &mut actions);
        assert_eq!(handoff_of(pbu_of(&out[0])), Some(expected));
    }
}

/// The refresh of a node that left, answered by the CMD's update and then its refusal (the
/// order the CMD sends them in).
#[test]
fn the_update_ahead_of_the_refusal_turns_the_served_node_into_a_redirect() {
    let mut m = maar(M1, "2001:db8:a1::/48");
    let now = start();
    let (prefix, _) = registered(&mut m, now);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let later = now.plus(Duration::from_secs(20));
    m.poll(later, &mut out, &mut actions);
    let refresh = pbu_of(&out[0]).clone();
    out.clear();

    m.handle(
        later,
        CMD,
        cmd_pbu(later, 10, prefix, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    m.handle(
        later,
        CMD,
        answer(
            &refresh,
            Status::ADMINISTRATIVELY_PROHIBITED,
            Lifetime::DEREGISTRATION,
            Vec::new(),
        ),
        &mut out,
        &mut actions,
    );
    assert_eq!(m.served(&MN), None);
    assert_eq!(m.anchored(&prefix), Some((MN, M2, Policy::SessionLasting)));
    assert_eq!(
        actions,
        vec![
            Action::RemoveRoute {
                prefix,
                dev: "acc".into()
            },
            Action::AddBinding {
                prefix,
                kind: MaarBindingKind::Redirect { serving: M2 }
            },
        ]
    );
    assert_eq!(m.counters().dropped, 1, "the refusal found nothing waiting");
}

/// The same two answers the other way round: the refusal frees the prefix, and the update
/// takes it back as a redirect.
#[test]
fn the_refusal_ahead_of_the_update_still_ends_in_a_redirect() {
    let mut m = maar(M1, "2001:db8:a1::/64");
    let now = start();
    let (prefix, _) = registered(&mut m, now);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let later = now.plus(Duration::from_secs(20));
    m.poll(later, &mut out, &mut actions);
    let refresh = pbu_of(&out[0]).clone();
    out.clear();

    m.handle(
        later,
        CMD,
        answer(
            &refresh,
            Status::ADMINISTRATIVELY_PROHIBITED,
            Lifetime::DEREGISTRATION,
            Vec::new(),
        ),
        &mut out,
        &mut actions,
    );
    assert_eq!(m.served(&MN), None);
    m.handle(
        later,
        CMD,
        cmd_pbu(later, 10, prefix, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert_eq!(m.anchored(&prefix), Some((MN, M2, Policy::SessionLasting)));
    assert_eq!(
        actions.last(),
        Some(&Action::AddBinding {
            prefix,
            kind: MaarBindingKind::Redirect { serving: M2 }
        })
    );
    // The one-/64 pool has nothing left to delegate: the prefix is held again.
    let other = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    assert_eq!(
        m.attach(later, other, "acc", &mut out),
        Err(MaarError::PoolExhausted)
    );
}

/// The defect this fixes, through the real CMD: M1 loses the CMD's update about the node's
/// move to M2, then restarts from its saved state. Before, M1 re-registered the node, the CMD
/// took it for a move back, and each router redirected the other's prefix.
#[test]
fn a_maar_restarted_after_missing_a_move_redirects_to_the_serving_maar() {
    let mut w = RealCmd::new(
        "stale",
        "",
        maar(M1, "2001:db8:a1::/48"),
        maar(M2, "2001:db8:a2::/48"),
    );
    let now = Now::system();
    let p1 = w.attach(now, M1);
    let saved = w.m1.snapshot();

    // The move; the CMD's update to M1 never arrives.
    let now = now.plus(Duration::from_millis(1));
    let mut out = Vec::new();
    let p2 = w.m2.attach(now, MN, "acc", &mut out).unwrap();
    let mut replies = Vec::new();
    let message = pbu_of(&out[0]).clone();
    w.cmd
        .handle(now, M2, MobilityHeader::Pbu(message), &mut replies)
        .unwrap();
    let to_m2: Vec<Outgoing> = replies.iter().filter(|o| o.to == M2).cloned().collect();
    assert_eq!(to_m2.len(), 1, "{replies:?}");
    for reply in to_m2 {
        w.m2.handle(now, CMD, reply.message, &mut Vec::new(), &mut w.a2);
    }
    assert_eq!(w.cmd.in_flight(), 1, "the update to M1 waits");

    // M1 restarts from its state of before the move and re-registers the node.
    let now = now.plus(Duration::from_millis(1));
    w.m1 = maar(M1, "2001:db8:a1::/48");
    w.a1.clear();
    let mut out = Vec::new();
    w.m1.restore(now, saved, &mut out, &mut w.a1);
    w.exchange(now, M1, &mut out);

    assert_eq!(w.m1.served(&MN), None);
    assert_eq!(w.m1.anchored(&p1), Some((MN, M2, Policy::SessionLasting)));
    assert_eq!(
        w.a1.last(),
        Some(&Action::AddBinding {
            prefix: p1,
            kind: MaarBindingKind::Redirect { serving: M2 }
        })
    );
    let served = w.m2.served(&MN).expect("still served at M2");
    assert_eq!(served.prefix, p2);
    assert_eq!(served.visiting, vec![p1]);
    let record = w
        .cmd
        .store()
        .get(&anchor_pmip::MnKey::from(&MN))
        .expect("the node's record");
    assert_eq!(record.serving, M2);
}
