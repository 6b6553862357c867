//! `cargo xtask dist [--debug]`: the man pages and shell completions rendered from the command
//! line (`target/dist/man/`, `target/dist/completions/`), and the Debian package
//! `target/dist/anchor_VERSION_ARCH.deb` built from them, the binary and `packaging/`.

use std::path::PathBuf;

use anchor_dist::{Compression, Inputs, build_deb};
use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};

/// Builds everything into `target/dist/`; the package's path.
pub fn dist(debug: bool) -> Result<PathBuf> {
    let profile = if debug { "debug" } else { "release" };
    let mut cargo = cmd::cargo(["build", "--package", "anchor-user", "--bins"]);
    if !debug {
        cargo.arg("--release");
    }
    cargo.run()?;
    let bin = cmd::target_dir().join(profile);
    let out = cmd::target_dir().join("dist");
    // Pages of commands that no longer exist must not linger into the package.
    for generated in ["man", "completions"] {
        let dir = out.join(generated);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    cmd::new(bin.join("anchor-docs")).arg(&out).run_quiet()?;
    let inputs = Inputs {
        workspace: cmd::workspace_root().to_owned(),
        binary: bin.join("anchor"),
        docs: out.clone(),
    };
    // A debug package is for tests: compressed fast.
    let compression = if debug {
        Compression::Fast
    } else {
        Compression::Xz
    };
    let deb = build_deb(&inputs, &out, compression).context("cannot build the Debian package")?;
    println!("dist: {}", deb.display());
    Ok(deb)
}
