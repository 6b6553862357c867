//! Project tasks: `cargo xtask setup | doctor | build | test | bench | fuzz | demo | rig up | rig down`.

mod bench;
mod cmd;
mod demo;
mod doctor;
mod fuzz;
mod setup;
mod test;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use anchor_rig::probe;

use crate::cmd::Run as _;

#[derive(Parser)]
#[command(about = "Tasks of the anchor project", disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install and check everything the other tasks need (root, kernel, packages, toolchains).
    Setup,
    /// Probe what this machine can do (BPF, XDP, kernel tunnels, ESP, tools) and what each absence disables.
    Doctor,
    /// Build the workspace's default members (the eBPF program is built by anchor-user's build script).
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Check formatting, run clippy, build, and run every test.
    Test,
    /// Run the benchmarks: a table of ratios to baselines, and bench/results.json.
    Bench {
        /// Tiny counts: check that every benchmark works, judge nothing.
        #[arg(long)]
        quick: bool,
    },
    /// Long fuzzing: random frames through the XDP program (frames per second), then the
    /// signaling decoder and the CMD's engine with cargo-fuzz.
    Fuzz {
        /// Frames through the XDP program.
        #[arg(long, default_value_t = 10_000_000)]
        frames: u64,
        /// The generator's seed (a run is repeatable).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seconds of cargo-fuzz on the signaling decoder, and again on each engine.
        #[arg(long, default_value_t = 600)]
        decoder_seconds: u32,
    },
    /// Move a mobile node between two anchor routers while a TCP stream runs.
    Demo {
        /// The fast path alone: bindings typed with the CLI, no CMD, no MAARs.
        #[arg(long)]
        manual: bool,
    },
    /// Build or remove the demo's network namespaces, without daemons.
    Rig {
        #[command(subcommand)]
        action: RigAction,
    },
}

#[derive(Subcommand)]
enum RigAction {
    /// Build the topology and leave it up.
    Up,
    /// Remove the topology and stop every process in it.
    Down,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The chain of contexts, without the backtrace RUST_BACKTRACE would add.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    setup::setup()?;
    match task {
        Task::Setup => Ok(()),
        Task::Doctor => doctor::doctor(),
        Task::Build { release } => build(release),
        Task::Test => {
            let caps = doctor::require(probe::Task::Test)?;
            test::test(&caps)
        }
        Task::Bench { quick } => bench::bench(quick),
        Task::Fuzz {
            frames,
            seed,
            decoder_seconds,
        } => {
            doctor::require(probe::Task::Test)?;
            fuzz::fuzz(frames, seed, decoder_seconds)
        }
        Task::Demo { manual } => {
            doctor::require(probe::Task::Demo)?;
            build(false)?;
            demo::demo(manual)
        }
        Task::Rig { action } => match action {
            RigAction::Up => {
                let rig = anchor_rig::Rig::build(demo::PREFIX)?;
                println!("{}", rig.describe());
                rig.keep();
                Ok(())
            }
            RigAction::Down => anchor_rig::topology::teardown(demo::PREFIX),
        },
    }
}

fn build(release: bool) -> Result<()> {
    let mut cargo = cmd::cargo(["build"]);
    if release {
        cargo.arg("--release");
    }
    cargo.run()
}
