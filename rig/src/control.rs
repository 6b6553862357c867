//! The control plane on the rig: the CMD (`anchor cmd`) in the correspondent's namespace (which
//! reaches both routers' locators), the two routers as MAARs (`anchor run` with a `[maar]`
//! section, insecure signaling), and the mobile node as a plain Linux host using kernel SLAAC,
//! with one MAC on both of its interfaces (one node moving), so that its MN-ID and its
//! interface identifier stay the same across the move. Nobody types a binding: the node's
//! Router Solicitations attach it.

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::{
    Daemon, Proc, Rig,
    cmd::{self, Run as _},
    topology::{CN_ADDR, Node, R1_LOCATOR, R2_LOCATOR},
};

/// The mobile node's MAC on mn1 and mn2.
pub const MN_MAC: &str = "02:00:00:00:00:0a";
/// Router 1's and router 2's pools.
pub const POOL1: &str = "2001:db8:a1::/48";
pub const POOL2: &str = "2001:db8:a2::/48";
/// The first /64 of each pool: what the node gets at each router.
pub const P1: &str = "2001:db8:a1::/64";
pub const P2: &str = "2001:db8:a2::/64";
/// The node's SLAAC addresses from [`MN_MAC`] (modified EUI-64).
pub const MN_P1_SLAAC: &str = "2001:db8:a1::ff:fe00:a";
pub const MN_P2_SLAAC: &str = "2001:db8:a2::ff:fe00:a";
/// The routers' Router Advertisement interval.
pub const RA_INTERVAL_S: u64 = 2;

/// The mobility policy of both routers' pools (RFC 8818 section 4), as the MAARs' `[[maar.pool]]`
/// and the CMD's `[[maar]]` entries name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolPolicy {
    /// Released on a move (the nomadic case).
    Nonpersistent,
    /// Redirected while used (traffic redirection).
    SessionLasting,
}

impl PoolPolicy {
    fn name(self) -> &'static str {
        match self {
            PoolPolicy::Nonpersistent => "nonpersistent",
            PoolPolicy::SessionLasting => "session-lasting",
        }
    }

    /// The CMD's extra key for a MAAR's `pool` under this policy.
    fn cmd_key(self, pool: &str) -> String {
        match self {
            PoolPolicy::Nonpersistent => format!("nonpersistent = [\"{pool}\"]\n"),
            PoolPolicy::SessionLasting => String::new(),
        }
    }
}

/// The `[maar]` section of a router with a session-lasting `pool`, its state (`maar.json`) in
/// `state_dir` (not the default under /var/lib/anchor, which a later rig with the same instance
/// names would take back).
pub fn maar_section(pool: &str, state_dir: &Path) -> String {
    maar_section_with(pool, state_dir, PoolPolicy::SessionLasting, "")
}

/// [`maar_section`] with the pool's `policy` and `pool_extra` keys (`idle_release_s = 2`).
pub fn maar_section_with(
    pool: &str,
    state_dir: &Path,
    policy: PoolPolicy,
    pool_extra: &str,
) -> String {
    format!(
        "\n[maar]\ncmd = \"{CN_ADDR}\"\ninsecure_signaling = true\nra_interval_s = {RA_INTERVAL_S}\n\
         state_dir = \"{}\"\n\
         [[maar.pool]]\nprefix = \"{pool}\"\npolicy = \"{}\"\n{pool_extra}",
        state_dir.display(),
        policy.name()
    )
}

/// Starts the CMD in the correspondent's namespace, its config, store and log in `dir`.
pub fn start_cmd(anchor: &Path, dir: &Path, rig: &Rig) -> Result<Proc> {
    start_cmd_with(anchor, dir, rig, PoolPolicy::SessionLasting)
}

/// [`start_cmd`] with both pools under `policy`.
pub fn start_cmd_with(anchor: &Path, dir: &Path, rig: &Rig, policy: PoolPolicy) -> Result<Proc> {
    let config = dir.join("cmd.toml");
    std::fs::write(
        &config,
        format!(
            "address = \"{CN_ADDR}\"\nstore = \"{}\"\ninsecure_signaling = true\n\
             [[maar]]\naddress = \"{R1_LOCATOR}\"\nprefixes = [\"{POOL1}\"]\n{}\
             [[maar]]\naddress = \"{R2_LOCATOR}\"\nprefixes = [\"{POOL2}\"]\n{}",
            dir.join("cmd.json").display(),
            policy.cmd_key(POOL1),
            policy.cmd_key(POOL2),
        ),
    )
    .with_context(|| format!("cannot write {}", config.display()))?;
    let log_path = dir.join("cmd.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    Proc::spawn(
        "cmd",
        cmd::in_netns_only(&rig.ns(Node::Cn), anchor)
            .args(["cmd", "--config"])
            .arg(&config)
            .stdout(log.try_clone()?)
            .stderr(log),
    )
}

/// How the routers learn that the mobile node attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// Its Router Solicitations (a new link-layer address).
    Solicitation,
    /// Carrier up on the access links, configured as point-to-point links to [`MN_MAC`].
    PointToPoint,
}

