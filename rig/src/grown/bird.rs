//! Running BIRD 2 on a grown rig with `[bgp]`: one `bird` per node (the core and every access
//! router) in its namespace, in the foreground, with its configuration from [`super::bgp`], its
//! control socket (`-s`) and its log in the daemons' directory; and `birdc` against it.
//!
//! Dropping [`Birds`] stops them (SIGTERM, then SIGKILL). When the process that started them
//! dies instead, the rig's teardown kills them with everything else in the namespaces.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use ipnet::Ipv6Net;

use crate::cancel::pause;
use crate::cmd::{self, Run as _};
use crate::grown::Grown;
use crate::grown::bgp;
use crate::grown::plan::CORE;
use crate::process::Proc;

/// How long BIRD gets to exit after SIGTERM in [`Birds::stop`].
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The running BIRDs of a rig.
pub struct Birds {
    dir: PathBuf,
    /// (node, its bird), the core first.
    running: Vec<(String, Proc)>,
}

impl Birds {
    /// Writes `DIR/bird-NODE.conf` for the core and each access router, checks each with
    /// `bird -p`, and starts them. Fails, naming the file, when BIRD refuses a configuration or
    /// a bird exits at once.
    pub fn start(grown: &Grown, dir: &Path) -> Result<Birds> {
        let spec = grown.spec();
        let bgp = spec
            .bgp
            .as_ref()
            .context("the topology has no [bgp] section")?;
        let mut configs = vec![(CORE.to_owned(), bgp::core_config(spec, bgp))];
        configs.extend(
            spec.access_routers
                .iter()
                .enumerate()
                .map(|(index, ar)| (ar.name.clone(), bgp::access_config(bgp, index, ar))),
        );
        let mut birds = Birds {
            dir: dir.to_owned(),
            running: Vec::new(),
        };
        for (node, text) in configs {
            let config = birds.config(&node);
            std::fs::write(&config, text)
                .with_context(|| format!("cannot write {}", config.display()))?;
            cmd::new("bird")
                .arg("-p")
                .arg("-c")
                .arg(&config)
                .run_quiet()
                .with_context(|| format!("BIRD refuses {}", config.display()))?;
            let log_path = birds.log_path(&node);
            let log = std::fs::File::create(&log_path)
                .with_context(|| format!("cannot create {}", log_path.display()))?;
            let proc = Proc::spawn(
                &format!("bird on {node}"),
                cmd::in_netns_only(&grown.ns(&node), "bird")
                    .arg("-f")
                    .arg("-c")
                    .arg(&config)
                    .arg("-s")
                    .arg(birds.socket(&node))
                    .arg("-P")
                    .arg(dir.join(format!("bird-{node}.pid")))
                    .stdout(log.try_clone()?)
                    .stderr(log),
            )?;
            birds.running.push((node, proc));
        }
        Ok(birds)
    }

