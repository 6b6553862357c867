//! Running external commands: the generic part (PATH with the tool cache, errors that name the
//! command line) lives in [`anchor_rig::cmd`]; this adds what only the tasks need, cargo in the
//! workspace.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use anchor_rig::cmd::*;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
}

/// Cargo's target directory for the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// `cargo ARGS` in the workspace root.
pub fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = new("cargo");
    cmd.args(args).current_dir(workspace_root());
    cmd
}

/// `cargo test [--release] --package anchor-tests --test TEST -- --nocapture`: one of the
/// integration tests on its own, its output shown (the long runs set its sizes in the
/// environment).
pub fn cargo_test(test: &str, release: bool) -> Command {
    let mut cmd = cargo(["test"]);
    if release {
        cmd.arg("--release");
    }
    cmd.args([
        "--package",
        "anchor-tests",
        "--test",
        test,
        "--",
        "--nocapture",
    ]);
    cmd
}
