//! The topology: five network namespaces joined by veth pairs, their names behind a prefix the
//! caller chooses (`anc-` for the demo), so that rigs of the demo and of tests never collide.
//!
//! ```text
//!   PFXcn           PFXr1                 PFXsw (bridge br0)          PFXr2            PFXmn
//!   cn0 --- c --- r1c   r1x ---- 12 ---- sw1   sw2 ---- 12 ---- r2x   r2a --- P2 --- mn2 (down at first)
//!                 r1a ------------------------------- P1 --------------------------- mn1
//! ```
//!
//! `c` = 2001:db8:c::/64, `12` = 2001:db8:12::/64 (the routers' locators, on r1x and r2x), P1 =
//! 2001:db8:1:1::/64 behind r1, P2 = 2001:db8:2:1::/64 behind r2. The mobile node starts on access
//! link 1 with an address from P1; the kernel forwards cn <-> mn on its own until the mobile node
//! moves.
//!
//! The routers meet through a core switch (a Linux bridge without IPv6 of its own) because frames
//! that XDP redirects out of r1x are invisible to a capture on r1x, and to one on r2x when XDP
//! there consumes them: a capture on sw1 sees what is on the wire between the routers.
//!
//! veth needs two settings for XDP: every end computes its checksums itself (`tx off`), because
//! XDP_REDIRECT loses the "checksum left to the receiver" state; and the ends without an XDP
//! program (cn0, mn1, mn2, sw1, sw2) have GRO on, which gives them the NAPI that XDP_REDIRECT
//! into them needs. DAD is off and every address is `nodad`, so that addresses work at once.
//! mn1 and mn2 have the mobile node's MAC, `MN_MAC`, the MN-ID the MAARs know it by.
//!
//! [`Rig::build`] removes what an earlier run with the same prefix left and builds the topology;
//! dropping the [`Rig`] (or [`teardown`]) kills every process in its namespaces and deletes them.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};
use crate::control::MN_MAC;
use crate::daemon::{Daemon, Interface, Router};

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
/// The switch's bridge.
pub const BRIDGE: &str = "br0";

/// A node of the topology: one network namespace, named `PREFIX` + [`Node::suffix`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// The correspondent node.
    Cn,
    /// Router 1, the mobile node's first access router and the anchor of P1.
    R1,
    /// The core switch between the routers.
    Sw,
    /// Router 2, where the mobile node moves.
    R2,
    /// The mobile node.
    Mn,
}

impl Node {
    pub const ALL: [Node; 5] = [Node::Cn, Node::R1, Node::Sw, Node::R2, Node::Mn];

    pub const fn suffix(self) -> &'static str {
        match self {
            Node::Cn => "cn",
            Node::R1 => "r1",
            Node::Sw => "sw",
            Node::R2 => "r2",
            Node::Mn => "mn",
        }
    }
}

/// One end of a veth pair.
struct End {
    node: Node,
    dev: &'static str,
    /// Address with prefix length, if any.
    addr: Option<&'static str>,
    /// Whether the link starts up.
    up: bool,
    /// Ends without a router get GRO (and a pass-only XDP program, see
    /// `Rig::attach_pass_programs`), so that XDP_REDIRECT and XDP_TX into them work (veth needs
    /// NAPI on the receiving side).
    gro: bool,
}

const fn router(node: Node, dev: &'static str, addr: &'static str) -> End {
    End {
        node,
        dev,
        addr: Some(addr),
        up: true,
        gro: false,
    }
}

/// A port of the switch's bridge.
const fn switch_port(dev: &'static str) -> End {
    End {
        node: Node::Sw,
        dev,
        addr: None,
        up: true,
        gro: true,
    }
}

