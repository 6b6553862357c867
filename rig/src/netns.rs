//! One network namespace, created with `ip`, entered per thread, and deleted when dropped.
//!
//! Names are `STEM<pid>-TAG`, so that namespaces left by a killed process are recognised (their
//! pid is gone) and deleted by the next [`Netns::create`] with the same stem.

use std::{
    fs::File,
    os::fd::{AsRawFd as _, OwnedFd},
    path::Path,
};

use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, Run as _};

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `STEM<pid>-TAG` with `lo` up, IPv6 forwarding on and duplicate address detection
    /// off, after deleting the `STEM<pid>-*` namespaces of processes that are gone.
    pub fn create(stem: &str, tag: &str) -> Result<Self> {
        remove_stale(stem);
        let ns = Self {
            name: format!("{stem}{}-{tag}", std::process::id()),
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
        self.enter_for_good()?;
        Ok(Entered {
            original: original.into(),
        })
    }

    /// Moves the calling thread into this namespace, with no way back but entering another.
    pub fn enter_for_good(&self) -> Result<()> {
        set_netns(&format!("/run/netns/{}", self.name))
    }

    /// `ip netns del NAME`.
    pub(crate) fn delete(&self) -> Result<()> {
        cmd::new("ip")
            .args(["netns", "del", &self.name])
            .run_quiet()?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(error) = self.delete() {
            eprintln!("rig: cannot remove namespace {}: {error:#}", self.name);
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
                "rig: cannot return to the original network namespace: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Runs `f` on a thread of its own inside the named namespace `ns` (`/run/netns/NS`) and
/// returns its result. A socket `f` opens stays in that namespace and can be used from any
/// thread afterwards.
pub fn within<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            set_netns(&path)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn set_netns(path: &str) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
    // SAFETY: a valid namespace descriptor; affects only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {path}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Deletes the `STEM<pid>-*` namespaces whose process is gone.
fn remove_stale(stem: &str) {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if stale_pid(stem, &name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = cmd::new("ip").args(["netns", "del", &name]).run_quiet();
        }
    }
}

/// The pid in `name` when it is `STEM<pid>-TAG`.
fn stale_pid<'a>(stem: &str, name: &'a str) -> Option<&'a str> {
    let (pid, _tag) = name.strip_prefix(stem)?.split_once('-')?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::stale_pid;

    #[test]
    fn only_stem_pid_tag_names_carry_a_pid() {
        assert_eq!(stale_pid("anc-bn", "anc-bn123-run"), Some("123"));
        assert_eq!(stale_pid("anc-bn", "anc-bn123-"), Some("123"));
        assert_eq!(stale_pid("anc-bn", "anc-bnx12-run"), None);
        assert_eq!(stale_pid("anc-bn", "anc-bn-run"), None);
        assert_eq!(stale_pid("anc-bn", "anc-bn123"), None);
        assert_eq!(stale_pid("anc-bn", "anc-fx123-fx"), None);
    }
}
