//! The MAAR engine with a fake clock: alone against hand-made CMD messages, and two MAARs
//! against the real CMD engine (messages passed in memory).

use std::time::{Duration, SystemTime};

use anchor_cmd::{Engine as CmdEngine, FileStore};

use super::*;
use crate::maar::config::PoolConfig;

const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
const M1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x12, 0, 0, 0, 0, 1);
const M2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x12, 0, 0, 0, 0, 2);
const MN: MnId = MnId::Eui48([2, 0, 0, 0, 0, 1]);

fn config(pool: &str) -> MaarConfig {
    MaarConfig {
        cmd: CMD,
        address: None,
        insecure_signaling: true,
        reverse_tunnel: true,
        lifetime_s: 40,
        initial_bindack_timeout_ms: 1_000,
        max_bindack_timeout_ms: 4_000,
        timestamp_window_ms: 300,
        ra_interval_s: 600,
        report_interval_s: 60,
        pools: vec![PoolConfig {
            prefix: pool.parse().unwrap(),
            policy: Policy::SessionLasting,
        }],
    }
}

fn maar(locator: Ipv6Addr, pool: &str) -> MaarEngine {
    MaarEngine::new(&config(pool), locator, vec!["acc".to_owned()])
}

fn start() -> Now {
    Now {
        instant: Instant::now(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

fn net(text: &str) -> Ipv6Net {
    text.parse().unwrap()
}

fn pbu_of(out: &Outgoing) -> &Pbu {
    match &out.message {
        MobilityHeader::Pbu(pbu) => pbu,
        other => panic!("expected a PBU, got {other:?}"),
    }
}

fn pba_of(out: &Outgoing) -> &Pba {
    match &out.message {
        MobilityHeader::Pba(pba) => pba,
        other => panic!("expected a PBA, got {other:?}"),
    }
}

fn accept(pbu: &Pbu, lifetime: u16, extra: Vec<MobilityOption>) -> MobilityHeader {
    let mut options = vec![MobilityOption::MnId(MN.clone())];
    options.extend(extra);
    MobilityHeader::Pba(Pba {
        status: Status::ACCEPTED,
        flags: PbaFlags::P | PbaFlags::D,
        sequence: pbu.sequence,
        lifetime: Lifetime(lifetime),
        options,
    })
}

fn cmd_pbu(now: Now, lifetime: u16, prefix: Ipv6Net, serving: Option<Ipv6Addr>) -> MobilityHeader {
    let mut options = vec![
        MobilityOption::MnId(MN.clone()),
        MobilityOption::Timestamp(Timestamp::from_system_time(now.wall)),
        MobilityOption::AnchoredPrefix(prefix),
    ];
    options.extend(serving.map(MobilityOption::ServingMaar));
    MobilityHeader::Pbu(Pbu {
        sequence: 9,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime: Lifetime(lifetime),
        options,
    })
}

#[test]
fn attach_registers_retransmits_and_installs_on_the_pba() {
    let mut m = maar(M1, "2001:db8:a1::/48");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    assert_eq!(
        m.attach(now, MN, "eth9", &mut out),
        Err(MaarError::NotAccess { dev: "eth9".into() })
    );
    let prefix = m.attach(now, MN, "acc", &mut out).unwrap();
    assert_eq!(prefix, net("2001:db8:a1::/64"));
    assert_eq!(
        m.attach(now, MN, "acc", &mut out).unwrap(),
        prefix,
        "idempotent"
    );
    let [sent] = out.as_slice() else {
        panic!("one PBU, got {out:?}")
    };
    assert_eq!(sent.to, CMD);
    let pbu = pbu_of(sent).clone();
    assert!(pbu.flags.contains(PbuFlags::A | PbuFlags::P | PbuFlags::D));
    assert_eq!(pbu.lifetime, Lifetime(10));
    assert!(pbu.options.contains(&MobilityOption::MnId(MN)));
    assert!(pbu.options.contains(&MobilityOption::LocalPrefix(prefix)));
    assert!(
        pbu.options
            .contains(&MobilityOption::Timestamp(Timestamp::from_system_time(
                now.wall
            )))
    );
    out.clear();

    // No PBA: sent again after 1 s with a new timestamp, then after 2 s more, then given up.
    m.poll(now.plus(Duration::from_millis(999)), &mut out, &mut actions);
    assert!(out.is_empty());
    let later = now.plus(Duration::from_secs(1));
    m.poll(later, &mut out, &mut actions);
    let resent = pbu_of(&out[0]).clone();
    assert_eq!(resent.sequence, pbu.sequence);
    assert!(
        resent
            .options
            .contains(&MobilityOption::Timestamp(Timestamp::from_system_time(
                later.wall
            )))
    );
    out.clear();
    m.poll(
        later.plus(Duration::from_millis(1_999)),
        &mut out,
        &mut actions,
    );
    assert!(out.is_empty(), "back-off doubles the wait");
    m.poll(later.plus(Duration::from_secs(2)), &mut out, &mut actions);
    assert_eq!(out.len(), 1);
    assert_eq!(m.counters().retransmissions, 2);
    out.clear();

    // A PBA from someone else, or for another sequence number, is dropped.
    let reply = accept(&pbu, 10, Vec::new());
    m.handle(now, M2, reply.clone(), &mut out, &mut actions);
    assert_eq!(m.counters().dropped, 1);
    let p1 = net("2001:db8:b1::/64");
    let reply = accept(
        &pbu,
        10,
        vec![MobilityOption::PreviousMaar {
            maar: M2,
            prefix: p1,
        }],
    );
    m.handle(later, CMD, reply, &mut out, &mut actions);
    assert_eq!(
        actions,
        vec![
            Action::AddRoute {
                prefix,
                dev: "acc".into()
            },
            Action::AddBinding {
                prefix: p1,
                kind: BindingKind::Visiting {
                    home: M2,
                    reverse_tunnel: true,
                    dev: Some("acc".into())
                }
            },
        ]
    );
    assert_eq!(m.served(&MN).unwrap().phase, Phase::Registered);
    assert_eq!(m.counters().registrations, 1);
    // The access link's advertisements: the local prefix, the visiting one deprecated.
    assert_eq!(
        m.advertised("acc"),
        vec![
            Advert {
                prefix,
                deprecated: false
            },
            Advert {
                prefix: p1,
                deprecated: true
            },
        ]
    );
    assert_eq!(m.advertised("other"), Vec::new());
    m.poll(later.plus(Duration::from_secs(10)), &mut out, &mut actions);
    assert!(out.is_empty(), "acknowledged: no more retransmissions");
}

#[test]
fn refreshes_at_half_the_lifetime_and_expires_without_answer() {
    let mut m = maar(M1, "2001:db8:a1::/64");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let prefix = m.attach(now, MN, "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    out.clear();
    m.handle(
        now,
        CMD,
        accept(&pbu, 10, Vec::new()),
        &mut out,
        &mut actions,
    );
    actions.clear();
    m.poll(now.plus(Duration::from_secs(19)), &mut out, &mut actions);
    assert!(out.is_empty());
    m.poll(now.plus(Duration::from_secs(20)), &mut out, &mut actions);
    let refresh = pbu_of(&out[0]);
    assert_ne!(refresh.sequence, pbu.sequence);
    assert!(
        refresh
            .options
            .contains(&MobilityOption::LocalPrefix(prefix))
    );
    out.clear();
    // The CMD never answers: at the end of the lifetime everything goes.
    m.poll(now.plus(Duration::from_secs(40)), &mut out, &mut actions);
    assert_eq!(
        actions,
        vec![Action::RemoveRoute {
            prefix,
            dev: "acc".into()
        }]
    );
    assert_eq!(m.served(&MN), None);
    // The /64 is back in the (one-prefix) pool.
    assert_eq!(m.attach(now, MN, "acc", &mut out), Ok(prefix));
    let other = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    assert_eq!(
        m.attach(now, other, "acc", &mut out),
        Err(MaarError::PoolExhausted)
    );
}

#[test]
fn detach_deregisters_and_releases() {
    let mut m = maar(M1, "2001:db8:a1::/64");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let prefix = m.attach(now, MN, "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    m.handle(
        now,
        CMD,
        accept(&pbu, 10, Vec::new()),
        &mut out,
        &mut actions,
    );
    out.clear();
    actions.clear();
    assert_eq!(m.detach(now, &MN, &mut out), Ok(prefix));
    let dereg = pbu_of(&out[0]).clone();
    assert_eq!(dereg.lifetime, Lifetime::DEREGISTRATION);
    assert_eq!(
        m.detach(now, &MN, &mut out),
        Err(MaarError::Detaching { mn: MN })
    );
    m.handle(
        now,
        CMD,
        accept(&dereg, 0, Vec::new()),
        &mut out,
        &mut actions,
    );
    assert_eq!(
        actions,
        vec![Action::RemoveRoute {
            prefix,
            dev: "acc".into()
        }]
    );
    assert_eq!(
        m.detach(now, &MN, &mut out),
        Err(MaarError::UnknownMn { mn: MN })
    );
}

#[test]
fn cmd_updates_are_checked_then_redirect_and_release() {
    let mut m = maar(M1, "2001:db8:a1::/64");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let prefix = m.attach(now, MN, "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    m.handle(
        now,
        CMD,
        accept(&pbu, 10, Vec::new()),
        &mut out,
        &mut actions,
    );
    out.clear();
    actions.clear();

    let rejected = |m: &mut MaarEngine, from, message, status: Status| {
        let (mut out, mut actions) = (Vec::new(), Vec::new());
        m.handle(now, from, message, &mut out, &mut actions);
        assert_eq!(pba_of(&out[0]).status, status);
        assert_eq!(out[0].to, from);
        assert!(actions.is_empty(), "a rejected update changes nothing");
        assert_eq!(m.counters().rejected_with(status), 1);
    };
    // The CMD retransmits with the first timestamp: 7 s old is fine with max_bindack_timeout
    // 4 s (up to 8 s of retransmissions), 9 s is not.
    let ago = |secs| Now {
        instant: now.instant,
        wall: now.wall - Duration::from_secs(secs),
    };
    let update = cmd_pbu(ago(7), 10, prefix, Some(M2));
    rejected(
        &mut m,
        CMD,
        cmd_pbu(ago(9), 10, prefix, Some(M2)),
        Status::TIMESTAMP_MISMATCH,
    );
    rejected(
        &mut m,
        M2,
        update.clone(),
        Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
    );
    rejected(
        &mut m,
        CMD,
        cmd_pbu(now, 10, net("2001:db8:a9::/64"), Some(M2)),
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
    );
    // From the future beyond the window.
    let (mut out2, mut actions2) = (Vec::new(), Vec::new());
    m.handle(
        now,
        CMD,
        cmd_pbu(now.plus(Duration::from_secs(1)), 10, prefix, Some(M2)),
        &mut out2,
        &mut actions2,
    );
    assert_eq!(pba_of(&out2[0]).status, Status::TIMESTAMP_MISMATCH);
    assert!(actions2.is_empty());
    assert_eq!(m.counters().rejected_with(Status::TIMESTAMP_MISMATCH), 2);
    rejected(
        &mut m,
        CMD,
        cmd_pbu(now, 10, prefix, None),
        Status::ADMINISTRATIVELY_PROHIBITED,
    );

    m.handle(now, CMD, update.clone(), &mut out, &mut actions);
    let pba = pba_of(&out[0]);
    assert_eq!((pba.status, pba.sequence), (Status::ACCEPTED, 9));
    assert_eq!(
        actions,
        vec![
            Action::RemoveRoute {
                prefix,
                dev: "acc".into()
            },
            Action::AddBinding {
                prefix,
                kind: BindingKind::Redirect { serving: M2 }
            },
        ]
    );
    assert_eq!(m.served(&MN), None);
    assert_eq!(m.anchored(&prefix), Some((MN, M2, Policy::SessionLasting)));
    // The same update again (its PBA was lost) is acknowledged again and changes nothing; an
    // older one is refused.
    out.clear();
    actions.clear();
    m.handle(now, CMD, update, &mut out, &mut actions);
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert!(actions.is_empty());
    let MobilityHeader::Pbu(mut older) = cmd_pbu(ago(7), 10, prefix, Some(M2)) else {
        unreachable!()
    };
    older.sequence = 10;
    for o in &mut older.options {
        if let MobilityOption::Timestamp(t) = o {
            *t = Timestamp(t.0 - 1);
        }
    }
    rejected(
        &mut m,
        CMD,
        MobilityHeader::Pbu(older),
        Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
    );

    // Still delegated: the pool has no other /64.
    assert_eq!(
        m.attach(now, MnId::Eui48([2, 0, 0, 0, 0, 2]), "acc", &mut out),
        Err(MaarError::PoolExhausted)
    );

    out.clear();
    actions.clear();
    let later = now.plus(Duration::from_millis(100));
    m.handle(
        later,
        CMD,
        cmd_pbu(later, 0, prefix, None),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert_eq!(actions, vec![Action::RemoveBinding { prefix }]);
    assert_eq!(m.anchored(&prefix), None);
    assert_eq!(m.counters().accepted, 3);
}

/// Delivers every message in `out` to its addressee until nothing is left.
fn exchange(
    now: Now,
    cmd: &mut CmdEngine<FileStore>,
    maars: &mut [(Ipv6Addr, &mut MaarEngine, &mut Vec<Action>)],
    mut out: Vec<(Ipv6Addr, Outgoing)>,
) {
    while let Some((from, Outgoing { to, message })) = out.pop() {
        // Through the codec, as on the wire.
        let wire = message.encode(from, to).expect("encodes");
        let message = MobilityHeader::decode(&wire, from, to).expect("decodes");
        if to == CMD {
            let mut replies = Vec::new();
            cmd.handle(now, from, message, &mut replies).expect("store");
            out.extend(replies.into_iter().map(|o| (CMD, o)));
        } else {
            let (address, maar, actions) = maars
                .iter_mut()
                .find(|(a, _, _)| *a == to)
                .expect("a known MAAR");
            let mut replies = Vec::new();
            maar.handle(now, from, message, &mut replies, actions);
            out.extend(replies.into_iter().map(|o| (*address, o)));
        }
    }
}

#[test]
fn a_move_between_two_maars_through_the_real_cmd() {
    let dir = std::env::temp_dir().join(format!("anchor-maar-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cmd_config = anchor_cmd::Config::parse(&format!(
        "address = \"{CMD}\"\nstore = \"{}\"\n\
         [[maar]]\naddress = \"{M1}\"\nprefixes = [\"2001:db8:a1::/48\"]\n\
         [[maar]]\naddress = \"{M2}\"\nprefixes = [\"2001:db8:a2::/48\"]\n",
        dir.join("cmd.json").display()
    ))
    .unwrap();
    let mut cmd = CmdEngine::new(cmd_config, FileStore::open(&dir.join("cmd.json")).unwrap());
    let mut m1 = maar(M1, "2001:db8:a1::/48");
    let mut m2 = maar(M2, "2001:db8:a2::/48");
    let (mut a1, mut a2) = (Vec::new(), Vec::new());
    // The CMD checks timestamps against its own clock: use the real one.
    let now = Now::system();

    let mut out = Vec::new();
    let p1 = m1.attach(now, MN, "acc", &mut out).unwrap();
    let out1 = out.drain(..).map(|o| (M1, o)).collect();
    exchange(
        now,
        &mut cmd,
        &mut [(M1, &mut m1, &mut a1), (M2, &mut m2, &mut a2)],
        out1,
    );
    assert_eq!(
        a1,
        vec![Action::AddRoute {
            prefix: p1,
            dev: "acc".into()
        }]
    );
    a1.clear();

    let now = now.plus(Duration::from_millis(1));
    let p2 = m2.attach(now, MN, "acc", &mut out).unwrap();
    assert_ne!(p1, p2);
    let out2 = out.drain(..).map(|o| (M2, o)).collect();
    exchange(
        now,
        &mut cmd,
        &mut [(M1, &mut m1, &mut a1), (M2, &mut m2, &mut a2)],
        out2,
    );
    assert!(a2.contains(&Action::AddBinding {
        prefix: p1,
        kind: BindingKind::Visiting {
            home: M1,
            reverse_tunnel: true,
            dev: Some("acc".into())
        }
    }));
    assert!(a2.contains(&Action::AddRoute {
        prefix: p2,
        dev: "acc".into()
    }));
    assert!(a1.contains(&Action::AddBinding {
        prefix: p1,
        kind: BindingKind::Redirect { serving: M2 }
    }));
    assert_eq!(cmd.in_flight(), 0, "M1 acknowledged the CMD's update");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_counts_summary_lists_rejections_by_status() {
    let mut counters = Counters {
        registrations: 2,
        ..Default::default()
    };
    counters.rejected.insert(154, 1);
    assert_eq!(
        counters.summary(),
        "2 registrations, 0 refused, 0 CMD updates accepted, 1 rejected (status 1x154), 0 \
         dropped, 0 retransmitted, 0 given up"
    );
}

fn nonpersistent_maar(locator: Ipv6Addr, pool: &str) -> MaarEngine {
    let mut config = config(pool);
    config.pools[0].policy = Policy::Nonpersistent;
    MaarEngine::new(&config, locator, vec!["acc".to_owned()])
}

#[test]
fn a_nonpersistent_prefix_is_released_not_redirected_on_a_serving_maar_update() {
    let mut m = nonpersistent_maar(M1, "2001:db8:a1::/48");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let prefix = m.attach(now, MN, "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    m.handle(
        now,
        CMD,
        accept(&pbu, 10, Vec::new()),
        &mut out,
        &mut actions,
    );
    out.clear();
    actions.clear();
    let later = now.plus(Duration::from_millis(5));
    m.handle(
        later,
        CMD,
        cmd_pbu(later, 10, prefix, Some(M2)),
        &mut out,
        &mut actions,
    );
    let [pba] = out.as_slice() else {
        panic!("one PBA, got {out:?}")
    };
    assert_eq!(pba_of(pba).status, Status::ACCEPTED);
    assert_eq!(
        actions,
        vec![Action::RemoveRoute {
            prefix,
            dev: "acc".into()
        }],
        "released: the route goes, no redirect"
    );
    assert!(m.served(&MN).is_none() && m.anchored(&prefix).is_none());
    out.clear();
    let other = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    assert_eq!(
        m.attach(later, other, "acc", &mut out).unwrap(),
        prefix,
        "the prefix is back in its pool"
    );
}

#[test]
fn a_cmd_that_knows_the_nonpersistent_pool_releases_it_instead_of_naming_it() {
    let dir = std::env::temp_dir().join(format!("anchor-maar-np-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cmd_config = anchor_cmd::Config::parse(&format!(
        "address = \"{CMD}\"\nstore = \"{}\"\n\
         [[maar]]\naddress = \"{M1}\"\nprefixes = [\"2001:db8:a1::/48\"]\n\
         nonpersistent = [\"2001:db8:a1::/48\"]\n\
         [[maar]]\naddress = \"{M2}\"\nprefixes = [\"2001:db8:a2::/48\"]\n",
        dir.join("cmd.json").display()
    ))
    .unwrap();
    let mut cmd = CmdEngine::new(cmd_config, FileStore::open(&dir.join("cmd.json")).unwrap());
    let mut m1 = nonpersistent_maar(M1, "2001:db8:a1::/48");
    let mut m2 = maar(M2, "2001:db8:a2::/48");
    let (mut a1, mut a2) = (Vec::new(), Vec::new());
    let now = Now::system();
    let mut out = Vec::new();
    let p1 = m1.attach(now, MN, "acc", &mut out).unwrap();
    let sent = out.drain(..).map(|o| (M1, o)).collect();
    exchange(
        now,
        &mut cmd,
        &mut [(M1, &mut m1, &mut a1), (M2, &mut m2, &mut a2)],
        sent,
    );
    a1.clear();

    let now = now.plus(Duration::from_millis(1));
    let p2 = m2.attach(now, MN, "acc", &mut out).unwrap();
    let sent = out.drain(..).map(|o| (M2, o)).collect();
    exchange(
        now,
        &mut cmd,
        &mut [(M1, &mut m1, &mut a1), (M2, &mut m2, &mut a2)],
        sent,
    );
    assert_eq!(
        a2,
        vec![Action::AddRoute {
            prefix: p2,
            dev: "acc".into()
        }],
        "no Previous MAAR option, so no visiting binding for {p1}"
    );
    assert_eq!(
        a1,
        vec![Action::RemoveRoute {
            prefix: p1,
            dev: "acc".into()
        }],
        "M1 released {p1} on the CMD's de-registration, without a redirect"
    );
    assert!(m1.served(&MN).is_none() && m1.anchored(&p1).is_none());
    assert!(m2.advertised("acc").iter().all(|a| a.prefix != p1));
    assert_eq!(cmd.in_flight(), 0, "M1 acknowledged the de-registration");
    let _ = std::fs::remove_dir_all(&dir);
}
