//! Building a [`Plan`] with `ip`, `sysctl` and `ethtool`, and removing it again.
//!
//! The veth settings are those of the fixed rig ([`crate::topology`]): every end computes its
//! checksums itself (`tx off`), every end without an access router's XDP gets GRO and a
//! pass-only XDP program, and the links come up only once every GRO end has GRO. DAD is off in
//! every namespace.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};
use crate::grown::plan::{Plan, Role};

/// The interface index of the first veth end; the devices a namespace numbers itself (its
/// loopback, bridges) stay below it.
const FIRST_INDEX: usize = 100;

/// Creates the namespaces `PREFIX` + node of `plan` and everything in them. The caller removes
/// what was built when this fails ([`teardown`]).
pub fn create(prefix: &str, plan: &Plan) -> Result<()> {
    let ns = |node: &str| format!("{prefix}{node}");
    for node in &plan.nodes {
        let name = ns(&node.name);
        cmd::new("ip").args(["netns", "add", &name]).run_quiet()?;
        ip(&name, &["link", "set", "lo", "up"])?;
        let mut settings = vec![
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ];
        match node.role {
            // Also needed by bpf_fib_lookup, which otherwise answers FWD_DISABLED.
            Role::Router | Role::AccessRouter | Role::NearAnchor => {
                settings.push("net.ipv6.conf.all.forwarding=1");
            }
            Role::MobileNode => settings.extend([
                "net.ipv6.conf.all.forwarding=0",
                "net.ipv6.conf.all.accept_ra=1",
                "net.ipv6.conf.default.accept_ra=1",
                "net.ipv6.conf.default.autoconf=1",
            ]),
            // Frames only: no address, solicitation or advertisement of its own.
            Role::Switch => settings.extend([
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]),
            Role::Host => {}
        }
        sysctl(&name, &settings)?;
    }
    create_bridges(prefix, plan)?;
    for (k, (a, b)) in plan.links.iter().enumerate() {
        // Interface indices of their own, unique across the rig: the two ends of a veth never
        // share one. A kernel handles a veth end's carrier change at once because its index
        // differs from its peer's (the link watch takes it for a stacked device); with equal
        // indices, which namespaces of their own hand out, the change waits for the link watch's
        // next slot, up to a second after the last one, and a moving node would configure its
        // new link that much later.
        let (a_index, b_index) = (FIRST_INDEX + 2 * k, FIRST_INDEX + 2 * k + 1);
        let (a_index, b_index) = (a_index.to_string(), b_index.to_string());
        let mut add = cmd::new("ip");
        add.args(["link", "add", &a.dev, "index", &a_index]);
        if let Some(mac) = a.mac {
            add.args(["address", &mac.to_string()]);
        }
        add.args([
            "netns",
            &ns(&a.node),
            "type",
            "veth",
            "peer",
            "name",
            &b.dev,
            "index",
            &b_index,
        ]);
        if let Some(mac) = b.mac {
            add.args(["address", &mac.to_string()]);
        }
        add.args(["netns", &ns(&b.node)]).run_quiet()?;
    }
    for end in plan.ends() {
        let name = ns(&end.node);
        if let Some(addr) = end.addr {
            let addr = format!("{addr}/64");
            ip(
                &name,
                &["-6", "addr", "add", &addr, "dev", &end.dev, "nodad"],
            )?;
        }
        if plan.role(&end.node) == Some(Role::Switch) {
            let off = format!("net.ipv6.conf.{}.disable_ipv6=1", end.dev);
            sysctl(&name, &[&off])?;
        }
        if plan.role(&end.node) == Some(Role::MobileNode) {
            // A SLAAC host on every link (set per device: a veth moved into the namespace does
            // not take its defaults).
            let accept_ra = format!("net.ipv6.conf.{}.accept_ra=1", end.dev);
            let autoconf = format!("net.ipv6.conf.{}.autoconf=1", end.dev);
            sysctl(&name, &[&accept_ra, &autoconf])?;
        }
        // XDP_REDIRECT loses the "checksum left to the receiver" state of veth's TX offload.
        let mut features = vec!["-K", &end.dev, "tx", "off"];
        if !end.xdp_router {
            features.extend(["gro", "on"]);
        }
        cmd::in_netns(&name, "ethtool")
            .args(&features)
            .run_quiet()?;
    }
    for end in plan.ends() {
        if let Some(bridge) = &end.master {
            ip(&ns(&end.node), &["link", "set", &end.dev, "master", bridge])?;
        }
    }
    // Up only once every GRO end has GRO (see `crate::topology`).
    for end in plan.ends().filter(|end| end.up) {
        ip(&ns(&end.node), &["link", "set", &end.dev, "up"])?;
    }
    attach_pass_programs(prefix, plan)?;
    for (node, addr) in &plan.loopback {
        let addr = format!("{addr}/128");
        ip(
            &ns(node),
            &["-6", "addr", "add", &addr, "dev", "lo", "nodad"],
        )?;
    }
    for route in &plan.routes {
        let mut args = vec!["-6", "route", "add"];
        args.extend(route.args.iter().map(String::as_str));
        ip(&ns(&route.node), &args)?;
    }
    Ok(())
}

