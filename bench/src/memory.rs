//! Section 5: the kernel memory of the program's maps, as the kernel accounts it.

use std::os::fd::AsFd as _;

use anyhow::Result;
use aya::programs::Xdp;

use crate::{
    maps::{memlock, program_maps},
    report::{Bound, Report, Row},
};

const SECTION: &str = "5. memory";
const MIB: f64 = 1024.0 * 1024.0;

/// The row named `name` for the maps of the loaded `program`; with `target`, judged against
/// the 160 MiB budget.
pub fn push_row(
    report: &mut Report,
    program: &Xdp,
    name: String,
    target: bool,
    quick: bool,
) -> Result<()> {
    report.method(
        "memlock",
        "the `memlock` line of /proc/self/fdinfo/<fd> of each map the program uses (what the \
         kernel charges for it), summed",
    );
    let mut per_map = Vec::new();
    for map in program_maps(program)? {
        per_map.push((map.name.clone(), memlock(map.fd.as_fd())?));
    }
    per_map.sort_by_key(|m| std::cmp::Reverse(m.1));
    let total: u64 = per_map.iter().map(|(_, b)| b).sum();
    let breakdown: Vec<String> = per_map
        .iter()
        .map(|(name, bytes)| format!("{name} {:.1}", *bytes as f64 / MIB))
        .collect();
    let mut row = Row::new(SECTION, name, total as f64 / MIB, "MiB")
        .method("memlock")
        .note(format!(
            "MiB per map: {} ({} possible CPUs)",
            breakdown.join(", "),
            report.possible_cpus
        ));
    if target {
        row = row.target(Bound::AtMost, 160.0, quick);
    }
    report.push(row);
    Ok(())
}
