//! The two-veth namespace of the BPF_PROG_TEST_RUN fixtures and benchmarks: `bpf_fib_lookup`
//! there sees routes and neighbours that the caller controls rather than the host's, so every
//! forwarding path resolves as on a router.
//!
//! Layout (documentation prefixes, inside the namespace only):
//! - `fxc` (core, MAC 02:00:00:00:00:c0): 2001:db8:ff::1/64, the locator; 2001:db8:ff::2,
//!   2001:db8:ff::3 and the gateway 2001:db8:ff::9 are permanent neighbours with MACs
//!   02:..:02, 02:..:03 and 02:..:09; the correspondents' 2001:db8:c::/64 is via the gateway.
//! - `fxa` (access, MAC 02:00:00:00:00:a0): 2001:db8:aa::1/64; a mobile node with MAC 02:..:64
//!   is a permanent neighbour as 2001:db8:3:3::100 (2001:db8:3:3::/64 is on-link) and as
//!   fe80::64, the next hop of the mobile nodes' 2001:db8:8000::/33.
//!
//! The other end of each veth pair (`fxc-p`, `fxa-p`) is up in the same namespace.

use std::{net::Ipv6Addr, sync::OnceLock};

use anyhow::{Result, anyhow};

use crate::netns::Netns;

/// The core interface's name and MAC.
pub const CORE_DEV: &str = "fxc";
pub const CORE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
/// The access interface's name and MAC.
pub const ACCESS_DEV: &str = "fxa";
pub const ACCESS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
/// The address on the core link: the locator of a router in the namespace.
pub const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);

/// The namespace and the indexes of its two interfaces. Dropping it deletes the namespace.
#[derive(Debug)]
pub struct FixtureNet {
    pub ns: Netns,
    pub core_ifindex: u32,
    pub access_ifindex: u32,
}

impl FixtureNet {
    /// Creates the namespace `STEM<pid>-fx` (see [`Netns::create`]).
    pub fn create(stem: &str) -> Result<Self> {
        let ns = Netns::create(stem, "fx")?;
        for (dev, mac) in [(CORE_DEV, "c"), (ACCESS_DEV, "a")] {
            ns.ip(&format!(
                "link add {dev} address 02:00:00:00:00:{mac}0 type veth \
                 peer name {dev}-p address 02:00:00:00:00:{mac}1"
            ))?;
            ns.ip(&format!("link set {dev} up"))?;
            ns.ip(&format!("link set {dev}-p up"))?;
        }
        for cmd in [
            "addr add 2001:db8:ff::1/64 dev fxc nodad",
            "addr add 2001:db8:aa::1/64 dev fxa nodad",
            "route add 2001:db8:3:3::/64 dev fxa",
            "neigh replace 2001:db8:ff::2 lladdr 02:00:00:00:00:02 dev fxc nud permanent",
            "neigh replace 2001:db8:ff::3 lladdr 02:00:00:00:00:03 dev fxc nud permanent",
            "neigh replace 2001:db8:ff::9 lladdr 02:00:00:00:00:09 dev fxc nud permanent",
            "neigh replace 2001:db8:3:3::100 lladdr 02:00:00:00:00:64 dev fxa nud permanent",
            "neigh replace fe80::64 lladdr 02:00:00:00:00:64 dev fxa nud permanent",
            "route add 2001:db8:c::/64 via 2001:db8:ff::9 dev fxc",
            "route add 2001:db8:8000::/33 via fe80::64 dev fxa",
        ] {
            ns.ip(cmd)?;
        }
        let core_ifindex = ns.ifindex(CORE_DEV)?;
        let access_ifindex = ns.ifindex(ACCESS_DEV)?;
        Ok(Self {
            ns,
            core_ifindex,
            access_ifindex,
        })
    }

    /// The namespace's name, for `ip -n`.
    pub fn name(&self) -> &str {
        self.ns.name()
    }

    /// One namespace `STEM<pid>-fx` for the whole process, made on first use: for tests that
    /// share it (the test harness runs them on threads of their own, each entering it). It lives
    /// in a static, which is never dropped, so it is deleted when the process exits. The stem
    /// and the outcome of the first use hold for every later one.
    pub fn shared(stem: &str) -> Result<&'static Self> {
        SHARED
            .get_or_init(|| {
                let net = Self::create(stem).map_err(|e| format!("{e:#}"))?;
                // SAFETY: registers a plain extern "C" function without captured state.
                if unsafe { libc::atexit(delete_shared) } != 0 {
                    return Err("cannot register the namespace's removal at exit".to_owned());
                }
                Ok(net)
            })
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
    }
}

static SHARED: OnceLock<Result<FixtureNet, String>> = OnceLock::new();

extern "C" fn delete_shared() {
    if let Some(Ok(net)) = SHARED.get()
        && let Err(error) = net.ns.delete()
    {
        eprintln!("rig: cannot remove namespace {}: {error:#}", net.name());
    }
}