/// The bridges of `plan`: they forward at once (no STP) and flood multicast (no snooping), as an
/// access point's radio does.
fn create_bridges(prefix: &str, plan: &Plan) -> Result<()> {
    for (node, bridge) in &plan.bridges {
        let name = format!("{prefix}{node}");
        ip(
            &name,
            &[
                "link",
                "add",
                bridge,
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ],
        )?;
        ip(&name, &["link", "set", bridge, "up"])?;
    }
    Ok(())
}

/// A pass-only native XDP program on every end without an access router's daemon: a router's
/// XDP_TX or XDP_REDIRECT into a veth reaches the other end at once only when that end has an
/// XDP program (see `Rig::attach_pass_programs` in [`crate::topology`]).
fn attach_pass_programs(prefix: &str, plan: &Plan) -> Result<()> {
    let program = crate::bpf::load_xdp_returning(crate::bpf::XDP_PASS)
        .context("cannot load the pass-only XDP program for the veth ends")?;
    let pin = pass_pin(prefix);
    let _ = std::fs::remove_file(&pin);
    crate::bpf::pin(&program, &pin)
        .with_context(|| format!("cannot pin the pass-only program at {}", pin.display()))?;
    let pinned = pin.to_string_lossy().into_owned();
    let result = plan
        .ends()
        .filter(|end| !end.xdp_router)
        .try_for_each(|end| {
            cmd::in_netns_only(&format!("{prefix}{}", end.node), "ip")
                .args(["link", "set", "dev", &end.dev, "xdpdrv", "pinned", &pinned])
                .run_quiet()
                .map(drop)
        });
    // The attachments hold the program.
    let _ = std::fs::remove_file(&pin);
    result
}

fn pass_pin(prefix: &str) -> std::path::PathBuf {
    std::path::Path::new(crate::daemon::BPFFS).join(format!(
        "anchor-rig-grown-pass-{}",
        prefix.trim_end_matches('-')
    ))
}

/// Kills every process in `namespaces`, removes their daemons' pinned state (the instances are
/// named after the namespaces), the pass program's pin, and deletes the namespaces. Touches
/// nothing else; does nothing for what does not exist.
pub fn teardown(prefix: &str, namespaces: &[String]) -> Result<()> {
    let existing: Vec<String> = crate::topology::netns_list()?
        .into_iter()
        .filter(|name| namespaces.contains(name))
        .collect();
    if !existing.is_empty() {
        kill_all(&existing, "TERM")?;
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && !pids(&existing)?.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
        kill_all(&existing, "KILL")?;
    }
    // Also when the namespaces are gone: pins outlive them.
    for ns in namespaces {
        crate::topology::remove_pins(ns)?;
    }
    let _ = std::fs::remove_file(pass_pin(prefix));
    for ns in existing {
        cmd::new("ip").args(["netns", "del", &ns]).run_quiet()?;
    }
    Ok(())
}

/// The processes in the namespaces.
pub fn pids(namespaces: &[String]) -> Result<Vec<u32>> {
    let mut pids: Vec<u32> = Vec::new();
    for ns in namespaces {
        let out = cmd::new("ip").args(["netns", "pids", ns]).read_stdout()?;
        pids.extend(
            out.split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok()),
        );
    }
    Ok(pids)
}

fn kill_all(namespaces: &[String], signal: &str) -> Result<()> {
    let pids = pids(namespaces)?;
    if !pids.is_empty() {
        // A process may exit between listing and killing: ignore kill's status.
        let _ = cmd::new("kill")
            .arg(format!("-{signal}"))
            .args(pids.iter().map(u32::to_string))
            .output();
    }
    Ok(())
}

/// `ip -n NS ARGS`.
pub fn ip(ns: &str, args: &[&str]) -> Result<()> {
    cmd::new("ip").args(["-n", ns]).args(args).run_quiet()?;
    Ok(())
}

/// `sysctl -qw SETTING` in `ns`, for each setting.
fn sysctl(ns: &str, settings: &[&str]) -> Result<()> {
    for setting in settings {
        cmd::in_netns(ns, "sysctl")
            .args(["-qw", setting])
            .run_quiet()?;
    }
    Ok(())
}
