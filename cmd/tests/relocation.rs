//! Anchor relocation (RFC 8818 section 4.3): a `fixed` prefix moves with its node. The new
//! serving MAAR becomes its anchor (a Home Network Prefix option in its PBA, beside the Previous
//! MAAR option of the anchor that redirects it until routing converges); the record remembers
//! the MAAR that delegated it, which gets it back when the node's record ends.

mod common;

use std::{net::Ipv6Addr, time::Duration};

use anchor_cmd::{Config, MobilityStore as _};
use anchor_pmip::{MnKey, Outgoing, Policy};
use anchor_signal::{Lifetime, MobilityOption, Pba};
use common::*;
use ipnet::Ipv6Net;

const P1: &str = "2001:db8:1:1::/64";
const P2: &str = "2001:db8:2:1::/64";
const P3: &str = "2001:db8:3:1::/64";

/// Three MAARs; M1's and M3's pools are `fixed`, M2's `session-lasting`.
fn fixed_rig() -> Rig {
    let text = r#"
        address = "2001:db8:c::1"
        store = "unused"
        [[maar]]
        address = "2001:db8:f1::2"
        prefixes = ["2001:db8:1::/48"]
        fixed = ["2001:db8:1::/48"]
        [[maar]]
        address = "2001:db8:f2::2"
        prefixes = ["2001:db8:2::/48"]
        [[maar]]
        address = "2001:db8:f3::2"
        prefixes = ["2001:db8:3::/48"]
        fixed = ["2001:db8:3::/48"]
        "#;
    Rig::with(Config::parse(text).expect("fixed config"))
}

fn home_prefixes(pba: &Pba) -> Vec<Ipv6Net> {
    pba.options
        .iter()
        .filter_map(|o| match o {
            MobilityOption::HomeNetworkPrefix(p) => Some(*p),
            _ => None,
        })
        .collect()
}

/// The record's prefixes as (prefix, anchor, policy, origin).
fn anchors(rig: &Rig) -> Vec<(Ipv6Net, Ipv6Addr, Policy, Option<Ipv6Addr>)> {
    rig.engine
        .store()
        .get(&MnKey::from(&MN))
        .expect("the record")
        .prefixes
        .iter()
        .map(|p| (p.prefix, p.anchor, p.policy, p.origin))
        .collect()
}

/// The updates in `out` as (to, serving, anchored, lifetime).
fn updates(out: &[Outgoing]) -> Vec<(Ipv6Addr, Ipv6Addr, Vec<Ipv6Net>, u16)> {
    out.iter()
        .filter(|o| matches!(o.message, anchor_signal::MobilityHeader::Pbu(_)))
        .map(|o| {
            let pbu = pbu_of(o);
            let serving = pbu.options.iter().find_map(|o| match o {
                MobilityOption::ServingMaar(a) => Some(*a),
                _ => None,
            });
            let anchored = pbu
                .options
                .iter()
                .filter_map(|o| match o {
                    MobilityOption::AnchoredPrefix(p) => Some(*p),
                    _ => None,
                })
                .collect();
            (
                o.to,
                serving.expect("Serving MAAR"),
                anchored,
                pbu.lifetime.0,
            )
        })
        .collect()
}

#[test]
fn a_fixed_prefix_moves_with_its_node_and_goes_home_when_the_record_ends() {
    let mut rig = fixed_rig();
    rig.register(M1, 1, P1);

    // To M2: P1 is relocated there; M1 redirects it until routing converges.
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M2, 1, P2);
    let pba = pba_of(out.iter().find(|o| o.to == M2).expect("the PBA"));
    assert_eq!(previous_maars(pba), vec![(M1, net(P1))]);
    assert_eq!(home_prefixes(pba), vec![net(P1)]);
    assert_eq!(updates(&out), vec![(M1, M2, vec![net(P1)], 150)]);
    assert_eq!(
        anchors(&rig),
        vec![
            (net(P1), M2, Policy::Fixed, Some(M1)),
            (net(P2), M2, Policy::SessionLasting, None),
        ]
    );

    // To M3: P1 is relocated again (its origin stays M1); M2's session-lasting P2 is
    // redirected by M2 as usual.
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M3, 1, P3);
    let pba = pba_of(out.iter().find(|o| o.to == M3).expect("the PBA"));
    assert_eq!(previous_maars(pba), vec![(M2, net(P1)), (M2, net(P2))]);
    assert_eq!(home_prefixes(pba), vec![net(P1)]);
    assert_eq!(updates(&out), vec![(M2, M3, vec![net(P1), net(P2)], 150)]);
    assert_eq!(
        anchors(&rig),
        vec![
            (net(P1), M3, Policy::Fixed, Some(M1)),
            (net(P2), M2, Policy::SessionLasting, None),
            (net(P3), M3, Policy::Fixed, None),
        ]
    );

    // A refresh at M3 relocates nothing.
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M3, 2, P3);
    let pba = pba_of(&out[0]);
    assert!(home_prefixes(pba).is_empty(), "{pba:?}");

    // The node leaves: M2 drops its redirect, M1 gets the lent P1 back.
    rig.advance(Duration::from_secs(1));
    let leave = pbu(
        3,
        Lifetime::DEREGISTRATION,
        rig.stamp(),
        &[MobilityOption::LocalPrefix(net(P3))],
    );
    let out = rig.send(M3, leave);
    let mut sent = updates(&out);
    sent.sort();
    assert_eq!(
        sent,
        vec![(M1, M3, vec![net(P1)], 0), (M2, M3, vec![net(P2)], 0)]
    );
}

#[test]
fn back_at_its_origin_a_relocated_prefix_is_local_again() {
    let mut rig = fixed_rig();
    rig.register(M1, 1, P1);
    rig.advance(Duration::from_secs(1));
    rig.register(M2, 1, P2);
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M1, 2, P1);
    let pba = pba_of(out.iter().find(|o| o.to == M1).expect("the PBA"));
    assert!(home_prefixes(pba).is_empty(), "P1 is M1's local prefix");
    assert_eq!(previous_maars(pba), vec![(M2, net(P2))]);
    assert_eq!(
        anchors(&rig),
        vec![
            (net(P1), M1, Policy::Fixed, None),
            (net(P2), M2, Policy::SessionLasting, None),
        ]
    );
}
