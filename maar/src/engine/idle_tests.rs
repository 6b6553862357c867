//! The idle release of session-lasting redirects with a fake clock: through the real CMD, and
//! alone against hand-made answers (a rejection, no answer at all).
#![expect(
    clippy::unchecked_time_subtraction,
    reason = "the tests step a second or a millisecond short of IDLE, 30 s"
)]

use std::time::Duration;

use anchor_cmd::MobilityStore as _;

use super::{
    tests::{
        CMD, M1, M2, MN, RealCmd, accept, answer, cmd_pbu, config, maar, net, pba_of, pbu_of,
        redirected, start,
    },
    *,
};
use anchor_signal::{Lifetime, Pbu, PbuFlags, Status};

const IDLE: Duration = Duration::from_secs(30);

fn idle_maar(locator: Ipv6Addr, pool: &str) -> MaarEngine {
    let mut config = config(pool);
    config.pools[0].idle_release_s = Some(IDLE.as_secs());
    // Longer than the test: no refresh or expiry in between.
    config.lifetime_s = 4_000;
    MaarEngine::new(&config, locator, vec!["acc".to_owned()])
}

#[test]
fn traffic_keeps_a_redirect_and_idleness_releases_it_through_the_cmd() {
    let mut w = RealCmd::new(
        "idle",
        "",
        idle_maar(M1, "2001:db8:a1::/64"),
        idle_maar(M2, "2001:db8:a2::/48"),
    );
    let now = Now::system();
    let p1 = w.attach(now, M1);
    let now = now.plus(Duration::from_millis(1));
    let p2 = w.attach(now, M2);
    let mut out = Vec::new();
    assert!(w.a1.contains(&Action::AddBinding {
        prefix: p1,
        kind: MaarBindingKind::Redirect { serving: M2 }
    }));
    assert_eq!(w.m2.served(&MN).unwrap().visiting, vec![p1]);
    assert_eq!(w.m1.idle_watched(), vec![p1]);
    assert_eq!(
        w.m2.idle_watched(),
        Vec::<Ipv6Net>::new(),
        "M2 anchors nothing"
    );
    assert_eq!(w.m1.next_deadline(), Some(now.instant + IDLE));
    w.a1.clear();
    w.a2.clear();

    // Packets keep it: every observation with a new count restarts the idle time.
    let mut t = now;
    for packets in [3, 9, 20] {
        t = t.plus(IDLE - Duration::from_secs(1));
        w.m1.observe_traffic(t, p1, packets);
        w.m1.poll(t, &mut out, &mut w.a1);
        assert!(out.is_empty(), "{out:?}");
    }
    let list = w.m1.list(t.plus(Duration::from_secs(5)).instant);
    assert_eq!(list.served, Vec::new());
    assert_eq!(
        list.anchored,
        vec![AnchoredInfo {
            prefix: p1,
            mn: MN,
            serving: M2,
            policy: Policy::SessionLasting,
            idle: Some(Duration::from_secs(5)),
            idle_release: Some(IDLE),
            release_pending: false,
        }]
    );
    // The same count is no traffic.
    w.m1.observe_traffic(t.plus(Duration::from_secs(10)), p1, 20);
    w.m1.poll(t.plus(IDLE - Duration::from_millis(1)), &mut out, &mut w.a1);
    assert!(out.is_empty(), "{out:?}");

    // Idle: M1 asks the CMD to release it.
    assert!(
        !w.m1
            .idle_release_due(t.plus(IDLE - Duration::from_millis(1)))
    );
    let t = t.plus(IDLE);
    assert!(w.m1.idle_release_due(t));
    w.m1.poll(t, &mut out, &mut w.a1);
    let [release] = out.as_slice() else {
        panic!("one release, got {out:?}")
    };
    assert_eq!(release.to, CMD);
    let pbu = pbu_of(release).clone();
    assert_eq!(pbu.lifetime, Lifetime::DEREGISTRATION);
    assert!(pbu.flags.contains(PbuFlags::A | PbuFlags::P | PbuFlags::D));
    assert!(pbu.options.contains(&MobilityOption::MnId(MN)));
    assert!(pbu.options.contains(&MobilityOption::AnchoredPrefix(p1)));
    assert!(
        pbu.options
            .contains(&MobilityOption::Timestamp(Timestamp::from_system_time(
                t.wall
            )))
    );
    assert!(w.m1.list(t.instant).anchored[0].release_pending);
    w.exchange(t, M1, &mut out);
    assert_eq!(w.a1, vec![Action::RemoveBinding { prefix: p1 }]);
    assert_eq!(w.a2, vec![Action::RemoveBinding { prefix: p1 }]);
    assert_eq!(w.m1.anchored(&p1), None);
    assert_eq!(w.m2.served(&MN).unwrap().visiting, Vec::new());
    assert!(w.m2.advertised("acc").iter().all(|a| a.prefix != p1));
    assert_eq!(w.m2.counters().accepted, 1, "the release");
    assert_eq!(w.m1.counters().idle_released, 1);
    assert_eq!(w.cmd.in_flight(), 0, "M2 acknowledged");
    let record = w.cmd.store().records()[0].clone();
    assert_eq!(
        record.prefixes.iter().map(|p| p.prefix).collect::<Vec<_>>(),
        vec![p2]
    );
    // Nothing more goes out, and the /64 is back in M1's one-prefix pool.
    w.a1.clear();
    w.m1.poll(t.plus(Duration::from_mins(1)), &mut out, &mut w.a1);
    assert!(out.is_empty() && w.a1.is_empty(), "{out:?} {:?}", w.a1);
    let other = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    assert_eq!(w.m1.attach(t, other, "acc", &mut out), Ok(p1));

    // M2's refreshes list no Previous MAAR: the visiting binding stays gone.
    out.clear();
    let later = now.plus(Duration::from_secs(2_000));
    w.m2.poll(later, &mut out, &mut w.a2);
    w.a2.clear();
    w.exchange(later, M2, &mut out);
    assert_eq!(w.a2, Vec::new());
    assert_eq!(w.m2.counters().registrations, 2);
}

