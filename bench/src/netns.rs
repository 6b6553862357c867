//! Network namespaces of the benchmarks: created with `ip`, entered per thread, removed on drop.
//!
//! Names are `anc-bn<pid>-<tag>`, so that namespaces left by a killed run are recognised (their
//! pid is gone) and removed by the next one.

use std::{
    fs::File,
    os::fd::{AsRawFd as _, OwnedFd},
};

use anchor_rig::cmd::{self, Run as _};
use anyhow::{Context as _, Result, bail};

const PREFIX: &str = "anc-bn";

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `anc-bn<pid>-<tag>` with `lo` up, IPv6 forwarding on and duplicate address
    /// detection off.
    pub fn create(tag: &str) -> Result<Self> {
        remove_stale();
        let ns = Self {
            name: format!("{PREFIX}{}-{tag}", std::process::id()),
        };
        cmd::new("ip")
            .args(["netns", "add", &ns.name])
            .run_quiet()?;
        ns.ip("link set lo up")?;
        for key in [
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ] {
            ns.exec("sysctl", &["-qw", key])?;
        }
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS` (arguments split at whitespace).
    pub fn ip(&self, args: &str) -> Result<()> {
        cmd::new("ip")
            .args(["-n", &self.name])
            .args(args.split_whitespace())
            .run_quiet()?;
        Ok(())
    }

    /// Runs `program args` inside the namespace and returns its standard output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        cmd::in_netns(&self.name, program).args(args).read_stdout()
    }

    /// The index of interface `dev` in this namespace.
    pub fn ifindex(&self, dev: &str) -> Result<u32> {
        let text = self.exec("cat", &[&format!("/sys/class/net/{dev}/ifindex")])?;
        text.trim()
            .parse()
            .with_context(|| format!("ifindex of {dev} in {}: {text:?}", self.name))
    }

    /// Moves the calling thread into this namespace until the returned guard is dropped.
    pub fn enter(&self) -> Result<Entered> {
        let original = File::open("/proc/thread-self/ns/net")
            .context("cannot open this thread's network namespace")?;
        set_netns(&format!("/run/netns/{}", self.name))?;
        Ok(Entered {
            original: original.into(),
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(error) = cmd::new("ip")
            .args(["netns", "del", &self.name])
            .run_quiet()
        {
            eprintln!("bench: cannot remove namespace {}: {error:#}", self.name);
        }
    }
}

/// Puts the thread back into its original namespace when dropped.
#[derive(Debug)]
pub struct Entered {
    original: OwnedFd,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: a valid namespace descriptor; affects only the calling thread.
        if unsafe { libc::setns(self.original.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "bench: cannot return to the original network namespace: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

fn set_netns(path: &str) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
    // SAFETY: a valid namespace descriptor; affects only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {path}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Removes `anc-bn<pid>-*` namespaces whose process is gone.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = cmd::new("ip").args(["netns", "del", &name]).run_quiet();
        }
    }
}
