use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow, bail};
use aya_build::{Package, Toolchain};

/// Where `cargo xtask setup` installs bpf-linker, under `$HOME`.
const TOOL_CACHE_BIN: &str = ".cache/anchor-tools/bin";

fn main() -> anyhow::Result<()> {
    put_bpf_linker_on_path()?;
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest
        .parent()
        .ok_or_else(|| anyhow!("no workspace root"))?;
    // The router's XDP program, and the mobile node's programs for client-based DMM.
    let anchor = workspace.join("anchor-ebpf");
    let anchor = anchor.to_str().context("non-UTF-8 path")?;
    let client = workspace.join("client").join("ebpf");
    let client = client.to_str().context("non-UTF-8 path")?;
    aya_build::build_ebpf(
        [
            Package {
                name: "anchor-ebpf",
                root_dir: anchor,
                ..Default::default()
            },
            Package {
                name: "anchor-client-ebpf",
                root_dir: client,
                ..Default::default()
            },
        ],
        Toolchain::Nightly,
    )
}

/// The eBPF crate links with bpf-linker. A plain `cargo build` finds it where the set-up put it
/// (the tool cache) even when that is not on PATH; when it is nowhere, the build fails with one
/// line that says what to run.
fn put_bpf_linker_on_path() -> anyhow::Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if dirs.iter().any(|dir| dir.join("bpf-linker").is_file()) {
        return Ok(());
    }
    let cache = std::env::var_os("HOME").map(|home| Path::new(&home).join(TOOL_CACHE_BIN));
    match cache {
        Some(cache) if cache.join("bpf-linker").is_file() => {
            dirs.insert(0, cache);
            let joined: OsString =
                std::env::join_paths(dirs).context("PATH cannot hold the tool cache")?;
            // SAFETY: the build script is single-threaded here; the variable is read by the
            // cargo process that aya-build starts next.
            unsafe { std::env::set_var("PATH", joined) };
            Ok(())
        }
        _ => bail!(
            "bpf-linker is not installed (neither on PATH nor in ~/{TOOL_CACHE_BIN}): \
             run `cargo xtask setup` first"
        ),
    }
}
