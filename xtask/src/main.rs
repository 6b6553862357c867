//! Project tasks: `cargo xtask setup | doctor | build | dist | test | bench | fuzz | churn | demo |
//! rig up | rig down | rig status`.

mod bench;
mod churn;
mod cmd;
mod demo;
mod disk;
mod dist;
mod doctor;
mod fuzz;
mod rig;
mod setup;
mod test;

use std::{path::PathBuf, process::ExitCode};

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
    /// The man pages, shell completions and Debian package, in target/dist/.
    Dist {
        /// Package the debug build instead of the release build.
        #[arg(long)]
        debug: bool,
    },
    /// Check formatting, run clippy, build, and run every test.
    Test,
    /// Run the benchmarks: a table of ratios to baselines, and bench/results.json.
    Bench {
        /// Tiny counts: check that every benchmark works, judge nothing.
        #[arg(long)]
        quick: bool,
        /// Compare every row with an earlier report (for example
        /// bench/results-previous.json); a full run fails when a row lost more than 10 %.
        #[arg(long, value_name = "OLD.json")]
        compare: Option<PathBuf>,
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
    /// Long churn under load: bindings rewritten at a high rate while traffic flows through one
    /// that does not change; prints the rates reached and fails on any packet lost.
    Churn {
        /// Bindings installed (at most 1048576).
        #[arg(long, default_value_t = 1_000_000)]
        bindings: u64,
        /// Seconds of updates.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The most updates a second.
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
    },
    /// Move a mobile node between two anchor routers while a TCP stream runs.
    Demo {
        /// The fast path alone: bindings typed with the CLI, no CMD, no MAARs.
        #[arg(long, conflicts_with = "scenario")]
        manual: bool,
        /// Runs one RFC 8818 scenario test instead, printing what it measures: nomadic,
        /// redirection, near-cn, relocation, repeated or roam.
        #[arg(long, value_name = "NAME")]
        scenario: Option<String>,
    },
    /// Build, remove or inspect the demo's network namespaces (no daemons), or, with
    /// --topology, those of a topology file with its CMD and MAARs running.
    Rig {
        #[command(subcommand)]
        action: RigAction,
    },
}

#[derive(Subcommand)]
enum RigAction {
    /// Build the topology and leave it up.
    Up {
        #[command(flatten)]
        topology: TopologyArg,
        /// With --topology: build the namespaces only, start no daemon.
        #[arg(long)]
        no_daemons: bool,
    },
    /// Remove the topology and stop every process in it, also after a failed run.
    Down {
        #[command(flatten)]
        topology: TopologyArg,
    },
    /// List the topology's namespaces that are present and the processes (daemons) in them.
    Status {
        #[command(flatten)]
        topology: TopologyArg,
    },
}

#[derive(clap::Args)]
struct TopologyArg {
    /// A topology file (TOML, such as rig/topologies/three-ars.toml) instead of the demo's
    /// fixed rig.
    #[arg(long, value_name = "FILE")]
    topology: Option<std::path::PathBuf>,
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
        Task::Doctor => {
            doctor::doctor();
            Ok(())
        }
        Task::Build { release } => build(release),
        Task::Dist { debug } => dist::dist(debug).map(drop),
        Task::Test => {
            let caps = doctor::require(probe::Task::Test)?;
            test::test(&caps)
        }
        Task::Bench { quick, compare } => bench::bench(quick, compare.as_deref()),
        Task::Fuzz {
            frames,
            seed,
            decoder_seconds,
        } => {
            doctor::require(probe::Task::Test)?;
            fuzz::fuzz(frames, seed, decoder_seconds)
        }
        Task::Churn {
            bindings,
            seconds,
            rate,
        } => {
            doctor::require(probe::Task::Test)?;
            churn::churn(bindings, seconds, rate)
        }
        Task::Demo { manual, scenario } => {
            if let Some(name) = &scenario {
                demo::scenario_test(name)?;
            }
            doctor::require(probe::Task::Demo)?;
            build(false)?;
            match scenario {
                Some(name) => demo::scenario(&name),
                None => demo::demo(manual),
            }
        }
        Task::Rig { action } => {
            let (action, topology) = match action {
                RigAction::Up {
                    topology,
                    no_daemons,
                } => (rig::Action::Up { no_daemons }, topology.topology),
                RigAction::Down { topology } => (rig::Action::Down, topology.topology),
                RigAction::Status { topology } => (rig::Action::Status, topology.topology),
            };
            // Once the file is read and checked: the daemons need the probe and a build.
            rig::rig(action, topology.as_deref(), || {
                doctor::require(probe::Task::Demo)?;
                build(false)
            })
        }
    }
}

fn build(release: bool) -> Result<()> {
    let mut cargo = cmd::cargo(["build"]);
    if release {
        cargo.arg("--release");
    }
    cargo.run()
}
