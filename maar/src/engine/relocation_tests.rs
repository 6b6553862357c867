//! Anchor relocation (RFC 8818 section 4.3) at the MAARs: the new serving MAAR takes a `fixed`
//! prefix as its own (route, advertisement, no reverse tunnel) and accepts its previous
//! anchor's redirect while routing converges; the previous anchor ends that redirect when it
//! is idle, with no message, and keeps a /64 of its own pools out of the pool until the CMD
//! gives it back.

use std::time::Duration;

use super::{
    tests::{CMD, M1, M2, MN, RealCmd, accept, cmd_pbu, config, maar, pba_of, pbu_of, start},
    *,
};
use crate::ra::Advert;
use anchor_signal::Status;

const M3: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x12, 0, 0, 0, 0, 3);

fn fixed_maar(locator: Ipv6Addr, pool: &str, idle_s: u64) -> MaarEngine {
    let mut config = config(pool);
    config.pools[0].policy = Policy::Fixed;
    config.pools[0].idle_release_s = Some(idle_s);
    MaarEngine::new(&config, locator, vec!["acc".to_owned()])
}

/// The visiting binding of a prefix relocated here from `home`: the receiving end of `home`'s
/// bridge. It names no access interface: the MAAR's own relocation route delivers the prefix,
/// and the binding table must neither add that route again nor remove it with the binding.
fn bridged(home: Ipv6Addr) -> MaarBindingKind {
    MaarBindingKind::Visiting {
        home,
        reverse_tunnel: false,
        dev: None,
        mac: None,
    }
}

#[test]
fn a_fixed_prefix_is_relocated_bridged_then_lent_and_given_back() {
    let mut w = RealCmd::new(
        "relocate",
        "fixed = [\"2001:db8:a1::/48\"]\n",
        fixed_maar(M1, "2001:db8:a1::/48", 5),
        maar(M2, "2001:db8:a2::/48"),
    );
    let now = Now::system();
    let p1 = w.attach(now, M1);
    w.a1.clear();

    let now = now.plus(Duration::from_millis(1));
    let p2 = w.attach(now, M2);
    // The new anchor routes and advertises P1 as the node's own, and accepts M1's redirect
    // without tunnelling the uplink back.
    for action in [
        Action::AddRoute {
            prefix: p1,
            dev: "acc".into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
        },
        Action::AddBinding {
            prefix: p1,
            kind: bridged(M1),
        },
        Action::AddRoute {
            prefix: p2,
            dev: "acc".into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
        },
    ] {
        assert!(w.a2.contains(&action), "{action:?} in {:?}", w.a2);
    }
    let adverts = w.m2.advertised("acc");
    for prefix in [p1, p2] {
        assert!(
            adverts.contains(&Advert {
                prefix,
                deprecated: false
            }),
            "{adverts:?}"
        );
    }
    // The old anchor withdraws its route and bridges the convergence with a redirect.
    assert_eq!(
        w.a1,
        vec![
            Action::RemoveRoute {
                prefix: p1,
                dev: "acc".into()
            },
            Action::AddBinding {
                prefix: p1,
                kind: MaarBindingKind::Redirect { serving: M2 }
            },
        ]
    );
    w.a1.clear();

    // No traffic through the redirect for its idle time: it ends, with no message to the CMD,
    // and the /64 stays lent.
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    w.m1.observe_traffic(now, p1, 0);
    w.m1.poll(now.plus(Duration::from_secs(6)), &mut out, &mut actions);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(actions, vec![Action::RemoveBinding { prefix: p1 }]);
    assert_eq!(w.m1.anchored(&p1), None);
    assert_eq!(w.m1.snapshot().lent, vec![p1]);

    // The node leaves the domain: the CMD gives P1 back to M1's pool.
    let now = now.plus(Duration::from_millis(2));
    let mut out = Vec::new();
    w.m2.detach(now, &MN, &mut out).unwrap();
    w.exchange(now, M2, &mut out);
    assert!(w.m1.snapshot().lent.is_empty(), "P1 is back in M1's pool");
    assert!(w.a2.contains(&Action::RemoveRoute {
        prefix: p1,
        dev: "acc".into()
    }));
    assert_eq!(w.cmd.in_flight(), 0);
}