/// Starts both routers as MAARs (router 1 with [`POOL1`], router 2 with [`POOL2`]).
pub fn start_maars(anchor: &Path, dir: &Path, rig: &Rig) -> Result<[Daemon; 2]> {
    start_maars_with(anchor, dir, rig, Attachment::Solicitation)
}

/// [`start_maars`] with both pools under `policy`, with `pool_extra` keys.
pub fn start_maars_with_policy(
    anchor: &Path,
    dir: &Path,
    rig: &Rig,
    policy: PoolPolicy,
    pool_extra: &str,
) -> Result<[Daemon; 2]> {
    Ok([
        start_maar_with_policy(anchor, dir, rig, 0, policy, pool_extra)?,
        start_maar_with_policy(anchor, dir, rig, 1, policy, pool_extra)?,
    ])
}

/// One of [`start_maars_with_policy`]'s MAARs: router 1 (`index` 0) or router 2 (1), with its
/// state directory (so that starting it again restores what it saved).
pub fn start_maar_with_policy(
    anchor: &Path,
    dir: &Path,
    rig: &Rig,
    index: usize,
    policy: PoolPolicy,
    pool_extra: &str,
) -> Result<Daemon> {
    let routers = rig.routers("native");
    let (pool, dev) = [(POOL1, "r1a"), (POOL2, "r2a")][index];
    let section = maar_section_with(pool, &dir.join(format!("{dev}-state")), policy, pool_extra);
    Daemon::start_with_config(anchor, dir, &routers[index], &section)
}

/// [`start_maars`], with the access links r1a and r2a as point-to-point links to the node
/// when `attachment` says so.
pub fn start_maars_with(
    anchor: &Path,
    dir: &Path,
    rig: &Rig,
    attachment: Attachment,
) -> Result<[Daemon; 2]> {
    let [router1, router2] = rig.routers("native");
    let section = |pool: &str, dev: &str| match attachment {
        Attachment::Solicitation => maar_section(pool, &dir.join(format!("{dev}-state"))),
        Attachment::PointToPoint => format!(
            "{}[[maar.point_to_point]]\ndev = \"{dev}\"\nmn_id = \"{MN_MAC}\"\n",
            maar_section(pool, &dir.join(format!("{dev}-state")))
        ),
    };
    Ok([
        Daemon::start_with_config(anchor, dir, &router1, &section(POOL1, "r1a"))?,
        Daemon::start_with_config(anchor, dir, &router2, &section(POOL2, "r2a"))?,
    ])
}

impl Rig {
    /// Turns the mobile node into a SLAAC host (accept_ra, autoconf, no forwarding) with
    /// [`MN_MAC`] on mn1 and mn2. mn1 goes down (losing the rig's hand-made address and route);
    /// bring it up to attach the node.
    pub fn mobile_node_as_slaac_host(&self) -> Result<()> {
        for args in [
            &["link", "set", "mn1", "down"][..],
            &["link", "set", "mn1", "address", MN_MAC],
            &["link", "set", "mn2", "address", MN_MAC],
        ] {
            self.ip(Node::Mn, args)?;
        }
        self.mobile_node_sysctls(&[
            "net.ipv6.conf.all.forwarding=0",
            "net.ipv6.conf.all.accept_ra=1",
            "net.ipv6.conf.default.accept_ra=1",
            "net.ipv6.conf.mn1.accept_ra=1",
            "net.ipv6.conf.mn2.accept_ra=1",
            "net.ipv6.conf.mn1.autoconf=1",
            "net.ipv6.conf.mn2.autoconf=1",
        ])
    }

    /// Stops the mobile node from sending Router Solicitations on mn1 and mn2
    /// (`router_solicitations = 0`): only the routers' own advertisements can reach it.
    pub fn mobile_node_without_solicitations(&self) -> Result<()> {
        self.mobile_node_sysctls(&[
            "net.ipv6.conf.mn1.router_solicitations=0",
            "net.ipv6.conf.mn2.router_solicitations=0",
        ])
    }

    /// `sysctl -qw` of each of `settings` in the mobile node's namespace.
    fn mobile_node_sysctls(&self, settings: &[&str]) -> Result<()> {
        for setting in settings {
            cmd::in_netns(&self.ns(Node::Mn), "sysctl")
                .args(["-qw", setting])
                .run_quiet()?;
        }
        Ok(())
    }

    /// The mobile node's side of a move with the control plane: mn1 down, mn2 up. Nothing
    /// else: its solicitation on mn2 does the rest.
    pub fn move_mobile_node_link_only(&self) -> Result<()> {
        let mn = self.ns(Node::Mn);
        for step in [["link", "set", "mn1", "down"], ["link", "set", "mn2", "up"]] {
            println!("  ip -n {mn} {}", step.join(" "));
            self.ip(Node::Mn, &step)?;
        }
        Ok(())
    }

    /// The mobile node's IPv6 addresses on `dev`, as `ip -6 addr show` prints them.
    pub fn mobile_node_addresses(&self, dev: &str) -> Result<String> {
        cmd::new("ip")
            .args(["-n", &self.ns(Node::Mn), "-6", "addr", "show", "dev", dev])
            .read_stdout()
    }
}
