//! Client-based DMM at the anchor ([`super::client`]): a MAAR without a CMD registers its nodes
//! itself, redirects a prefix on its node's Binding Update, refuses updates for prefixes the
//! sender does not hold and replayed ones, and ends the redirect on de-registration or expiry.

use std::time::Duration;

use super::tests::{M1, MN, config, net, pba_of, start};
use super::*;
use anchor_signal::{Lifetime, Pba, Pbu, PbuFlags, Status};

const ACCESS: &str = "acc";
/// The node's address at its new router.
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa2, 1, 0, 0, 0, 0x10);
const OTHER: MnId = MnId::Eui48([2, 0, 0, 0, 0, 2]);

fn standalone() -> MaarEngine {
    let mut config = config("2001:db8:a1::/48");
    config.cmd = Vec::new();
    config.client_bindings = true;
    MaarEngine::new(&config, M1, vec![ACCESS.to_owned()])
}

/// A node's Binding Update: A and H flags, MN-ID, Timestamp, HNP, Alternate CoA.
fn bu(mn: &MnId, sequence: u16, at: Now, prefix: Ipv6Net, lifetime_s: u64) -> MobilityHeader {
    MobilityHeader::Pbu(Pbu {
        sequence,
        flags: PbuFlags::A | PbuFlags::H,
        lifetime: Lifetime::from_duration_floor(Duration::from_secs(lifetime_s)),
        options: vec![
            MobilityOption::MnId(mn.clone()),
            MobilityOption::Timestamp(Timestamp::from_system_time(at.wall)),
            MobilityOption::HomeNetworkPrefix(prefix),
            MobilityOption::AlternateCareOfAddress(COA),
        ],
    })
}

/// Attaches MN and hands out the route its attachment decided.
fn attached(maar: &mut MaarEngine, now: Now) -> Ipv6Net {
    let mut out = Vec::new();
    let prefix = maar.attach(now, MN, ACCESS, &mut out).unwrap();
    assert!(out.is_empty(), "no CMD, no PBU: {out:?}");
    let mut actions = Vec::new();
    maar.poll(now, &mut out, &mut actions);
    assert_eq!(
        actions,
        vec![Action::AddRoute {
            prefix,
            dev: ACCESS.to_owned(),
            mac: MN.mac(),
        }]
    );
    prefix
}

fn send(maar: &mut MaarEngine, now: Now, message: MobilityHeader) -> (Pba, Vec<Action>) {
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    maar.handle(now, COA, message, &mut out, &mut actions);
    assert_eq!(out.len(), 1, "one acknowledgement: {out:?}");
    assert_eq!(out[0].to, COA);
    (pba_of(&out[0]).clone(), actions)
}

#[test]
fn a_node_without_a_cmd_is_registered_at_once_and_advertised_with_the_router_address() {
    let mut maar = standalone();
    let now = start();
    let prefix = attached(&mut maar, now);
    let adverts = maar.advertised(ACCESS);
    assert_eq!(
        adverts,
        vec![
            Advert {
                prefix,
                deprecated: false,
            },
            Advert {
                prefix: Ipv6Net::from(M1),
                deprecated: false,
            },
        ]
    );
}

#[test]
fn the_nodes_update_redirects_its_prefix_and_de_registration_releases_it() {
    let mut maar = standalone();
    let now = start();
    let prefix = attached(&mut maar, now);
    let (pba, actions) = send(&mut maar, now, bu(&MN, 7, now, prefix, 40));
    assert_eq!(pba.status, Status::ACCEPTED);
    assert_eq!(pba.sequence, 7);
    assert_eq!(pba.lifetime.as_duration(), Duration::from_secs(40));
    assert_eq!(
        actions,
        vec![
            Action::RemoveRoute {
                prefix,
                dev: ACCESS.to_owned(),
            },
            Action::AddBinding {
                prefix,
                kind: MaarBindingKind::Redirect { serving: COA },
            },
        ]
    );
    assert!(maar.served(&MN).is_none());
    assert_eq!(
        maar.anchored(&prefix),
        Some((MN, COA, Policy::SessionLasting))
    );
    // A longer lifetime than the MAAR's is cut to it.
    let later = now.plus(Duration::from_secs(1));
    let (pba, actions) = send(&mut maar, later, bu(&MN, 8, later, prefix, 4000));
    assert_eq!(pba.status, Status::ACCEPTED);
    assert_eq!(pba.lifetime.as_duration(), Duration::from_secs(40));
    assert!(actions.is_empty(), "a refresh changes nothing: {actions:?}");
    let end = later.plus(Duration::from_secs(1));
    let (pba, actions) = send(&mut maar, end, bu(&MN, 9, end, prefix, 0));
    assert_eq!(pba.status, Status::ACCEPTED);
    assert_eq!(actions, vec![Action::RemoveBinding { prefix }]);
    assert!(maar.anchored(&prefix).is_none());
    // The /64 is free again: the next node gets it.
    let mut out = Vec::new();
    assert_eq!(maar.attach(end, OTHER, ACCESS, &mut out), Ok(prefix));
}