    /// The nodes that run a bird, the core first.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.running.iter().map(|(node, _)| node.as_str())
    }

    /// The process IDs of the birds, the core first.
    pub fn pids(&mut self) -> Vec<u32> {
        self.running
            .iter_mut()
            .map(|(_, proc)| proc.child().id())
            .collect()
    }

    /// Node `node`'s BIRD configuration file.
    pub fn config(&self, node: &str) -> PathBuf {
        self.dir.join(format!("bird-{node}.conf"))
    }

    /// Node `node`'s control socket (`birdc -s`).
    pub fn socket(&self, node: &str) -> PathBuf {
        self.dir.join(format!("bird-{node}.ctl"))
    }

    fn log_path(&self, node: &str) -> PathBuf {
        self.dir.join(format!("bird-{node}.log"))
    }

    /// What node `node`'s bird has logged.
    pub fn log(&self, node: &str) -> String {
        let path = self.log_path(node);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| format!("(cannot read {}: {err})", path.display()))
    }

    /// `birdc -s SOCKET ARGS` against node `node`'s bird: its output.
    pub fn birdc(&self, node: &str, args: &[&str]) -> Result<String> {
        cmd::new("birdc")
            .arg("-s")
            .arg(self.socket(node))
            .args(args)
            .read_stdout()
    }

    /// The core's BGP sessions that are not established, with their state.
    pub fn sessions_down(&self) -> Result<Vec<String>> {
        let shown = self.birdc(CORE, &["show", "protocols"])?;
        Ok(shown
            .lines()
            .filter(|line| line.split_whitespace().nth(1) == Some("BGP"))
            .filter(|line| !line.contains("Established"))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect())
    }

    /// Waits until every BGP session of the core is established; fails after `timeout` with
    /// the sessions still down and the end of each bird's log.
    pub fn wait_established(&self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            // The control socket appears a moment after the start.
            let down = self
                .sessions_down()
                .unwrap_or_else(|err| vec![format!("{err:#}")]);
            if down.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                let logs: Vec<String> = self
                    .nodes()
                    .map(|node| {
                        format!("bird on {node}:\n{}", cmd::tail(self.log(node).as_bytes()))
                    })
                    .collect();
                bail!(
                    "the core's BGP sessions are not all established after {timeout:?}: {}\n{}",
                    down.join("; "),
                    logs.join("\n")
                );
            }
            pause(Duration::from_millis(100))?;
        }
    }

    /// The protocols from which node `node`'s BIRD holds a route for exactly `prefix` (`birdc
    /// show route PREFIX`), in its order (the preferred one first). On the core these are the
    /// sessions of the routers that announce it ([`bgp::session_router`]).
    pub fn routes(&self, node: &str, prefix: Ipv6Net) -> Result<Vec<String>> {
        let shown = self.birdc(node, &["show", "route", &prefix.to_string()])?;
        Ok(route_sources(&shown))
    }

    /// Stops every bird with SIGTERM, the access routers first; fails when one does not exit
    /// cleanly.
    pub fn stop(mut self) -> Result<()> {
        while let Some((node, mut proc)) = self.running.pop() {
            let status = proc.stop_with("TERM", STOP_TIMEOUT)?;
            if !status.success() {
                bail!("bird on {node} exited with {status}");
            }
        }
        Ok(())
    }

    /// Leaves the birds running after this process ends (`cargo xtask rig up`): removing the
    /// topology's namespaces stops them.
    pub fn keep(mut self) {
        for (_, proc) in self.running.drain(..) {
            std::mem::forget(proc);
        }
    }
}

impl Drop for Birds {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in self.nodes() {
                eprintln!(
                    "bird on {node}: the end of its log ({}):\n{}",
                    self.log_path(node).display(),
                    cmd::tail(self.log(node).as_bytes())
                );
            }
        }
        // Each `Proc` is dropped next: SIGTERM, then SIGKILL.
    }
}

/// The protocol of each route in `birdc show route` output: the word after the `[` of each
/// route line (`2001:db8:a1::/64  unicast [peer_ar1 12:00:00.000] * (100) [AS64513i]`, an
/// alternative's line without the prefix); `Network not found` or no table: none.
pub fn route_sources(shown: &str) -> Vec<String> {
    shown
        .lines()
        .filter(|line| !line.starts_with('\t'))
        .filter_map(|line| {
            let (_, after) = line.split_once('[')?;
            let source = after.split_whitespace().next()?;
            (!source.is_empty()).then(|| source.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_sources_are_read_from_birdcs_route_lines() {
        let shown = "BIRD 2.0.12 ready.\nTable master6:\n2001:db8:a1::/64     unicast \
                     [peer_ar2 17:23:32.099] * (100) [AS64514i]\n\tvia 2001:db8:f2::2 on ar2\n    \
                     unicast [peer_ar1 17:23:30.001] (100) [AS64513i]\n\tvia 2001:db8:f1::2 on \
                     ar1\n";
        assert_eq!(route_sources(shown), ["peer_ar2", "peer_ar1"]);
        assert!(route_sources("BIRD 2.0.12 ready.\nNetwork not found\n").is_empty());
    }
}
