//! The CMD's protocol logic with a fake clock and an in-memory store: what goes out for each
//! message that comes in.

mod common;

use std::{net::Ipv6Addr, time::Duration};

use anchor_cmd::{Engine, MobilityStore};
use anchor_pmip::MnKey;
use anchor_signal::{
    HandoffIndicator, Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags,
    Status, Timestamp,
};
use common::*;

#[test]
fn first_registration_is_accepted_without_previous_maars() {
    let mut rig = Rig::new();
    let out = rig.register(M1, 7, "2001:db8:1:1::/64");
    let pba = expect_status(&out, M1, Status::ACCEPTED);
    assert_eq!(pba.sequence, 7);
    assert_eq!(pba.lifetime, Lifetime(150));
    assert!(pba.flags.contains(PbaFlags::P | PbaFlags::D));
    assert!(previous_maars(&pba).is_empty());
    assert!(pba.options.contains(&MobilityOption::MnId(MN)));
    let record = rig.engine.store().get(&MnKey::from(&MN)).expect("stored");
    assert_eq!(record.serving, M1);
    assert_eq!(record.prefixes.len(), 1);
    assert_eq!(rig.engine.counters().accepted, 1);
}

#[test]
fn a_move_lists_the_previous_maar_and_updates_it() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M2, 1, "2001:db8:2:1::/64");
    assert_eq!(out.len(), 2, "{out:?}");
    let update = out
        .iter()
        .find(|o| o.to == M1)
        .expect("a PBU to the previous MAAR");
    let reply = out
        .iter()
        .find(|o| o.to == M2)
        .expect("the PBA to the serving MAAR");
    let pba = pba_of(reply);
    assert_eq!(pba.status, Status::ACCEPTED);
    assert_eq!(previous_maars(pba), vec![(M1, net("2001:db8:1:1::/64"))]);
    let pbu = pbu_of(update);
    assert!(pbu.flags.contains(PbuFlags::A | PbuFlags::P | PbuFlags::D));
    assert_eq!(pbu.lifetime, Lifetime(150));
    assert!(pbu.options.contains(&MobilityOption::ServingMaar(M2)));
    assert!(
        pbu.options
            .contains(&MobilityOption::AnchoredPrefix(net("2001:db8:1:1::/64")))
    );
    assert!(pbu.options.contains(&MobilityOption::MnId(MN)));

    // A third MAAR: both earlier ones are previous MAARs now.
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M3, 1, "2001:db8:3:1::/64");
    let pba = pba_of(out.iter().find(|o| o.to == M3).unwrap());
    assert_eq!(
        previous_maars(pba),
        vec![
            (M1, net("2001:db8:1:1::/64")),
            (M2, net("2001:db8:2:1::/64"))
        ]
    );
    let mut updated: Vec<Ipv6Addr> = out.iter().filter(|o| o.to != M3).map(|o| o.to).collect();
    updated.sort();
    assert_eq!(updated, vec![M1, M2]);
}

#[test]
fn updates_are_retransmitted_with_back_off_until_acknowledged() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    let out = rig.register(M2, 1, "2001:db8:2:1::/64");
    let first = out.iter().find(|o| o.to == M1).unwrap().clone();
    let sequence = pbu_of(&first).sequence;

    // Resent after 1 s, then 2 s later, then 4 s later: nothing in between.
    assert!(rig.advance(Duration::from_millis(999)).is_empty());
    assert_eq!(rig.advance(Duration::from_millis(1)), vec![first.clone()]);
    assert!(rig.advance(Duration::from_millis(1999)).is_empty());
    assert_eq!(rig.advance(Duration::from_millis(1)), vec![first.clone()]);
    assert!(rig.advance(Duration::from_millis(3999)).is_empty());
    assert_eq!(rig.advance(Duration::from_millis(1)), vec![first.clone()]);
    assert_eq!(rig.engine.counters().retransmissions, 3);

    // The PBA stops it.
    let ack = MobilityHeader::Pba(Pba {
        status: Status::ACCEPTED,
        flags: PbaFlags::P | PbaFlags::D,
        sequence,
        lifetime: Lifetime(150),
        options: vec![MobilityOption::MnId(MN)],
    });
    assert!(rig.send(M1, ack.clone()).is_empty());
    assert_eq!(rig.engine.counters().acks, 1);
    assert_eq!(rig.engine.in_flight(), 0);
    // From the update's first sending to its PBA: 1 + 2 + 4 s of back-off.
    let latency = &rig.engine.counters().pbu_to_pba;
    assert_eq!(latency.count(), 1);
    assert!((latency.sum_seconds() - 7.0).abs() < 1e-9, "{latency:?}");
    assert!(rig.advance(Duration::from_mins(1)).is_empty());
    // The same PBA again matches nothing.
    assert!(rig.send(M1, ack).is_empty());
    assert_eq!(rig.engine.counters().dropped, 1);
}

