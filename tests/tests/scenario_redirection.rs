//! RFC 8818's traffic redirection (section 4.2) end to end with real TCP: both MAARs' pools are
//! `session-lasting` with `idle_release_s = 8`, and the mobile node is a kernel-SLAAC host.
//!
//! 1. At router 1 the node opens a TCP connection from its P1 address; the correspondent sends
//!    it a checksummed stream (a known byte pattern, paced) that lasts across the move.
//! 2. The node moves to router 2 (link 1 down, link 2 up, its solicitation attaches it).
//! 3. Every byte arrives, in order and intact; the stall is measured and printed: the longest
//!    gap between received bytes, and the correspondent's TCP retransmissions.
//! 4. A connection opened after the move has a P2 source.
//! 5. Once the old connection is closed and the redirect has been idle for `idle_release_s`,
//!    both routers' bindings for P1 are gone.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv6Addr, SocketAddr},
    time::{Duration, Instant},
};

use anchor_rig::control::{MN_P1_SLAAC as MN_P1, MN_P2_SLAAC as MN_P2, P1, P2, PoolPolicy};
use anchor_tests::{
    maar::{find_binding, wait_for},
    scenario::{DEADLINE, Scenario, echo, echo_forever},
    support::global_counter,
};

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
    let sc = Scenario::start(
        "d",
        PoolPolicy::SessionLasting,
        &format!("idle_release_s = {IDLE_RELEASE_S}\n"),
    );
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
    let p1: Ipv6Addr = MN_P1.parse().expect("address");
    let mut conn = sc.connect(Some(p1), STREAM_PORT, USER_TIMEOUT, DEADLINE);
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
    sc.rig
        .move_mobile_node_link_only()
        .unwrap_or_else(|e| panic!("{e:#}"));
    sc.wait_for_address("mn2", MN_P2);
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
        find_binding(sc.r1(), P1).is_some(),
        "router 1 should have redirected P1 during the stream"
    );
    // Router 2 sends the decapsulated stream straight to the node's MAC (its MN-ID), without
    // Neighbour Discovery for the P1 address.
    let visiting = find_binding(sc.r2(), P1).expect("router 2's visiting binding of P1");
    println!(
        "redirection: router 2's visiting binding {visiting}; counters visiting_l2 {}, \
         kernel_fallback {}, drop_decap_no_binding {}",
        global_counter(sc.r2(), "visiting_l2"),
        global_counter(sc.r2(), "kernel_fallback"),
        global_counter(sc.r2(), "drop_decap_no_binding"),
    );
    assert!(
        visiting["mac"].is_string(),
        "router 2's visiting binding should carry the node's MAC: {visiting}"
    );
    assert!(
        global_counter(sc.r2(), "visiting_l2") > 0,
        "router 2 should send the stream with the node's L2 next hop"
    );

    // 4. A new connection uses P2.
    let mut new = sc.connect(None, ECHO_PORT, USER_TIMEOUT, DEADLINE);
    let SocketAddr::V6(local) = new.local_addr().expect("local address") else {
        panic!("an IPv4 connection")
    };
    let p2: ipnet::Ipv6Net = P2.parse().expect("prefix");
    assert!(
        p2.contains(local.ip()),
        "a connection opened after the move should use {P2}, it uses {}",
        local.ip()
    );
    assert_eq!(echo(&mut new, b"new session"), Ok(b"new session".to_vec()));

    // 5. Idle: the redirect goes on both routers (the bound: the idle time, its sampling and
    // the signaling, with room for a loaded CI machine).
    let idle_bound = Duration::from_secs(IDLE_RELEASE_S * 3) + DEADLINE;
    wait_for("both routers to release P1's redirect", idle_bound, || {
        find_binding(sc.r1(), P1).is_none() && find_binding(sc.r2(), P1).is_none()
    });
    sc.stop();
}
