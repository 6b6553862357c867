//! A throw-away network namespace with a veth pair, for the probes that change kernel state:
//! `anchor-probe-<pid>` with `v0` and `v1`, both up; removed on drop.

use std::process::Command;

use anyhow::{Result, anyhow};

use crate::cmd::{self, Run as _};

pub struct Scratch {
    pub ns: String,
}

impl Scratch {
    pub fn create() -> Result<Scratch> {
        let ns = format!("anchor-probe-{}", std::process::id());
        let _ = cmd::new("ip").args(["netns", "del", &ns]).run_quiet();
        cmd::new("ip").args(["netns", "add", &ns]).run_quiet()?;
        let scratch = Scratch { ns };
        scratch.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])?;
        for dev in ["lo", "v0", "v1"] {
            scratch.ip(&["link", "set", dev, "up"])?;
        }
        scratch.ip(&["addr", "add", "2001:db8:fe::1/64", "dev", "v0", "nodad"])?;
        Ok(scratch)
    }

    /// `ip -n NS ARGS`; the error is the command's last line of output.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        run_short(cmd::new("ip").args(["-n", &self.ns]).args(args))
    }

    /// `nsenter --net=… ip ARGS`: in the namespace, with the host's /sys (and so its bpffs).
    pub fn ip_with_bpffs(&self, args: &[&str]) -> Result<()> {
        run_short(cmd::in_netns_only(&self.ns, "ip").args(args))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = cmd::new("ip").args(["netns", "del", &self.ns]).run_quiet();
    }
}

/// Runs `command`; on failure, the error is the last line it printed (what `ip` answered).
pub fn run_short(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .map_err(|e| anyhow!("cannot start {}: {e}", cmd::describe(command)))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed")
        .trim();
    Err(anyhow!("{last}"))
}
