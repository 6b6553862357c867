//! Client-based DMM on a grown rig (`[maar] dmm = "client"`): no CMD, the access routers take
//! the nodes' Binding Updates (`client_bindings = true`), and every mobile node runs
//! `anchor client` over its links to the routers, its status in `DIR/NODE-client.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::cmd;
use crate::grown::Grown;
use crate::grown::spec::{MobileNode, Spec};
use crate::process::Proc;

/// The binding lifetime the nodes ask for: refreshed every 10 s.
pub const CLIENT_LIFETIME_S: u64 = 20;

/// A node's `anchor client` configuration: its links to every access router (or its one
/// interface when roaming), insecure signaling (a lab).
pub fn client_config(grown: &Grown, status: &Path) -> String {
    let interfaces: Vec<String> = grown
        .spec()
        .access_routers
        .iter()
        .map(|ar| format!("\"{}\"", grown.node_dev(&ar.name)))
        .collect();
    format!(
        "interfaces = [{}]\nlifetime_s = {CLIENT_LIFETIME_S}\ninsecure_signaling = true\n\
         status_file = \"{}\"\nsocket_check_ms = 200\n",
        interfaces.join(", "),
        status.display()
    )
}

/// Where node `mn`'s client writes its status.
pub fn status_file(dir: &Path, mn: &str) -> PathBuf {
    dir.join(format!("{mn}-client.json"))
}

/// Starts `anchor client` in every mobile node's namespace, logging to `DIR/NODE-client.log`.
pub fn start(grown: &Grown, anchor: &Path, dir: &Path) -> Result<Vec<(String, Proc)>> {
    let spec: &Spec = grown.spec();
    spec.mobile_nodes
        .iter()
        .map(|mn: &MobileNode| {
            let config = dir.join(format!("{}-client.toml", mn.name));
            std::fs::write(&config, client_config(grown, &status_file(dir, &mn.name)))
                .with_context(|| format!("cannot write {}", config.display()))?;
            let log_path = dir.join(format!("{}-client.log", mn.name));
            let log = std::fs::File::create(&log_path)
                .with_context(|| format!("cannot create {}", log_path.display()))?;
            let proc = Proc::spawn(
                &format!("{}-client", mn.name),
                cmd::in_netns_only(&grown.ns(&mn.name), anchor)
                    .args(["client", "--config"])
                    .arg(&config)
                    .stdout(log.try_clone()?)
                    .stderr(log),
            )?;
            Ok((mn.name.clone(), proc))
        })
        .collect()
}
