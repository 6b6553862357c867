//! Section 2: the same paths with 10k and 1M bindings in the map, against their cost with one
//! (section 1).

use std::time::Instant;

use anchor_common::{
    BindingKey, BindingStats, BindingValue, IfaceRole, config::DEFAULT_MAX_BINDINGS,
};
use anchor_rig::FixtureNet;
use anchor_user::datapath::Datapath;
use anyhow::{Context as _, Result};

use super::{
    FLOOR, ONE_LOOKUP, XDP_PASS, XDP_REDIRECT, XDP_TX,
    frames::{HOME, SERVING, tunnelled, udp_to, uplink},
    load_datapath,
    timing::{Case, Costs, Settings, measure},
};
use crate::{
    bindings::{address, random_prefixes},
    maps::{program_map, update_batch},
    memory, nexthops,
    objects::RefProgram,
    report::{Bound, Report, Row},
};

const SECTION: &str = "2. scale: bindings in the map";

const CACHED_PASS: &str = "pass-through, 64 flows";
const CACHED_ENCAP: &str = "encap hit, 64 flows";

/// Distinct destinations the traffic cycles over when the map is large.
const ACTIVE_FLOWS: usize = 4096;
/// The same with few destinations, whose map entries stay in the CPU caches.
const CACHED_FLOWS: usize = 64;

/// The batched install of bindings: map entries and zeroed statistics slots.
pub struct BatchInstall {
    pub bindings: usize,
    pub seconds: f64,
}

