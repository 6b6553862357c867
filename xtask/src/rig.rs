//! `cargo xtask rig up|down|status [--topology FILE]`: the demo's fixed rig (namespaces `anc-*`,
//! no daemons), or the topology of a file ([`anchor_rig::grown`]) with its CMD and MAARs running.

use std::path::{Path, PathBuf};

use anchor_rig::grown::{self, Daemons, Grown, Plan, Spec, spec::Dmm, status};
use anchor_rig::{Node, Rig};
use anyhow::{Context as _, Result, ensure};

use crate::{cmd, demo};

/// What to do with the rig.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// Build it and leave it up; with a topology, also start its daemons unless `no_daemons`.
    Up {
        no_daemons: bool,
    },
    Down,
    Status,
}

/// Runs `action` on the fixed rig, or on the topology of the file `topology`. `build_anchor`
/// builds the `anchor` binary: it runs before a topology with daemons is built, once the file
/// has been read and checked.
pub fn rig(
    action: Action,
    topology: Option<&Path>,
    build_anchor: impl FnOnce() -> Result<()>,
) -> Result<()> {
    match topology {
        None => fixed(action),
        Some(path) => {
            let spec = Spec::load(path)?;
            match action {
                Action::Up { no_daemons } => {
                    if !no_daemons {
                        build_anchor()?;
                    }
                    up(&spec, no_daemons)
                }
                Action::Down => down(&spec),
                Action::Status => {
                    let plan = Plan::new(&spec);
                    let namespaces = grown::namespaces(&plan, &spec.prefix);
                    println!("{}", status::report(&status::status(&namespaces)?));
                    let dir = run_dir(&spec.prefix);
                    if dir.exists() {
                        println!("rig: configs, logs and sockets in {}", dir.display());
                    }
                    Ok(())
                }
            }
        }
    }
}

/// The demo's rig, as before topologies.
fn fixed(action: Action) -> Result<()> {
    match action {
        Action::Up { .. } => {
            let rig = Rig::build(demo::PREFIX)?;
            println!("{}", rig.describe());
            rig.keep();
            Ok(())
        }
        Action::Down => anchor_rig::topology::teardown(demo::PREFIX),
        Action::Status => {
            let namespaces: Vec<String> = Node::ALL
                .iter()
                .map(|node| format!("{}{}", demo::PREFIX, node.suffix()))
                .collect();
            println!("{}", status::report(&status::status(&namespaces)?));
            Ok(())
        }
    }
}

/// Where `up` keeps the daemons' configs, logs, sockets and state:
/// `$TMPDIR/anchor-rig-PREFIX`.
fn run_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("anchor-rig-{}", prefix.trim_end_matches('-')))
}

fn up(spec: &Spec, no_daemons: bool) -> Result<()> {
    let grown = Grown::build(spec, &spec.prefix)?;
    println!("{}", grown.describe());
    if no_daemons {
        grown.keep();
        println!("rig: no daemons started; remove with `cargo xtask rig down --topology FILE`");
        return Ok(());
    }
    let anchor = cmd::target_dir().join("debug/anchor");
    ensure!(
        anchor.exists(),
        "{} is missing: the build did not produce it",
        anchor.display()
    );
    let dir = run_dir(&spec.prefix);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the old {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Declared after the topology: on a failure the daemons stop before the namespaces go.
    let daemons = Daemons::start(&grown, &anchor, &dir)?;
    grown.attach_start_links()?;
    let control = match spec.maar.dmm {
        Dmm::Network => "the CMD and",
        Dmm::Client => "`anchor client` on every mobile node (no CMD) and",
    };
    println!(
        "rig: {control} {} MAARs{} run; configs, logs and state in {}",
        spec.access_routers.len(),
        if spec.near_anchor.is_some() {
            " (and the near anchor's subscriber MAAR)"
        } else {
            ""
        },
        dir.display()
    );
    if let Some(ar) = spec.access_routers.first() {
        println!(
            "rig: try `{} mn list --socket {}`; `cargo xtask rig status --topology FILE`; \
             remove with `cargo xtask rig down --topology FILE`",
            anchor.display(),
            daemons.router(&ar.name).socket().display()
        );
    }
    daemons.keep();
    grown.keep();
    Ok(())
}

fn down(spec: &Spec) -> Result<()> {
    grown::teardown(spec, &spec.prefix)?;
    let dir = run_dir(&spec.prefix);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    println!(
        "rig: down: {} removed",
        grown::namespaces(&Plan::new(spec), &spec.prefix).join(" ")
    );
    Ok(())
}
