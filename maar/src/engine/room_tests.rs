//! A binding map without room: the CMD's update that would add a redirect is refused with
//! status 130 (insufficient resources), counted, and changes nothing; the same update is
//! accepted once there is room, and an update that needs no new binding (a release) is accepted
//! with none.

use super::{
    tests::{CMD, M1, M2, cmd_pbu, maar, pba_of, registered, start},
    *,
};
use anchor_signal::Status;

#[test]
fn an_update_that_needs_a_binding_the_map_has_no_room_for_is_refused_with_130() {
    let now = start();
    let mut m = maar(M1, "2001:db8:a1::/48");
    let (prefix, _) = registered(&mut m, now);

    // The node moved to M2: its prefix needs a redirect, and the map is full.
    m.set_binding_room(0);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m.handle(
        now,
        CMD,
        cmd_pbu(now, 10, prefix, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::INSUFFICIENT_RESOURCES);
    assert_eq!(actions, Vec::new(), "a refused update changes nothing");
    assert_eq!(m.anchored(&prefix), None);
    assert_eq!(
        m.counters().rejected.get(&130),
        Some(&1),
        "the refusal is counted by status"
    );

    // Room for one: the CMD's retransmission of the same update is accepted.
    m.set_binding_room(1);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    m.handle(
        now,
        CMD,
        cmd_pbu(now, 10, prefix, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert!(actions.contains(&Action::AddBinding {
        prefix,
        kind: MaarBindingKind::Redirect { serving: M2 },
    }));

    // Its release needs no binding: accepted with no room at all.
    m.set_binding_room(0);
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    let later = Now {
        wall: now.wall + std::time::Duration::from_secs(1),
        ..now
    };
    m.handle(
        later,
        CMD,
        cmd_pbu(later, 0, prefix, Some(M2)),
        &mut out,
        &mut actions,
    );
    assert_eq!(pba_of(&out[0]).status, Status::ACCEPTED);
    assert!(actions.contains(&Action::RemoveBinding { prefix }));
}
