//! The MAAR engine with a fake clock: alone against hand-made CMD messages, and two MAARs
//! against the real CMD engine (messages passed in memory).

use std::{
    path::PathBuf,
    time::{Duration, SystemTime},
};

use anchor_cmd::{Engine as CmdEngine, FileStore};

use super::*;
use crate::config::PoolConfig;
use anchor_signal::{Lifetime, Pba, PbaFlags, Pbu, PbuFlags, Status};

pub(super) const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
pub(super) const M1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x12, 0, 0, 0, 0, 1);
pub(super) const M2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x12, 0, 0, 0, 0, 2);
pub(super) const MN: MnId = MnId::Eui48([2, 0, 0, 0, 0, 1]);

pub(super) fn config(pool: &str) -> MaarConfig {
    MaarConfig {
        cmd: vec![CMD],
        address: None,
        insecure_signaling: true,
        reverse_tunnel: true,
        lifetime_s: 40,
        initial_bindack_timeout_ms: 1_000,
        max_bindack_timeout_ms: 4_000,
        timestamp_window_ms: 300,
        ra_interval_s: 600,
        report_interval_s: 60,
        state_dir: None,
        pools: vec![PoolConfig {
            prefix: pool.parse().unwrap(),
            policy: Policy::SessionLasting,
            idle_release_s: None,
        }],
        point_to_point: Vec::new(),
        subscriber: false,
        correspondent_anchors: Vec::new(),
        shared_access_identity: false,
        attach_on_first_frame: false,
        client_bindings: false,
        access_mac: None,
        access_link_local: None,
    }
}

pub(super) fn maar(locator: Ipv6Addr, pool: &str) -> MaarEngine {
    MaarEngine::new(&config(pool), locator, vec!["acc".to_owned()])
}

pub(super) fn start() -> Now {
    Now {
        instant: Instant::now(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_hours(500_000),
    }
}

pub(super) fn net(text: &str) -> Ipv6Net {
    text.parse().unwrap()
}

pub(super) fn pbu_of(out: &Outgoing) -> &Pbu {
    match &out.message {
        MobilityHeader::Pbu(pbu) => pbu,
        other @ MobilityHeader::Pba(_) => panic!("expected a PBU, got {other:?}"),
    }
}

pub(super) fn pba_of(out: &Outgoing) -> &Pba {
    match &out.message {
        MobilityHeader::Pba(pba) => pba,
        other @ MobilityHeader::Pbu(_) => panic!("expected a PBA, got {other:?}"),
    }
}

/// The CMD's answer to `pbu` with `status`, `lifetime`, and `extra` options after the MN-ID.
pub(super) fn answer(
    pbu: &Pbu,
    status: Status,
    lifetime: Lifetime,
    extra: Vec<MobilityOption>,
) -> MobilityHeader {
    let mut options = vec![MobilityOption::MnId(MN.clone())];
    options.extend(extra);
    MobilityHeader::Pba(Pba {
        status,
        flags: PbaFlags::P | PbaFlags::D,
        sequence: pbu.sequence,
        lifetime,
        options,
    })
}

pub(super) fn accept(pbu: &Pbu, lifetime: u16, extra: Vec<MobilityOption>) -> MobilityHeader {
    answer(pbu, Status::ACCEPTED, Lifetime(lifetime), extra)
}

/// The CMD's refusal of `pbu`: the prefix is not the node's to register or release.
pub(super) fn refuse(pbu: &Pbu) -> MobilityHeader {
    answer(
        pbu,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        Lifetime::DEREGISTRATION,
        Vec::new(),
    )
}

pub(super) fn cmd_pbu(
    now: Now,
    lifetime: u16,
    prefix: Ipv6Net,
    serving: Option<Ipv6Addr>,
) -> MobilityHeader {
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

/// `m` with `MN` attached on "acc" and its registration accepted by the CMD: its prefix and
/// the PBU.
pub(super) fn registered(m: &mut MaarEngine, now: Now) -> (Ipv6Net, Pbu) {
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
    (prefix, pbu)
}

/// `m` with `MN` registered and then moved to M2 by the CMD: the prefix, redirected there and
/// kept with `policy`.
pub(super) fn redirected(m: &mut MaarEngine, now: Now, policy: Policy) -> Ipv6Net {
    let (prefix, _) = registered(m, now);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m.handle(
        now,
        CMD,
        cmd_pbu(now, 10, prefix, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert_eq!(m.anchored(&prefix), Some((MN, M2, policy)));
    prefix
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: the messages in their order, each with its checks"
)]
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
                dev: "acc".into(),
                mac: Some([2, 0, 0, 0, 0, 1]),
            },
            Action::AddBinding {
                prefix: p1,
                kind: MaarBindingKind::Visiting {
                    home: M2,
                    reverse_tunnel: true,
                    dev: Some("acc".into()),
                    mac: Some([2, 0, 0, 0, 0, 1]),
                }
            },
        ]
    );
    assert_eq!(m.served(&MN).unwrap().phase, Phase::Registered);
    assert_eq!(m.counters().registrations, 1);
    // From the attachment (the PBU's first sending) to the PBA, retransmissions included.
    let waited = (later.instant - now.instant).as_secs_f64();
    for histogram in [
        &m.counters().attachment_to_binding,
        &m.counters().pbu_to_pba,
    ] {
        assert_eq!(histogram.count(), 1);
        assert!(
            (histogram.sum_seconds() - waited).abs() < 1e-9,
            "{histogram:?}"
        );
    }
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