#[test]
fn an_unacknowledged_update_stops_at_max_bindack_timeout() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    rig.register(M2, 1, "2001:db8:2:1::/64");
    // The first transmission waits 1 s, the five retransmissions 2, 4, 8, 16 and 32 s (the
    // maximum); then it gives up, 63 s after the first.
    let mut resent = 0;
    for _ in 0..200 {
        resent += rig.advance(Duration::from_millis(500)).len();
    }
    assert_eq!(resent, 5);
    assert_eq!(rig.engine.counters().gave_up, 1);
    assert_eq!(rig.engine.in_flight(), 0);
    assert!(
        pending(&rig.engine).is_empty(),
        "a given-up update leaves the record"
    );
}

/// A CMD that stops with an update to a previous MAAR unacknowledged leaves it in the store; the
/// next CMD on that store sends it again, with a fresh timestamp, until acknowledged.
#[test]
fn an_unacknowledged_update_is_stored_and_sent_again_by_the_next_cmd() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    rig.register(M2, 1, "2001:db8:2:1::/64");
    assert_eq!(
        pending(&rig.engine),
        vec![(M1, M2, vec![net("2001:db8:1:1::/64")])],
        "the update waits in the record"
    );

    // The CMD stops; another starts on its store 5 s later.
    let store = rig.engine.store().clone();
    let mut next = Rig::new();
    next.engine = Engine::new(config(), store);
    next.now = rig.now.plus(Duration::from_secs(5));
    let mut out = Vec::new();
    assert_eq!(next.engine.resume(next.now, &mut out).expect("resume"), 1);
    let [again] = out.as_slice() else {
        panic!("one update, got {out:?}")
    };
    assert_eq!(again.to, M1);
    let update = pbu_of(again);
    assert!(update.options.contains(&MobilityOption::ServingMaar(M2)));
    assert!(
        update
            .options
            .contains(&MobilityOption::AnchoredPrefix(net("2001:db8:1:1::/64")))
    );
    assert!(
        update
            .options
            .contains(&MobilityOption::Timestamp(next.stamp())),
        "a fresh timestamp: {update:?}"
    );
    // Retransmitted like any update, and settled by its PBA.
    assert_eq!(next.advance(Duration::from_secs(1)), vec![again.clone()]);
    assert!(next.send(M1, ack_of(again)).is_empty());
    assert!(pending(&next.engine).is_empty());
    let mut out = Vec::new();
    assert_eq!(next.engine.resume(next.now, &mut out).expect("resume"), 0);
}

