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
    io::{Read as _, Write as _},
    net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use anchor_rig::{
    Node, Rig, WorkDir,
    control::{self, MN_P1_SLAAC as MN_P1, MN_P2_SLAAC as MN_P2, P1, P2, POOL2, PoolPolicy},
    topology::{CN_ADDR, R2_LOCATOR},
};
use anchor_tests::{
    maar::{find_binding, mn_list, wait_for},
    support::{anchor_binary, in_netns, ip_stdout, remove_stale_rigs, require_tools, stop_daemons},
};
use socket2::{Domain, Socket, Type};

const DEADLINE: Duration = Duration::from_secs(15);
const PORT: u16 = 7070;
/// The old connection's TCP user timeout: how long unacknowledged data may wait before the
/// kernel gives up on it.
const USER_TIMEOUT: Duration = Duration::from_secs(3);
/// The bound on the old connection's end: the user timeout and the retransmission it waits for.
const END_BOUND: Duration = Duration::from_secs(10);

#[test]
fn nomadic_old_connection_ends_and_a_new_one_uses_the_new_prefix() {
    let anchor = anchor_binary();
    require_tools(&[
        &["ip", "-V"],
        &["ethtool", "--version"],
        &["sysctl", "--version"],
    ]);
    remove_stale_rigs("anc-n");
    let dir = WorkDir::create("anchor-nomadic").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = Rig::build(&format!("anc-n{}-", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));
    let mut cmd_proc =
        control::start_cmd_with(&anchor, dir.path(), &rig, PoolPolicy::Nonpersistent)
            .unwrap_or_else(|e| panic!("cannot start the CMD: {e:#}"));
    rig.mobile_node_as_slaac_host()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let [r1, r2] =
        control::start_maars_with_policy(&anchor, dir.path(), &rig, PoolPolicy::Nonpersistent)
            .unwrap_or_else(|e| panic!("cannot start the MAARs: {e:#}"));
    // Core routing for router 2's pool (the rig's routers know no route to it by themselves;
    // in a network, the IGP or BGP carries it).
    rig.ip(Node::R1, &["-6", "route", "add", POOL2, "via", R2_LOCATOR])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let cn: Ipv6Addr = CN_ADDR.parse().expect("address");
    let _server = echo_server(&rig, cn);

    // 1. At router 1: P1, and a connection from it.
    rig.ip(Node::Mn, &["link", "set", "mn1", "up"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for(&format!("{MN_P1} on mn1"), DEADLINE, || {
        addresses(&rig, "mn1").contains(&format!("{MN_P1}/64"))
    });
    let p1: Ipv6Addr = MN_P1.parse().expect("address");
    let mut old = connect_from(&rig, Some(p1), cn);
    assert_eq!(
        echo(&mut old, b"before the move"),
        Ok(b"before the move".to_vec())
    );

    // 2. The move.
    rig.move_mobile_node_link_only()
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for(&format!("{MN_P2} on mn2"), DEADLINE, || {
        addresses(&rig, "mn2").contains(&format!("{MN_P2}/64"))
    });
    wait_for("router 1 to release P1", DEADLINE, || {
        !ip_stdout(&rig, Node::R1, &["-6", "route", "show", P1]).contains("dev r1a")
            && holds_nothing(&mn_list(&r1))
    });
    assert!(
        find_binding(&r1, P1).is_none() && find_binding(&r2, P1).is_none(),
        "a nonpersistent prefix is never redirected: r1 {:?}, r2 {:?}",
        find_binding(&r1, P1),
        find_binding(&r2, P1)
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
    let mut new = connect_from(&rig, None, cn);
    let local = new.local_addr().expect("local address");
    let p2: ipnet::Ipv6Net = P2.parse().expect("prefix");
    let SocketAddr::V6(local) = local else {
        panic!("an IPv4 connection: {local}")
    };
    assert!(
        p2.contains(local.ip()),
        "the new connection's source {} should be in {P2}",
        local.ip()
    );
    assert_eq!(echo(&mut new, b"new session"), Ok(b"new session".to_vec()));

    stop_daemons([r1, r2]);
    let _ = cmd_proc.stop_with("TERM", Duration::from_secs(5));
}

/// An echo server on the correspondent, one thread per connection; it runs until the test ends.
fn echo_server(rig: &Rig, cn: Ipv6Addr) -> TcpListener {
    let listener = in_netns(&rig.ns(Node::Cn), || {
        TcpListener::bind((cn, PORT)).unwrap_or_else(|e| panic!("listen on [{cn}]:{PORT}: {e}"))
    });
    let accepting = listener.try_clone().expect("listener");
    std::thread::spawn(move || {
        for stream in accepting.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    listener
}

/// A TCP connection from the mobile node (from `source` when given) to the correspondent, with
/// the user timeout and a read timeout of [`END_BOUND`].
fn connect_from(rig: &Rig, source: Option<Ipv6Addr>, cn: Ipv6Addr) -> TcpStream {
    in_netns(&rig.ns(Node::Mn), || {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, None).expect("socket");
        if let Some(source) = source {
            socket
                .bind(&SocketAddr::from((source, 0)).into())
                .unwrap_or_else(|e| panic!("bind {source}: {e}"));
        }
        socket
            .set_tcp_user_timeout(Some(USER_TIMEOUT))
            .expect("TCP_USER_TIMEOUT");
        socket
            .connect_timeout(&SocketAddr::from((cn, PORT)).into(), DEADLINE)
            .unwrap_or_else(|e| panic!("connect to [{cn}]:{PORT}: {e}"));
        let stream = TcpStream::from(socket);
        stream
            .set_read_timeout(Some(END_BOUND))
            .expect("read timeout");
        stream
    })
}

/// Writes `data` and reads it back: the echo, or how the connection failed.
fn echo(stream: &mut TcpStream, data: &[u8]) -> Result<Vec<u8>, std::io::ErrorKind> {
    stream.write_all(data).map_err(|e| e.kind())?;
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).map_err(|e| e.kind())?;
    Ok(back)
}

/// `mn list --json` with no node served and no prefix anchored for one elsewhere.
fn holds_nothing(list: &serde_json::Value) -> bool {
    ["served", "anchored"]
        .iter()
        .all(|key| list[key].as_array().is_some_and(Vec::is_empty))
}

fn addresses(rig: &Rig, dev: &str) -> String {
    rig.mobile_node_addresses(dev)
        .unwrap_or_else(|e| panic!("{e:#}"))
}
