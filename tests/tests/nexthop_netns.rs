//! The daemon's next-hop cache on the rig (privileged): router 1 redirects the mobile node's old
//! prefix to router 2, and its `NEXTHOPS` entry for router 2 follows the kernel.
//!
//! - once the kernel has resolved router 2's locator (the first packets take the FIB lookup and
//!   the kernel's neighbour discovery), the entry holds r2x's MAC and r1x's, and packets are
//!   sent with it (`nexthop_cached`) and arrive;
//! - after r2x gets a new MAC and r1 forgets the old neighbour entry, the entry goes invalid,
//!   then follows the new MAC once the kernel has resolved it again, and traffic still arrives;
//! - after the route to router 2 is removed, the entry is invalid and encapsulated packets go to
//!   the kernel (`kernel_fallback`), not out with the cached MACs.
//!
//! The entry is read from the daemon's pinned map, its peer index from the pinned `PEERS`.
//! Needs root, the `anchor` binary (`cargo build`), ip, ethtool and ping.

use std::{
    net::Ipv6Addr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anchor_common::{
    NextHop, PeerAddr,
    maps::{NEXTHOPS, PEERS},
};
use anchor_rig::{
    Daemon, Node, Rig, WorkDir, cmd,
    daemon::pin_dir,
    topology::{MN_P1_ADDR, R2_LOCATOR},
};
use anchor_tests::support::{
    anchor_binary, global_counter, ip_stdout, ping_from_cn, remove_stale_rigs, require_tools,
};
use aya::maps::{Array, Map, MapData};

/// How long the cache may take to follow the kernel (it follows within milliseconds; the
/// deadline only bounds a failing test).
const DEADLINE: Duration = Duration::from_secs(30);
const NEW_R2X_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x12, 0x99];

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn open_array<V: aya::Pod>(path: &Path) -> Array<MapData, V> {
    let data = MapData::from_pin(path)
        .unwrap_or_else(|e| panic!("cannot open the pinned map {}: {e}", path.display()));
    Array::try_from(Map::Array(data))
        .unwrap_or_else(|e| panic!("{} is not the expected array: {e}", path.display()))
}

/// Router 1's pinned maps.
struct Pinned {
    maps: PathBuf,
}

impl Pinned {
    /// The `PEERS` index holding `peer`.
    fn peer_index(&self, peer: Ipv6Addr) -> u32 {
        let peers: Array<MapData, PeerAddr> = open_array(&self.maps.join(PEERS));
        let want = PeerAddr {
            octets: peer.octets(),
        };
        (0..64)
            .find(|&i| peers.get(&i, 0).is_ok_and(|v| v == want))
            .unwrap_or_else(|| panic!("peer {peer} is not among the first 64 PEERS entries"))
    }

    fn next_hop(&self, index: u32) -> NextHop {
        let hops: Array<MapData, NextHop> = open_array(&self.maps.join(NEXTHOPS));
        hops.get(&index, 0)
            .unwrap_or_else(|e| panic!("cannot read {NEXTHOPS}[{index}]: {e}"))
    }

    /// Waits until the entry satisfies `want`, sending a ping toward the mobile node's old
    /// address before each look when `ping` (the kernel resolves neighbours on demand).
    fn wait_for(
        &self,
        rig: &Rig,
        index: u32,
        what: &str,
        ping: bool,
        want: impl Fn(&NextHop) -> bool,
    ) -> NextHop {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if ping {
                let _ = cmd::in_netns(&rig.ns(Node::Cn), "ping")
                    .args(["-6", "-c", "1", "-W", "1", MN_P1_ADDR])
                    .output();
            }
            let entry = self.next_hop(index);
            if want(&entry) {
                return entry;
            }
            assert!(
                Instant::now() < deadline,
                "{NEXTHOPS}[{index}] of r1 should become {what} within {DEADLINE:?}; it is \
                 {entry:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The MAC address of `dev` in `node`.
fn mac_of(rig: &Rig, node: Node, dev: &str) -> [u8; 6] {
    let out = ip_stdout(rig, node, &["-j", "link", "show", "dev", dev]);
    let links: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`ip -j link show dev {dev}` printed no JSON ({e}): {out}"));
    let text = links[0]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("{dev} has no address: {out}"));
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("{text}: {e}")))
        .collect();
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("{dev}'s address {text} is not a MAC"))
}

fn ifindex_of(rig: &Rig, node: Node, dev: &str) -> u32 {
    let out = ip_stdout(rig, node, &["-j", "link", "show", "dev", dev]);
    let links: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`ip -j link show dev {dev}` printed no JSON ({e}): {out}"));
    links[0]["ifindex"]
        .as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or_else(|| panic!("{dev} has no ifindex: {out}"))
}

