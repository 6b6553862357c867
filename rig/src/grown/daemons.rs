//! The daemons of a grown rig: the CMD (`anchor cmd`) in the core's namespace or its own, a
//! MAAR (`anchor run` with a `[maar]` section) on every access router, and the subscriber MAAR
//! of the near anchor when there is one ([`super::near`]), with insecure signaling (a lab), their
//! configs, logs, sockets and state in one directory; with `[bgp]`, BIRD on the core and every
//! access router ([`Birds`]), its sessions established before the start ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::cmd;
use crate::daemon::{Daemon, Interface, Router};
use crate::grown::Grown;
use crate::grown::bird::Birds;
use crate::grown::client;
use crate::grown::near;
use crate::grown::plan::{CMD, CORE, NEAR};
use crate::grown::spec::{AccessRouter, Attachment, CmdPlacement, Dmm, Policy, Spec};
use crate::process::Proc;

/// How long a daemon gets to exit after SIGTERM in [`Daemons::stop`].
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the core's BGP sessions get to come up (the first connection is tried after 1 s).
const BGP_TIMEOUT: Duration = Duration::from_secs(30);

/// The port of a MAAR's `/metrics` on its locator ([`Spec::metrics_on_locators`]).
pub const MAAR_METRICS_PORT: u16 = 9469;
/// The port of the CMD's `/metrics` on its address ([`Spec::metrics_on_locators`]).
pub const CMD_METRICS_PORT: u16 = 9470;

/// The CMD's configuration: every access router as a `[[maar]]` with its pool, listed under
/// `nonpersistent` or `fixed` by its policy; the near anchor among the `subscribers`.
#[expect(
    clippy::format_push_string,
    reason = "a few lines of configuration, once per start: each line reads as in the file"
)]
pub fn cmd_config(spec: &Spec, store: &Path) -> String {
    let mut text = format!(
        "address = \"{}\"\nstore = \"{}\"\ninsecure_signaling = true\n",
        spec.cmd.address,
        store.display()
    );
    if spec.metrics_on_locators {
        text.push_str(&format!(
            "metrics_listen = \"[{}]:{CMD_METRICS_PORT}\"\n",
            spec.cmd.address
        ));
    }
    text.extend(near::cmd_subscribers(spec));
    for ar in &spec.access_routers {
        text.push_str(&format!(
            "\n[[maar]]\naddress = \"{}\"\nprefixes = [\"{}\"]\n",
            ar.locator, ar.pool
        ));
        match spec.policy(ar) {
            Policy::Nonpersistent => text.push_str(&format!("nonpersistent = [\"{}\"]\n", ar.pool)),
            Policy::Fixed => text.push_str(&format!("fixed = [\"{}\"]\n", ar.pool)),
            Policy::SessionLasting => {}
        }
    }
    text
}

/// An access router's `[maar]` section, its state in `state_dir`.
#[expect(
    clippy::format_push_string,
    reason = "a few lines of configuration, once per start: each line reads as in the file"
)]
pub fn maar_section(spec: &Spec, ar: &AccessRouter, state_dir: &Path) -> String {
    let cmd = match spec.maar.dmm {
        Dmm::Network => format!("cmd = \"{}\"\n", spec.cmd.address),
        Dmm::Client => "client_bindings = true\n".to_owned(),
    };
    let mut text = format!(
        "\n[maar]\n{cmd}insecure_signaling = true\nra_interval_s = {}\nstate_dir = \"{}\"\n",
        spec.maar.ra_interval_s,
        state_dir.display()
    );
    if spec.maar.shared_identity {
        text.push_str("shared_access_identity = true\n");
    }
    if spec.maar.first_frame {
        text.push_str("attach_on_first_frame = true\n");
    }
    if let Some(ms) = spec.maar.initial_bindack_timeout_ms {
        text.push_str(&format!("initial_bindack_timeout_ms = {ms}\n"));
    }
    if let Some(ms) = spec.maar.max_bindack_timeout_ms {
        text.push_str(&format!("max_bindack_timeout_ms = {ms}\n"));
    }
    text.extend(near::correspondent_anchors(spec));
    if spec.maar.attachment == Attachment::PointToPoint {
        for mn in &spec.mobile_nodes {
            text.push_str(&format!(
                "\n[[maar.point_to_point]]\ndev = \"{}\"\nmn_id = \"{}\"\n",
                mn.name, mn.mac
            ));
        }
    }
    text.push_str(&format!(
        "\n[[maar.pool]]\nprefix = \"{}\"\npolicy = \"{}\"\n",
        ar.pool,
        spec.policy(ar).name()
    ));
    if let Some(idle) = spec.idle_release_s(ar) {
        text.push_str(&format!("idle_release_s = {idle}\n"));
    }
    text
}