const LINKS: &[(End, End)] = &[
    (
        End {
            node: Node::Cn,
            dev: "cn0",
            addr: Some("2001:db8:c::2/64"),
            up: true,
            gro: true,
        },
        router(Node::R1, "r1c", "2001:db8:c::1/64"),
    ),
    (
        router(Node::R1, "r1x", "2001:db8:12::1/64"),
        switch_port("sw1"),
    ),
    (
        router(Node::R2, "r2x", "2001:db8:12::2/64"),
        switch_port("sw2"),
    ),
    (
        End {
            node: Node::Mn,
            dev: "mn1",
            addr: Some("2001:db8:1:1::100/64"),
            up: true,
            gro: true,
        },
        router(Node::R1, "r1a", "2001:db8:1:1::1/64"),
    ),
    (
        End {
            node: Node::Mn,
            dev: "mn2",
            addr: None,
            up: false,
            gro: true,
        },
        router(Node::R2, "r2a", "2001:db8:2:1::1/64"),
    ),
];

/// Static routes, as `ip -n NS -6 route add ARGS`.
const ROUTES: &[(Node, &[&str])] = &[
    (Node::Cn, &["default", "via", "2001:db8:c::1"]),
    (Node::R1, &["2001:db8:2:1::/64", "via", R2_LOCATOR]),
    (Node::R2, &["default", "via", R1_LOCATOR]),
    (Node::Mn, &["default", "via", P1_GATEWAY]),
];

/// A router's daemon: its node, its locator, its interfaces with their roles.
type RouterSpec = (Node, &'static str, &'static [(&'static str, &'static str)]);

const ROUTERS: [RouterSpec; 2] = [
    (
        Node::R1,
        R1_LOCATOR,
        &[("r1c", "core"), ("r1x", "core"), ("r1a", "access")],
    ),
    (Node::R2, R2_LOCATOR, &[("r2x", "core"), ("r2a", "access")]),
];

/// The built topology. Dropping it tears it down unless [`Rig::keep`] was called.
pub struct Rig {
    prefix: String,
    armed: bool,
}

impl Rig {
    /// Removes leftovers of an earlier run with the same `prefix`, then builds the topology in
    /// namespaces named `PREFIXcn`, `PREFIXr1`, `PREFIXsw`, `PREFIXr2` and `PREFIXmn`.
    pub fn build(prefix: &str) -> Result<Rig> {
        teardown(prefix).context("cannot remove the namespaces of an earlier run")?;
        // From here on a failure tears down what was built.
        let rig = Rig {
            prefix: prefix.to_owned(),
            armed: true,
        };
        rig.create().context("cannot build the rig's topology")?;
        Ok(rig)
    }

