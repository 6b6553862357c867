//! The node's engine with a fake clock against hand-made acknowledgements.

use std::time::SystemTime;

use super::*;
use anchor_signal::{PbaFlags, Status};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];
const AR1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);
const AR2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2);
const AR3: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf3, 0, 0, 0, 0, 2);

fn net(text: &str) -> Ipv6Net {
    text.parse().unwrap()
}

fn addr(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn engine() -> ClientEngine {
    let config: ClientConfig =
        serde_json::from_str(r#"{"interfaces": ["ar1", "ar2", "ar3"], "lifetime_s": 40}"#).unwrap();
    ClientEngine::new(&config)
}

fn start() -> Now {
    Now {
        instant: Instant::now(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_hours(500_000),
    }
}

fn advert(prefix: &str, router: Ipv6Addr) -> RouterAdvert {
    RouterAdvert {
        prefixes: vec![net(prefix)],
        router_address: Some(router),
    }
}

/// The update the node must send, built here from its fields.
fn expected_bu(
    sequence: u16,
    at: Now,
    prefix: &str,
    care_of: Ipv6Addr,
    lifetime_s: u64,
) -> MobilityHeader {
    MobilityHeader::Pbu(Pbu {
        sequence,
        flags: PbuFlags::A | PbuFlags::H,
        lifetime: Lifetime::from_duration_floor(Duration::from_secs(lifetime_s)),
        options: vec![
            MobilityOption::MnId(MnId::Eui48(MAC)),
            MobilityOption::Timestamp(Timestamp::from_system_time(at.wall)),
            MobilityOption::HomeNetworkPrefix(net(prefix)),
            MobilityOption::AlternateCareOfAddress(care_of),
        ],
    })
}

fn ba(sequence: u16, status: Status, lifetime_s: u64) -> MobilityHeader {
    MobilityHeader::Pba(Pba {
        status,
        flags: PbaFlags::EMPTY,
        sequence,
        lifetime: Lifetime::from_duration_floor(Duration::from_secs(lifetime_s)),
        options: Vec::new(),
    })
}

const P1_ADDR: &str = "2001:db8:a1:1::10";
const P2_ADDR: &str = "2001:db8:a2:1::10";
const P3_ADDR: &str = "2001:db8:a3:1::10";

/// The node at AR1 with a socket on its P1 address, then at AR2: the update to AR1.
fn moved_to_ar2(node: &mut ClientEngine, now: Now) -> (Vec<Send>, Vec<Change>) {
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    node.advertised("ar1", MAC, &advert("2001:db8:a1:1::/64", AR1));
    node.address(now, "ar1", addr(P1_ADDR), true, &mut out, &mut changes);
    assert!(
        out.is_empty() && changes.is_empty(),
        "at home: {out:?} {changes:?}"
    );
    assert_eq!(node.current(), Some(net("2001:db8:a1:1::/64")));
    node.sockets(now, BTreeSet::from([addr(P1_ADDR)]), &mut out, &mut changes);
    node.advertised("ar2", MAC, &advert("2001:db8:a2:1::/64", AR2));
    // Tentative first: not a move yet.
    node.address(now, "ar2", addr(P2_ADDR), false, &mut out, &mut changes);
    assert!(out.is_empty() && changes.is_empty());
    node.address(now, "ar2", addr(P2_ADDR), true, &mut out, &mut changes);
    (out, changes)
}

#[test]
fn a_move_sends_the_old_anchor_an_update_and_its_acknowledgement_installs_the_tunnel() {
    let mut node = engine();
    let now = start();
    let (out, changes) = moved_to_ar2(&mut node, now);
    assert_eq!(
        out,
        vec![Send {
            from: addr(P2_ADDR),
            to: AR1,
            message: expected_bu(1, now, "2001:db8:a1:1::/64", addr(P2_ADDR), 40),
        }]
    );
    assert_eq!(
        changes,
        vec![
            Change::KeepAddress {
                address: addr(P1_ADDR),
                dev: "ar2".into()
            },
            Change::Anchor(AR1),
        ]
    );
    let mut changes = Vec::new();
    // An acknowledgement from elsewhere, or for another update, changes nothing.
    node.handle(now, AR2, &ba(1, Status::ACCEPTED, 40), &mut changes);
    node.handle(now, AR1, &ba(9, Status::ACCEPTED, 40), &mut changes);
    assert!(changes.is_empty());
    node.handle(now, AR1, &ba(1, Status::ACCEPTED, 40), &mut changes);
    assert_eq!(
        changes,
        vec![Change::Tunnel {
            prefix: net("2001:db8:a1:1::/64"),
            anchor: AR1,
            care_of: addr(P2_ADDR),
            dev: "ar2".into(),
        }]
    );
    assert_eq!(node.counters().accepted, 1);
    // Refreshed at half the lifetime granted, with a fresh timestamp.
    assert_eq!(
        node.next_deadline(),
        Some(now.instant + Duration::from_secs(20))
    );
    let half = now.plus(Duration::from_secs(20));
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    node.poll(half, &mut out, &mut changes);
    assert_eq!(
        out,
        vec![Send {
            from: addr(P2_ADDR),
            to: AR1,
            message: expected_bu(2, half, "2001:db8:a1:1::/64", addr(P2_ADDR), 40),
        }]
    );
    assert_eq!(changes, vec![Change::Anchor(AR1)]);
}

#[test]
fn a_second_move_updates_both_earlier_anchors_and_unused_prefixes_are_forgotten() {
    let mut node = engine();
    let now = start();
    moved_to_ar2(&mut node, now);
    let mut changes = Vec::new();
    node.handle(now, AR1, &ba(1, Status::ACCEPTED, 40), &mut changes);
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    // Sockets on P1 and P2.
    node.sockets(
        now,
        BTreeSet::from([addr(P1_ADDR), addr(P2_ADDR)]),
        &mut out,
        &mut changes,
    );
    assert!(out.is_empty() && changes.is_empty());
    node.advertised("ar3", MAC, &advert("2001:db8:a3:1::/64", AR3));
    let later = now.plus(Duration::from_secs(1));
    node.address(later, "ar3", addr(P3_ADDR), true, &mut out, &mut changes);
    assert_eq!(
        out,
        vec![
            Send {
                from: addr(P3_ADDR),
                to: AR1,
                message: expected_bu(2, later, "2001:db8:a1:1::/64", addr(P3_ADDR), 40),
            },
            Send {
                from: addr(P3_ADDR),
                to: AR2,
                message: expected_bu(3, later, "2001:db8:a2:1::/64", addr(P3_ADDR), 40),
            },
        ]
    );
    assert_eq!(
        changes,
        vec![
            Change::DropAddress {
                address: addr(P1_ADDR),
                dev: "ar2".into()
            },
            Change::KeepAddress {
                address: addr(P1_ADDR),
                dev: "ar3".into()
            },
            Change::Anchor(AR1),
            // The tunnel moves to the new care-of address with the acknowledgement.
            Change::RemoveTunnel {
                prefix: net("2001:db8:a1:1::/64")
            },
            Change::KeepAddress {
                address: addr(P2_ADDR),
                dev: "ar3".into()
            },
            Change::Anchor(AR2),
        ]
    );
    // P2's sockets close: its update is answered, then it is de-registered.
    let mut changes = Vec::new();
    node.handle(later, AR2, &ba(3, Status::ACCEPTED, 40), &mut changes);
    node.handle(later, AR1, &ba(2, Status::ACCEPTED, 40), &mut changes);
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    node.sockets(
        later,
        BTreeSet::from([addr(P1_ADDR)]),
        &mut out,
        &mut changes,
    );
    assert_eq!(
        out,
        vec![Send {
            from: addr(P3_ADDR),
            to: AR2,
            message: expected_bu(4, later, "2001:db8:a2:1::/64", addr(P3_ADDR), 0),
        }]
    );
    assert_eq!(
        changes,
        vec![Change::RemoveTunnel {
            prefix: net("2001:db8:a2:1::/64")
        }]
    );
    let mut changes = Vec::new();
    node.handle(later, AR2, &ba(4, Status::ACCEPTED, 0), &mut changes);
    assert_eq!(
        changes,
        vec![
            Change::ForgetAnchor(AR2),
            Change::DropAddress {
                address: addr(P2_ADDR),
                dev: "ar3".into()
            },
        ]
    );
    let held: Vec<Ipv6Net> = node.bindings().iter().map(|b| b.prefix).collect();
    assert_eq!(
        held,
        vec![net("2001:db8:a1:1::/64"), net("2001:db8:a3:1::/64")]
    );
}

#[test]
fn a_prefix_nothing_uses_is_not_registered_after_a_move() {
    let mut node = engine();
    let now = start();
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    node.advertised("ar1", MAC, &advert("2001:db8:a1:1::/64", AR1));
    node.address(now, "ar1", addr(P1_ADDR), true, &mut out, &mut changes);
    node.advertised("ar2", MAC, &advert("2001:db8:a2:1::/64", AR2));
    node.address(now, "ar2", addr(P2_ADDR), true, &mut out, &mut changes);
    assert!(out.is_empty() && changes.is_empty(), "{out:?} {changes:?}");
    assert_eq!(node.bindings().len(), 1);
    // A router that names no address: nothing learned.
    node.advertised(
        "ar3",
        MAC,
        &RouterAdvert {
            prefixes: vec![net("2001:db8:a3:1::/64")],
            router_address: None,
        },
    );
    assert_eq!(node.bindings().len(), 1);
}

#[test]
fn a_refusal_or_silence_ends_the_binding_and_retransmissions_are_restamped() {
    let mut node = engine();
    let now = start();
    moved_to_ar2(&mut node, now);
    // Unanswered: sent again after 1 s with a fresh timestamp.
    let second = now.plus(Duration::from_secs(1));
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    node.poll(second, &mut out, &mut changes);
    assert_eq!(
        out,
        vec![Send {
            from: addr(P2_ADDR),
            to: AR1,
            message: expected_bu(1, second, "2001:db8:a1:1::/64", addr(P2_ADDR), 40),
        }]
    );
    assert_eq!(node.counters().retransmissions, 1);
    let mut changes = Vec::new();
    node.handle(
        second,
        AR1,
        &ba(1, Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX, 0),
        &mut changes,
    );
    assert_eq!(changes, vec![Change::ForgetAnchor(AR1)]);
    assert_eq!(node.counters().refused, 1);
    assert_eq!(node.bindings()[0].state, "none");
    // Nothing more is due.
    assert_eq!(node.next_deadline(), None);
}

#[test]
fn back_at_the_anchor_the_binding_is_de_registered() {
    let mut node = engine();
    let now = start();
    moved_to_ar2(&mut node, now);
    let mut changes = Vec::new();
    node.handle(now, AR1, &ba(1, Status::ACCEPTED, 40), &mut changes);
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    // The node is back at AR1: P1 is preferred again there.
    let back = now.plus(Duration::from_secs(2));
    node.address(back, "ar1", addr(P1_ADDR), true, &mut out, &mut changes);
    assert_eq!(
        out,
        vec![Send {
            from: addr(P1_ADDR),
            to: AR1,
            message: expected_bu(2, back, "2001:db8:a1:1::/64", addr(P1_ADDR), 0),
        }]
    );
    assert_eq!(
        changes,
        vec![
            Change::DropAddress {
                address: addr(P1_ADDR),
                dev: "ar2".into()
            },
            Change::RemoveTunnel {
                prefix: net("2001:db8:a1:1::/64")
            },
        ]
    );
    let mut changes = Vec::new();
    node.handle(back, AR1, &ba(2, Status::ACCEPTED, 0), &mut changes);
    assert_eq!(changes, vec![Change::ForgetAnchor(AR1)]);
    assert_eq!(node.current(), Some(net("2001:db8:a1:1::/64")));
    assert_eq!(node.bindings()[0].state, "none");
}

#[test]
fn an_unrefreshed_binding_expires() {
    let mut node = engine();
    let now = start();
    moved_to_ar2(&mut node, now);
    let mut changes = Vec::new();
    node.handle(now, AR1, &ba(1, Status::ACCEPTED, 8), &mut changes);
    // The refresh at 4 s goes unanswered until the binding's end at 8 s.
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    node.poll(now.plus(Duration::from_secs(4)), &mut out, &mut changes);
    assert_eq!(out.len(), 1);
    let end = now.plus(Duration::from_secs(8));
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    node.poll(end, &mut out, &mut changes);
    assert!(changes.contains(&Change::RemoveTunnel {
        prefix: net("2001:db8:a1:1::/64")
    }));
    assert!(changes.contains(&Change::ForgetAnchor(AR1)));
}

#[test]
fn shutdown_de_registers_and_undoes_everything() {
    let mut node = engine();
    let now = start();
    moved_to_ar2(&mut node, now);
    let mut changes = Vec::new();
    node.handle(now, AR1, &ba(1, Status::ACCEPTED, 40), &mut changes);
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    let end = now.plus(Duration::from_secs(3));
    node.shutdown(end, &mut out, &mut changes);
    assert_eq!(
        out,
        vec![Send {
            from: addr(P2_ADDR),
            to: AR1,
            message: expected_bu(2, end, "2001:db8:a1:1::/64", addr(P2_ADDR), 0),
        }]
    );
    assert_eq!(
        changes,
        vec![
            Change::RemoveTunnel {
                prefix: net("2001:db8:a1:1::/64")
            },
            Change::DropAddress {
                address: addr(P1_ADDR),
                dev: "ar2".into()
            },
            Change::ForgetAnchor(AR1),
        ]
    );
    assert!(node.bindings().is_empty());
    assert_eq!(node.next_deadline(), None, "nothing is sent again");
}