/// An access router's `anchor run`: its core link and one access link per mobile node, in
/// native XDP mode, its pinned state named after its namespace.
pub fn router(grown: &Grown, ar: &AccessRouter) -> Router {
    let mut interfaces = vec![Interface {
        name: "core",
        role: "core",
        xdp_mode: "native",
        source_validation: false,
    }];
    if grown.roaming() {
        interfaces.push(Interface {
            name: crate::grown::plan::AIR,
            role: "access",
            xdp_mode: "native",
            source_validation: false,
        });
    } else {
        interfaces.extend(grown.spec().mobile_nodes.iter().map(|mn| Interface {
            name: leak(&mn.name),
            role: "access",
            xdp_mode: "native",
            source_validation: false,
        }));
    }
    let ns = grown.ns(&ar.name);
    Router {
        name: leak(&ar.name),
        ns: ns.clone(),
        locator: leak(&ar.locator.to_string()),
        interfaces,
        instance: ns,
        max_bindings: ar.max_bindings,
        detach_on_exit: false,
        log_format: None,
        metrics_listen: grown
            .spec()
            .metrics_on_locators
            .then(|| format!("[{}]:{MAAR_METRICS_PORT}", ar.locator)),
    }
}

/// [`Router`] holds the fixed rig's constants (`&'static str`); a topology's names are read at
/// run time and live as long as the process that uses them, so a few bytes per build are leaked.
fn leak(text: &str) -> &'static str {
    text.to_owned().leak()
}

/// The running daemons. Dropping it stops them (SIGTERM, then SIGKILL); [`Daemons::stop`] checks
/// that they exit cleanly, [`Daemons::keep`] leaves them running.
pub struct Daemons {
    dir: PathBuf,
    /// Stopped before the CMD, in the order of the spec, the near anchor last.
    routers: Vec<(String, Daemon)>,
    cmd: Option<Proc>,
    /// With `dmm = "client"`: each mobile node's `anchor client`, stopped first.
    clients: Vec<(String, Proc)>,
    /// Stopped last: the routes stay announced until the MAARs have stopped.
    birds: Option<Birds>,
}

impl Daemons {
    /// Starts BIRD (with `[bgp]`), the CMD, then every access router's MAAR and the near
    /// anchor's, with configs, logs, sockets and state in `dir`; with `[bgp]`, returns once the
    /// core's BGP sessions are established.
    pub fn start(grown: &Grown, anchor: &Path, dir: &Path) -> Result<Daemons> {
        let spec = grown.spec();
        let mut daemons = Daemons {
            dir: dir.to_owned(),
            routers: Vec::new(),
            cmd: None,
            clients: Vec::new(),
            birds: None,
        };
        if spec.bgp.is_some() {
            daemons.birds = Some(Birds::start(grown, dir).context("cannot start BIRD")?);
        }
        if spec.maar.dmm == Dmm::Network {
            daemons.start_cmd(grown, anchor)?;
        }
        for ar in &spec.access_routers {
            let section = maar_section(spec, ar, &daemons.state_dir(&ar.name));
            let daemon = Daemon::start_with_config(anchor, dir, &router(grown, ar), &section)
                .with_context(|| format!("cannot start access router {}", ar.name))?;
            daemons.routers.push((ar.name.clone(), daemon));
        }
        if let Some(router) = near::router(spec, grown.ns(NEAR)) {
            let section = near::maar_section(spec, &daemons.state_dir(NEAR));
            let daemon = Daemon::start_with_config(anchor, dir, &router, &section)
                .context("cannot start the near anchor")?;
            daemons.routers.push((NEAR.to_owned(), daemon));
        }
        if spec.maar.dmm == Dmm::Client {
            daemons.clients = client::start(grown, anchor, dir)?;
        }
        // A CMD that refused its config has exited by now (the routers took longer to start).
        if let Some(status) = daemons
            .cmd
            .as_mut()
            .map(Proc::try_wait)
            .transpose()?
            .flatten()
        {
            bail!(
                "the CMD exited ({status}); the end of its log:\n{}",
                cmd::tail(daemons.cmd_log().as_bytes())
            );
        }
        if let Some(birds) = &daemons.birds {
            birds.wait_established(BGP_TIMEOUT)?;
        }
        Ok(daemons)
    }

