//! The namespace for the BPF_PROG_TEST_RUN benchmarks: routes and neighbours such that
//! `bpf_fib_lookup` resolves every measured path, as on a router.
//!
//! - `bc` (core, 02:00:00:00:00:c0): 2001:db8:ff::1/64, the locator; peers 2001:db8:ff::2 and
//!   2001:db8:ff::3 and gateway 2001:db8:ff::9 are permanent neighbours; the correspondent's
//!   2001:db8:c::/64 is via the gateway.
//! - `ba` (access, 02:00:00:00:00:a0): the mobile nodes' 2001:db8:8000::/33 is via fe80::64.

use std::net::Ipv6Addr;

use anyhow::Result;

use crate::netns::Netns;

pub const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
/// Serving router of the redirected prefixes.
pub const SERVING: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
/// Home router of the visiting prefixes.
pub const HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 3);
/// A correspondent node, reached through the core.
pub const CORRESPONDENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
pub const CORE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

pub struct TestNet {
    pub ns: Netns,
    pub core: u32,
    pub access: u32,
}

impl TestNet {
    pub fn create() -> Result<Self> {
        let ns = Netns::create("run")?;
        for (dev, mac) in [("bc", "c"), ("ba", "a")] {
            ns.ip(&format!(
                "link add {dev} address 02:00:00:00:00:{mac}0 type veth \
                 peer name {dev}-p address 02:00:00:00:00:{mac}1"
            ))?;
            ns.ip(&format!("link set {dev} up"))?;
            ns.ip(&format!("link set {dev}-p up"))?;
        }
        for cmd in [
            "addr add 2001:db8:ff::1/64 dev bc nodad",
            "addr add 2001:db8:aa::1/64 dev ba nodad",
            "neigh replace 2001:db8:ff::2 lladdr 02:00:00:00:00:02 dev bc nud permanent",
            "neigh replace 2001:db8:ff::3 lladdr 02:00:00:00:00:03 dev bc nud permanent",
            "neigh replace 2001:db8:ff::9 lladdr 02:00:00:00:00:09 dev bc nud permanent",
            "neigh replace fe80::64 lladdr 02:00:00:00:00:64 dev ba nud permanent",
            "route add 2001:db8:c::/64 via 2001:db8:ff::9 dev bc",
            "route add 2001:db8:8000::/33 via fe80::64 dev ba",
        ] {
            ns.ip(cmd)?;
        }
        let core = ns.ifindex("bc")?;
        let access = ns.ifindex("ba")?;
        Ok(Self { ns, core, access })
    }
}
