//! Child processes that stop when dropped, and waiting for a listener in a namespace.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};

use crate::cancel::{check_interrupted, pause};
use crate::cmd::{self, Run as _};

/// How long a process gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// A started process; dropping it stops it (SIGTERM, then SIGKILL after 3 s).
pub struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, command: &mut Command) -> Result<Proc> {
        let child = command
            .spawn()
            .with_context(|| format!("cannot start `{}`", cmd::describe(command)))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the process has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("cannot check on {}", self.name))
    }

    /// Sends `signal` (a name such as `TERM` or `INT`) unless the process has exited.
    pub fn signal(&mut self, signal: &str) -> Result<()> {
        if self.try_wait()?.is_none() {
            cmd::new("kill")
                .arg(format!("-{signal}"))
                .arg(self.child.id().to_string())
                .run_quiet()
                .with_context(|| format!("cannot signal {}", self.name))?;
        }
        Ok(())
    }

    /// Waits for the process to exit; `None` when it was still running after `timeout` (it is
    /// killed then).
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            // A Ctrl-C in the terminal also ends the children: report the interruption instead.
            check_interrupted()?;
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Ok(None);
            }
            pause(Duration::from_millis(20))?;
        }
    }

    /// Sends `signal` and waits up to `timeout` for the process to exit; fails when it had to be
    /// killed.
    pub fn stop_with(&mut self, signal: &str, timeout: Duration) -> Result<ExitStatus> {
        self.signal(signal)?;
        let status = self.wait(timeout)?;
        status.with_context(|| {
            format!(
                "{} did not exit within {timeout:?} of SIG{signal} and was killed",
                self.name
            )
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.signal("TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A transport for [`wait_for_listener`].
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Tcp,
    Udp,
}

/// Waits until a socket listens on (TCP) or is bound to (UDP) `port` in `ns`.
pub fn wait_for_listener(
    ns: &str,
    transport: Transport,
    port: u16,
    timeout: Duration,
) -> Result<()> {
    let flags = match transport {
        Transport::Tcp => "-Hltn",
        Transport::Udp => "-Hlun",
    };
    let deadline = Instant::now() + timeout;
    loop {
        let out = cmd::in_netns(ns, "ss")
            .args([flags, &format!("sport = :{port}")])
            .read_stdout()?;
        if !out.trim().is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "nothing listens on {transport:?} port {port} in {ns} after {timeout:?}"
        );
        pause(Duration::from_millis(50))?;
    }
}
