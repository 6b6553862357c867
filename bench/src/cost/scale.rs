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
    FLOOR, ONE_LOOKUP, XDP_PASS, XDP_REDIRECT, XDP_TX, as_attached,
    frames::{HOME, SERVING, tunnelled, udp_to, uplink},
    load_datapath_with_pools,
    timing::{Case, Costs, Settings, measure},
};
use crate::{
    bindings::{POOL, address, random_pool_prefixes, random_prefixes},
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

/// Fills the maps: `pooled` redirected to the serving router in the dense table of [`POOL`],
/// `visiting` visiting from the home router (reverse-tunnelled) in the hash map, with batched
/// updates; binding i takes statistics slot i, the pooled ones first.
fn fill(
    dp: &mut Datapath,
    pooled: &[(u32, BindingKey)],
    visiting: &[BindingKey],
) -> Result<BatchInstall> {
    let total = u32::try_from(pooled.len() + visiting.len())?;
    let slots: Vec<u32> = (0..total).collect();
    let (pooled_slots, visiting_slots) = slots.split_at(pooled.len());
    let serving = dp.reserve_peer(SERVING)?;
    let home = dp.reserve_peer(HOME)?;
    let dense_keys: Vec<u32> = pooled.iter().map(|(offset, _)| *offset).collect();
    let dense_values: Vec<BindingValue> = pooled_slots
        .iter()
        .map(|&slot| BindingValue::redirect(serving, slot))
        .collect();
    let hash_values: Vec<BindingValue> = visiting_slots
        .iter()
        .map(|&slot| BindingValue::visiting(home, true, slot))
        .collect();
    let cpus = aya::util::nr_cpus()
        .map_err(|(_, e)| e)
        .context("possible CPUs")?;
    let zeroes = vec![BindingStats::default(); slots.len() * cpus];
    let dense = program_map(dp.program(), anchor_common::maps::DENSE)?;
    let bindings = program_map(dp.program(), anchor_common::maps::BINDINGS)?;
    let stats = program_map(dp.program(), anchor_common::maps::BINDING_STATS)?;
    let start = Instant::now();
    update_batch(&stats, &slots, &zeroes, cpus)?;
    update_batch(&dense, &dense_keys, &dense_values, 1)?;
    update_batch(&bindings, visiting, &hash_values, 1)?;
    dp.forget_cached_lookups()?;
    Ok(BatchInstall {
        bindings: slots.len(),
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
    // Levels 10k and 1M: half redirected (the /64s of a pool: the dense table), half visiting
    // (the hash map); traffic over ACTIVE_FLOWS of each.
    report.method(
        "scale",
        format!(
            "as single-runs, in a map of max_bindings = {DEFAULT_MAX_BINDINGS} holding N \
             bindings: N/2 redirected, random /64s of the pool {POOL} (2^20 /64s: the dense \
             table of a MAAR's own pool), and N/2 visiting, random /64s of 2001:db8:8000::/33 \
             (the hash map), filled with BPF_MAP_UPDATE_BATCH; the traffic cycles over \
             {ACTIVE_FLOWS} distinct bound (or, for pass-through, unbound) /64s; baseline: the \
             same path with one binding (in the hash map)"
        ),
    );
    let mut install = None;
    for (label, count) in [("10k", 10_000usize), ("1M", 1_000_000)] {
        let pooled = random_pool_prefixes(count / 2);
        let keys = random_prefixes(count - count / 2 + ACTIVE_FLOWS);
        let (visiting_keys, free) = keys.split_at(count - count / 2);
        let redirect_keys: Vec<BindingKey> = pooled.iter().map(|(_, key)| *key).collect();
        let redirect_keys = redirect_keys.as_slice();
        let mut dp = load_datapath_with_pools(vec![POOL.parse()?])?;
        as_attached(&mut dp, net.core_ifindex, IfaceRole::Core)?;
        as_attached(&mut dp, net.access_ifindex, IfaceRole::Access)?;
        let filled = fill(&mut dp, &pooled, visiting_keys)?;
        nexthops::resolve(&dp)?;
        let bound: Vec<BindingKey> = redirect_keys.iter().chain(visiting_keys).copied().collect();
        let scaled_lookup = RefProgram::lookup(bound[0])?;
        let values: Vec<BindingValue> = (0..u32::try_from(bound.len())?)
            .map(|i| BindingValue::redirect(0, i))
            .collect();
        update_batch(
            &program_map(scaled_lookup.program()?, "LOOKUP")?,
            &bound,
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
            if label == "1M" && name == "encap hit" {
                row = row.target(Bound::AtMost, 2.5, quick);
            }
            if label == "1M" && name == "pass-through, no binding" {
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
            // The budget is the hash map's: the maps of a router without pools, whose
            // preallocated capacity (max_bindings) is charged whatever they hold.
            let plain = load_datapath_with_pools(Vec::new())?;
            memory::push_row(
                report,
                plain.program(),
                format!("all maps, {count} bindings"),
                true,
                quick,
            )?;
            drop(plain);
            memory::push_row(
                report,
                anchor,
                format!("all maps, {count} bindings, and the dense table of a /44 pool"),
                false,
                quick,
            )?;
            install = Some(filled);
        }
    }
    install.context("the 1M level did not run")
}
