//! `cargo xtask doctor`: what this machine can do for anchor, its tests and its benchmarks,
//! probed for real (see [`anchor_rig::probe`]); and the check that `test` and `demo` run first.

use anchor_rig::probe::{self, Capability, Task};
use anyhow::Result;

/// Prints the table; never fails for an absence (that is what it reports).
pub fn doctor() {
    let caps = probe::probe_all();
    print!("{}", probe::table(&caps));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("kernel {}", kernel.trim());
    let absent: Vec<&Capability> = caps.iter().filter(|c| !c.present()).collect();
    if absent.is_empty() {
        println!("doctor: everything is here");
    } else {
        println!(
            "doctor: absent: {}",
            absent.iter().map(|c| c.name).collect::<Vec<_>>().join("; ")
        );
    }
}

/// Probes, and fails at once naming what `task` cannot do without. Returns the capabilities
/// for the task to report what it could not run.
pub fn require(task: Task) -> Result<Vec<Capability>> {
    let caps = probe::probe_all();
    probe::require(&caps, task)?;
    Ok(caps)
}
