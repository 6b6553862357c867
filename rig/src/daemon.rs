//! One router's `anchor run` in its namespace, and the `anchor` CLI against its API socket.

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

/// What a router's daemon is configured with.
#[derive(Clone, Debug)]
pub struct Router {
    /// Short name (`r1`), for file names and messages.
    pub name: &'static str,
    /// Its network namespace.
    pub ns: String,
    pub locator: &'static str,
    pub interfaces: Vec<Interface>,
}

/// One `[[interface]]` of a router's config.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: &'static str,
    /// `core` or `access`.
    pub role: &'static str,
    /// `native` or `skb`.
    pub xdp_mode: &'static str,
}

impl Router {
    /// The config file's text.
    pub fn config(&self, api_socket: &Path) -> String {
        let mut text = format!(
            "locator = \"{}\"\napi_socket = \"{}\"\n",
            self.locator,
            api_socket.display()
        );
        for iface in &self.interfaces {
            text.push_str(&format!(
                "\n[[interface]]\nname = \"{}\"\nrole = \"{}\"\nxdp_mode = \"{}\"\n",
                iface.name, iface.role, iface.xdp_mode
            ));
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
    /// namespace with its output going to `dir/NAME.log`, and waits for the API socket.
    pub fn start(anchor: &Path, dir: &Path, router: &Router) -> Result<Daemon> {
        let socket = dir.join(format!("{}.sock", router.name));
        let config = dir.join(format!("{}.toml", router.name));
        let log = dir.join(format!("{}.log", router.name));
        std::fs::write(&config, router.config(&socket))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = cmd::in_netns(&router.ns, anchor);
        command
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let mut daemon = Daemon {
            name: router.name,
            anchor: anchor.to_owned(),
            socket,
            log,
            proc: Proc::spawn(router.name, &mut command)?,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        while !daemon.socket.exists() {
            let exited = daemon.proc.try_wait()?;
            if exited.is_some() || Instant::now() > deadline {
                let why = exited.map_or(
                    format!(
                        "did not open {} within {START_TIMEOUT:?}",
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