#[test]
fn replayed_and_stale_updates_are_rejected() {
    let mut rig = Rig::new();
    let stamp = rig.stamp();
    let register = pbu(
        1,
        Lifetime(150),
        stamp,
        &[MobilityOption::LocalPrefix(net("2001:db8:1:1::/64"))],
    );
    expect_status(&rig.send(M1, register.clone()), M1, Status::ACCEPTED);
    // The same update again: its timestamp is not later than the accepted one.
    let pba = expect_status(
        &rig.send(M1, register),
        M1,
        Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
    );
    // The rejection carries the CMD's time.
    assert!(
        pba.options
            .contains(&MobilityOption::Timestamp(rig.stamp()))
    );
    // Outside the validity window (300 ms): too old and too new.
    for skew in [Duration::from_millis(301), Duration::from_hours(1)] {
        let old = Timestamp::from_system_time(rig.now.wall - skew);
        let new = Timestamp::from_system_time(rig.now.wall + skew);
        for stamp in [old, new] {
            let message = pbu(
                2,
                Lifetime(150),
                stamp,
                &[MobilityOption::LocalPrefix(net("2001:db8:1:1::/64"))],
            );
            expect_status(&rig.send(M1, message), M1, Status::TIMESTAMP_MISMATCH);
        }
    }
    // No Timestamp option at all.
    let bare = MobilityHeader::Pbu(Pbu {
        sequence: 3,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime: Lifetime(150),
        options: vec![
            MobilityOption::MnId(MN),
            MobilityOption::LocalPrefix(net("2001:db8:1:1::/64")),
        ],
    });
    expect_status(&rig.send(M1, bare), M1, Status::TIMESTAMP_MISMATCH);
    let c = rig.engine.counters();
    assert_eq!(
        c.rejected_with(Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED),
        1
    );
    assert_eq!(c.rejected_with(Status::TIMESTAMP_MISMATCH), 5);
    assert_eq!(c.accepted, 1);
    // Nothing changed: still the first registration's timestamp.
    let record = rig.engine.store().get(&MnKey::from(&MN)).unwrap();
    assert_eq!(record.last_timestamp, stamp.0);
}

#[test]
fn unauthorized_senders_and_prefixes_are_rejected() {
    let mut rig = Rig::new();
    // Not a configured MAAR.
    let out = rig.register(STRANGER, 1, "2001:db8:1:1::/64");
    expect_status(&out, STRANGER, Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
    // A prefix outside what M2 may anchor.
    let out = rig.register(M2, 2, "2001:db8:1:1::/64");
    expect_status(&out, M2, Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
    // No MN-ID, no local prefix, no P flag, no D flag.
    let no_id = MobilityHeader::Pbu(Pbu {
        sequence: 3,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime: Lifetime(150),
        options: vec![MobilityOption::Timestamp(rig.stamp())],
    });
    expect_status(
        &rig.send(M1, no_id),
        M1,
        Status::MISSING_MN_IDENTIFIER_OPTION,
    );
    let no_prefix = pbu(4, Lifetime(150), rig.stamp(), &[]);
    expect_status(
        &rig.send(M1, no_prefix),
        M1,
        Status::MISSING_HOME_NETWORK_PREFIX_OPTION,
    );
    for (flags, status) in [
        (PbuFlags::A | PbuFlags::D, Status::PROXY_REG_NOT_ENABLED),
        (
            PbuFlags::A | PbuFlags::P,
            Status::ADMINISTRATIVELY_PROHIBITED,
        ),
    ] {
        let MobilityHeader::Pbu(mut p) = pbu(
            5,
            Lifetime(150),
            rig.stamp(),
            &[MobilityOption::LocalPrefix(net("2001:db8:1:1::/64"))],
        ) else {
            unreachable!()
        };
        p.flags = flags;
        expect_status(&rig.send(M1, MobilityHeader::Pbu(p)), M1, status);
    }
    assert_eq!(rig.engine.counters().rejected_total(), 6);
    assert_eq!(rig.engine.counters().accepted, 0);
    assert!(rig.engine.store().records().is_empty());

    // A prefix another node holds.
    rig.register(M1, 6, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    let other = MobilityHeader::Pbu(Pbu {
        sequence: 7,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime: Lifetime(150),
        options: vec![
            MobilityOption::MnId(MnId::Eui48([2, 0, 0, 0, 0, 0x0b])),
            MobilityOption::Timestamp(rig.stamp()),
            MobilityOption::LocalPrefix(net("2001:db8:1:1::/64")),
        ],
    });
    expect_status(
        &rig.send(M1, other),
        M1,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
    );
}

#[test]
fn deregistration_removes_the_node_and_tells_the_previous_maars() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    rig.register(M2, 1, "2001:db8:2:1::/64");
    rig.advance(Duration::from_millis(10));
    // Only the serving MAAR may de-register the node (M1 may release its prefixes, below).
    let from_m1 = pbu(2, Lifetime::DEREGISTRATION, rig.stamp(), &[]);
    expect_status(
        &rig.send(M1, from_m1),
        M1,
        Status::ADMINISTRATIVELY_PROHIBITED,
    );

    rig.advance(Duration::from_millis(10));
    let out = rig.send(M2, pbu(2, Lifetime::DEREGISTRATION, rig.stamp(), &[]));
    assert_eq!(out.len(), 2, "{out:?}");
    let pba = pba_of(out.iter().find(|o| o.to == M2).unwrap());
    assert_eq!(
        (pba.status, pba.lifetime),
        (Status::ACCEPTED, Lifetime::DEREGISTRATION)
    );
    let pbu = pbu_of(out.iter().find(|o| o.to == M1).unwrap());
    assert_eq!(pbu.lifetime, Lifetime::DEREGISTRATION);
    assert!(
        pbu.options
            .contains(&MobilityOption::AnchoredPrefix(net("2001:db8:1:1::/64")))
    );
    assert!(rig.engine.store().records().is_empty());
}

#[test]
fn an_expired_binding_is_removed() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    let stamp = rig.stamp();
    let short = pbu(
        2,
        Lifetime(1),
        stamp,
        &[MobilityOption::LocalPrefix(net("2001:db8:2:1::/64"))],
    );
    let out = rig.send(M2, short);
    let update = out.iter().find(|o| o.to == M1).unwrap().clone();
    let ack = MobilityHeader::Pba(Pba {
        status: Status::ACCEPTED,
        flags: PbaFlags::P | PbaFlags::D,
        sequence: pbu_of(&update).sequence,
        lifetime: Lifetime(1),
        options: Vec::new(),
    });
    rig.send(M1, ack);
    assert!(rig.advance(Duration::from_secs(3)).is_empty());
    // 4 s after the registration: gone, and M1 told.
    let out = rig.advance(Duration::from_secs(1));
    assert!(rig.engine.store().records().is_empty());
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, M1);
    assert_eq!(pbu_of(&out[0]).lifetime, Lifetime::DEREGISTRATION);
}

