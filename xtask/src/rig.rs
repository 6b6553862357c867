//! The demo topology: four network namespaces joined by veth pairs.
//!
//! ```text
//!   anc-cn            anc-r1                    anc-r2            anc-mn
//!   cn0 ---- c ---- r1c     r1x ---- 12 ---- r2x     r2a ---- P2 ---- mn2 (down at first)
//!                   r1a ---------------------- P1 ------------------- mn1
//! ```
//!
//! `c` = 2001:db8:c::/64, `12` = 2001:db8:12::/64 (the routers' locators), P1 = 2001:db8:1:1::/64
//! behind r1, P2 = 2001:db8:2:1::/64 behind r2. The mobile node starts on access link 1 with an
//! address from P1; the kernel forwards cn <-> mn on its own until the mobile node moves.
//!
//! veth needs two settings for XDP: every end computes its checksums itself (`tx off`), because
//! XDP_REDIRECT loses the "checksum left to the receiver" state; and the ends without an XDP
//! program (cn0, mn1, mn2) have GRO on, which gives them the NAPI that XDP_REDIRECT and XDP_TX
//! into them need. DAD is off and every address is `nodad`, so that addresses work at once.
//!
//! [`Rig::build`] removes what an earlier run left and builds the topology; dropping the [`Rig`]
//! (or [`teardown`]) kills every process in its namespaces and deletes them.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};

pub const CN: &str = "anc-cn";
pub const R1: &str = "anc-r1";
pub const R2: &str = "anc-r2";
pub const MN: &str = "anc-mn";
pub const NAMESPACES: &[&str] = &[CN, R1, R2, MN];

/// The correspondent node's address.
pub const CN_ADDR: &str = "2001:db8:c::2";
/// Router 1's locator (its address on the inter-router link).
pub const R1_LOCATOR: &str = "2001:db8:12::1";
/// Router 2's locator.
pub const R2_LOCATOR: &str = "2001:db8:12::2";
/// The prefix of access link 1, anchored at router 1.
pub const P1: &str = "2001:db8:1:1::/64";
/// Router 1's address on access link 1.
pub const P1_GATEWAY: &str = "2001:db8:1:1::1";
/// Router 2's address on access link 2.
pub const P2_GATEWAY: &str = "2001:db8:2:1::1";
/// The mobile node's address from P1: the address its sessions use.
pub const MN_P1_ADDR: &str = "2001:db8:1:1::100";
/// The mobile node's address from P2, once it is on access link 2.
pub const MN_P2_ADDR: &str = "2001:db8:2:1::100";

/// One end of a veth pair.
struct End {
    ns: &'static str,
    dev: &'static str,
    /// Address with prefix length, if any.
    addr: Option<&'static str>,
    /// Whether the link starts up.
    up: bool,
    /// Ends without an XDP program get GRO, so that XDP_REDIRECT into their peer works (veth needs
    /// NAPI on the receiving side).
    gro: bool,
}

const fn router(ns: &'static str, dev: &'static str, addr: &'static str) -> End {
    End {
        ns,
        dev,
        addr: Some(addr),
        up: true,
        gro: false,
    }
}

const LINKS: &[(End, End)] = &[
    (
        End {
            ns: CN,
            dev: "cn0",
            addr: Some("2001:db8:c::2/64"),
            up: true,
            gro: true,
        },
        router(R1, "r1c", "2001:db8:c::1/64"),
    ),
    (
        router(R1, "r1x", "2001:db8:12::1/64"),
        router(R2, "r2x", "2001:db8:12::2/64"),
    ),
    (
        End {
            ns: MN,
            dev: "mn1",
            addr: Some("2001:db8:1:1::100/64"),
            up: true,
            gro: true,
        },
        router(R1, "r1a", "2001:db8:1:1::1/64"),
    ),
    (
        End {
            ns: MN,
            dev: "mn2",
            addr: None,
            up: false,
            gro: true,
        },
        router(R2, "r2a", "2001:db8:2:1::1/64"),
    ),
];

/// Static routes, as `ip -n NS -6 route add ARGS`.
const ROUTES: &[(&str, &[&str])] = &[
    (CN, &["default", "via", "2001:db8:c::1"]),
    (R1, &["2001:db8:2:1::/64", "via", R2_LOCATOR]),
    (R2, &["default", "via", R1_LOCATOR]),
    (MN, &["default", "via", P1_GATEWAY]),
];

/// The built topology. Dropping it tears it down unless [`Rig::keep`] was called.
pub struct Rig {
    armed: bool,
}

