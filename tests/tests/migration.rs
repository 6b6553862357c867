//! The resize's catch-up, counted exactly (privileged, in-process, BPF_PROG_TEST_RUN).
//!
//! A resize loads a new program with new maps, copies the pinned maps into them, switches the
//! XDP links, and then adds what the old program counted between the copy and the switch
//! (`anchor-user/src/datapath/migrate.rs`). Here the old program counts frames in exactly that
//! window ([`Datapath::start_observed`] runs them after the copy, before the link is taken
//! over), through a resize that recreates both per-CPU maps: `BINDING_STATS` (max_bindings 8 ->
//! 16) and `COUNTERS`, pinned as an older build pinned it: one per-CPU value per counter, and
//! one counter fewer than this build has. This build keeps every counter in one block, so the
//! older map's counters are copied into its slots. The old program here is this build's, which
//! cannot count in the older map: the test counts its frames there itself, as the older
//! build's program would have, before the copy and in the window. No frame runs while the
//! catch-up is folded in, so the one race `migrate.rs` documents (a packet the new program
//! counts in a slot while the fold rewrites it) cannot happen, and every frame must be counted
//! exactly once: without the catch-up, the frames of the window are missing.
//!
//! Needs root, a bpffs at /sys/fs/bpf, ip and bpftool. Anything missing fails the test.

use std::{
    collections::BTreeMap,
    net::Ipv6Addr,
    path::{Path, PathBuf},
    process::Command,
};

use anchor_common::{
    BindingStats, Counter, CounterBlock, CounterValue, IfaceRole,
    config::{GLOBAL_LOCATOR, GLOBAL_OUTER_HOP_LIMIT, GLOBAL_TUNNEL_MTU},
    counter::COUNTER_COUNT,
    maps::{BINDING_STATS, COUNTERS},
};
use anchor_packet::{Udp6, ethernet};
use anchor_rig::fixture_net::CORE_MAC;
use anchor_tests::{
    fixture::fixture_net,
    xdp::{Outcome, action_name, run, run_program},
};
use anchor_user::{
    EBPF_OBJECT,
    datapath::{
        BindingSpec, Datapath, DatapathParams, InterfaceSpec, PROGRAM_NAME, PinDir, XdpMode,
        adopt::PINNED_MAPS, pin::DEFAULT_BPFFS,
    },
};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Map, MapData, MapInfo, PerCpuArray, PerCpuValues},
    programs::{Xdp, links::FdLink},
};

const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
const R2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
const MN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 0x100);
const BINDING: &str = "2001:db8:1:1::/64";
const SLOT: u32 = 5;
const TUNNEL_MTU: u32 = 1500;
const OUTER_HOP_LIMIT: u8 = 64;
/// The interface whose pinned link the resize takes over: a veth in the fixture namespace
/// whose peer stays down, so that it never receives a frame and only the test's frames are
/// counted.
const IFACE: &str = "fxmig";

/// Frames through the first daemon's program (before the old program's COUNTERS exist).
const FIRST: u64 = 3;
/// Frames through the old program before the copy: copied.
const BEFORE_COPY: u64 = 4;
/// Frames through the old program between the copy and the switch: the catch-up.
const WINDOW: u64 = 7;
/// Frames through the new program after the resize.
const AFTER: u64 = 5;

fn params(max_bindings: u32) -> DatapathParams {
    DatapathParams {
        locator: LOCATOR,
        tunnel_mtu: TUNNEL_MTU,
        outer_hop_limit: OUTER_HOP_LIMIT,
        max_bindings,
        dense_pools: Vec::new(),
        log: false,
    }
}

/// A downlink frame from the correspondent to the mobile node, arriving on the core port.
fn frame() -> Vec<u8> {
    ethernet(CORE_MAC, [2, 0, 0, 0, 0, 0x99], &Udp6::new(CN, MN).bytes())
}

/// Removes the instance's pins (which detaches the link pinned there) even when the test fails.
struct RemovePins(PathBuf);

impl Drop for RemovePins {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("cannot remove {}: {e}", self.0.display());
        }
    }
}

/// Packets and bytes per counter, summed over CPUs.
fn counters(dp: &Datapath) -> BTreeMap<&'static str, CounterValue> {
    dp.counters()
        .expect("read the counters")
        .into_iter()
        .map(|(c, v)| (c.name(), v))
        .collect()
}

fn times(value: CounterValue, n: u64) -> CounterValue {
    CounterValue {
        packets: value.packets * n,
        bytes: value.bytes * n,
    }
}

fn stats_times(value: BindingStats, n: u64) -> BindingStats {
    BindingStats {
        packets: value.packets.map(|p| p * n),
        bytes: value.bytes.map(|b| b * n),
    }
}

fn stats_minus(a: BindingStats, b: BindingStats) -> BindingStats {
    BindingStats {
        packets: [a.packets[0] - b.packets[0], a.packets[1] - b.packets[1]],
        bytes: [a.bytes[0] - b.bytes[0], a.bytes[1] - b.bytes[1]],
    }
}