#[test]
fn an_anchor_releases_an_idle_prefix_and_the_serving_maar_is_told() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    let out = rig.register(M2, 1, "2001:db8:2:1::/64");
    let update = out.iter().find(|o| o.to == M1).unwrap().clone();
    rig.send(M1, ack_of(&update));
    assert_eq!(rig.engine.in_flight(), 0);
    rig.advance(Duration::from_millis(10));

    // Without Anchored Prefix options a non-serving MAAR may not de-register (129); with one
    // it does not anchor, or that is not the node's, 155.
    let bare = pbu(5, Lifetime::DEREGISTRATION, rig.stamp(), &[]);
    expect_status(&rig.send(M1, bare), M1, Status::ADMINISTRATIVELY_PROHIBITED);
    for wrong in ["2001:db8:2:1::/64", "2001:db8:1:2::/64"] {
        let release = pbu(
            5,
            Lifetime::DEREGISTRATION,
            rig.stamp(),
            &[MobilityOption::AnchoredPrefix(net(wrong))],
        );
        expect_status(
            &rig.send(M1, release),
            M1,
            Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        );
    }
    // M3 anchors nothing of the node.
    let release = pbu(
        5,
        Lifetime::DEREGISTRATION,
        rig.stamp(),
        &[MobilityOption::AnchoredPrefix(net("2001:db8:1:1::/64"))],
    );
    expect_status(
        &rig.send(M3, release),
        M3,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
    );
    assert_eq!(
        rig.engine
            .store()
            .get(&MnKey::from(&MN))
            .unwrap()
            .prefixes
            .len(),
        2,
        "the rejections change nothing"
    );

    rig.advance(Duration::from_millis(10));
    let serving_stamp = rig
        .engine
        .store()
        .get(&MnKey::from(&MN))
        .unwrap()
        .last_timestamp;
    let release = pbu(
        6,
        Lifetime::DEREGISTRATION,
        rig.stamp(),
        &[MobilityOption::AnchoredPrefix(net("2001:db8:1:1::/64"))],
    );
    let out = rig.send(M1, release.clone());
    assert_eq!(out.len(), 2, "{out:?}");
    let pba = pba_of(out.iter().find(|o| o.to == M1).unwrap());
    assert_eq!(
        (pba.status, pba.lifetime, pba.sequence),
        (Status::ACCEPTED, Lifetime::DEREGISTRATION, 6)
    );
    let told = out.iter().find(|o| o.to == M2).unwrap().clone();
    let pbu = pbu_of(&told);
    assert_eq!(pbu.lifetime, Lifetime::DEREGISTRATION);
    assert!(pbu.options.contains(&MobilityOption::ServingMaar(M2)));
    assert!(
        pbu.options
            .contains(&MobilityOption::AnchoredPrefix(net("2001:db8:1:1::/64")))
    );
    assert!(pbu.options.contains(&MobilityOption::MnId(MN)));
    let record = rig.engine.store().get(&MnKey::from(&MN)).unwrap().clone();
    assert_eq!(record.serving, M2);
    assert_eq!(
        record.prefixes.iter().map(|p| p.prefix).collect::<Vec<_>>(),
        vec![net("2001:db8:2:1::/64")]
    );
    assert_eq!(
        record.last_timestamp, serving_stamp,
        "the anchor's clock does not move the node's last timestamp"
    );

    // The same release again (its acknowledgement lost) finds the prefix gone: 155 (which the
    // anchor takes as released) and no change; the serving MAAR's update is retransmitted
    // until acknowledged.
    let out = rig.send(M1, release);
    assert_eq!(out.len(), 1, "{out:?}");
    expect_status(&out, M1, Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
    assert_eq!(rig.engine.store().get(&MnKey::from(&MN)).unwrap(), &record);
    let again = rig.advance(Duration::from_secs(1));
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].to, M2);
    assert_eq!(pbu_of(&again[0]).sequence, pbu.sequence);
    rig.send(M2, ack_of(&told));
    assert_eq!(rig.engine.in_flight(), 0);

    // A refresh from the serving MAAR lists no Previous MAAR any more.
    rig.advance(Duration::from_millis(10));
    let out = rig.register(M2, 2, "2001:db8:2:1::/64");
    assert!(previous_maars(&expect_status(&out, M2, Status::ACCEPTED)).is_empty());
}

