//! A rig that grows: the topology of a TOML file ([`spec`]) instead of the fixed five
//! namespaces of [`crate::topology`]. A correspondent, a core router (kernel forwarding, a static
//! route to each access router's pool), an optional anchor next to the correspondent (a
//! subscriber MAAR, [`near`]), access routers AR1..ARn that run MAARs, the CMD, and mobile nodes,
//! kernel-SLAAC hosts with one link to every access router and their MAC as MN-ID.
//!
//! - [`spec`]: the file, and its checks (one-line errors).
//! - [`plan`]: the namespaces, links, addresses and routes a spec makes, before any command.
//! - [`build`]: making them with `ip`, `sysctl` and `ethtool`, and removing them.
//! - [`daemons`]: the CMD and the MAARs (and BIRD, with `[bgp]`).
//! - [`client`]: with `dmm = "client"`, `anchor client` on every mobile node and no CMD.
//! - [`near`]: the anchor next to the correspondent, a subscriber of the CMD.
//! - [`bgp`]: with `[bgp]`, the BIRD configurations: eBGP between the core and every access
//!   router, which announces its pool and its MAAR's routes (protocol 250).
//! - [`bird`]: running BIRD in the namespaces, and `birdc`.
//! - [`status`]: what of a rig is present (`cargo xtask rig status`).
//!
//! [`Grown::build`] removes what an earlier run with the same prefix left, then builds;
//! dropping the [`Grown`] (or [`teardown`]) kills every process in its namespaces and deletes
//! them, also after a failed build. A mobile node's links are down until [`Grown::attach`]; a
//! move ([`Grown::move_node`]) takes its link to one access router down and the link to another
//! up.

pub mod bgp;
pub mod bird;
pub mod build;
pub mod client;
pub mod daemons;
pub mod near;
pub mod plan;
pub mod spec;
pub mod status;

use anyhow::{Context as _, Result, bail};

pub use daemons::Daemons;
pub use plan::Plan;
pub use spec::{Spec, SpecError};

use crate::cmd::{self, Run as _};
use crate::grown::spec::Attachment;

/// The sample topology with three access routers (`rig/topologies/three-ars.toml`): the default
/// of the three-router tests.
pub const THREE_ARS: &str = include_str!("../../topologies/three-ars.toml");

/// The sample topology of client-based DMM (`rig/topologies/three-ars-client.toml`): three access
/// routers, no CMD, `anchor client` on the node; the client scenario's topology.
pub const THREE_ARS_CLIENT: &str = include_str!("../../topologies/three-ars-client.toml");

/// The sample topology with an anchor near the correspondent and two access routers
/// (`rig/topologies/near-cn.toml`): the default of the near-anchor test.
pub const NEAR_CN: &str = include_str!("../../topologies/near-cn.toml");
/// The same with `fixed` pools and BGP (`rig/topologies/three-ars-bgp.toml`): the anchor
/// relocation test's topology.
pub const THREE_ARS_BGP: &str = include_str!("../../topologies/three-ars-bgp.toml");

/// The built topology. Dropping it tears it down unless [`Grown::keep`] was called.
pub struct Grown {
    spec: Spec,
    plan: Plan,
    prefix: String,
    armed: bool,
}

impl Grown {
    /// Removes leftovers of an earlier run with the same `prefix` and builds `spec` in
    /// namespaces named `PREFIX` + node (`cn`, `core`, each router's and node's name).
    pub fn build(spec: &Spec, prefix: &str) -> Result<Grown> {
        let plan = Plan::new(spec);
        teardown(spec, prefix).context("cannot remove the namespaces of an earlier run")?;
        // From here on a failure tears down what was built.
        let grown = Grown {
            spec: spec.clone(),
            plan,
            prefix: prefix.to_owned(),
            armed: true,
        };
        build::create(prefix, &grown.plan)
            .with_context(|| format!("cannot build the topology {prefix}*"))?;
        Ok(grown)
    }