#[test]
fn updates_for_prefixes_not_held_and_replays_are_refused() {
    let mut maar = standalone();
    let now = start();
    let prefix = attached(&mut maar, now);
    // Another node claims MN's prefix.
    let (pba, actions) = send(&mut maar, now, bu(&OTHER, 1, now, prefix, 40));
    assert_eq!(pba.status, Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
    assert_eq!(pba.lifetime, Lifetime::DEREGISTRATION);
    assert!(actions.is_empty());
    // A prefix of the pool never delegated.
    let free = net("2001:db8:a1:ff::/64");
    let (pba, _) = send(&mut maar, now, bu(&MN, 2, now, free, 40));
    assert_eq!(pba.status, Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
    // Accepted once, then the same update again is a replay.
    let (pba, _) = send(&mut maar, now, bu(&MN, 3, now, prefix, 40));
    assert_eq!(pba.status, Status::ACCEPTED);
    let (pba, actions) = send(&mut maar, now, bu(&MN, 3, now, prefix, 40));
    assert_eq!(pba.status, Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED);
    assert!(actions.is_empty());
    // An old one, outside the window.
    let late = now.plus(Duration::from_secs(5));
    let (pba, _) = send(&mut maar, late, bu(&MN, 4, now, prefix, 40));
    assert_eq!(pba.status, Status::TIMESTAMP_MISMATCH);
    // A care-of address inside the prefix itself.
    let mut home = bu(&MN, 5, late, prefix, 40);
    if let MobilityHeader::Pbu(pbu) = &mut home {
        pbu.options[3] = MobilityOption::AlternateCareOfAddress(prefix.addr());
    }
    let (pba, _) = send(&mut maar, late, home);
    assert_eq!(pba.status, Status::ADMINISTRATIVELY_PROHIBITED);
    // Without MN-ID.
    let mut anonymous = bu(&MN, 6, late, prefix, 40);
    if let MobilityHeader::Pbu(pbu) = &mut anonymous {
        pbu.options.remove(0);
    }
    let (pba, _) = send(&mut maar, late, anonymous);
    assert_eq!(pba.status, Status::MISSING_MN_IDENTIFIER_OPTION);
    assert_eq!(maar.counters().rejected_total(), 6);
    assert_eq!(
        maar.anchored(&prefix),
        Some((MN, COA, Policy::SessionLasting))
    );
}

#[test]
fn an_unrefreshed_binding_expires_and_a_returning_node_takes_its_prefix_back() {
    let mut maar = standalone();
    let now = start();
    let prefix = attached(&mut maar, now);
    let (pba, _) = send(&mut maar, now, bu(&MN, 1, now, prefix, 40));
    assert_eq!(pba.status, Status::ACCEPTED);
    // Back before the expiry: the redirect goes, the route comes back.
    let back = now.plus(Duration::from_secs(10));
    let mut out = Vec::new();
    assert_eq!(maar.attach(back, MN, ACCESS, &mut out), Ok(prefix));
    let mut actions = Vec::new();
    maar.poll(back, &mut out, &mut actions);
    assert_eq!(
        actions,
        vec![
            Action::RemoveBinding { prefix },
            Action::AddRoute {
                prefix,
                dev: ACCESS.to_owned(),
                mac: MN.mac(),
            },
        ]
    );
    assert!(maar.anchored(&prefix).is_none());
    // It leaves again; its binding runs out unrefreshed.
    let (pba, _) = send(&mut maar, back, bu(&MN, 2, back, prefix, 8));
    assert_eq!(pba.status, Status::ACCEPTED);
    assert_eq!(
        maar.next_deadline(),
        Some(back.instant + Duration::from_secs(8))
    );
    let expired = back.plus(Duration::from_secs(8));
    let mut actions = Vec::new();
    maar.poll(expired, &mut out, &mut actions);
    assert_eq!(actions, vec![Action::RemoveBinding { prefix }]);
    assert!(maar.anchored(&prefix).is_none());
    assert_eq!(maar.attach(expired, OTHER, ACCESS, &mut out), Ok(prefix));
}

#[test]
fn client_redirects_and_timestamps_survive_a_restart() {
    let mut maar = standalone();
    let now = start();
    let prefix = attached(&mut maar, now);
    let (pba, _) = send(&mut maar, now, bu(&MN, 1, now, prefix, 40));
    assert_eq!(pba.status, Status::ACCEPTED);
    let state = maar.snapshot();
    let mut restarted = standalone();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let later = now.plus(Duration::from_millis(100));
    restarted.restore(later, state, &mut out, &mut actions);
    assert!(out.is_empty(), "no CMD to register with: {out:?}");
    assert_eq!(
        actions,
        vec![Action::AddBinding {
            prefix,
            kind: MaarBindingKind::Redirect { serving: COA },
        }]
    );
    // The replay protection came along.
    let (pba, _) = send(&mut restarted, later, bu(&MN, 1, now, prefix, 40));
    assert_eq!(pba.status, Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED);
}

#[test]
fn a_maar_with_a_cmd_and_no_client_bindings_refuses_node_updates() {
    let mut maar = super::tests::maar(M1, "2001:db8:a1::/48");
    let now = start();
    let prefix = net("2001:db8:a1:1::/64");
    let (pba, actions) = send(&mut maar, now, bu(&MN, 1, now, prefix, 40));
    assert_eq!(pba.status, Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
    assert!(actions.is_empty());
}