#[test]
fn releases_of_two_anchors_are_both_retransmitted_to_the_serving_maar() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    rig.register(M2, 1, "2001:db8:2:1::/64");
    rig.advance(Duration::from_millis(10));
    rig.register(M3, 1, "2001:db8:3:1::/64");
    // Acknowledge the moves.
    let moves = rig.advance(Duration::from_secs(1));
    for update in &moves {
        let ack = ack_of(update);
        rig.send(update.to, ack);
    }
    assert_eq!(rig.engine.in_flight(), 0, "{moves:?}");
    for (maar, prefix) in [(M1, "2001:db8:1:1::/64"), (M2, "2001:db8:2:1::/64")] {
        rig.advance(Duration::from_millis(10));
        let release = pbu(
            9,
            Lifetime::DEREGISTRATION,
            rig.stamp(),
            &[MobilityOption::AnchoredPrefix(net(prefix))],
        );
        let out = rig.send(maar, release);
        assert_eq!(
            pba_of(out.iter().find(|o| o.to == maar).unwrap()).status,
            Status::ACCEPTED
        );
    }
    assert_eq!(
        rig.engine.in_flight(),
        2,
        "one release does not replace the other"
    );
}

#[test]
fn a_reregistration_from_a_maar_the_node_left_is_refused_and_that_maar_updated_again() {
    let mut rig = Rig::new();
    register_with_handoff(
        &mut rig,
        M1,
        1,
        "2001:db8:1:1::/64",
        HandoffIndicator::UNKNOWN,
    );
    rig.advance(Duration::from_secs(1));
    let moved = register_with_handoff(
        &mut rig,
        M2,
        1,
        "2001:db8:2:1::/64",
        HandoffIndicator::UNKNOWN,
    );
    let first_update = pbu_of(moved.iter().find(|o| o.to == M1).expect("update")).sequence;
    // Router 1 never saw the update; the CMD gives up on it after 63 s.
    for _ in 0..130 {
        rig.advance(Duration::from_millis(500));
    }
    assert!(pending(&rig.engine).is_empty());

    // Router 1 restarts (or refreshes), still believing it serves the node.
    rig.advance(Duration::from_secs(1));
    let out = register_with_handoff(
        &mut rig,
        M1,
        9,
        "2001:db8:1:1::/64",
        HandoffIndicator::NOT_CHANGED,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    // The update first, so that it arrives ahead of the refusal.
    assert_eq!(out[0].to, M1);
    let update = pbu_of(&out[0]);
    assert_ne!(update.sequence, first_update);
    assert!(update.options.contains(&MobilityOption::ServingMaar(M2)));
    assert!(
        update
            .options
            .contains(&MobilityOption::AnchoredPrefix(net("2001:db8:1:1::/64")))
    );
    assert!(update.lifetime.0 > 0 && update.lifetime.0 <= 150);
    assert_eq!(out[1].to, M1);
    let pba = pba_of(&out[1]);
    assert_eq!(pba.sequence, 9);
    assert_eq!(pba.status, Status::ADMINISTRATIVELY_PROHIBITED);

    // The node is still served by router 2, and the update waits for its acknowledgement.
    let record = rig.engine.store().get(&MnKey::from(&MN)).expect("stored");
    assert_eq!(record.serving, M2);
    assert_eq!(record.prefixes.len(), 2);
    assert_eq!(
        pending(&rig.engine),
        vec![(M1, M2, vec![net("2001:db8:1:1::/64")])]
    );
    assert_eq!(
        rig.engine
            .counters()
            .rejected_with(Status::ADMINISTRATIVELY_PROHIBITED),
        1
    );

    // A registration from router 1 without "not changed" is a move back.
    rig.advance(Duration::from_secs(1));
    let out = register_with_handoff(
        &mut rig,
        M1,
        10,
        "2001:db8:1:1::/64",
        HandoffIndicator::UNKNOWN,
    );
    let reply = out
        .iter()
        .find(|o| o.to == M1 && matches!(o.message, MobilityHeader::Pba(_)));
    assert_eq!(pba_of(reply.expect("a PBA")).status, Status::ACCEPTED);
    let record = rig.engine.store().get(&MnKey::from(&MN)).expect("stored");
    assert_eq!(record.serving, M1);
}

#[test]
fn a_reregistration_from_the_serving_maar_is_a_refresh() {
    let mut rig = Rig::new();
    register_with_handoff(
        &mut rig,
        M1,
        1,
        "2001:db8:1:1::/64",
        HandoffIndicator::UNKNOWN,
    );
    rig.advance(Duration::from_mins(1));
    let out = register_with_handoff(
        &mut rig,
        M1,
        2,
        "2001:db8:1:1::/64",
        HandoffIndicator::NOT_CHANGED,
    );
    let pba = expect_status(&out, M1, Status::ACCEPTED);
    assert_eq!(pba.lifetime, Lifetime(150));
}

#[test]
fn an_update_refused_for_want_of_room_is_counted_and_settled() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_millis(10));
    let out = rig.register(M2, 1, "2001:db8:2:1::/64");
    let update = out
        .iter()
        .find(|o| o.to == M1)
        .expect("the update to the previous MAAR")
        .clone();
    let MobilityHeader::Pba(mut refusal) = ack_of(&update) else {
        unreachable!("ack_of builds a PBA")
    };
    refusal.status = Status::INSUFFICIENT_RESOURCES;
    assert!(rig.send(M1, MobilityHeader::Pba(refusal)).is_empty());
    assert_eq!(rig.engine.counters().acks, 1);
    assert_eq!(
        rig.engine.counters().refused_updates.get(&130),
        Some(&1),
        "the MAAR's refusal is counted by status"
    );
    assert_eq!(rig.engine.in_flight(), 0, "a refusal settles the update");
    assert!(rig.advance(Duration::from_mins(1)).is_empty());
}
