//! RFC 8818's nomadic case (section 4.1) end to end on the grown rig of
//! `rig/topologies/three-ars.toml`: every MAAR's pool is `nonpersistent`, the CMD knows them so,
//! and the mobile node is a kernel-SLAAC host.
//!
//! 1. At AR1 the node gets P1 by SLAAC and opens a TCP connection from its P1 address to the
//!    correspondent; data echoes.
//! 2. It moves to AR2 (its link to AR1 down, to AR2 up) and gets P2. AR1 releases P1: no route,
//!    no binding, nothing in `mn list`, nothing allocated; AR2 installs no visiting binding for
//!    it; the CMD records P2 alone.
//! 3. The old connection ends: the next write gets no echo, and the socket fails with a reset or
//!    the TCP user timeout the test sets (bounded), never with data.
//! 4. A new connection from the node, its source chosen by the kernel, works, and its source
//!    address is in P2.

use std::time::{Duration, Instant};

use anchor_rig::grown::{Spec, THREE_ARS, spec::Policy};
use anchor_tests::{
    grown::{GrownScenario, wait_until_right},
    scenario::{DEADLINE, echo, echo_forever, holds_nothing},
};
use serde_json::Value;

const MN: &str = "mn1";
const PORT: u16 = 7070;
/// The old connection's TCP user timeout: how long unacknowledged data may wait before the
/// kernel gives up on it.
const USER_TIMEOUT: Duration = Duration::from_secs(3);
/// The bound on the old connection's end: the user timeout and the retransmission it waits for.
const END_BOUND: Duration = Duration::from_secs(10);

#[test]
fn nomadic_old_connection_ends_and_a_new_one_uses_the_new_prefix() {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::Nonpersistent;
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let sc = GrownScenario::start("nm", &spec);
    let listener = sc.listen(PORT);
    echo_forever(&listener);

    // 1. At AR1: a connection from P1.
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let p1_address = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", p1_address, true);
    let mut old = sc.connect(MN, p1_address, PORT, USER_TIMEOUT);
    old.set_read_timeout(Some(END_BOUND)).expect("read timeout");
    assert_eq!(
        echo(&mut old, b"before the move"),
        Ok(b"before the move".to_vec())
    );

    // 2. The move: AR1 releases P1, nobody redirects it.
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p2 = sc.first_prefix("ar2");
    sc.wait_for_address(MN, "ar2", sc.slaac(MN, p2), true);
    let released = wait_until_right("AR1 releasing P1", DEADLINE, || {
        let routes = sc.pool_routes("ar1");
        let list = sc.mn_list("ar1");
        let allocated = sc.allocated("ar1");
        (!routes.is_empty() || !holds_nothing(&list) || !allocated.is_empty())
            .then(|| format!("AR1: routes {routes:?}, mn list {list}, allocated {allocated:?}"))
    });
    println!("nomadic: AR1 released P1 {released:?} after the node had P2");
    assert!(
        sc.binding("ar1", p1).is_none() && sc.binding("ar2", p1).is_none(),
        "a nonpersistent prefix is never redirected: AR1 {:?}, AR2 {:?}",
        sc.binding("ar1", p1),
        sc.binding("ar2", p1)
    );
    let records = sc.cmd_records();
    let recorded: Vec<String> = records
        .iter()
        .flat_map(|r| r["prefixes"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["prefix"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        recorded,
        [p2.to_string()],
        "the CMD should record P2 alone: {}",
        Value::Array(records.clone())
    );

    // 3. The old connection ends, bounded.
    let started = Instant::now();
    let outcome = echo(&mut old, b"after the move");
    let took = started.elapsed();
    println!("nomadic: the old connection ended after {took:?}: {outcome:?}");
    assert!(
        outcome.is_err(),
        "the connection on the released {p1} should end, it echoed {outcome:?}"
    );
    assert!(took < END_BOUND, "the old connection took {took:?} to end");

    // 4. A new connection, its source left to the kernel, uses P2.
    sc.new_connection_from(MN, PORT, p2);
    sc.stop();
}