/// A MAAR whose redirect stayed idle for [`IDLE`] and has sent its release: the MAAR, the
/// prefix, the release and the time it was sent.
fn release_sent() -> (MaarEngine, Ipv6Net, Pbu, Now) {
    let mut m = idle_maar(M1, "2001:db8:a1::/64");
    let now = start();
    let prefix = redirected(&mut m, now, Policy::SessionLasting);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    // Before the first observation after the redirect, its counters start at zero.
    m.observe_traffic(now, prefix, 0);
    let t = now.plus(IDLE);
    m.poll(t, &mut out, &mut actions);
    let release = pbu_of(&out[0]).clone();
    (m, prefix, release, t)
}

#[test]
fn a_rejected_or_unanswered_release_keeps_the_redirect() {
    let (mut m, prefix, release, t) = release_sent();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let refused = answer(
        &release,
        Status::ADMINISTRATIVELY_PROHIBITED,
        Lifetime::DEREGISTRATION,
        Vec::new(),
    );
    m.handle(t, CMD, refused.clone(), &mut out, &mut actions);
    assert_eq!(actions, Vec::new(), "the redirect stays");
    assert_eq!(m.anchored(&prefix), Some((MN, M2, Policy::SessionLasting)));
    assert_eq!(m.counters().refused, 1);
    assert_eq!(m.counters().idle_released, 0);
    // The same answer again waits for nothing: dropped.
    m.handle(t, CMD, refused, &mut out, &mut actions);
    assert_eq!(m.counters().dropped, 1);
    // Measured again from the rejection.
    assert_eq!(m.next_deadline(), Some(t.instant + IDLE));
    m.poll(
        t.plus(IDLE - Duration::from_millis(1)),
        &mut out,
        &mut actions,
    );
    assert!(out.is_empty());

    // No answer at all: sent again after 1 s and 2 s, then given up (max 4 s); it stays.
    let t = t.plus(IDLE);
    m.poll(t, &mut out, &mut actions);
    let again = pbu_of(&out[0]).clone();
    assert_ne!(again.sequence, release.sequence);
    out.clear();
    let t = t.plus(Duration::from_secs(1));
    m.poll(t, &mut out, &mut actions);
    assert_eq!(pbu_of(&out[0]).sequence, again.sequence);
    out.clear();
    let t = t.plus(Duration::from_secs(2));
    m.poll(t, &mut out, &mut actions);
    assert_eq!(pbu_of(&out[0]).sequence, again.sequence);
    out.clear();
    let t = t.plus(Duration::from_secs(4));
    m.poll(t, &mut out, &mut actions);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(m.counters().gave_up, 1);
    assert_eq!(actions, Vec::new());
    assert!(!m.list(t.instant).anchored[0].release_pending);
    assert_eq!(m.next_deadline(), Some(t.instant + IDLE));

    // The CMD de-registers the prefix while a release is out: it goes, the release stops.
    m.poll(t.plus(IDLE), &mut out, &mut actions);
    out.clear();
    let t = t.plus(IDLE);
    m.handle(t, CMD, cmd_pbu(t, 0, prefix, None), &mut out, &mut actions);
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert_eq!(actions, vec![Action::RemoveBinding { prefix }]);
    out.clear();
    m.poll(t.plus(Duration::from_secs(10)), &mut out, &mut actions);
    assert!(
        out.is_empty(),
        "no retransmission of a moot release: {out:?}"
    );
}

