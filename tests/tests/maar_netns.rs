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
//! The same with both MAARs given a list of two CMD instances, the first of them silent.
//!
//! Also: a hostile NAI from a host that is not the CMD is logged escaped, on one line.
//!
//! First, a MAAR without `insecure_signaling` and without IPsec ESP policies refuses to start.

use std::{net::Ipv6Addr, time::Duration};

use anchor_rig::{
    Daemon, Node,
    topology::{R1_LOCATOR, R2_LOCATOR},
};
use anchor_signal::{Lifetime, MobilityHeader, MobilityOption, Pbu, PbuFlags, Timestamp};
use anchor_tests::{
    hostile::{LogFormat, check_log, hostile_mn_id, mh_socket_in},
    maar::{ControlPlane, MN_P1, P1, P2, detach_at_r2, wait_for},
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
    // The visiting binding's route is not one a routing daemon announces (protocol 250, the
    // routes of prefixes anchored here, as r2's own P2): it is protocol 251.
    let visiting = ip_stdout(&cp.rig, Node::R2, &["-6", "route", "show", "exact", P1]);
    assert!(
        visiting.contains(&format!(
            "dev r2a proto {} ",
            anchor_user::routing::routes::RTPROT_ANCHOR_VISITING
        )),
        "r2's route for the visiting {P1}: {visiting}"
    );
    let local = ip_stdout(&cp.rig, Node::R2, &["-6", "route", "show", "exact", P2]);
    assert!(
        local.contains(&format!(
            "dev r2a proto {} ",
            anchor_user::routing::routes::RTPROT_ANCHOR
        )),
        "r2's route for its own {P2}: {local}"
    );

    // 3. Detachment at r2: the CMD tells r1, and both drop their bindings.
    detach_at_r2(&r1, &r2, DEADLINE);

    stop_daemons([r1, r2]);
    cp.stop_cmd();
}

/// The same move with both MAARs given two CMD instances, `cmd = [SILENT, CMD]`: the first
/// listed has an address on the correspondent's link and nothing answering there (a dead
/// instance). Each MAAR's first PBU goes to it, its retransmission to both, the live CMD answers
/// and from then on is the one sent to; the CMD's updates from it are accepted.
#[test]
fn maars_with_a_list_of_cmd_instances_reach_the_one_that_answers() {
    let mut cp = ControlPlane::start("l");
    let silent = "2001:db8:c::77";
    cp.rig
        .ip(
            Node::Cn,
            &[
                "addr",
                "add",
                &format!("{silent}/64"),
                "dev",
                "cn0",
                "nodad",
            ],
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
    let cn = anchor_rig::topology::CN_ADDR;
    let start = |index: usize| {
        let section = cp.maar_section(index, "").replace(
            &format!("cmd = \"{cn}\""),
            &format!("cmd = [\"{silent}\", \"{cn}\"]"),
        );
        assert!(section.contains(silent), "{section}");
        Daemon::start_with_config(&cp.anchor, cp.dir.path(), &cp.routers[index], &section)
            .unwrap_or_else(|e| panic!("cannot start a MAAR: {e:#}"))
    };
    let r1 = start(0);
    let r2 = start(1);
    cp.attach_at_r1(&r1, DEADLINE);
    ping_from_cn(&cp.rig, MN_P1, "before the move");
    cp.move_to_r2(&r1, &r2, DEADLINE);
    ping_from_cn(&cp.rig, MN_P1, "after the move");
    assert_tunnelled_to_mn(&r1, P1);
    detach_at_r2(&r1, &r2, DEADLINE);
    for (name, daemon) in [("r1", &r1), ("r2", &r2)] {
        let log = daemon.log();
        assert!(
            log.contains(&format!(
                "the CMD {silent} does not answer: sending to every instance"
            )) && log.contains(&format!("the CMD answers from {cn}")),
            "{name}: {log}"
        );
        assert_eq!(
            log.matches("sending to every instance").count(),
            1,
            "{name} should have hunted once, then kept to {cn}: {log}"
        );
    }
    stop_daemons([r1, r2]);
    cp.stop_cmd();
}

/// A PBU from a host that is not the CMD, with an NAI that carries a newline and a forged log
/// line, control characters and escapes, is refused and logged on one line, escaped: r1 writes
/// text, r2 JSON.
#[test]
fn maars_log_a_hostile_nai_escaped_on_one_line() {
    let cp = ControlPlane::start("h");
    let [mut router1, mut router2] = cp.routers.clone();
    router1.log_format = Some("text");
    router2.log_format = Some("json");
    let start = |router: &anchor_rig::Router, index| {
        Daemon::start_with_config(
            &cp.anchor,
            cp.dir.path(),
            router,
            &cp.maar_section(index, ""),
        )
        .unwrap_or_else(|e| panic!("cannot start a MAAR: {e:#}"))
    };
    let r1 = start(&router1, 0);
    let r2 = start(&router2, 1);
    // Any host on the correspondent's link.
    let stranger_addr: Ipv6Addr = "2001:db8:c::66".parse().expect("address");
    cp.rig
        .ip(
            Node::Cn,
            &["addr", "add", "2001:db8:c::66/64", "dev", "cn0", "nodad"],
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
    let stranger = mh_socket_in(&cp.rig.ns(Node::Cn), stranger_addr);
    for (locator, daemon, format) in [
        (R1_LOCATOR, &r1, LogFormat::Text),
        (R2_LOCATOR, &r2, LogFormat::Json),
    ] {
        let to: Ipv6Addr = locator.parse().expect("locator");
        let pbu = MobilityHeader::Pbu(Pbu {
            sequence: 1,
            flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
            lifetime: Lifetime(150),
            options: vec![
                MobilityOption::MnId(hostile_mn_id()),
                MobilityOption::Timestamp(Timestamp::now()),
                MobilityOption::ServingMaar(stranger_addr),
                MobilityOption::AnchoredPrefix(P1.parse().expect("prefix")),
            ],
        });
        let wire = pbu.encode(stranger_addr, to).expect("encode");
        stranger.send(to, &wire).expect("send");
        let answer = recv_from(&stranger, to);
        let MobilityHeader::Pba(pba) = answer else {
            panic!("expected a PBA from {to}, got {answer:?}");
        };
        assert!(!pba.status.is_accepted(), "{pba:?}");
        wait_for("the refusal in the log", DEADLINE, || {
            daemon.log().contains("FORGED")
        });
        let mentions = check_log(&daemon.log(), format);
        assert_eq!(mentions.len(), 1, "{format:?}: {mentions:#?}");
    }
    stop_daemons([r1, r2]);
}

/// The first Mobility Header from `from` within [`DEADLINE`], decoded.
fn recv_from(socket: &anchor_pmip::transport::MhSocket, from: Ipv6Addr) -> MobilityHeader {
    let deadline = std::time::Instant::now() + DEADLINE;
    while std::time::Instant::now() < deadline {
        match socket.recv() {
            Ok((mh, sender)) if sender == from => {
                return MobilityHeader::decode(&mh, from, socket.local())
                    .unwrap_or_else(|e| panic!("{from} sent a bad message: {e}"));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("receiving: {e}"),
        }
    }
    panic!("no answer from {from}");
}
