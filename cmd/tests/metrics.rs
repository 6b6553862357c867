//! What the CMD's engine shows on `/metrics` after a registration and a move.

mod common;

use std::time::Duration;

use anchor_pmip::signaling_metrics::{MessageCounts, Role};
use common::*;

#[test]
fn a_move_shows_a_redirected_prefix_and_an_outstanding_update() {
    let mut rig = Rig::new();
    rig.register(M1, 1, "2001:db8:1:1::/64");
    rig.advance(Duration::from_secs(1));
    rig.register(M2, 1, "2001:db8:2:1::/64");

    let metrics = rig.engine.signaling_metrics(MessageCounts::default());
    assert_eq!(metrics.role, Role::Cmd);
    assert_eq!(
        metrics.nodes.into_iter().collect::<Vec<_>>(),
        vec![("registered", 1)]
    );
    let prefixes: Vec<_> = metrics
        .prefixes
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        prefixes,
        vec![
            (("session-lasting", "local"), 1),
            (("session-lasting", "redirected"), 1)
        ]
    );
    assert_eq!(metrics.updates_outstanding, Some(1));
    assert_eq!(metrics.retransmissions, 0);

    // The update retransmitted once, then acknowledged: nothing outstanding.
    let again = rig.advance(Duration::from_millis(1100));
    assert_eq!(again.len(), 1, "{again:?}");
    let metrics = rig.engine.signaling_metrics(MessageCounts::default());
    assert_eq!(metrics.retransmissions, 1);
    assert_eq!(metrics.updates_outstanding, Some(1));
    rig.send(M1, ack_of(&again[0]));
    let metrics = rig.engine.signaling_metrics(MessageCounts::default());
    assert_eq!(metrics.updates_outstanding, Some(0));
    assert_eq!(metrics.gave_up, 0);
}
