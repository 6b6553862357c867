//! Subscribers, the anchors near correspondents (RFC 8818 Figure 6): what the CMD tells them as
//! a node moves over three MAARs and back, releases a prefix and leaves.

mod common;

use std::{net::Ipv6Addr, time::Duration};

use anchor_cmd::{Config, ConfigError, MobilityStore as _};
use anchor_pmip::{MnKey, Outgoing};
use anchor_signal::{Lifetime, MobilityHeader, MobilityOption, Status};
use common::*;
use ipnet::Ipv6Net;

const S: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 3);
const P1: &str = "2001:db8:1:1::/64";
const P2: &str = "2001:db8:2:1::/64";
const P3: &str = "2001:db8:3:1::/64";

fn with_subscriber() -> Rig {
    let mut config = config();
    config.subscribers = vec![S];
    Rig::with(config)
}

/// The updates to the subscriber in `out`, as (serving, anchored prefixes, lifetime), in the
/// order they were sent.
fn to_subscriber(out: &[Outgoing]) -> Vec<(Ipv6Addr, Vec<Ipv6Net>, u16)> {
    out.iter()
        .filter(|o| o.to == S)
        .map(|o| {
            let pbu = pbu_of(o);
            let serving = pbu
                .options
                .iter()
                .find_map(|o| match o {
                    MobilityOption::ServingMaar(a) => Some(*a),
                    _ => None,
                })
                .expect("a Serving MAAR option");
            let anchored = pbu
                .options
                .iter()
                .filter_map(|o| match o {
                    MobilityOption::AnchoredPrefix(p) => Some(*p),
                    _ => None,
                })
                .collect();
            (serving, anchored, pbu.lifetime.0)
        })
        .collect()
}

/// Acknowledges every update in `out` as its addressee would.
fn ack_all(rig: &mut Rig, out: &[Outgoing]) {
    for update in out
        .iter()
        .filter(|o| matches!(o.message, MobilityHeader::Pbu(_)))
    {
        let ack = ack_of(update);
        rig.send(update.to, ack);
    }
}

#[test]
fn a_subscriber_follows_every_move_and_every_end_of_a_redirect() {
    let mut rig = with_subscriber();
    let out = rig.register(M1, 1, P1);
    assert!(to_subscriber(&out).is_empty(), "nothing is redirected yet");

    rig.advance(Duration::from_secs(1));
    let out = rig.register(M2, 1, P2);
    assert_eq!(to_subscriber(&out), vec![(M2, vec![net(P1)], 150)]);
    ack_all(&mut rig, &out);

    rig.advance(Duration::from_secs(1));
    let out = rig.register(M3, 1, P3);
    assert_eq!(to_subscriber(&out), vec![(M3, vec![net(P1), net(P2)], 150)]);
    ack_all(&mut rig, &out);

    // A refresh at the same MAAR changes nothing.
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M3, 2, P3);
    assert!(to_subscriber(&out).is_empty(), "{out:?}");

    // Back at M1: P1 is local again, no longer redirected; P2 and P3 go to M1.
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M1, 2, P1);
    assert_eq!(
        to_subscriber(&out),
        vec![(M3, vec![net(P1)], 0), (M1, vec![net(P2), net(P3)], 150)]
    );
    ack_all(&mut rig, &out);
    assert_eq!(rig.engine.in_flight(), 0, "every update acknowledged");
    let record = rig.engine.store().get(&MnKey::from(&MN)).expect("stored");
    assert!(record.pending.is_empty(), "{record:?}");

    // M2 releases P2 on idle: the subscriber drops it too.
    rig.advance(Duration::from_secs(1));
    let release = pbu(
        3,
        Lifetime::DEREGISTRATION,
        rig.stamp(),
        &[MobilityOption::AnchoredPrefix(net(P2))],
    );
    let out = rig.send(M2, release);
    assert_eq!(to_subscriber(&out), vec![(M1, vec![net(P2)], 0)]);
    ack_all(&mut rig, &out);

    // The node leaves the domain: the last redirect ends.
    rig.advance(Duration::from_secs(1));
    let leave = pbu(
        4,
        Lifetime::DEREGISTRATION,
        rig.stamp(),
        &[MobilityOption::LocalPrefix(net(P1))],
    );
    let out = rig.send(M1, leave);
    assert_eq!(to_subscriber(&out), vec![(M1, vec![net(P3)], 0)]);
}

#[test]
fn an_unacknowledged_subscriber_update_is_retransmitted_and_stored() {
    let mut rig = with_subscriber();
    rig.register(M1, 1, P1);
    rig.advance(Duration::from_secs(1));
    let out = rig.register(M2, 1, P2);
    // Only the previous MAAR answers.
    let to_m1: Vec<Outgoing> = out.iter().filter(|o| o.to == M1).cloned().collect();
    ack_all(&mut rig, &to_m1);
    assert_eq!(pending(&rig.engine), vec![(S, M2, vec![net(P1)])]);
    let resent = rig.advance(Duration::from_secs(1));
    assert_eq!(to_subscriber(&resent), vec![(M2, vec![net(P1)], 150)]);
}

#[test]
fn a_subscriber_is_not_a_maar() {
    let mut rig = with_subscriber();
    let out = rig.register(S, 1, P1);
    expect_status(&out, S, Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
    let text = format!(
        "address = \"2001:db8:c::1\"\nstore = \"x\"\nsubscribers = [\"{S}\", \"{M1}\"]\n\
         [[maar]]\naddress = \"{M1}\"\nprefixes = [\"2001:db8:1::/48\"]\n"
    );
    assert!(matches!(
        Config::parse(&text),
        Err(ConfigError::SubscriberClash { index: 1, address }) if address == M1
    ));
}
