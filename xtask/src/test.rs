//! `cargo xtask test`: the checks CI runs, in order, stopping at the first failure.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::Instant,
};

use anchor_rig::probe::Capability;
use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, Run as _};

/// The steps, in order. Cargo commands without `--workspace` act on the workspace's default
/// members, which leave out the eBPF crates: they only build for the BPF target with nightly (the
/// build scripts of `anchor-user` and `anchor-bench` build them), and stable clippy cannot check
/// them.
const STEPS: &[(&str, &[&str])] = &[
    ("format", &["fmt", "--all", "--check"]),
    (
        "clippy",
        &["clippy", "--all-targets", "--", "-D", "warnings"],
    ),
    // The eBPF crates (the anchor program, the benchmarks' programs, the mobile node's), with
    // the nightly and
    // target they are built with.
    (
        "clippy (eBPF)",
        &[
            "+nightly",
            "clippy",
            "--package",
            "anchor-ebpf",
            "--package",
            "anchor-bench-ebpf",
            "--package",
            "anchor-client-ebpf",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--release",
            "--",
            "-D",
            "warnings",
        ],
    ),
    // The tests drive the real `anchor` binary: build it first.
    ("build", &["build"]),
    // Privileged tests share kernel state (namespaces, XDP attachments): one at a time. Every
    // test binary runs even after a failure, so that the closing line counts them all.
    (
        "tests",
        &["test", "--no-fail-fast", "--", "--test-threads=1"],
    ),
];

/// What a fresh clone's `cargo xtask test` writes under `target/` and the fuzz crates' targets,
/// measured (4.4 GiB, after the debug builds went to line tables only; 12 GiB before); said at
/// the start, beside the space free.
const FRESH_BUILD_GIB: u32 = 5;

pub fn test(caps: &[Capability]) -> Result<()> {
    let start = Instant::now();
    let root = cmd::workspace_root();
    let free_at_start = crate::disk::free_bytes(root);
    println!(
        "test: {} free on the disk of {} (a fresh clone's build takes about {} GiB)",
        crate::disk::describe(free_at_start),
        root.display(),
        FRESH_BUILD_GIB
    );
    let mut totals = Totals::default();
    for (name, args) in STEPS {
        println!("test: {name}: cargo {}", args.join(" "));
        let mut command = cmd::cargo(*args);
        if *name == "tests" {
            let (counted, status) =
                run_counting(&mut command).with_context(|| format!("test step `{name}` failed"))?;
            totals = counted;
            if !status.success() {
                println!("{}", closing_line(&totals, caps));
                bail!(
                    "test step `{name}` failed ({status}): {} failed",
                    totals.failed
                );
            }
        } else {
            command
                .run()
                .with_context(|| format!("test step `{name}` failed"))?;
        }
    }
    // Every benchmark must still work (a quick run judges no speed).
    println!("test: bench (quick): cargo xtask bench --quick");
    crate::bench::command(true)
        .run()
        .context("test step `bench (quick)` failed")?;
    crate::fuzz::fuzz_decoder(crate::fuzz::CI_DECODER_SECONDS)
        .context("test step `fuzz (decoder)` failed")?;
    crate::fuzz::fuzz_cmd_engine(crate::fuzz::CI_ENGINE_SECONDS)
        .context("test step `fuzz (CMD engine)` failed")?;
    crate::fuzz::fuzz_maar_engine(crate::fuzz::CI_ENGINE_SECONDS)
        .context("test step `fuzz (MAAR engine)` failed")?;
    let mut names: Vec<&str> = STEPS.iter().map(|(name, _)| *name).collect();
    names.push("bench (quick)");
    names.push("fuzz (decoder)");
    names.push("fuzz (CMD engine)");
    names.push("fuzz (MAAR engine)");
    println!(
        "test: ok ({}) in {} s; {} free on the disk at the end",
        names.join(", "),
        start.elapsed().as_secs(),
        crate::disk::describe(crate::disk::free_bytes(root))
    );
    // One closing line for the whole run, over every test binary.
    println!("{}", closing_line(&totals, caps));
    Ok(())
}

/// `tests: N passed, M failed`, and what this machine could not run.
fn closing_line(totals: &Totals, caps: &[Capability]) -> String {
    let mut line = format!("tests: {} passed, {} failed", totals.passed, totals.failed);
    let absent = anchor_rig::probe::absent_optional(caps);
    if !absent.is_empty() {
        line.push_str("; not run here: ");
        line.push_str(&absent.join("; "));
    }
    line
}

/// Test counts summed over the `test result:` lines of every test binary.
#[derive(Default, Debug, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
}

impl Totals {
    /// Adds the counts of one `test result: ok. 7 passed; 0 failed; ...` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim_start().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(kind), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = count.parse::<u64>() else {
                continue;
            };
            match kind {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                _ => {}
            }
        }
    }
}

/// Runs `command`, echoing its standard output line by line while counting test results; the
/// counts and the exit status.
fn run_counting(command: &mut Command) -> Result<(Totals, std::process::ExitStatus)> {
    let line = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let mut totals = Totals::default();
    if let Some(stdout) = child.stdout.take() {
        for text in BufReader::new(stdout).lines() {
            let text = text.context("reading test output")?;
            println!("{text}");
            totals.add_line(&text);
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{line}`"))?;
    Ok((totals, status))
}

#[cfg(test)]
mod tests {
    use super::Totals;

    #[test]
    fn totals_sum_result_lines_and_ignore_the_rest() {
        let mut t = Totals::default();
        t.add_line("test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.70s");
        t.add_line(
            "test result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        t.add_line("test foo ... ok");
        assert_eq!(
            t,
            Totals {
                passed: 12,
                failed: 2
            }
        );
    }
}
