//! The MAAR role end to end on the rig: the real CMD (`anchor cmd`, in the correspondent's
//! namespace, which reaches both routers' locators) and two real MAARs (`anchor run` with a
//! `[maar]` section, insecure signaling). No binding is typed by hand:
//!
//! 1. `mn attach` at r1 delegates P1 from r1's pool; once the CMD accepted it, r1 routes P1 to
//!    its access link and the correspondent reaches the mobile node's P1 address.
//! 2. The mobile node moves to r2's access link (keeping its P1 address) and `mn attach` of the
//!    same MN-ID at r2 delegates P2; the CMD's answer makes r2 install `Visiting` for P1 (home
//!    r1), its update makes r1 install `Redirect` for P1 (serving r2), and the P1 address is
//!    reached through the tunnel.
//! 3. `mn detach` at r2 de-registers: both routers' bindings go.
//!
//! First, a MAAR without `insecure_signaling` and without IPsec ESP policies refuses to start.

use std::time::Duration;

use anchor_rig::{Daemon, Node};
use anchor_tests::{
    maar::{ControlPlane, MN_P1, P1, detach_at_r2},
    support::{assert_tunnelled_to_mn, ip_stdout, ping_from_cn, stop_daemons},
};

/// How long the signaling and the first packets may take before the test fails: generous, the
/// namespaces are local.
const DEADLINE: Duration = Duration::from_secs(10);

#[test]
fn maars_and_cmd_redirect_a_moved_node_without_hand_made_bindings() {
    // The node is attached by hand (`mn attach`): its kernel sends no Router Solicitations,
    // which would attach it by its own MAC (`maar_slaac.rs` tests that path).
    let mut cp = ControlPlane::start("m");
    // Without IPsec ESP policies for the signaling (and without insecure_signaling), a MAAR
    // refuses to start, before it attaches to any interface.
    let refused = Daemon::start_with_config(
        &cp.anchor,
        cp.dir.path(),
        &cp.routers[0],
        &cp.secure_maar_section(0),
    )
    .err()
    .map(|e| format!("{e:#}"));
    assert!(
        refused
            .as_ref()
            .is_some_and(|e| e.contains("no XFRM policy requires ESP")),
        "a MAAR without ESP policies should refuse to start: {refused:?}"
    );
    assert!(
        !ip_stdout(&cp.rig, Node::R1, &["link", "show", "dev", "r1a"]).contains("xdp"),
        "the refused MAAR should not have attached to r1a"
    );
    let r1 = cp.start_maar(0, "");
    let r2 = cp.start_maar(1, "");

    // 1. Attachment at r1.
    cp.attach_at_r1(&r1, DEADLINE);
    ping_from_cn(&cp.rig, MN_P1, "before the move");

    // 2. The move, then attachment at r2.
    cp.move_to_r2(&r1, &r2, DEADLINE);
    assert!(
        !ip_stdout(&cp.rig, Node::R1, &["-6", "route", "show", P1]).contains("dev r1a"),
        "r1 should have removed its access route for {P1} when the node left"
    );
    ping_from_cn(&cp.rig, MN_P1, "after the move");
    assert_tunnelled_to_mn(&r1, P1);

    // 3. Detachment at r2: the CMD tells r1, and both drop their bindings.
    detach_at_r2(&r1, &r2, DEADLINE);

    stop_daemons([r1, r2]);
    cp.stop_cmd();
}