    /// Leaves the topology in place when the value is dropped.
    pub fn keep(mut self) {
        self.armed = false;
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The name of a node's network namespace.
    pub fn ns(&self, node: Node) -> String {
        ns_name(&self.prefix, node)
    }

    /// Every namespace of the rig.
    pub fn namespaces(&self) -> Vec<String> {
        Node::ALL.iter().map(|node| self.ns(*node)).collect()
    }

    /// The two routers, configured with their interfaces in `xdp_mode` (`native` or `skb`).
    pub fn routers(&self, xdp_mode: &'static str) -> [Router; 2] {
        ROUTERS.map(|(node, locator, interfaces)| Router {
            name: node.suffix(),
            ns: self.ns(node),
            locator,
            interfaces: interfaces
                .iter()
                .map(|(name, role)| Interface {
                    name,
                    role,
                    xdp_mode,
                    source_validation: false,
                })
                .collect(),
            // The namespace's name: unique on the host, and removed with it by `teardown`.
            instance: self.ns(node),
            max_bindings: None,
            detach_on_exit: false,
            log_format: None,
            metrics_listen: None,
        })
    }

    /// `ip -n NS ARGS` in a node's namespace.
    pub fn ip(&self, node: Node, args: &[&str]) -> Result<()> {
        ip(&self.ns(node), args)
    }

    fn sysctl(&self, node: Node, setting: &str) -> Result<()> {
        cmd::in_netns(&self.ns(node), "sysctl")
            .args(["-qw", setting])
            .run_quiet()?;
        Ok(())
    }

    fn create(&self) -> Result<()> {
        for node in Node::ALL {
            cmd::new("ip")
                .args(["netns", "add", &self.ns(node)])
                .run_quiet()?;
            self.ip(node, &["link", "set", "lo", "up"])?;
            self.sysctl(node, "net.ipv6.conf.all.accept_dad=0")?;
            self.sysctl(node, "net.ipv6.conf.default.accept_dad=0")?;
        }
        for node in [Node::R1, Node::R2] {
            // Also needed by bpf_fib_lookup, which otherwise answers FWD_DISABLED.
            self.sysctl(node, "net.ipv6.conf.all.forwarding=1")?;
        }
        // The switch only bridges: no addresses, router solicitations or MLD of its own in the
        // captures.
        self.sysctl(Node::Sw, "net.ipv6.conf.all.disable_ipv6=1")?;
        self.sysctl(Node::Sw, "net.ipv6.conf.default.disable_ipv6=1")?;
        // Without snooping the bridge floods multicast (ND) to every port whatever MLD said.
        self.ip(
            Node::Sw,
            &[
                "link",
                "add",
                BRIDGE,
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ],
        )?;
        for (a, b) in LINKS {
            // The mobile node's interfaces have its MAC, which is its MN-ID: a MAAR sends the
            // packets it decapsulates for the node's visiting prefixes straight to it.
            let mac: &[&str] = if a.node == Node::Mn {
                &["address", MN_MAC]
            } else {
                &[]
            };
            cmd::new("ip")
                .args(["link", "add", a.dev])
                .args(mac)
                .args([
                    "netns",
                    &self.ns(a.node),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    b.dev,
                    "netns",
                    &self.ns(b.node),
                ])
                .run_quiet()?;
        }
        for end in LINKS.iter().flat_map(|(a, b)| [a, b]) {
            if let Some(addr) = end.addr {
                self.ip(
                    end.node,
                    &["-6", "addr", "add", addr, "dev", end.dev, "nodad"],
                )?;
            }
            if end.node == Node::Sw {
                self.ip(end.node, &["link", "set", end.dev, "master", BRIDGE])?;
            }
            // A frame a veth sends with TX checksum offload leaves its checksum to the receiver;
            // XDP_REDIRECT loses that state and the final receiver sees a bad checksum. Every end
            // finishes its checksums in software.
            let mut features = vec!["-K", end.dev, "tx", "off"];
            if end.gro {
                features.extend(["gro", "on"]);
            }
            cmd::in_netns(&self.ns(end.node), "ethtool")
                .args(&features)
                .run_quiet()?;
        }
        // Up only once every GRO end has GRO: the kernel lets XDP_REDIRECT into a veth (its
        // NDO_XMIT feature) when the veth comes up with GRO requested on its peer, or when the
        // peer's GRO changes while the peer is up. Turning GRO on while the peer is still down
        // after the redirecting end came up leaves redirects into it failing silently.
        for end in LINKS.iter().flat_map(|(a, b)| [a, b]).filter(|end| end.up) {
            self.ip(end.node, &["link", "set", end.dev, "up"])?;
        }
        self.ip(Node::Sw, &["link", "set", BRIDGE, "up"])?;
        self.attach_pass_programs()?;
        for (node, route) in ROUTES {
            self.ip(*node, &[&["-6", "route", "add"], *route].concat())?;
        }
        Ok(())
    }

    /// Gives every veth end without a router (the correspondent's, the switch's ports, the mobile
    /// node's) a native XDP program that passes every frame. A router's XDP_TX out of a port (a
    /// Packet Too Big back to the sender, a hairpin to a peer on the same link) reaches the other
    /// end only when that end has an XDP program: the kernel's `veth_xdp_flush` wakes its
    /// receive processing for nothing else, and GRO alone leaves the frames in the ring until
    /// other traffic comes (seconds, in the redirection scenario's Packet Too Big).
    fn attach_pass_programs(&self) -> Result<()> {
        let program = crate::bpf::load_xdp_returning(crate::bpf::XDP_PASS)
            .context("cannot load the pass-only XDP program for the rig's veth ends")?;
        let pin = std::path::Path::new(crate::daemon::BPFFS).join(format!(
            "anchor-rig-pass-{}",
            self.prefix.trim_end_matches('-')
        ));
        let _ = std::fs::remove_file(&pin);
        crate::bpf::pin(&program, &pin)
            .with_context(|| format!("cannot pin the pass-only program at {}", pin.display()))?;
        let pinned = pin.to_string_lossy().into_owned();
        let result = LINKS
            .iter()
            .flat_map(|(a, b)| [a, b])
            .filter(|end| !matches!(end.node, Node::R1 | Node::R2))
            .try_for_each(|end| {
                cmd::in_netns_only(&self.ns(end.node), "ip")
                    .args(["link", "set", "dev", end.dev, "xdpdrv", "pinned", &pinned])
                    .run_quiet()
                    .map(drop)
            });
        // The attachments hold the program; the pin is not needed any more.
        let _ = std::fs::remove_file(&pin);
        result
    }

    /// The mobile node leaves access link 1 for access link 2, keeping its P1 address as
    /// deprecated (as RFC 8885 router advertisements would make it), and the bindings follow:
    /// `r1` serves P1 through r2, `r2` delivers P1 on r2a and reverse-tunnels its uplink to r1.
    /// Prints what it does.
    pub fn move_mobile_node(&self, r1: &Daemon, r2: &Daemon) -> Result<()> {
        self.move_mobile_node_link(MN_P1_ADDR)?;
        let bindings: [(&Daemon, &[&str]); 2] = [
            (r1, &["binding", "add", P1, "--serving", R2_LOCATOR]),
            (
                r2,
                &[
                    "binding",
                    "add",
                    P1,
                    "--home",
                    R1_LOCATOR,
                    "--dev",
                    "r2a",
                    "--reverse-tunnel",
                ],
            ),
        ];
        for (daemon, args) in bindings {
            println!(
                "  anchor {} --socket {}",
                args.join(" "),
                daemon.socket().display()
            );
            daemon.cli(args)?;
        }
        Ok(())
    }

    /// The mobile node's side of the move: access link 1 down, access link 2 up, `kept` (an
    /// address of a /64 anchored behind r1) kept as deprecated on it, an address from P2, the
    /// default route via r2. No binding changes. Prints what it does.
    pub fn move_mobile_node_link(&self, kept: &str) -> Result<()> {
        let p1_addr = format!("{kept}/64");
        let p2_addr = format!("{MN_P2_ADDR}/64");
        let steps: &[&[&str]] = &[
            &["link", "set", "mn1", "down"],
            &["link", "set", "mn2", "up"],
            &[
                "-6",
                "addr",
                "add",
                &p1_addr,
                "dev",
                "mn2",
                "nodad",
                "preferred_lft",
                "0",
            ],
            &["-6", "addr", "add", &p2_addr, "dev", "mn2", "nodad"],
            &[
                "-6", "route", "replace", "default", "via", P2_GATEWAY, "dev", "mn2",
            ],
        ];
        let mn = self.ns(Node::Mn);
        for step in steps {
            println!("  ip -n {mn} {}", step.join(" "));
            ip(&mn, step)?;
        }
        Ok(())
    }

    /// What `cargo xtask rig up` prints.
    pub fn describe(&self) -> String {
        let [cn, r1, sw, r2, mn] = Node::ALL.map(|node| self.ns(node));
        format!(
            "rig: up: namespaces {}\n\
             rig:   {cn} cn0 {CN_ADDR} -- r1c | r1x {R1_LOCATOR} -- sw1 | {sw} {BRIDGE} | sw2 -- r2x {R2_LOCATOR} | r2a {P2_GATEWAY}/64 -- mn2 (down)\n\
             rig:   {r1} r1a {P1_GATEWAY}/64 -- mn1 {MN_P1_ADDR}/64 ({mn})\n\
             rig:   {r2}: default via {R1_LOCATOR}; capture between the routers with `ip netns exec {sw} tcpdump -ni sw1`\n\
             rig: try `ip netns exec {cn} ping -6 -c 3 {MN_P1_ADDR}`; remove with `cargo xtask rig down`",
            self.namespaces().join(" ")
        )
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if self.armed
            && let Err(err) = teardown(&self.prefix)
        {
            eprintln!("rig: teardown failed: {err:#}");
        }
    }
}

fn ns_name(prefix: &str, node: Node) -> String {
    format!("{prefix}{}", node.suffix())
}

/// `ip -n NS ARGS`.
fn ip(ns: &str, args: &[&str]) -> Result<()> {
    cmd::new("ip").args(["-n", ns]).args(args).run_quiet()?;
    Ok(())
}

/// The names of every network namespace (`ip netns list`).
pub fn netns_list() -> Result<Vec<String>> {
    let listed = cmd::new("ip").args(["netns", "list"]).read_stdout()?;
    // Lines look like "anc-cn (id: 0)" or "anc-cn".
    Ok(listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Kills every process in the namespaces of the rig with `prefix`, removes the pinned state of
/// their daemons (which detaches the programs they left attached) and deletes the namespaces.
/// Does nothing for namespaces that do not exist, and touches no other namespace.
pub fn teardown(prefix: &str) -> Result<()> {
    let ours: Vec<String> = Node::ALL.iter().map(|n| ns_name(prefix, *n)).collect();
    let existing: Vec<String> = netns_list()?
        .into_iter()
        .filter(|name| ours.contains(name))
        .collect();
    if !existing.is_empty() {
        kill_all(&existing, "TERM")?;
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && !pids(&existing)?.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
        kill_all(&existing, "KILL")?;
    }
    // Also when the namespaces are gone already: pins outlive them.
    for ns in &ours {
        remove_pins(ns)?;
    }
    for ns in existing {
        cmd::new("ip").args(["netns", "del", &ns]).run_quiet()?;
    }
    Ok(())
}

/// Tears down the rigs named `STEM[TAG]PID-` (TAG: letters) of processes that are gone (a test
/// that died): their namespaces and their daemons' pinned state, also when only one of them is
/// left.
pub fn remove_stale_rigs(stem: &str) -> Result<()> {
    let mut names = netns_list()?;
    let pins = crate::daemon::pin_dir("");
    if let Ok(entries) = std::fs::read_dir(&pins) {
        names.extend(
            entries
                .filter_map(std::result::Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned()),
        );
    }
    let mut stale: Vec<String> = names
        .iter()
        .filter_map(|name| {
            let (head, _) = name.strip_prefix(stem)?.split_once('-')?;
            let (tag, pid) = head.split_at(head.find(|c: char| c.is_ascii_digit())?);
            let ours = tag.chars().all(|c| c.is_ascii_alphabetic())
                && pid.parse::<u32>().is_ok()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists();
            ours.then(|| format!("{stem}{head}-"))
        })
        .collect();
    stale.sort();
    stale.dedup();
    for prefix in stale {
        teardown(&prefix).with_context(|| format!("cannot remove the stale rig {prefix}"))?;
    }
    Ok(())
}

/// Removes the pinned state of the daemon of instance `instance`, if there is any.
pub fn remove_pins(instance: &str) -> Result<()> {
    let dir = crate::daemon::pin_dir(instance);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot remove {}", dir.display())),
    }
}

fn pids(namespaces: &[String]) -> Result<Vec<String>> {
    let mut pids = Vec::new();
    for ns in namespaces {
        let out = cmd::new("ip").args(["netns", "pids", ns]).read_stdout()?;
        pids.extend(out.split_whitespace().map(str::to_owned));
    }
    Ok(pids)
}

fn kill_all(namespaces: &[String], signal: &str) -> Result<()> {
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
