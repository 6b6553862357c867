//! `anchor-bench`: the anchor's benchmarks, every number a ratio to a baseline measured in the
//! same run (the machines are shared and noisy). Prints a table and writes JSON.
//!
//! 1. cost per packet inside the kernel (BPF_PROG_TEST_RUN) next to reference programs;
//! 2. the same with 10k and 1M bindings;
//! 3. forwarding rate on a veth line against the kernel's own paths and a bare redirect;
//! 4. control-plane install rates;
//! 5. kernel memory of the maps at 1M bindings.
//!
//! Needs root (BPF, namespaces). `--quick` runs every benchmark with tiny counts and judges no
//! target: it only checks that everything works.
#![expect(
    clippy::cast_precision_loss,
    reason = "counts, bytes and nanoseconds become f64 rates and ratios; none comes near 2^52"
)]

mod bindings;
mod cmd_load;
mod compare;
mod control;
mod cost;
mod first_frame;
mod forwarding;
mod handover;
mod maps;
mod memory;
mod nexthops;
mod objects;
mod report;
mod signalling;
mod stats;

use std::{path::PathBuf, process::ExitCode, time::Instant};

use anyhow::{Result, bail};
use clap::Parser;

use crate::report::Report;

/// The stem of the benchmarks' network namespaces, `anc-bn<pid>-TAG` (see [`anchor_rig::Netns`]).
const NETNS_STEM: &str = "anc-bn";

#[derive(Parser)]
#[command(about = "Benchmarks of the anchor data plane and control plane")]
struct Cli {
    /// Tiny counts: check that every benchmark works, judge no target.
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench/results.json")]
    out: PathBuf,
    /// Run only these parts (default: all).
    #[arg(long, value_enum)]
    only: Vec<Part>,
    /// Compare every row with an earlier report (read before this run writes its own), and
    /// fail when a row lost more than 10 % (a full run only).
    #[arg(long, value_name = "OLD.json")]
    compare: Option<PathBuf>,
}

/// Parts of the benchmark that run on their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// Sections 1, 2 and 5: BPF_PROG_TEST_RUN cost, scale, memory.
    Cost,
    /// Section 3: forwarding rate on veth.
    Forwarding,
    /// Section 4: control-plane rates (the batched rate comes from `cost`).
    Control,
    /// Section 4: the handover stall on the grown rig.
    Handover,
    /// Section 4: the CMD's sustained moves per second on each store, and its failover.
    Cmd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    // SAFETY: a plain query of the process's credentials.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the benchmarks load BPF programs and create network namespaces: run as root");
    }
    let start = Instant::now();
    let earlier = cli
        .compare
        .as_deref()
        .map(compare::Earlier::read)
        .transpose()?;
    let runs = |part: Part| cli.only.is_empty() || cli.only.contains(&part);
    let mut report = Report::new(cli.quick);
    let mut install = None;
    if runs(Part::Cost) {
        eprintln!("bench: sections 1, 2 and 5 (BPF_PROG_TEST_RUN, scale, memory)");
        install = Some(cost::run(&mut report, cli.quick)?);
    }
    if runs(Part::Forwarding) {
        eprintln!("bench: section 3 (forwarding rate)");
        forwarding::run(&mut report, cli.quick)?;
    }
    if runs(Part::Control) {
        eprintln!("bench: section 4 (control plane)");
        control::run(&mut report, cli.quick, install.as_ref())?;
    }
    if runs(Part::Cmd) {
        eprintln!("bench: section 4 (the CMD's capacity and failover)");
        cmd_load::run(&mut report, cli.quick, &handover::anchor_binary()?)?;
    }
    if runs(Part::Handover) {
        eprintln!("bench: section 4 (handover stall)");
        handover::run(&mut report, cli.quick)?;
    }
    report.rows.sort_by_key(|row| row.section);
    println!("{}", report.table());
    report.write_json(&cli.out)?;
    if let Some(earlier) = &earlier {
        let changes = compare::changes(&report, earlier);
        println!("\n{}", compare::table(&changes, earlier));
        let lost = changes.iter().filter(|c| c.flagged()).count();
        if lost > 0 && !cli.quick {
            bail!("{lost} rows lost more than 10 % against the earlier report");
        }
    }
    println!(
        "bench: {} rows in {} s, written to {}{}",
        report.rows.len(),
        start.elapsed().as_secs(),
        cli.out.display(),
        if cli.quick {
            " (quick: nothing judged)"
        } else {
            ""
        }
    );
    Ok(())
}