impl Rig {
    /// Removes leftovers of an earlier run, then builds the topology.
    pub fn build() -> Result<Rig> {
        teardown().context("cannot remove the namespaces of an earlier run")?;
        // From here on a failure tears down what was built.
        let rig = Rig { armed: true };
        create().context("cannot build the demo topology")?;
        Ok(rig)
    }

    /// Leaves the topology in place when the value is dropped.
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if self.armed
            && let Err(err) = teardown()
        {
            eprintln!("rig: teardown failed: {err:#}");
        }
    }
}

/// `ip -n NS ARGS`.
fn ip(ns: &str, args: &[&str]) -> Result<()> {
    cmd::new("ip").args(["-n", ns]).args(args).run_quiet()?;
    Ok(())
}

fn sysctl(ns: &str, setting: &str) -> Result<()> {
    cmd::in_netns(ns, "sysctl")
        .args(["-qw", setting])
        .run_quiet()?;
    Ok(())
}

fn create() -> Result<()> {
    for ns in NAMESPACES {
        cmd::new("ip").args(["netns", "add", ns]).run_quiet()?;
        ip(ns, &["link", "set", "lo", "up"])?;
        sysctl(ns, "net.ipv6.conf.all.accept_dad=0")?;
        sysctl(ns, "net.ipv6.conf.default.accept_dad=0")?;
    }
    for ns in [R1, R2] {
        // Also needed by bpf_fib_lookup, which otherwise answers FWD_DISABLED.
        sysctl(ns, "net.ipv6.conf.all.forwarding=1")?;
    }
    for (a, b) in LINKS {
        cmd::new("ip")
            .args([
                "link", "add", a.dev, "netns", a.ns, "type", "veth", "peer", "name", b.dev,
                "netns", b.ns,
            ])
            .run_quiet()?;
    }
    for end in LINKS.iter().flat_map(|(a, b)| [a, b]) {
        if let Some(addr) = end.addr {
            ip(
                end.ns,
                &["-6", "addr", "add", addr, "dev", end.dev, "nodad"],
            )?;
        }
        // A frame a veth sends with TX checksum offload leaves its checksum to the receiver;
        // XDP_REDIRECT loses that state and the final receiver sees a bad checksum. Every end
        // finishes its checksums in software.
        let mut features = vec!["-K", end.dev, "tx", "off"];
        if end.gro {
            features.extend(["gro", "on"]);
        }
        cmd::in_netns(end.ns, "ethtool")
            .args(&features)
            .run_quiet()?;
        if end.up {
            ip(end.ns, &["link", "set", end.dev, "up"])?;
        }
    }
    for (ns, route) in ROUTES {
        ip(ns, &[&["-6", "route", "add"], *route].concat())?;
    }
    Ok(())
}

/// Kills every process in the rig's namespaces and deletes them. Does nothing for namespaces that
/// do not exist.
pub fn teardown() -> Result<()> {
    let listed = cmd::new("ip").args(["netns", "list"]).read_stdout()?;
    // Lines look like "anc-cn (id: 0)" or "anc-cn".
    let existing: Vec<&str> = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| NAMESPACES.contains(name))
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    kill_all(&existing, "TERM")?;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !pids(&existing)?.is_empty() {
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_all(&existing, "KILL")?;
    for ns in existing {
        cmd::new("ip").args(["netns", "del", ns]).run_quiet()?;
    }
    Ok(())
}

fn pids(namespaces: &[&str]) -> Result<Vec<String>> {
    let mut pids = Vec::new();
    for ns in namespaces {
        let out = cmd::new("ip").args(["netns", "pids", ns]).read_stdout()?;
        pids.extend(out.split_whitespace().map(str::to_owned));
    }
    Ok(pids)
}

fn kill_all(namespaces: &[&str], signal: &str) -> Result<()> {
    let pids = pids(namespaces)?;
    if !pids.is_empty() {
        // A process may exit between listing and killing: ignore kill's status.
        let _ = cmd::new("kill")
            .arg(format!("-{signal}"))
            .args(&pids)
            .output();
    }
    Ok(())
}

/// What `cargo xtask rig up` prints.
pub fn describe() -> String {
    format!(
        "rig: up: namespaces {}\n\
         rig:   {CN} cn0 {CN_ADDR} -- r1c | r1x {R1_LOCATOR} -- r2x {R2_LOCATOR} | r2a {P2_GATEWAY}/64 -- mn2 (down)\n\
         rig:   {R1} r1a {P1_GATEWAY}/64 -- mn1 {MN_P1_ADDR}/64 ({MN})\n\
         rig: try `ip netns exec {CN} ping -6 -c 3 {MN_P1_ADDR}`; remove with `cargo xtask rig down`",
        NAMESPACES.join(" ")
    )
}
