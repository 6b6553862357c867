//! Running the mobile node's programs (`client_decap` at XDP, `client_encap` at TC egress)
//! through BPF_PROG_TEST_RUN, and their counter deltas.

use std::collections::BTreeMap;

use anchor_common::ClientCounter;
use anchor_user::client_node::datapath::ClientDatapath;
use aya::programs::SchedClassifier;

use crate::xdp::Outcome;

pub const TC_ACT_OK: u32 = 0;
pub const TC_ACT_SHOT: u32 = 2;

pub fn tc_action_name(a: u32) -> &'static str {
    match a {
        TC_ACT_OK => "TC_ACT_OK",
        TC_ACT_SHOT => "TC_ACT_SHOT",
        _ => "unknown",
    }
}

/// Size of the `struct __sk_buff` given to a TC test run (the kernel takes a shorter one and
/// zeroes the rest).
const SK_BUFF_CTX_LEN: usize = 48;
/// Offset of `__sk_buff.ifindex`: after len, pkt_type, mark, queue_mapping, protocol,
/// vlan_present, vlan_tci, vlan_proto, priority and ingress_ifindex (ten `__u32`s).
const SK_BUFF_IFINDEX: usize = 40;

/// The `struct __sk_buff` of a TC test run on the device `ifindex`: all zero (the fields the
/// kernel refuses to take must be) but `ifindex`. With an index of 0 or 1 the skb's device is
/// the namespace's loopback.
pub fn sk_buff_ctx(ifindex: u32) -> [u8; SK_BUFF_CTX_LEN] {
    let mut ctx = [0u8; SK_BUFF_CTX_LEN];
    ctx[SK_BUFF_IFINDEX..SK_BUFF_IFINDEX + 4].copy_from_slice(&ifindex.to_ne_bytes());
    ctx
}

/// Runs a TC program once on `frame` (an Ethernet frame) as an skb of the device `ifindex` in
/// the calling thread's network namespace (0: its loopback).
pub fn run_tc(program: &SchedClassifier, frame: &[u8], ifindex: u32) -> Outcome {
    crate::xdp::run_with_context(program, frame, &sk_buff_ctx(ifindex))
}

/// Packets per counter name, summed over CPUs.
pub fn client_counters(dp: &ClientDatapath) -> BTreeMap<&'static str, u64> {
    dp.counters().expect("read the client counters")
}

/// Asserts that exactly the `expected` counters moved, by exactly these packet counts.
pub fn assert_client_deltas(
    case: &str,
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
    expected: &[(ClientCounter, u64)],
) {
    let named: Vec<(&str, u64)> = expected.iter().map(|(c, n)| (c.name(), *n)).collect();
    crate::xdp::assert_named_deltas(case, before, after, &named);
}
