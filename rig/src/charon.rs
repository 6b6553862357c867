//! strongSwan's IKE daemon (`charon`) in a network namespace, with a private `/run` (its pid
//! file and control socket) and its vici socket and configuration in a directory of the
//! caller's; stopped on drop. The strongSwan test and `cargo xtask doctor` start it this way.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// Where Debian's strongswan-charon installs the daemon.
pub const CHARON: &str = "/usr/lib/ipsec/charon";
/// How long charon may take to open its vici socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Charon {
    child: Child,
    vici: PathBuf,
    ns: String,
}

impl Charon {
    /// Starts charon in namespace `ns`; `dir` gets `strongswan-NAME.conf`, `charon-NAME.vici`
    /// and its output in `charon-NAME.log`. Waits for the vici socket.
    pub fn start(ns: &str, dir: &Path, name: &str) -> Result<Charon> {
        if !Path::new(CHARON).is_file() {
            bail!("{CHARON} is missing (package strongswan-charon)");
        }
        let vici = dir.join(format!("charon-{name}.vici"));
        let conf = dir.join(format!("strongswan-{name}.conf"));
        let log_path = dir.join(format!("charon-{name}.log"));
        std::fs::write(
            &conf,
            format!(
                "charon {{\n  install_routes = no\n  plugins {{\n    vici {{\n      \
                 socket = unix://{}\n    }}\n  }}\n}}\n",
                vici.display()
            ),
        )
        .with_context(|| format!("cannot write {}", conf.display()))?;
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "unshare",
                "--mount",
                "--propagation",
                "private",
            ])
            .args([
                "sh",
                "-c",
                &format!("mount -t tmpfs tmpfs /run && exec {CHARON}"),
            ])
            .env("STRONGSWAN_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {CHARON}"))?;
        let charon = Charon {
            child,
            vici,
            ns: ns.to_owned(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !charon.vici.exists() {
            if Instant::now() > deadline {
                bail!(
                    "charon did not open {} within {START_TIMEOUT:?}: {}",
                    charon.vici.display(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(charon)
    }

    /// `swanctl ARGS` against this charon, in its namespace.
    pub fn swanctl(&self, args: &[&str]) -> Command {
        let mut command = cmd::in_netns(&self.ns, "swanctl");
        command
            .args(args)
            .arg("--uri")
            .arg(format!("unix://{}", self.vici.display()));
        command
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        // `ip netns exec`, unshare and sh each exec the next: the child is charon itself.
        // SAFETY: a plain signal to our own child.
        unsafe { libc::kill(self.child.id().cast_signed(), libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
