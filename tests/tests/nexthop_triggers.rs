//! The next-hop resolver's event triggers against the kernel (privileged), in the fixture
//! namespace: a running resolver keeps router R2's `NEXTHOPS` entry, and a change that only the
//! trigger under test announces must reach the entry before the periodic refresh could have
//! brought it.
//!
//! - an `ip -6 rule` that sends R2 through another table (via R3) and its removal: only the
//!   rule events (`RTNLGRP_IPV6_RULE`) tell the resolver;
//! - a route change whose event is lost because the resolver's socket buffer is full (a flood
//!   of neighbour events that concern no next hop, while the resolver's runtime is not polled):
//!   only the overrun (ENOBUFS) tells the resolver. A socket of the test's own, subscribed to
//!   the same neighbour events with the default buffer, shows that the flood overruns it.
//!
//! The refresh and the retry deadline have no event to provoke; their tests run the schedule on
//! tokio's paused clock (`anchor-user/src/routing/nexthop/schedule.rs`), as do these two
//! triggers'.

use std::{
    fmt::Write as _,
    net::Ipv6Addr,
    process::Command,
    time::{Duration, Instant},
};

use anchor_common::NextHop;
use anchor_rig::fixture_net::{CORE_MAC, FixtureNet};
use anchor_tests::fixture::fixture_net;
use anchor_user::{
    datapath::{BindingSpec, Datapath, DatapathParams},
    routing::{NextHopResolver, nexthop::REFRESH},
};
use ipnet::Ipv6Net;

const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
const R2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
/// The fixture's permanent neighbours on the core link.
const MAC_R2: [u8; 6] = [2, 0, 0, 0, 0, 2];
const MAC_R3: [u8; 6] = [2, 0, 0, 0, 0, 3];
const MAC_GW: [u8; 6] = [2, 0, 0, 0, 0, 9];
/// A routing table of the test's own.
const TABLE: &str = "100";
/// Neighbour events in the flood (each address added, then deleted).
const FLOOD: usize = 4000;
/// How long before the first refresh a change must have reached the entry: what proves that
/// the trigger under test, not the refresh, brought it.
const MARGIN: Duration = Duration::from_secs(5);