/// Creates [`IFACE`] in namespace `ns` (up, its peer down) and returns its ifindex.
fn quiet_interface(ns: &str) -> u32 {
    for args in [
        &[
            "link", "add", IFACE, "type", "veth", "peer", "name", "fxmig-p",
        ][..],
        &["link", "set", IFACE, "up"],
    ] {
        let out = Command::new("ip")
            .args(["-n", ns])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip: {e}"));
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    anchor_user::datapath::ifindex(IFACE).expect("ifindex")
}

/// `max_entries` of the map pinned at `path`.
fn max_entries(path: &Path) -> u32 {
    MapInfo::from_pin(path)
        .unwrap_or_else(|e| panic!("cannot inspect {}: {e}", path.display()))
        .max_entries()
}

/// Loads the program as an older daemon had it running: on the pinned maps as they are, but
/// for `COUNTERS` (an older build's, which this program cannot use: it counts in a map of its
/// own), attached to [`IFACE`] through a link pinned where the next start takes it over.
fn load_old_program(pins: &PinDir, ifindex: u32) -> Ebpf {
    let locator = LOCATOR.octets();
    let hop_limit = u32::from(OUTER_HOP_LIMIT);
    let mut loader = EbpfLoader::new();
    loader
        .override_global(GLOBAL_LOCATOR, &locator, true)
        .override_global(GLOBAL_TUNNEL_MTU, &TUNNEL_MTU, true)
        .override_global(GLOBAL_OUTER_HOP_LIMIT, &hop_limit, true);
    let paths: Vec<(&str, PathBuf)> = PINNED_MAPS
        .iter()
        .filter(|&&name| name != COUNTERS)
        .map(|&name| (name, pins.map(name)))
        .collect();
    for (name, path) in &paths {
        assert!(path.exists(), "setup: {name} should be pinned");
        loader.map_pin_path(name, path.as_path());
    }
    let mut ebpf = loader.load(EBPF_OBJECT).expect("load the old object");
    let program: &mut Xdp = ebpf
        .program_mut(PROGRAM_NAME)
        .expect("the program")
        .try_into()
        .expect("an XDP program");
    program.load().expect("load the old program");
    let id = program
        .attach_to_if_index(ifindex, XdpMode::Skb.into())
        .expect("attach the old program");
    let link = FdLink::try_from(program.take_link(id).expect("its link")).expect("a BPF link");
    link.pin(pins.link(XdpMode::Skb, IFACE))
        .expect("pin the old program's link");
    ebpf
}

fn old_program(ebpf: &Ebpf) -> &Xdp {
    ebpf.program(PROGRAM_NAME)
        .expect("the program")
        .try_into()
        .expect("an XDP program")
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario: its steps in order, each with its checks"
)]
fn resize_counts_every_frame_once_across_the_copy_and_the_switch() {
    let net = fixture_net();
    let ingress = quiet_interface(net.name());
    let instance = format!("test-migration-{}", std::process::id());
    let pins = PinDir::open(Path::new(DEFAULT_BPFFS), &instance).expect("open the pin directory");
    let _cleanup = RemovePins(pins.path().to_owned());
    let frame = frame();

    // The state an older daemon left: one binding with statistics of its own.
    let mut first = Datapath::start(&params(8), &pins, &[]).expect("first start");
    first
        .set_iface_role(ingress, IfaceRole::Core)
        .expect("core role");
    first
        .insert_binding(
            BINDING.parse().expect("prefix"),
            BindingSpec::redirect(R2, SLOT),
        )
        .expect("insert the binding");
    let (counters_zero, stats_zero) = (
        counters(&first),
        first.binding_stats(SLOT).expect("binding stats"),
    );
    let verdict = run(&first, &frame, ingress).action;
    // What one frame counts.
    let per_frame_counters: BTreeMap<&str, CounterValue> = counters(&first)
        .into_iter()
        .map(|(name, v)| {
            let zero = counters_zero[name];
            (
                name,
                CounterValue {
                    packets: v.packets - zero.packets,
                    bytes: v.bytes - zero.bytes,
                },
            )
        })
        .collect();
    let per_frame_stats = stats_minus(first.binding_stats(SLOT).expect("stats"), stats_zero);
    assert_eq!(
        (
            per_frame_counters[Counter::Rx.name()].packets,
            per_frame_counters[Counter::Encap.name()].packets,
            per_frame_stats.packets,
        ),
        (1, 1, [1, 0]),
        "setup: a frame should be received, encapsulated and counted for {BINDING} \
         (verdict {}): {per_frame_counters:?}",
        action_name(verdict)
    );
    // The old build has one counter fewer: the frame must not need it.
    let last = Counter::ALL[Counter::ALL.len() - 1];
    assert_eq!(
        per_frame_counters[last.name()],
        CounterValue::default(),
        "setup: the frame should not count {}",
        last.name()
    );
    for _ in 1..FIRST {
        run(&first, &frame, ingress);
    }
    drop(first);

    // The COUNTERS map of an older build, one value per counter and one counter fewer: the
    // resize must recreate it as this build's block.
    let counters_pin = pins.map(COUNTERS);
    std::fs::remove_file(&counters_pin).expect("unpin COUNTERS");
    let out = Command::new("bpftool")
        .args(["map", "create"])
        .arg(&counters_pin)
        .args(["type", "percpu_array", "key", "4", "value", "16", "entries"])
        .arg((COUNTER_COUNT - 1).to_string())
        .args(["name", COUNTERS])
        .output()
        .unwrap_or_else(|e| panic!("cannot run bpftool: {e}"));
    assert!(
        out.status.success(),
        "bpftool map create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut older: PerCpuArray<MapData, CounterValue> = PerCpuArray::try_from(Map::PerCpuArray(
        MapData::from_pin(&counters_pin).expect("open the older COUNTERS"),
    ))
    .expect("the older COUNTERS");
    // What the older build's program counts for one frame, in its map.
    let mut count_as_older = || {
        for index in 0..COUNTER_COUNT - 1 {
            let name = Counter::ALL[index as usize].name();
            let values = older.get(&index, 0).expect("read the older COUNTERS");
            let mut values = values.to_vec();
            values[0] = CounterValue {
                packets: values[0].packets + per_frame_counters[name].packets,
                bytes: values[0].bytes + per_frame_counters[name].bytes,
            };
            older
                .set(
                    index,
                    PerCpuValues::try_from(values).expect("per-CPU values"),
                    0,
                )
                .expect("write the older COUNTERS");
        }
    };

    let old = load_old_program(&pins, ingress);
    let run_old = || {
        let Outcome { action, .. } = run_program(old_program(&old), &frame, ingress);
        assert_eq!(
            action_name(action),
            action_name(verdict),
            "the old program's verdict"
        );
    };
    for _ in 0..BEFORE_COPY {
        run_old();
        count_as_older();
    }

    let mut window = 0;
    let new = Datapath::start_observed(
        &params(16),
        &pins,
        &[InterfaceSpec {
            name: IFACE.to_owned(),
            role: IfaceRole::Core,
            mode: XdpMode::Skb,
            source_validation: false,
        }],
        &mut || {
            for _ in 0..WINDOW {
                run_old();
                count_as_older();
                window += 1;
            }
        },
    )
    .expect("the resize");
    assert_eq!(window, WINDOW, "the old program should count in the window");
    for _ in 0..AFTER {
        let action = run(&new, &frame, ingress).action;
        assert_eq!(
            action_name(action),
            action_name(verdict),
            "the new program's verdict"
        );
    }

    // The link was taken over: it runs the new program.
    let link = pins.link(XdpMode::Skb, IFACE);
    let out = Command::new("bpftool")
        .args(["-j", "link", "show", "pinned"])
        .arg(&link)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bpftool: {e}"));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bpftool link show: {e}: {out:?}"));
    let program_id = |program: &Xdp| program.info().expect("program info").id();
    assert_eq!(
        info["prog_id"].as_u64(),
        Some(u64::from(program_id(new.program()))),
        "the pinned link should run the new program (the old one is {})",
        program_id(old_program(&old))
    );

    // Both per-CPU maps were recreated: BINDING_STATS with the new capacity, COUNTERS as one
    // block.
    assert_eq!(max_entries(&pins.map(BINDING_STATS)), 16);
    assert_eq!(max_entries(&counters_pin), 1);
    assert_eq!(
        MapInfo::from_pin(&counters_pin)
            .expect("inspect COUNTERS")
            .value_size() as usize,
        size_of::<CounterBlock>()
    );
    assert_eq!(
        new.bindings().expect("list").len(),
        1,
        "the binding should be kept"
    );

    // Every frame exactly once: the binding counted all of them; the counters all since the
    // older COUNTERS map was pinned (in it before the switch, in the block after).
    let all = FIRST + BEFORE_COPY + WINDOW + AFTER;
    assert_eq!(
        new.binding_stats(SLOT).expect("binding stats"),
        stats_times(per_frame_stats, all),
        "{BINDING}'s statistics over {all} frames ({WINDOW} of them counted by the old program \
         between the copy and the switch)"
    );
    let since = BEFORE_COPY + WINDOW + AFTER;
    let expected: BTreeMap<&str, CounterValue> = per_frame_counters
        .iter()
        .map(|(name, v)| (*name, times(*v, since)))
        .collect();
    assert_eq!(
        counters(&new),
        expected,
        "the counters over {since} frames ({WINDOW} of them counted by the old program between \
         the copy and the switch)"
    );
    drop(new);
    drop(old);
}
