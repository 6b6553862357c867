//! `cargo xtask test`: the checks CI runs, in order, stopping at the first failure.

use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};

/// The steps, in order. Cargo commands without `--workspace` act on the workspace's default
/// members, which leave out the eBPF crate: it only builds for the BPF target with nightly (the
/// userspace crate's build script builds it), and stable clippy cannot check it.
const STEPS: &[(&str, &[&str])] = &[
    ("format", &["fmt", "--all", "--check"]),
    (
        "clippy",
        &["clippy", "--all-targets", "--", "-D", "warnings"],
    ),
    // The tests drive the real `anchor` binary: build it first.
    ("build", &["build"]),
    // Privileged tests share kernel state (namespaces, XDP attachments): one at a time.
    ("tests", &["test", "--", "--test-threads=1"]),
];

pub fn test() -> Result<()> {
    let start = Instant::now();
    for (name, args) in STEPS {
        println!("test: {name}: cargo {}", args.join(" "));
        cmd::cargo(*args)
            .run()
            .with_context(|| format!("test step `{name}` failed"))?;
    }
    let names: Vec<&str> = STEPS.iter().map(|(name, _)| *name).collect();
    println!(
        "test: ok ({}) in {} s",
        names.join(", "),
        start.elapsed().as_secs()
    );
    Ok(())
}