/// Seen on the rig: the first PBU is held up (neighbour discovery on a fresh link) past the
/// CMD's timestamp window and arrives right before its restamped retransmission. The CMD refuses
/// the stale copy (156) and accepts the fresh one, both under one sequence number. The refusal
/// must not end the registration: the accepted answer that follows completes it.
#[test]
fn a_timestamp_refusal_of_a_resent_update_waits_for_the_newest_copy() {
    let mut m = maar(M1, "2001:db8:a1::/48");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let prefix = m.attach(now, MN, "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    out.clear();
    let later = now.plus(Duration::from_secs(1));
    m.poll(later, &mut out, &mut actions);
    assert_eq!(m.counters().retransmissions, 1);
    out.clear();

    let stale = answer(&pbu, Status::TIMESTAMP_MISMATCH, Lifetime(0), Vec::new());
    m.handle(later, CMD, stale, &mut out, &mut actions);
    assert!(
        actions.is_empty(),
        "the refusal of the stale copy: {actions:?}"
    );
    assert_eq!(m.counters().refused, 0);
    assert_eq!(m.served(&MN).unwrap().phase, Phase::Registering);

    m.handle(
        later,
        CMD,
        accept(&pbu, 10, Vec::new()),
        &mut out,
        &mut actions,
    );
    assert_eq!(
        actions,
        vec![Action::AddRoute {
            prefix,
            dev: "acc".into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
        }]
    );
    assert_eq!(m.served(&MN).unwrap().phase, Phase::Registered);

    // Before any retransmission, the same refusal ends the attempt as before.
    let mut m = maar(M1, "2001:db8:a1::/48");
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m.attach(now, MN, "acc", &mut out).unwrap();
    let pbu = pbu_of(&out[0]).clone();
    let refusal = answer(&pbu, Status::TIMESTAMP_MISMATCH, Lifetime(0), Vec::new());
    m.handle(now, CMD, refusal, &mut out, &mut actions);
    assert_eq!(m.counters().refused, 1);
    assert!(m.served(&MN).is_none());
}

#[test]
fn refreshes_at_half_the_lifetime_and_expires_without_answer() {
    let mut m = maar(M1, "2001:db8:a1::/64");
    let now = start();
    let (prefix, pbu) = registered(&mut m, now);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
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
    let (prefix, _) = registered(&mut m, now);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
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
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: the messages in their order, each with its checks"
)]
fn cmd_updates_are_checked_then_redirect_and_release() {
    let mut m = maar(M1, "2001:db8:a1::/64");
    let now = start();
    let (prefix, _) = registered(&mut m, now);
    let (mut out, mut actions) = (Vec::new(), Vec::new());

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
                kind: MaarBindingKind::Redirect { serving: M2 }
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

/// The real CMD engine, its store in a temporary directory (removed on drop), and two MAARs at
/// M1 and M2 with what each asked of its router; messages pass in memory.
pub(super) struct RealCmd {
    pub(super) cmd: CmdEngine<FileStore>,
    pub(super) m1: MaarEngine,
    pub(super) m2: MaarEngine,
    pub(super) a1: Vec<Action>,
    pub(super) a2: Vec<Action>,
    dir: PathBuf,
}

impl RealCmd {
    /// A CMD that knows M1 with 2001:db8:a1::/48 (and `m1_extra`, more lines of its `[[maar]]`
    /// table) and M2 with 2001:db8:a2::/48; `tag` names the directory.
    pub(super) fn new(tag: &str, m1_extra: &str, m1: MaarEngine, m2: MaarEngine) -> Self {
        let dir = std::env::temp_dir().join(format!("anchor-maar-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = dir.join("cmd.json");
        let config = anchor_cmd::Config::parse(&format!(
            "address = \"{CMD}\"\nstore = \"{}\"\n\
             [[maar]]\naddress = \"{M1}\"\nprefixes = [\"2001:db8:a1::/48\"]\n{m1_extra}\
             [[maar]]\naddress = \"{M2}\"\nprefixes = [\"2001:db8:a2::/48\"]\n",
            store.display()
        ))
        .unwrap();
        Self {
            cmd: CmdEngine::new(config, FileStore::open(&store).unwrap()),
            m1,
            m2,
            a1: Vec::new(),
            a2: Vec::new(),
            dir,
        }
    }

    /// Delivers what `from` sent (all of `out`) and every answer to its addressee until
    /// nothing is left.
    pub(super) fn exchange(&mut self, now: Now, from: Ipv6Addr, out: &mut Vec<Outgoing>) {
        let mut queue: Vec<(Ipv6Addr, Outgoing)> = out.drain(..).map(|o| (from, o)).collect();
        while let Some((from, Outgoing { to, message })) = queue.pop() {
            // Through the codec, as on the wire.
            let wire = message.encode(from, to).expect("encodes");
            let message = MobilityHeader::decode(&wire, from, to).expect("decodes");
            let mut replies = Vec::new();
            if to == CMD {
                self.cmd
                    .handle(now, from, message, &mut replies)
                    .expect("store");
            } else if to == M1 {
                self.m1
                    .handle(now, from, message, &mut replies, &mut self.a1);
            } else {
                assert_eq!(to, M2, "a known MAAR");
                self.m2
                    .handle(now, from, message, &mut replies, &mut self.a2);
            }
            queue.extend(replies.into_iter().map(|o| (to, o)));
        }
    }

    /// `MN` attaches on "acc" at `at` (M1 or M2), and the signaling that follows is delivered:
    /// the prefix `at` delegates.
    pub(super) fn attach(&mut self, now: Now, at: Ipv6Addr) -> Ipv6Net {
        let mut out = Vec::new();
        let maar = if at == M1 { &mut self.m1 } else { &mut self.m2 };
        let prefix = maar.attach(now, MN, "acc", &mut out).unwrap();
        self.exchange(now, at, &mut out);
        prefix
    }
}

impl Drop for RealCmd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_move_between_two_maars_and_back_through_the_real_cmd() {
    let mut w = RealCmd::new(
        "engine",
        "",
        maar(M1, "2001:db8:a1::/48"),
        maar(M2, "2001:db8:a2::/48"),
    );
    // The CMD checks timestamps against its own clock: use the real one.
    let now = Now::system();

    let p1 = w.attach(now, M1);
    assert_eq!(
        w.a1,
        vec![Action::AddRoute {
            prefix: p1,
            dev: "acc".into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
        }]
    );
    w.a1.clear();

    let now = now.plus(Duration::from_millis(1));
    let p2 = w.attach(now, M2);
    assert_ne!(p1, p2);
    assert!(w.a2.contains(&Action::AddBinding {
        prefix: p1,
        kind: MaarBindingKind::Visiting {
            home: M1,
            reverse_tunnel: true,
            dev: Some("acc".into()),
            mac: Some([2, 0, 0, 0, 0, 1]),
        }
    }));
    assert!(w.a2.contains(&Action::AddRoute {
        prefix: p2,
        dev: "acc".into(),
        mac: Some([2, 0, 0, 0, 0, 1]),
    }));
    assert!(w.a1.contains(&Action::AddBinding {
        prefix: p1,
        kind: MaarBindingKind::Redirect { serving: M2 }
    }));
    assert_eq!(w.cmd.in_flight(), 0, "M1 acknowledged the CMD's update");
    w.a1.clear();
    w.a2.clear();

    // Back to M1, which still anchors P1: P1 is local there again (no new prefix), its
    // redirect goes, and P2 is redirected from M2 to M1 instead.
    let now = now.plus(Duration::from_millis(1));
    let mut out = Vec::new();
    assert_eq!(w.m1.attach(now, MN, "acc", &mut out).unwrap(), p1);
    assert!(
        w.m1.anchored(&p1).is_none(),
        "P1 is served, no longer anchored"
    );
    w.exchange(now, M1, &mut out);
    assert_eq!(
        w.a1,
        vec![
            Action::RemoveBinding { prefix: p1 },
            Action::AddRoute {
                prefix: p1,
                dev: "acc".into(),
                mac: Some([2, 0, 0, 0, 0, 1]),
            },
            Action::AddBinding {
                prefix: p2,
                kind: MaarBindingKind::Visiting {
                    home: M2,
                    reverse_tunnel: true,
                    dev: Some("acc".into()),
                    mac: Some([2, 0, 0, 0, 0, 1]),
                }
            },
        ]
    );
    assert_eq!(
        w.a2,
        vec![
            Action::RemoveRoute {
                prefix: p2,
                dev: "acc".into()
            },
            Action::RemoveBinding { prefix: p1 },
            Action::AddBinding {
                prefix: p2,
                kind: MaarBindingKind::Redirect { serving: M1 }
            },
        ]
    );
    let served = w.m1.served(&MN).expect("served at M1");
    assert_eq!((served.prefix, served.phase), (p1, Phase::Registered));
    assert_eq!(
        w.m1.snapshot().anchored.len(),
        0,
        "nothing is anchored at M1 any more"
    );
    assert_eq!(w.cmd.in_flight(), 0, "M2 acknowledged the CMD's update");
}

#[test]
fn a_node_back_at_its_anchor_stays_redirected_when_the_cmd_refuses() {
    let mut m = maar(M1, "2001:db8:a1::/48");
    let now = start();
    let prefix = redirected(&mut m, now, Policy::SessionLasting);
    let (mut out, mut actions) = (Vec::new(), Vec::new());

    // Back: the saved state still says anchored and redirected until the CMD agrees.
    let later = now.plus(Duration::from_millis(10));
    assert_eq!(m.attach(later, MN, "acc", &mut out).unwrap(), prefix);
    let snapshot = m.snapshot();
    assert!(snapshot.served.is_empty());
    assert_eq!(snapshot.anchored.len(), 1);
    assert_eq!(snapshot.anchored[0].serving, M2);
    let again = pbu_of(&out[0]).clone();
    assert!(again.options.contains(&MobilityOption::LocalPrefix(prefix)));
    out.clear();

    m.handle(later, CMD, refuse(&again), &mut out, &mut actions);
    assert!(actions.is_empty(), "the redirect stays: {actions:?}");
    assert_eq!(m.anchored(&prefix).map(|(_, serving, _)| serving), Some(M2));
    assert!(m.served(&MN).is_none());
    // The prefix did not go back to the pool: a new node gets another one.
    let other = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    assert_ne!(m.attach(later, other, "acc", &mut out).unwrap(), prefix);
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
         dropped, 0 retransmitted, 0 given up, 0 released idle"
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
    let (prefix, _) = registered(&mut m, now);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
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
    let mut w = RealCmd::new(
        "np",
        "nonpersistent = [\"2001:db8:a1::/48\"]\n",
        nonpersistent_maar(M1, "2001:db8:a1::/48"),
        maar(M2, "2001:db8:a2::/48"),
    );
    let now = Now::system();
    let p1 = w.attach(now, M1);
    w.a1.clear();

    let now = now.plus(Duration::from_millis(1));
    let p2 = w.attach(now, M2);
    assert_eq!(
        w.a2,
        vec![Action::AddRoute {
            prefix: p2,
            dev: "acc".into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
        }],
        "no Previous MAAR option, so no visiting binding for {p1}"
    );
    assert_eq!(
        w.a1,
        vec![Action::RemoveRoute {
            prefix: p1,
            dev: "acc".into()
        }],
        "M1 released {p1} on the CMD's de-registration, without a redirect"
    );
    assert!(w.m1.served(&MN).is_none() && w.m1.anchored(&p1).is_none());
    assert!(w.m2.advertised("acc").iter().all(|a| a.prefix != p1));
    assert_eq!(w.cmd.in_flight(), 0, "M1 acknowledged the de-registration");
}