#[test]
fn a_relocated_prefix_moves_on_with_its_node() {
    let mut m2 = maar(M2, "2001:db8:a2::/48");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let p2 = m2.attach(now, MN, "acc", &mut out).unwrap();
    let p1: Ipv6Net = "2001:db8:a1::/64".parse().unwrap();
    let pbu = pbu_of(&out[0]).clone();
    let relocated = vec![
        MobilityOption::PreviousMaar {
            maar: M1,
            prefix: p1,
        },
        MobilityOption::HomeNetworkPrefix(p1),
    ];
    m2.handle(
        now,
        CMD,
        accept(&pbu, 10, relocated),
        &mut out,
        &mut actions,
    );
    assert!(actions.contains(&Action::AddRoute {
        prefix: p1,
        dev: "acc".into(),
        mac: Some([2, 0, 0, 0, 0, 1]),
    }));

    // Across a restart the relocated prefix keeps its route and its uplink stays direct.
    let mut restarted = maar(M2, "2001:db8:a2::/48");
    let (mut resent, mut restored) = (Vec::new(), Vec::new());
    restarted.restore(now, m2.snapshot(), &mut resent, &mut restored);
    for action in [
        Action::AddRoute {
            prefix: p1,
            dev: "acc".into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
        },
        Action::AddBinding {
            prefix: p1,
            kind: bridged(M1),
        },
    ] {
        assert!(restored.contains(&action), "{action:?} in {restored:?}");
    }

    // The node moves on to M3: both prefixes are redirected there; the relocated one as a
    // bridge that ends when idle, the session-lasting one released through the CMD.
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let MobilityHeader::Pbu(mut update) = cmd_pbu(now, 10, p2, Some(M3)) else {
        unreachable!()
    };
    update.options.push(MobilityOption::AnchoredPrefix(p1));
    m2.handle(
        now,
        CMD,
        MobilityHeader::Pbu(update),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    for action in [
        Action::RemoveRoute {
            prefix: p2,
            dev: "acc".into(),
        },
        Action::RemoveRoute {
            prefix: p1,
            dev: "acc".into(),
        },
        Action::RemoveBinding { prefix: p1 },
        Action::AddBinding {
            prefix: p1,
            kind: MaarBindingKind::Redirect { serving: M3 },
        },
        Action::AddBinding {
            prefix: p2,
            kind: MaarBindingKind::Redirect { serving: M3 },
        },
    ] {
        assert!(actions.contains(&action), "{action:?} in {actions:?}");
    }
    assert_eq!(m2.anchored(&p1), Some((MN, M3, Policy::Fixed)));
    assert_eq!(m2.anchored(&p2), Some((MN, M3, Policy::SessionLasting)));

    // Both idle (the default 600 s): P1's bridge ends here, P2's release goes to the CMD.
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m2.poll(now.plus(Duration::from_secs(601)), &mut out, &mut actions);
    assert!(actions.contains(&Action::RemoveBinding { prefix: p1 }));
    assert_eq!(m2.anchored(&p1), None);
    assert!(m2.snapshot().lent.is_empty(), "P1 is in none of M2's pools");
    let releases: Vec<&Outgoing> = out
        .iter()
        .filter(|o| matches!(o.message, MobilityHeader::Pbu(_)))
        .collect();
    assert_eq!(releases.len(), 1, "{out:?}");
    assert!(
        pbu_of(releases[0])
            .options
            .contains(&MobilityOption::AnchoredPrefix(p2))
    );
}

/// Before this, the relocated prefix's visiting binding named the access interface as any
/// visiting binding does: the binding table then added the route `PREFIX dev ACCESS` that the
/// MAAR had just added for the relocation, the kernel refused it (it exists), and the binding
/// was never installed, so that the old anchor's bridge was dropped at the new anchor
/// (`drop_decap_no_binding`); had it been installed, its removal would have taken the
/// relocation's route, the one BGP announces, with it. Found on the rig with BIRD
/// (tests/tests/scenario_relocation.rs).
#[test]
fn the_bridge_binding_of_a_relocated_prefix_leaves_its_route_to_the_maar() {
    let mut m2 = maar(M2, "2001:db8:a2::/48");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let p2 = m2.attach(now, MN, "acc", &mut out).unwrap();
    let p1: Ipv6Net = "2001:db8:a1::/64".parse().unwrap();
    let pbu = pbu_of(&out[0]).clone();
    let relocated = vec![
        MobilityOption::PreviousMaar {
            maar: M1,
            prefix: p1,
        },
        MobilityOption::HomeNetworkPrefix(p1),
    ];
    m2.handle(
        now,
        CMD,
        accept(&pbu, 10, relocated),
        &mut out,
        &mut actions,
    );
    let route = |prefix| Action::AddRoute {
        prefix,
        dev: "acc".into(),
        mac: Some([2, 0, 0, 0, 0, 1]),
    };
    assert_eq!(
        actions,
        vec![
            route(p1),
            route(p2),
            Action::AddBinding {
                prefix: p1,
                kind: bridged(M1),
            },
        ]
    );

    // The refresh at half the lifetime (10 units of 4 s): the CMD records P1 anchored here now, no Previous MAAR option. The bridge's
    // binding goes, the route stays.
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m2.poll(now.plus(Duration::from_secs(21)), &mut out, &mut actions);
    let refresh = pbu_of(out.last().expect("the refresh")).clone();
    let now = now.plus(Duration::from_secs(21));
    m2.handle(
        now,
        CMD,
        accept(&refresh, 10, vec![]),
        &mut out,
        &mut actions,
    );
    assert_eq!(actions, vec![Action::RemoveBinding { prefix: p1 }]);
    assert!(
        m2.advertised("acc").contains(&Advert {
            prefix: p1,
            deprecated: false
        }),
        "P1 is still the node's own here"
    );
}