/// Fills the map with `keys` (the first half redirected to the serving router, the second half
/// visiting from the home router, reverse-tunnelled) with two batched updates.
fn fill(dp: &mut Datapath, keys: &[BindingKey]) -> Result<BatchInstall> {
    // Binding i takes statistics slot i.
    let slots: Vec<u32> = (0..u32::try_from(keys.len())?).collect();
    let half = keys.len() / 2;
    let serving = dp.reserve_peer(SERVING)?;
    let home = dp.reserve_peer(HOME)?;
    let values: Vec<BindingValue> = slots
        .iter()
        .enumerate()
        .map(|(i, &slot)| {
            if i < half {
                BindingValue::redirect(serving, slot)
            } else {
                BindingValue::visiting(home, true, slot)
            }
        })
        .collect();
    let cpus = aya::util::nr_cpus()
        .map_err(|(_, e)| e)
        .context("possible CPUs")?;
    let zeroes = vec![BindingStats::default(); keys.len() * cpus];
    let bindings = program_map(dp.program(), anchor_common::maps::BINDINGS)?;
    let stats = program_map(dp.program(), anchor_common::maps::BINDING_STATS)?;
    let start = Instant::now();
    update_batch(&stats, &slots, &zeroes, cpus)?;
    update_batch(&bindings, keys, &values, 1)?;
    Ok(BatchInstall {
        bindings: keys.len(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Measures and reports section 2 against `level1`, and the memory of the 1M-binding map
/// (section 5); the batched install of the 1M bindings (for section 4).
#[expect(
    clippy::too_many_lines,
    reason = "table-driven: the cases of each level and their report rows, read top to bottom"
)]
pub fn run(
    report: &mut Report,
    net: &FixtureNet,
    floor_program: &RefProgram,
    level1: &Costs,
    settings: &Settings,
    quick: bool,
) -> Result<BatchInstall> {
    // Levels 10k and 1M: half redirected, half visiting; traffic over ACTIVE_FLOWS of each.
    report.method(
        "scale",
        format!(
            "as single-runs, in a map of max_bindings = {DEFAULT_MAX_BINDINGS} holding N random \
             /64s of 2001:db8:8000::/33 (half redirected, half visiting), filled with \
             BPF_MAP_UPDATE_BATCH; the traffic cycles over {ACTIVE_FLOWS} distinct bound (or, \
             for pass-through, unbound) /64s; baseline: the same path with one binding"
        ),
    );
    let mut install = None;
    for (label, count) in [("10k", 10_000usize), ("1M", 1_000_000)] {
        let keys = random_prefixes(count + ACTIVE_FLOWS);
        let (bound, free) = keys.split_at(count);
        let (redirect_keys, visiting_keys) = bound.split_at(count / 2);
        let mut dp = load_datapath()?;
        dp.set_iface_role(net.core_ifindex, IfaceRole::Core)?;
        dp.set_iface_role(net.access_ifindex, IfaceRole::Access)?;
        let filled = fill(&mut dp, bound)?;
        nexthops::resolve(&dp)?;
        let scaled_lookup = RefProgram::lookup(bound[0])?;
        let values: Vec<BindingValue> = (0..u32::try_from(bound.len())?)
            .map(|i| BindingValue::redirect(0, i))
            .collect();
        update_batch(
            &program_map(scaled_lookup.program()?, "LOOKUP")?,
            bound,
            &values,
            1,
        )?;
        let pick = |keys: &[BindingKey], f: &dyn Fn(&BindingKey) -> Vec<u8>| -> Vec<Vec<u8>> {
            keys.iter().take(ACTIVE_FLOWS).map(f).collect()
        };
        let few = |keys: &[BindingKey], f: &dyn Fn(&BindingKey) -> Vec<u8>| -> Vec<Vec<u8>> {
            keys.iter().take(CACHED_FLOWS).map(f).collect()
        };
        let anchor = dp.program();
        let cases = vec![
            Case {
                name: FLOOR.into(),
                program: floor_program.program()?,
                frames: vec![udp_to(address(free[0], 1))],
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: "pass-through, no binding".into(),
                program: anchor,
                frames: pick(free, &|k| udp_to(address(*k, 1))),
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: "encap hit".into(),
                program: anchor,
                frames: pick(redirect_keys, &|k| udp_to(address(*k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_TX,
            },
            Case {
                name: "decap hit".into(),
                program: anchor,
                frames: pick(visiting_keys, &|k| tunnelled(address(*k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_REDIRECT,
            },
            Case {
                name: "reverse encap".into(),
                program: anchor,
                frames: pick(visiting_keys, &|k| uplink(address(*k, 0x100))),
                ingress: net.access_ifindex,
                action: XDP_REDIRECT,
            },
            Case {
                name: ONE_LOOKUP.into(),
                program: scaled_lookup.program()?,
                frames: pick(redirect_keys, &|k| udp_to(address(*k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: CACHED_PASS.into(),
                program: anchor,
                frames: few(free, &|k| udp_to(address(*k, 1))),
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: CACHED_ENCAP.into(),
                program: anchor,
                frames: few(redirect_keys, &|k| udp_to(address(*k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_TX,
            },
        ];
        let level = measure(&cases, settings)?;
        for name in [
            "pass-through, no binding",
            "encap hit",
            "decap hit",
            "reverse encap",
        ] {
            let mut row = Row::new(
                SECTION,
                format!("{name}, {label} bindings"),
                level.get(name)?,
                "ns",
            )
            .method("scale")
            .against(format!("{name} (1 binding)"), level1.get(name)?);
            if label == "1M" && (name == "encap hit" || name == "pass-through, no binding") {
                row = row.target(Bound::AtMost, 1.2, quick);
            }
            report.push(row);
        }
        let cached = format!(
            "traffic over {CACHED_FLOWS} /64s only: their map entries stay in the CPU caches, \
             which shows the hash table's own cost at this size"
        );
        let bare = format!(
            "its map holds the same {label} /64s; the same {ACTIVE_FLOWS} destinations as the \
             encap-hit row: what the kernel's hash table alone costs at this size"
        );
        for (name, base, note) in [
            (ONE_LOOKUP, ONE_LOOKUP, &bare),
            (CACHED_PASS, "pass-through, no binding", &cached),
            (CACHED_ENCAP, "encap hit", &cached),
        ] {
            report.push(
                Row::new(
                    SECTION,
                    format!("{name}, {label} bindings"),
                    level.get(name)?,
                    "ns",
                )
                .method("scale")
                .against(format!("{base} (1 binding)"), level1.get(base)?)
                .note(note.as_str()),
            );
        }
        if label == "1M" {
            memory::push_rows(report, anchor, count, quick)?;
            install = Some(filled);
        }
    }
    install.context("the 1M level did not run")
}