/// Runs `ip -n <fixture> args`, panicking with its output on failure.
fn ip(net: &FixtureNet, args: &[&str]) {
    let output = Command::new("ip")
        .args(["-n", net.name()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        output.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `ip -6 -n <fixture> -batch -` with `lines` on its standard input.
fn ip_batch(net: &FixtureNet, lines: &str) {
    use std::io::Write as _;
    let mut child = Command::new("ip")
        .args(["-6", "-n", net.name(), "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ip -batch: {e}"));
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes());
    let output = child.wait_with_output().expect("ip -batch");
    assert!(
        output.status.success() && written.is_ok(),
        "ip -batch failed ({written:?}): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `ip` commands run when dropped, whether the test passed or not, errors ignored: the next test
/// in the shared namespace starts from the fixture's state.
struct Undo {
    net: &'static FixtureNet,
    commands: Vec<Vec<&'static str>>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        for args in &self.commands {
            let _ = Command::new("ip")
                .args(["-n", self.net.name()])
                .args(args)
                .output();
        }
    }
}

/// A datapath whose only peer in use is R2, and a resolver keeping its entry.
struct Running {
    net: &'static FixtureNet,
    dp: Datapath,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The first refresh is due at `started + REFRESH`.
    started: Instant,
}

impl Running {
    fn start() -> Self {
        let net = fixture_net();
        let mut dp = Datapath::load(&DatapathParams {
            locator: LOCATOR,
            tunnel_mtu: 1500,
            outer_hop_limit: 64,
            max_bindings: 64,
            dense_pools: Vec::new(),
            log: false,
        })
        .expect("load the XDP program");
        let prefix: Ipv6Net = "2001:db8:1:1::/64".parse().expect("prefix");
        dp.insert_binding(prefix, BindingSpec::redirect(R2, 1))
            .expect("insert the binding");
        // A current-thread runtime: its tasks, the resolver's socket reader among them, run
        // only inside `block_on`.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cache = dp.next_hop_cache().expect("cache");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let task = {
            // The resolver registers its socket with the runtime and spawns its reader.
            let _context = runtime.enter();
            let resolver = NextHopResolver::new(cache).expect("resolver");
            runtime.spawn(resolver.run(async {
                let _ = stopped.await;
            }))
        };
        let running = Self {
            net,
            dp,
            runtime,
            stop: Some(stop),
            task: Some(task),
            started,
        };
        running.wait_for_mac(MAC_R2, "R2's own MAC at start");
        running
    }

    fn entry(&self) -> NextHop {
        self.dp
            .next_hop(self.dp.peer_index(R2).expect("R2 in use"))
            .expect("read NEXTHOPS")
    }

    /// Runs the resolver until R2's entry is valid with `mac`, at the latest `MARGIN` before
    /// the first refresh.
    fn wait_for_mac(&self, mac: [u8; 6], what: &str) {
        let deadline = (self.started + REFRESH).checked_sub(MARGIN).unwrap();
        let want = NextHop::valid(mac, CORE_MAC, self.net.core_ifindex, 1500);
        self.runtime.block_on(async {
            while self.entry() != want {
                assert!(
                    Instant::now() < deadline,
                    "R2's entry should become {what} before the first refresh ({REFRESH:?} \
                     after the start, less {MARGIN:?}): only its trigger can have done it; \
                     it is {:?}",
                    self.entry()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let (Some(stop), Some(task)) = (self.stop.take(), self.task.take()) {
            let _ = stop.send(());
            let _ = self.runtime.block_on(task);
        }
    }
}

#[test]
fn a_rule_change_makes_the_resolver_resolve_again() {
    let net = fixture_net();
    let _undo = Undo {
        net,
        commands: vec![
            vec!["-6", "rule", "del", "pref", "100"],
            vec!["-6", "route", "flush", "table", TABLE],
        ],
    };
    // The table's route exists before the resolver starts: its event is not the one tested.
    ip(
        net,
        &[
            "-6",
            "route",
            "replace",
            "2001:db8:ff::2/128",
            "via",
            "2001:db8:ff::3",
            "dev",
            "fxc",
            "table",
            TABLE,
        ],
    );
    let running = Running::start();
    let rule = ["to", "2001:db8:ff::2/128", "lookup", TABLE, "pref", "100"];
    ip(net, &[["-6", "rule", "add"].as_slice(), &rule].concat());
    running.wait_for_mac(MAC_R3, "R3's MAC (the rule's table) after `ip -6 rule add`");
    ip(net, &[["-6", "rule", "del"].as_slice(), &rule].concat());
    running.wait_for_mac(MAC_R2, "R2's own MAC again after `ip -6 rule del`");
}

/// A netlink socket of the test's own, subscribed to neighbour events, never read until
/// [`Witness::overrun`].
struct Witness(libc::c_int);

impl Witness {
    fn open() -> Self {
        // SAFETY: plain socket calls on a descriptor this struct owns; `address` is a
        // zero-initialised sockaddr_nl of the size passed.
        unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            );
            assert!(
                fd >= 0,
                "netlink socket: {}",
                std::io::Error::last_os_error()
            );
            let mut address: libc::sockaddr_nl = std::mem::zeroed();
            address.nl_family =
                libc::sa_family_t::try_from(libc::AF_NETLINK).expect("an address family");
            address.nl_groups = libc::RTMGRP_NEIGH as u32;
            let bound = libc::bind(
                fd,
                std::ptr::from_ref(&address).cast(),
                libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_nl>())
                    .expect("12 octets"),
            );
            assert!(
                bound == 0,
                "bind to RTMGRP_NEIGH: {}",
                std::io::Error::last_os_error()
            );
            Self(fd)
        }
    }

    /// Whether the first read fails with ENOBUFS: events were dropped.
    fn overrun(&self) -> bool {
        let mut buffer = [0u8; 8192];
        // SAFETY: reads into a buffer of the length passed.
        let read = unsafe {
            libc::recv(
                self.0,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_DONTWAIT,
            )
        };
        read < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS)
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this struct owns.
        unsafe { libc::close(self.0) };
    }
}

#[test]
fn an_overrun_makes_the_resolver_resolve_again() {
    let net = fixture_net();
    let _undo = Undo {
        net,
        commands: vec![vec![
            "-6",
            "route",
            "del",
            "2001:db8:ff::2/128",
            "dev",
            "fxc",
        ]],
    };
    let running = Running::start();
    let witness = Witness::open();
    // The resolver's runtime is not polled from here until `wait_for_mac`: nothing reads its
    // socket. Neighbour events that concern no next hop fill the buffer...
    let mut flood = String::new();
    for i in 0..FLOOD / 2 {
        let address = format!("2001:db8:ff::1:{i:x}");
        let _ = writeln!(
            flood,
            "neigh add {address} lladdr 02:00:00:01:{:02x}:{:02x} dev fxc nud permanent",
            i >> 8,
            i & 0xff
        );
        let _ = writeln!(flood, "neigh del {address} dev fxc");
    }
    ip_batch(net, &flood);
    assert!(
        witness.overrun(),
        "{FLOOD} neighbour events should overrun a netlink socket with the default buffer"
    );
    // ...so the event of this route, which sends R2 through the gateway, is dropped.
    ip(
        net,
        &[
            "-6",
            "route",
            "replace",
            "2001:db8:ff::2/128",
            "via",
            "2001:db8:ff::9",
            "dev",
            "fxc",
        ],
    );
    running.wait_for_mac(MAC_GW, "the gateway's MAC after the overrun");
}
