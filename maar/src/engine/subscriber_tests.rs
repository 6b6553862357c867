//! A subscriber, an anchor near correspondents (RFC 8818 Figure 6): it redirects the prefixes
//! the CMD names to their serving MAAR, follows the node's moves, drops a redirect on a
//! lifetime-0 update, and keeps them across a restart.

use super::{
    tests::{CMD, M1, M2, MN, cmd_pbu, config, pba_of, start},
    *,
};
use anchor_signal::Status;

const NEAR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 3);

fn subscriber() -> MaarEngine {
    let mut config = config("2001:db8:a1::/48");
    config.pools.clear();
    config.subscriber = true;
    MaarEngine::new(&config, NEAR, Vec::new())
}

#[test]
fn a_subscriber_redirects_follows_and_releases() {
    let mut s = subscriber();
    let p1 = "2001:db8:a1::/64".parse().unwrap();
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    s.handle(
        now,
        CMD,
        cmd_pbu(now, 10, p1, Some(M1)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert_eq!(
        actions,
        vec![Action::AddBinding {
            prefix: p1,
            kind: MaarBindingKind::Redirect { serving: M1 }
        }]
    );
    assert_eq!(s.subscribed(&p1), Some((MN, M1)));

    // The node moves on: the redirect follows it.
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let later = now.plus(std::time::Duration::from_secs(1));
    s.handle(
        later,
        CMD,
        cmd_pbu(later, 10, p1, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert_eq!(
        actions,
        vec![
            Action::RemoveBinding { prefix: p1 },
            Action::AddBinding {
                prefix: p1,
                kind: MaarBindingKind::Redirect { serving: M2 }
            }
        ]
    );

    // Across a restart.
    let mut restarted = subscriber();
    let (mut out, mut restored) = (Vec::new(), Vec::new());
    restarted.restore(later, s.snapshot(), &mut out, &mut restored);
    assert!(out.is_empty(), "a subscriber registers nothing: {out:?}");
    assert_eq!(
        restored,
        vec![Action::AddBinding {
            prefix: p1,
            kind: MaarBindingKind::Redirect { serving: M2 }
        }]
    );
    assert_eq!(restarted.subscribed(&p1), Some((MN, M2)));

    // The redirect ends; the same end again changes nothing and is accepted.
    let end = later.plus(std::time::Duration::from_secs(1));
    for (step, expected) in [vec![Action::RemoveBinding { prefix: p1 }], Vec::new()]
        .into_iter()
        .enumerate()
    {
        let (mut out, mut actions) = (Vec::new(), Vec::new());
        let end = end.plus(std::time::Duration::from_millis(step as u64 * 10));
        restarted.handle(end, CMD, cmd_pbu(end, 0, p1, None), &mut out, &mut actions);
        assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
        assert_eq!(actions, expected);
    }
    assert_eq!(restarted.subscribed(&p1), None);
}

#[test]
fn a_maar_that_is_no_subscriber_refuses_other_anchors_prefixes() {
    let mut m = super::tests::maar(M1, "2001:db8:a1::/48");
    let now = start();
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let elsewhere = "2001:db8:a2::/64".parse().unwrap();
    m.handle(
        now,
        CMD,
        cmd_pbu(now, 10, elsewhere, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(
        pba_of(&out[0]).status,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    );
    assert!(actions.is_empty());
}