#[test]
fn only_redirects_with_an_idle_time_are_watched() {
    let now = start();
    // idle_release_s = 0: never.
    let mut config = config("2001:db8:a1::/64");
    config.pools[0].idle_release_s = Some(0);
    let mut never = MaarEngine::new(&config, M1, vec!["acc".to_owned()]);
    let prefix = redirected(&mut never, now, Policy::SessionLasting);
    assert_eq!(never.idle_watched(), Vec::<Ipv6Net>::new());
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    never.poll(
        now.plus(Duration::from_secs(100_000)),
        &mut out,
        &mut actions,
    );
    assert!(
        out.iter().all(|o| !pbu_of(o)
            .options
            .contains(&MobilityOption::AnchoredPrefix(prefix))),
        "{out:?}"
    );
    assert_eq!(never.list(now.instant).anchored[0].idle, None);

    // The default session-lasting pool: 600 s.
    let mut default = maar(M1, "2001:db8:a1::/64");
    let prefix = redirected(&mut default, now, Policy::SessionLasting);
    assert_eq!(default.idle_watched(), vec![prefix]);
    assert_eq!(
        default
            .next_deadline()
            .filter(|d| *d >= now.instant + Duration::from_mins(10)),
        Some(now.instant + Duration::from_mins(10))
    );
}

#[test]
fn list_shows_served_nodes_with_their_visiting_prefixes() {
    let mut m = idle_maar(M1, "2001:db8:a1::/64");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let prefix = m.attach(now, MN, "acc", &mut out).unwrap();
    assert_eq!(
        m.list(now.instant).served,
        vec![(
            MN,
            ServedInfo {
                prefix,
                dev: "acc".into(),
                policy: Policy::SessionLasting,
                phase: Phase::Registering,
                visiting: Vec::new(),
            }
        )]
    );
    let pbu = pbu_of(&out[0]).clone();
    let home = net("2001:db8:b1::/64");
    m.handle(
        now,
        CMD,
        accept(
            &pbu,
            10,
            vec![MobilityOption::PreviousMaar {
                maar: M2,
                prefix: home,
            }],
        ),
        &mut out,
        &mut actions,
    );
    let list = m.list(now.instant);
    assert_eq!(list.served[0].1.phase, Phase::Registered);
    assert_eq!(list.served[0].1.visiting, vec![home]);
    assert_eq!(list.anchored, Vec::new());
}

#[test]
fn a_release_the_cmd_no_longer_knows_of_counts_as_done() {
    // Its first acknowledgement was lost, and the CMD, which had already dropped the prefix
    // from the node's record, answers the retransmission with 155.
    let (mut m, prefix, release, t) = release_sent();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let gone = answer(
        &release,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        Lifetime::DEREGISTRATION,
        Vec::new(),
    );
    m.handle(t, CMD, gone, &mut out, &mut actions);
    assert_eq!(actions, vec![Action::RemoveBinding { prefix }]);
    assert_eq!(m.anchored(&prefix), None);
    assert_eq!(m.counters().idle_released, 1);
    assert_eq!(m.counters().refused, 0);
    // Back in the pool: the next node gets it.
    let other = MnId::Eui48([2, 0, 0, 0, 0, 2]);
    assert_eq!(m.attach(t, other, "acc", &mut out).unwrap(), prefix);
}