#[test]
fn the_cache_follows_the_neighbour_and_the_route() {
    let anchor = anchor_binary();
    require_tools(&[&["ip", "-V"], &["ethtool", "--version"], &["ping", "-V"]]);
    remove_stale_rigs("anc-nh");
    let dir = WorkDir::create("anchor-nexthop-netns").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = Rig::build(&format!("anc-nh{}-", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));
    let routers = rig.routers("native");
    let pinned = Pinned {
        maps: pin_dir(&routers[0].instance).join("maps"),
    };
    let [r1, r2] = routers.map(|router| {
        Daemon::start(&anchor, dir.path(), &router)
            .unwrap_or_else(|e| panic!("cannot start {}: {e:#}", router.name))
    });
    rig.move_mobile_node(&r1, &r2)
        .unwrap_or_else(|e| panic!("cannot move the mobile node: {e:#}"));
    let r2_locator: Ipv6Addr = R2_LOCATOR.parse().expect("locator");
    let index = pinned.peer_index(r2_locator);
    let r1x = ifindex_of(&rig, Node::R1, "r1x");
    let r1x_mac = mac_of(&rig, Node::R1, "r1x");

    // 1. Filled once the kernel knows router 2's MAC; packets then use the entry.
    let r2x_mac = mac_of(&rig, Node::R2, "r2x");
    let entry = pinned.wait_for(&rig, index, "valid", true, NextHop::is_valid);
    assert_eq!(
        (entry.dmac, entry.smac, entry.ifindex),
        (r2x_mac, r1x_mac, r1x),
        "the entry should send out of r1x from its MAC to r2x's: {entry:?}"
    );
    assert_eq!(entry.mtu, 1500, "r1x's MTU: {entry:?}");
    let cached = global_counter(&r1, "nexthop_cached");
    ping_from_cn(&rig, MN_P1_ADDR, "with the cached next hop");
    assert!(
        global_counter(&r1, "nexthop_cached") > cached,
        "r1 should have sent the echo request with the cached next hop"
    );

    // 2. r2x changes its MAC; r1 forgets the old neighbour entry and resolves it again.
    rig.ip(
        Node::R2,
        &[
            "link",
            "set",
            "dev",
            "r2x",
            "address",
            &mac_text(NEW_R2X_MAC),
        ],
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    rig.ip(Node::R1, &["-6", "neigh", "del", R2_LOCATOR, "dev", "r1x"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    pinned.wait_for(&rig, index, "invalid or r2x's new MAC", false, |e| {
        !e.is_valid() || e.dmac == NEW_R2X_MAC
    });
    let entry = pinned.wait_for(&rig, index, "r2x's new MAC", true, |e| {
        e.is_valid() && e.dmac == NEW_R2X_MAC
    });
    assert_eq!((entry.smac, entry.ifindex), (r1x_mac, r1x), "{entry:?}");
    let cached = global_counter(&r1, "nexthop_cached");
    ping_from_cn(&rig, MN_P1_ADDR, "after r2x's MAC changed");
    assert!(
        global_counter(&r1, "nexthop_cached") > cached,
        "r1 should send with the new cached next hop"
    );

    // 3. No route to router 2 any more: the entry goes invalid and the program hands the
    //    encapsulated packets to the kernel.
    rig.ip(
        Node::R1,
        &["-6", "route", "del", "2001:db8:12::/64", "dev", "r1x"],
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    pinned.wait_for(&rig, index, "invalid", false, |e| !e.is_valid());
    let (cached, fallback) = (
        global_counter(&r1, "nexthop_cached"),
        global_counter(&r1, "kernel_fallback"),
    );
    let _ = cmd::in_netns(&rig.ns(Node::Cn), "ping")
        .args(["-6", "-c", "2", "-W", "1", MN_P1_ADDR])
        .output();
    assert!(
        global_counter(&r1, "kernel_fallback") >= fallback + 2,
        "without a route to router 2, r1 should hand the encapsulated echo requests to the kernel"
    );
    assert_eq!(
        global_counter(&r1, "nexthop_cached"),
        cached,
        "no packet may use the invalid entry"
    );

    for daemon in [r1, r2] {
        let name = daemon.name();
        let status = daemon
            .stop()
            .unwrap_or_else(|e| panic!("router {name} did not stop: {e:#}"));
        assert!(status.success(), "router {name} exited with {status}");
    }
}
