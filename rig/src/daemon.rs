//! One router's `anchor run` in its namespace, and the `anchor` CLI against its API socket.
//!
//! The daemon enters only the router's network namespace (`nsenter --net`), not a mount
//! namespace of its own as under `ip netns exec`: its state is pinned on the host's bpffs
//! ([`BPFFS`]), under the instance named after the namespace, and outlives it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::cancel::pause;
use crate::cmd::{self, Run as _};
use crate::process::Proc;

/// How long a daemon gets to open its API socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a daemon gets to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The bpffs the daemons pin their state on (their default).
pub const BPFFS: &str = "/sys/fs/bpf";

/// Where the daemon of instance `instance` pins its state.
pub fn pin_dir(instance: &str) -> PathBuf {
    Path::new(BPFFS).join("anchor").join(instance)
}

/// What a router's daemon is configured with.
#[derive(Clone, Debug)]
pub struct Router {
    /// Short name (`r1`), for file names and messages.
    pub name: &'static str,
    /// Its network namespace.
    pub ns: String,
    pub locator: &'static str,
    pub interfaces: Vec<Interface>,
    /// Names its pinned state ([`pin_dir`]); unique on the host.
    pub instance: String,
    /// `max_bindings`, when not the default.
    pub max_bindings: Option<u32>,
    /// Run with `--detach-on-exit`.
    pub detach_on_exit: bool,
    /// `log_format`, when not the default (`text`).
    pub log_format: Option<&'static str>,
    /// `metrics_listen`, when not the default (127.0.0.1:9469).
    pub metrics_listen: Option<String>,
}

/// One `[[interface]]` of a router's config.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: &'static str,
    /// `core` or `access`.
    pub role: &'static str,
    /// `native` or `skb`.
    pub xdp_mode: &'static str,
    /// `source_validation = true` (access interfaces); left out of the config when false.
    pub source_validation: bool,
}

impl Router {
    /// The config file's text.
    pub fn config(&self, api_socket: &Path) -> String {
        let mut text = format!(
            "locator = \"{}\"\napi_socket = \"{}\"\ninstance = \"{}\"\n",
            self.locator,
            api_socket.display(),
            self.instance
        );
        if let Some(max_bindings) = self.max_bindings {
            let _ = writeln!(text, "max_bindings = {max_bindings}");
        }
        if let Some(log_format) = self.log_format {
            let _ = writeln!(text, "log_format = \"{log_format}\"");
        }
        if let Some(listen) = &self.metrics_listen {
            let _ = writeln!(text, "metrics_listen = \"{listen}\"");
        }
        for iface in &self.interfaces {
            let _ = writeln!(
                text,
                "\n[[interface]]\nname = \"{}\"\nrole = \"{}\"\nxdp_mode = \"{}\"",
                iface.name, iface.role, iface.xdp_mode
            );
            if iface.source_validation {
                text.push_str("source_validation = true\n");
            }
        }
        text
    }
}

/// A running `anchor run`. Dropping it stops it (SIGTERM, SIGKILL after a timeout); when the
/// thread is panicking (a failed test) the end of its log is printed.
pub struct Daemon {
    name: &'static str,
    anchor: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    proc: Proc,
}

impl Daemon {
    /// Writes the router's config to `dir`, starts `ANCHOR run --config FILE` in the router's
    /// network namespace with its output appended to `dir/NAME.log` (a restarted daemon adds
    /// to the log of the one before), and waits for the API socket.
    pub fn start(anchor: &Path, dir: &Path, router: &Router) -> Result<Daemon> {
        Self::start_with_config(anchor, dir, router, "")
    }

    /// [`Daemon::start`] with `extra` appended to the router's configuration (a `[maar]`
    /// section, for example).
    pub fn start_with_config(
        anchor: &Path,
        dir: &Path,
        router: &Router,
        extra: &str,
    ) -> Result<Daemon> {
        let socket = dir.join(format!("{}.sock", router.name));
        let config = dir.join(format!("{}.toml", router.name));
        let log = dir.join(format!("{}.log", router.name));
        std::fs::write(&config, router.config(&socket) + extra)
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut command = cmd::in_netns_only(&router.ns, anchor);
        command.arg("run").arg("--config").arg(&config);
        if router.detach_on_exit {
            command.arg("--detach-on-exit");
        }
        command.stdout(log_file.try_clone()?).stderr(log_file);
        let mut daemon = Daemon {
            name: router.name,
            anchor: anchor.to_owned(),
            socket,
            log,
            proc: Proc::spawn(router.name, &mut command)?,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        // Connecting, not just seeing the file: a killed daemon leaves its socket file behind.
        while std::os::unix::net::UnixStream::connect(&daemon.socket).is_err() {
            let exited = daemon.proc.try_wait()?;
            if exited.is_some() || Instant::now() > deadline {
                let why = exited.map_or(
                    format!(
                        "did not answer on {} within {START_TIMEOUT:?}",
                        daemon.socket.display()
                    ),
                    |s| format!("exited ({s})"),
                );
                bail!(
                    "router {} (`{}`) {why}; the end of its log:\n{}",
                    router.name,
                    cmd::describe(&command),
                    daemon.log_tail()
                );
            }
            pause(Duration::from_millis(50))?;
        }
        Ok(daemon)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the daemon has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|err| format!("(cannot read {}: {err})", self.log.display()))
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        cmd::tail(self.log().as_bytes())
    }

    /// Runs `anchor ARGS --socket SOCKET` (a client command such as `binding add ...` or
    /// `stats --json`) and returns its stdout; the error shows its output when it fails.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        cmd::new(&self.anchor)
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .read_stdout()
            .with_context(|| format!("router {}: `anchor {}` failed", self.name, args.join(" ")))
    }

    /// Stops the daemon with SIGTERM and returns its exit status; fails when it had to be killed.
    pub fn stop(mut self) -> Result<std::process::ExitStatus> {
        self.proc.stop_with("TERM", STOP_TIMEOUT)
    }

    /// Kills the daemon with SIGKILL (it cleans nothing up) and waits for it to be gone.
    pub fn kill(mut self) -> Result<std::process::ExitStatus> {
        self.proc.stop_with("KILL", STOP_TIMEOUT)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "router {}: the end of its log ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
        // `proc` is dropped next: SIGTERM, then SIGKILL.
    }
}
