//! RFC 8818's traffic redirection (section 4.2) end to end with real TCP, on the grown rig of
//! `rig/topologies/three-ars.toml`: the MAARs' pools are `session-lasting` with
//! `idle_release_s = 8`, and the mobile node is a kernel-SLAAC host.
//!
//! 1. At router 1 (AR1) the node opens a TCP connection from its P1 address; the correspondent sends
//!    it a checksummed stream (a known byte pattern, paced) that lasts across the move.
//! 2. The node moves to router 2, AR2 (its link to AR1 down, to AR2 up; its solicitation
//!    attaches it).
//! 3. Every byte arrives, in order and intact; the stall is measured and printed: the longest
//!    gap between received bytes, and the correspondent's TCP retransmissions.
//! 4. A connection opened after the move has a P2 source.
//! 5. Once the old connection is closed and the redirect has been idle for `idle_release_s`,
//!    both routers' bindings for P1 are gone.

use std::{
    io::{Read as _, Write as _},
    time::{Duration, Instant},
};

use anchor_rig::grown::{Spec, THREE_ARS, spec::Policy};
use anchor_tests::{
    grown::{GrownScenario, wait_until_right},
    scenario::{DEADLINE, echo_forever},
    support::global_counter,
};

const MN: &str = "mn1";

const STREAM_PORT: u16 = 7071;
const ECHO_PORT: u16 = 7072;
/// The stream: `CHUNKS` chunks of `CHUNK` bytes, one every `PACE`: 3 s in all.
const CHUNK: usize = 4096;
const CHUNKS: usize = 300;
const PACE: Duration = Duration::from_millis(10);
/// When the node moves, after the stream started.
const MOVE_AFTER: Duration = Duration::from_secs(1);
const USER_TIMEOUT: Duration = Duration::from_secs(20);
/// Idle time after which the anchor releases the redirect (the pools' `idle_release_s`). It
/// must outlast the stall of the move: TCP's retransmission back-off after a stall of a second
/// or more leaves the redirect without a packet for seconds, and a release then would end the
/// connection.
const IDLE_RELEASE_S: u64 = 8;

/// The stream's byte at `offset`: position-dependent, so a lost, repeated or reordered byte
/// shows.
#[expect(
    clippy::cast_possible_truncation,
    reason = "a byte pattern: the low byte of the mix is the point"
)]
fn pattern(offset: usize) -> u8 {
    (offset.wrapping_mul(31) ^ (offset >> 8)) as u8
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario: its steps in order, each with its checks"
)]
fn redirection_keeps_a_tcp_stream_across_the_move_and_releases_when_idle() {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(IDLE_RELEASE_S);
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let sc = GrownScenario::start("rd", &spec);
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let p1_address = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", p1_address, true);
    let echo_listener = sc.listen(ECHO_PORT);
    echo_forever(&echo_listener);
    let stream_listener = sc.listen(STREAM_PORT);
    let sender = std::thread::spawn(move || {
        let (mut conn, _) = stream_listener
            .accept()
            .expect("accept the node's connection");
        let mut buf = vec![0u8; CHUNK];
        for chunk in 0..CHUNKS {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = pattern(chunk * CHUNK + i);
            }
            conn.write_all(&buf).expect("the stream's write failed");
            std::thread::sleep(PACE);
        }
        conn.shutdown(std::net::Shutdown::Write)
            .expect("close the stream");
    });
    let retrans_before = sc.cn_tcp_retransmissions();

    // 1. The stream starts at router 1.
    let mut conn = sc.connect(MN, p1_address, STREAM_PORT, USER_TIMEOUT);
    let reader = std::thread::spawn(move || {
        let started = Instant::now();
        let (mut total, mut longest, mut last, mut at) = (0usize, Duration::ZERO, started, None);
        let mut buf = vec![0u8; 65536];
        loop {
            let n = conn.read(&mut buf).expect("the stream broke");
            let now = Instant::now();
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, pattern(total + i), "byte {} of the stream", total + i);
            }
            if now - last > longest {
                longest = now - last;
                at = Some(last - started);
            }
            last = now;
            total += n;
        }
        (total, longest, at)
    });

    // 2. The move, while the stream runs.
    std::thread::sleep(MOVE_AFTER);
    let moved = Instant::now();
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p2 = sc.first_prefix("ar2");
    sc.wait_for_address(MN, "ar2", sc.slaac(MN, p2), true);
    println!(
        "redirection: node has P2 {:?} after the move",
        moved.elapsed()
    );

    // 3. Every byte, and the stall.
    let (total, longest, at) = reader.join().expect("the reader");
    sender.join().expect("the sender");
    let retransmissions = sc.cn_tcp_retransmissions() - retrans_before;
    println!(
        "redirection: {total} bytes intact; longest gap between received bytes {longest:?} \
         (starting {at:?} into the stream, the move at {MOVE_AFTER:?}); {retransmissions} TCP \
         retransmissions by the correspondent"
    );
    assert_eq!(total, CHUNK * CHUNKS, "the stream ended early");
    assert!(
        sc.binding("ar1", p1).is_some(),
        "router 1 should have redirected P1 during the stream"
    );
    // Router 2 sends the decapsulated stream straight to the node's MAC (its MN-ID), without
    // Neighbour Discovery for the P1 address.
    let visiting = sc
        .binding("ar2", p1)
        .expect("router 2's visiting binding of P1");
    let r2 = sc.router("ar2");
    println!(
        "redirection: router 2's visiting binding {visiting}; counters visiting_l2 {}, \
         kernel_fallback {}, drop_decap_no_binding {}",
        global_counter(r2, "visiting_l2"),
        global_counter(r2, "kernel_fallback"),
        global_counter(r2, "drop_decap_no_binding"),
    );
    assert!(
        visiting["mac"].is_string(),
        "router 2's visiting binding should carry the node's MAC: {visiting}"
    );
    assert!(
        global_counter(r2, "visiting_l2") > 0,
        "router 2 should send the stream with the node's L2 next hop"
    );

    // 4. A new connection uses P2.
    sc.new_connection_from(MN, ECHO_PORT, p2);

    // 5. Idle: the redirect goes on both routers (the bound: the idle time, its sampling and
    // the signaling, with room for a loaded CI machine).
    let idle_bound = Duration::from_secs(IDLE_RELEASE_S * 3) + DEADLINE;
    wait_until_right("both routers releasing P1's redirect", idle_bound, || {
        let (r1, r2) = (sc.binding("ar1", p1), sc.binding("ar2", p1));
        (r1.is_some() || r2.is_some()).then(|| format!("AR1 {r1:?}, AR2 {r2:?}"))
    });
    sc.stop();
}