    /// Leaves the topology in place when the value is dropped.
    pub fn keep(mut self) {
        self.armed = false;
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace of node `node`.
    pub fn ns(&self, node: &str) -> String {
        format!("{}{node}", self.prefix)
    }

    /// Every namespace of the topology.
    pub fn namespaces(&self) -> Vec<String> {
        namespaces(&self.plan, &self.prefix)
    }

    /// `ip -n PREFIXnode ARGS`.
    pub fn ip(&self, node: &str, args: &[&str]) -> Result<()> {
        build::ip(&self.ns(node), args)
    }

    /// `ip -n PREFIXnode ARGS`, its standard output.
    pub fn ip_stdout(&self, node: &str, args: &[&str]) -> Result<String> {
        cmd::new("ip")
            .args(["-n", &self.ns(node)])
            .args(args)
            .read_stdout()
    }

    /// Brings mobile node `mn`'s link to access router `ar` up: the node attaches there. In a
    /// roaming topology: plugs the node's port into `ar`'s bridge and brings its interface up.
    pub fn attach(&self, mn: &str, ar: &str) -> Result<()> {
        self.check_link(mn, ar)?;
        if self.roaming() {
            self.ip(plan::AIR, &["link", "set", mn, "master", &plan::bridge(ar)])?;
            return self.ip(mn, &["link", "set", plan::AIR, "up"]);
        }
        self.ip(mn, &["link", "set", ar, "up"])
    }

    /// Whether nodes roam through an access switch ([`Attachment::Roam`]).
    pub fn roaming(&self) -> bool {
        self.spec.maar.attachment == Attachment::Roam
    }

    /// The interface of mobile node `mn` toward access router `ar`: named after the router,
    /// or, in a roaming topology, the node's one interface.
    pub fn node_dev(&self, ar: &str) -> String {
        if self.roaming() {
            plan::AIR.to_owned()
        } else {
            ar.to_owned()
        }
    }

    /// Brings every mobile node's `start_at` link up.
    pub fn attach_start_links(&self) -> Result<()> {
        for mn in &self.spec.mobile_nodes {
            if let Some(ar) = &mn.start_at {
                self.attach(&mn.name, ar)?;
            }
        }
        Ok(())
    }

    /// Mobile node `mn` moves from access router `from` to `to`: its link to `from` goes down,
    /// its link to `to` comes up. Nothing else: its Router Solicitation (or the carrier, on
    /// point-to-point links) does the rest.
    pub fn move_node(&self, mn: &str, from: &str, to: &str) -> Result<()> {
        self.check_link(mn, from)?;
        self.check_link(mn, to)?;
        if self.roaming() {
            // The port moves from one bridge to the other; the node's interface stays up.
            return self.ip(plan::AIR, &["link", "set", mn, "master", &plan::bridge(to)]);
        }
        self.ip(mn, &["link", "set", from, "down"])?;
        self.ip(mn, &["link", "set", to, "up"])
    }

    /// Mobile node `mn`'s IPv6 addresses on its link to `ar`, as `ip -6 addr show` prints them.
    pub fn node_addresses(&self, mn: &str, ar: &str) -> Result<String> {
        self.ip_stdout(mn, &["-6", "addr", "show", "dev", &self.node_dev(ar)])
    }

    fn check_link(&self, mn: &str, ar: &str) -> Result<()> {
        if self.spec.mobile_node(mn).is_none() {
            bail!("no mobile node {mn} in the topology");
        }
        if self.spec.access_router(ar).is_none() {
            bail!("no access router {ar} in the topology");
        }
        Ok(())
    }

    /// What `cargo xtask rig up --topology` prints.
    pub fn describe(&self) -> String {
        let mut lines = vec![format!(
            "rig: up: namespaces {}",
            self.namespaces().join(" ")
        )];
        let spec = &self.spec;
        let control = match spec.maar.dmm {
            spec::Dmm::Network => format!(
                "CMD {} in {}",
                spec.cmd.address,
                match spec.cmd.placement {
                    spec::CmdPlacement::Core => self.ns(plan::CORE),
                    spec::CmdPlacement::Own => self.ns(plan::CMD),
                }
            ),
            spec::Dmm::Client => {
                "no CMD: client-based DMM, `anchor client` on every mobile node".to_owned()
            }
        };
        lines.push(format!(
            "rig:   {} {} -- core; {control}",
            self.ns(plan::CN),
            spec.correspondent.address,
        ));
        if let Some(near) = &spec.near_anchor {
            lines.push(format!(
                "rig:   {} locator {} between {} and core: subscriber MAAR, redirects moved \
                 nodes' prefixes to their serving MAAR",
                self.ns(plan::NEAR),
                near.locator,
                self.ns(plan::CN)
            ));
        }
        for ar in &spec.access_routers {
            lines.push(format!(
                "rig:   {} locator {} pool {} ({})",
                self.ns(&ar.name),
                ar.locator,
                ar.pool,
                spec.policy(ar).name()
            ));
        }
        for mn in &spec.mobile_nodes {
            lines.push(format!(
                "rig:   {} mac {} links {}{}",
                self.ns(&mn.name),
                mn.mac,
                spec.access_routers
                    .iter()
                    .map(|ar| ar.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                mn.start_at
                    .as_ref()
                    .map_or(String::new(), |at| format!(" (starts at {at})"))
            ));
        }
        lines.join("\n")
    }
}

impl Drop for Grown {
    fn drop(&mut self) {
        if self.armed
            && let Err(err) = build::teardown(&self.prefix, &self.namespaces())
        {
            eprintln!("rig: teardown failed: {err:#}");
        }
    }
}

/// The namespaces of a plan under `prefix`.
pub fn namespaces(plan: &Plan, prefix: &str) -> Vec<String> {
    plan.nodes
        .iter()
        .map(|node| format!("{prefix}{}", node.name))
        .collect()
}

/// Removes the topology of `spec` under `prefix`: kills every process in its namespaces, removes
/// their daemons' pinned state and deletes them. Works on what a failed run left, and does nothing
/// for what does not exist.
pub fn teardown(spec: &Spec, prefix: &str) -> Result<()> {
    build::teardown(prefix, &namespaces(&Plan::new(spec), prefix))
}

/// Tears down the grown rigs named `STEM` + PID + `-` whose process is gone (a test that died):
/// every namespace and daemon pin under that prefix.
pub fn remove_stale(stem: &str) -> Result<()> {
    let mut names = crate::topology::netns_list()?;
    if let Ok(entries) = std::fs::read_dir(crate::daemon::pin_dir("")) {
        names.extend(
            entries
                .filter_map(std::result::Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned()),
        );
    }
    let mut stale: Vec<String> = names
        .iter()
        .filter_map(|name| {
            let (pid, _) = name.strip_prefix(stem)?.split_once('-')?;
            let gone = pid.parse::<u32>().is_ok()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists();
            gone.then(|| format!("{stem}{pid}-"))
        })
        .collect();
    stale.sort();
    stale.dedup();
    for prefix in stale {
        let ours: Vec<String> = names
            .iter()
            .filter(|name| name.starts_with(&prefix))
            .cloned()
            .collect();
        build::teardown(&prefix, &ours)
            .with_context(|| format!("cannot remove the stale rig {prefix}"))?;
    }
    Ok(())
}
