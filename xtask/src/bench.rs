//! `cargo xtask bench [--quick]`: runs the benchmarks (`anchor-bench`), which print a table and
//! write a JSON report: `bench/results.json` for a full run, `target/bench/quick.json` for a
//! quick one (which judges nothing and must not replace the published figures).

use std::path::PathBuf;

use anyhow::Result;

use crate::cmd::{self, Run as _};

/// Where a run writes its report.
pub fn report_path(quick: bool) -> PathBuf {
    if quick {
        cmd::target_dir().join("bench/quick.json")
    } else {
        cmd::workspace_root().join("bench/results.json")
    }
}

/// The cargo command that runs the benchmarks: optimised for a full run; a quick run only
/// checks that every benchmark works and reuses the debug build of `cargo xtask test`.
pub fn command(quick: bool) -> std::process::Command {
    command_comparing(quick, None)
}

/// [`command`], comparing every row with the earlier report `compare`.
pub fn command_comparing(quick: bool, compare: Option<&std::path::Path>) -> std::process::Command {
    let mut cargo = cmd::cargo(["run", "--package", "anchor-bench"]);
    if !quick {
        cargo.arg("--release");
    }
    cargo.arg("--");
    if quick {
        cargo.arg("--quick");
    }
    cargo.arg("--out").arg(report_path(quick));
    if let Some(old) = compare {
        cargo.arg("--compare").arg(old);
    }
    cargo
}

/// The `anchor` binary of the same profile, which the handover benchmark runs as CMD and MAARs.
pub fn build_anchor(quick: bool) -> Result<()> {
    let mut cargo = cmd::cargo(["build", "--package", "anchor-user"]);
    if !quick {
        cargo.arg("--release");
    }
    cargo.run()
}

pub fn bench(quick: bool, compare: Option<&std::path::Path>) -> Result<()> {
    build_anchor(quick)?;
    command_comparing(quick, compare).run()
}
