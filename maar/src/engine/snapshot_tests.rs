//! The engine's state through a snapshot into a new engine, as across a daemon restart.

use std::time::Duration;

use super::{
    tests::{CMD, M1, M2, MN, accept, cmd_pbu, config, maar, net, pba_of, pbu_of, start},
    *,
};
use anchor_signal::{Lifetime, Status};

/// M1 serving `MN` (registered, visiting a prefix of M2) and anchoring a prefix of another
/// node served at M2.
fn busy(now: Now) -> (MaarEngine, Ipv6Net, Ipv6Net, MnId) {
    let mut m = maar(M1, "2001:db8:a1::/48");
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let other = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    let anchored = m.attach(now, other.clone(), "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    let mut ok = accept(&pbu, 10, Vec::new());
    if let MobilityHeader::Pba(pba) = &mut ok {
        pba.options = vec![MobilityOption::MnId(other.clone())];
    }
    m.handle(now, CMD, ok, &mut out, &mut actions);
    let MobilityHeader::Pbu(mut moved) = cmd_pbu(now, 10, anchored, Some(M2)) else {
        unreachable!()
    };
    moved.options[0] = MobilityOption::MnId(other.clone());
    m.handle(now, CMD, MobilityHeader::Pbu(moved), &mut out, &mut actions);
    assert_eq!(m.anchored(&anchored).map(|a| a.1), Some(M2));

    out.clear();
    let served = m.attach(now, MN, "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    let previous = vec![MobilityOption::PreviousMaar {
        maar: M2,
        prefix: net("2001:db8:a2::/64"),
    }];
    m.handle(now, CMD, accept(&pbu, 10, previous), &mut out, &mut actions);
    (m, served, anchored, other)
}

#[test]
fn a_snapshot_restores_into_a_new_engine_that_registers_again() {
    let now = start();
    let (m, served, anchored, other) = busy(now);
    let saved = m.snapshot();
    // Through the file format.
    let text = serde_json::to_string(&saved).unwrap();
    let saved: crate::persist::MaarState = serde_json::from_str(&text).unwrap();
    assert_eq!(saved, m.snapshot());

    let later = now.plus(Duration::from_secs(3));
    let mut r = maar(M1, "2001:db8:a1::/48");
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    r.restore(later, saved.clone(), &mut out, &mut actions);
    assert_eq!(
        actions,
        vec![
            Action::AddBinding {
                prefix: anchored,
                kind: MaarBindingKind::Redirect { serving: M2 }
            },
            Action::AddRoute {
                prefix: served,
                dev: "acc".into(),
                mac: Some([2, 0, 0, 0, 0, 1]),
            },
            Action::AddBinding {
                prefix: net("2001:db8:a2::/64"),
                kind: MaarBindingKind::Visiting {
                    home: M2,
                    reverse_tunnel: true,
                    dev: Some("acc".into()),
                    mac: Some([2, 0, 0, 0, 0, 1]),
                }
            },
        ]
    );
    // A refresh goes out at once, with the next sequence number.
    let [refresh] = out.as_slice() else {
        panic!("one refresh, got {out:?}")
    };
    assert_eq!(refresh.to, CMD);
    let pbu = pbu_of(refresh).clone();
    assert_eq!(pbu.sequence, saved.next_sequence);
    assert_eq!(pbu.lifetime, Lifetime(10));
    assert!(pbu.options.contains(&MobilityOption::LocalPrefix(served)));
    let mut expected = saved.clone();
    expected.next_sequence += 1;
    assert_eq!(r.snapshot(), expected, "the same state");
    assert_eq!(r.list(later.instant).served, m.list(now.instant).served);
    assert_eq!(r.advertised("acc"), m.advertised("acc"));

    // The refresh's PBA is taken, and changes nothing installed.
    out.clear();
    actions.clear();
    let previous = vec![MobilityOption::PreviousMaar {
        maar: M2,
        prefix: net("2001:db8:a2::/64"),
    }];
    r.handle(
        later,
        CMD,
        accept(&pbu, 10, previous),
        &mut out,
        &mut actions,
    );
    assert_eq!(actions, Vec::new());
    assert_eq!(r.counters().registrations, 1);

    // The pools know both prefixes: a new node gets another one.
    let third = MnId::Eui48([2, 0, 0, 0, 0, 3]);
    let fresh = r.attach(later, third, "acc", &mut out).unwrap();
    assert!(fresh != served && fresh != anchored, "{fresh}");

    // The CMD's replay protection of the anchored prefix's node survived; a newer update is
    // accepted (the node moved on to a third MAAR).
    out.clear();
    let MobilityHeader::Pbu(mut replay) = cmd_pbu(now, 10, anchored, Some(M2)) else {
        unreachable!()
    };
    replay.options[0] = MobilityOption::MnId(other.clone());
    replay.sequence = 11;
    r.handle(
        later,
        CMD,
        MobilityHeader::Pbu(replay),
        &mut out,
        &mut actions,
    );
    assert_ne!(pba_of(&out[0]).status, Status::ACCEPTED, "{out:?}");
    out.clear();
    let m3 = Ipv6Addr::new(0x2001, 0xdb8, 0x12, 0, 0, 0, 0, 3);
    let MobilityHeader::Pbu(mut update) = cmd_pbu(later, 10, anchored, Some(m3)) else {
        unreachable!()
    };
    update.options[0] = MobilityOption::MnId(other);
    r.handle(
        later,
        CMD,
        MobilityHeader::Pbu(update),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert_eq!(r.anchored(&anchored).map(|a| a.1), Some(m3));
}

#[test]
fn pending_phases_are_sent_again_and_unknown_entries_left_out() {
    let now = start();
    let mut m = maar(M1, "2001:db8:a1::/48");
    let mut out = Vec::new();
    let registering = m.attach(now, MN, "acc", &mut out).unwrap();
    let leaving = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    m.attach(now, leaving.clone(), "acc", &mut out).unwrap();
    m.detach(now, &leaving, &mut out).unwrap();
    let mut saved = m.snapshot();
    let mut stray = saved.served[0].clone();
    stray.mn.id[5] = 9;
    stray.prefix = net("2001:db8:ff::/64");
    saved.served.push(stray);

    let mut r = maar(M1, "2001:db8:a1::/48");
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    r.restore(now, saved, &mut out, &mut actions);
    assert_eq!(actions, Vec::new(), "nothing was installed for them");
    assert_eq!(out.len(), 2, "{out:?}");
    let lifetimes: Vec<Lifetime> = out.iter().map(|o| pbu_of(o).lifetime).collect();
    assert!(lifetimes.contains(&Lifetime(10)) && lifetimes.contains(&Lifetime::DEREGISTRATION));
    assert_eq!(r.served(&MN).unwrap().phase, Phase::Registering);
    assert_eq!(r.served(&MN).unwrap().prefix, registering);
    assert_eq!(r.served(&leaving).unwrap().phase, Phase::Deregistering);
    assert_eq!(
        r.list(now.instant).served.len(),
        2,
        "the stray one left out"
    );

    // An engine with another access interface leaves its nodes out.
    let mut elsewhere = MaarEngine::new(&config("2001:db8:a1::/48"), M1, vec!["x".into()]);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    elsewhere.restore(now, m.snapshot(), &mut out, &mut actions);
    assert!(out.is_empty() && actions.is_empty());
    assert_eq!(elsewhere.list(now.instant), MnList::default());
}
