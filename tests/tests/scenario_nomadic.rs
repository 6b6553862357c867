//! RFC 8818's nomadic case (section 4.1) end to end: both MAARs' pools are `nonpersistent`, the
//! CMD knows them so, and the mobile node is a kernel-SLAAC host.
//!
//! 1. At router 1 the node gets P1 by SLAAC and opens a TCP connection from its P1 address to
//!    the correspondent; data echoes.
//! 2. It moves to router 2 (link 1 down, link 2 up) and gets P2. Router 1 releases P1: no route,
//!    no binding, nothing in `mn list`; router 2 installs no visiting binding for it.
//! 3. The old connection ends: the next write gets no echo, and the socket fails with a reset or
//!    the TCP user timeout the test sets (bounded), never with data.
//! 4. A new connection from the node works, and its source address is in P2.

use std::{
    net::{Ipv6Addr, SocketAddr},
    time::{Duration, Instant},
};

use anchor_rig::{
    Node,
    control::{MN_P1_SLAAC as MN_P1, MN_P2_SLAAC as MN_P2, P1, P2, PoolPolicy},
};
use anchor_tests::{
    maar::{find_binding, mn_list, wait_for},
    scenario::{DEADLINE, Scenario, echo, echo_forever, holds_nothing},
    support::ip_stdout,
};

const PORT: u16 = 7070;
/// The old connection's TCP user timeout: how long unacknowledged data may wait before the
/// kernel gives up on it.
const USER_TIMEOUT: Duration = Duration::from_secs(3);
/// The bound on the old connection's end: the user timeout and the retransmission it waits for.
const END_BOUND: Duration = Duration::from_secs(10);

#[test]
fn nomadic_old_connection_ends_and_a_new_one_uses_the_new_prefix() {
    let sc = Scenario::start("n", PoolPolicy::Nonpersistent, "");
    let listener = sc.listen(PORT);
    echo_forever(&listener);

    // 1. At router 1: a connection from P1.
    let p1: Ipv6Addr = MN_P1.parse().expect("address");
    let mut old = sc.connect(Some(p1), PORT, USER_TIMEOUT, END_BOUND);
    assert_eq!(
        echo(&mut old, b"before the move"),
        Ok(b"before the move".to_vec())
    );

    // 2. The move.
    sc.rig
        .move_mobile_node_link_only()
        .unwrap_or_else(|e| panic!("{e:#}"));
    sc.wait_for_address("mn2", MN_P2);
    wait_for("router 1 to release P1", DEADLINE, || {
        !ip_stdout(&sc.rig, Node::R1, &["-6", "route", "show", P1]).contains("dev r1a")
            && holds_nothing(&mn_list(sc.r1()))
    });
    assert!(
        find_binding(sc.r1(), P1).is_none() && find_binding(sc.r2(), P1).is_none(),
        "a nonpersistent prefix is never redirected: r1 {:?}, r2 {:?}",
        find_binding(sc.r1(), P1),
        find_binding(sc.r2(), P1)
    );

    // 3. The old connection ends, bounded.
    let started = Instant::now();
    let outcome = echo(&mut old, b"after the move");
    let took = started.elapsed();
    println!("nomadic: the old connection ended after {took:?}: {outcome:?}");
    assert!(
        outcome.is_err(),
        "the connection on the released {P1} should end, it echoed {outcome:?}"
    );
    assert!(took < END_BOUND, "the old connection took {took:?} to end");

    // 4. A new connection uses P2.
    let mut new = sc.connect(None, PORT, USER_TIMEOUT, END_BOUND);
    let SocketAddr::V6(local) = new.local_addr().expect("local address") else {
        panic!("an IPv4 connection")
    };
    let p2: ipnet::Ipv6Net = P2.parse().expect("prefix");
    assert!(
        p2.contains(local.ip()),
        "the new connection's source {} should be in {P2}",
        local.ip()
    );
    assert_eq!(echo(&mut new, b"new session"), Ok(b"new session".to_vec()));
    sc.stop();
}
