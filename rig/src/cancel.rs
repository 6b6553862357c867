//! Cancellation by Ctrl-C: a program that installs a handler calls [`interrupt`] from it, and every
//! wait in this crate ([`pause`], [`Proc::wait`](crate::Proc::wait), daemon start) then fails with
//! "interrupted", so that the guards on the way out stop the processes and delete the namespaces.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Marks the program as interrupted; returns whether it already was (a second Ctrl-C).
pub fn interrupt() -> bool {
    INTERRUPTED.swap(true, Ordering::SeqCst)
}

/// Fails once [`interrupt`] has been called.
pub fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps for `duration`, failing as soon as [`interrupt`] is called.
pub fn pause(duration: Duration) -> Result<()> {
    let end = Instant::now() + duration;
    loop {
        check_interrupted()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}