    /// Starts the CMD in the core's namespace or its own.
    fn start_cmd(&mut self, grown: &Grown, anchor: &Path) -> Result<()> {
        let (spec, dir) = (grown.spec(), self.dir.clone());
        let config = dir.join("cmd.toml");
        std::fs::write(&config, cmd_config(spec, &self.cmd_store()))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log_path = dir.join("cmd.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let ns = match spec.cmd.placement {
            CmdPlacement::Core => grown.ns(CORE),
            CmdPlacement::Own => grown.ns(CMD),
        };
        self.cmd = Some(Proc::spawn(
            "cmd",
            cmd::in_netns_only(&ns, anchor)
                .args(["cmd", "--config"])
                .arg(&config)
                .stdout(log.try_clone()?)
                .stderr(log),
        )?);
        Ok(())
    }

    /// With `dmm = "client"`: mobile node `mn`'s client log.
    pub fn client_log(&self, mn: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{mn}-client.log"))).unwrap_or_default()
    }

    /// With `dmm = "client"`: mobile node `mn`'s client status (its `status_file`).
    pub fn client_status(&self, mn: &str) -> PathBuf {
        client::status_file(&self.dir, mn)
    }

    /// The BIRDs, with `[bgp]`.
    pub fn birds(&self) -> Option<&Birds> {
        self.birds.as_ref()
    }

    /// The daemon of access router `name`, or of the near anchor ([`NEAR`]).
    pub fn router(&self, name: &str) -> &Daemon {
        self.routers.iter().find(|(n, _)| n == name).map_or_else(
            || panic!("no access router or near anchor {name} runs"),
            |(_, d)| d,
        )
    }

    /// Every access router's daemon, in the order of the spec, then the near anchor's.
    pub fn routers(&self) -> impl Iterator<Item = (&str, &Daemon)> {
        self.routers.iter().map(|(n, d)| (n.as_str(), d))
    }

    /// The directory of the configs, logs and state.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CMD's store (JSON).
    pub fn cmd_store(&self) -> PathBuf {
        self.dir.join("cmd.json")
    }

    /// The CMD's log.
    pub fn cmd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("cmd.log")).unwrap_or_default()
    }

    /// An access router's (or the near anchor's) state directory (its `maar.json`).
    pub fn state_dir(&self, ar: &str) -> PathBuf {
        self.dir.join(format!("{ar}-state"))
    }

    /// Stops the CMD alone (SIGTERM); fails when it does not exit cleanly or was stopped
    /// already. The routers go on without it.
    pub fn stop_cmd(&mut self) -> Result<()> {
        let mut cmd = self.cmd.take().context("the CMD was stopped already")?;
        let status = cmd.stop_with("TERM", STOP_TIMEOUT)?;
        if !status.success() {
            bail!("the CMD exited with {status}");
        }
        Ok(())
    }

    /// Stops the routers, then the CMD, then BIRD, with SIGTERM; fails when one does not exit
    /// cleanly.
    pub fn stop(mut self) -> Result<()> {
        for (name, mut client) in self.clients.drain(..) {
            let status = client.stop_with("TERM", STOP_TIMEOUT)?;
            if !status.success() {
                bail!("the client of {name} exited with {status}");
            }
        }
        for (name, daemon) in self.routers.drain(..) {
            let status = daemon
                .stop()
                .with_context(|| format!("router {name} did not stop"))?;
            if !status.success() {
                bail!("router {name} exited with {status}");
            }
        }
        if let Some(mut cmd) = self.cmd.take() {
            let status = cmd.stop_with("TERM", STOP_TIMEOUT)?;
            if !status.success() {
                bail!("the CMD exited with {status}");
            }
        }
        if let Some(birds) = self.birds.take() {
            birds.stop()?;
        }
        Ok(())
    }

    /// Leaves every daemon running after this process ends (`cargo xtask rig up`): removing
    /// the topology's namespaces stops them.
    pub fn keep(mut self) {
        for (_, client) in self.clients.drain(..) {
            std::mem::forget(client);
        }
        for (_, daemon) in self.routers.drain(..) {
            std::mem::forget(daemon);
        }
        if let Some(cmd) = self.cmd.take() {
            std::mem::forget(cmd);
        }
        if let Some(birds) = self.birds.take() {
            birds.keep();
        }
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "the CMD's log ({}):\n{}",
                self.dir.join("cmd.log").display(),
                cmd::tail(self.cmd_log().as_bytes())
            );
        }
        if std::thread::panicking() {
            for (name, _) in &self.clients {
                eprintln!(
                    "the client log of {name}:\n{}",
                    cmd::tail(self.client_log(name).as_bytes())
                );
            }
        }
        // The clients, the routers (each printing its log when panicking), then the CMD, then
        // BIRD.
        self.clients.clear();
        self.routers.clear();
        self.cmd.take();
        self.birds.take();
    }
}
