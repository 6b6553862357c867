//! Hitless restart and resize (privileged): the daemons of the [`anchor_rig`] topology are
//! killed, restarted and reconfigured while a UDP stream runs from the correspondent to the
//! mobile node's old address through the tunnel (r1 encapsulates, r2 decapsulates).
//!
//! Checked from the outside:
//! - SIGKILL and restart of each router mid-stream: every datagram the sender sent arrives
//!   (distinct sequence numbers counted by the receiver), the program stays attached while no
//!   daemon runs, the restarted daemons list the same bindings and their counters went on
//!   (the encapsulation, decapsulation and binding counters grew by exactly the datagrams sent);
//! - `max_bindings` raised and then lowered mid-stream: nothing lost, every binding kept with its
//!   kind, peer, `--dev` and statistics, the pinned map has the new capacity;
//! - pinned state that does not fit (a map of another value size or type, a foreign XDP
//!   program's link, a map where a link should be) stops the daemon with an error naming the
//!   difference, and nothing pinned is touched;
//! - by default SIGTERM leaves the program attached with its route and pins, and the next
//!   daemon adopts them; `--detach-on-exit` detaches and removes them.
//!
//! Needs root, the `anchor` binary (`cargo build`), a bpffs at /sys/fs/bpf, ip, ethtool, ss,
//! nsenter, bpftool and python3. Anything missing fails the test with the reason.

use anchor_tests::support::anchor_binary;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anchor_rig::cancel::pause;
use anchor_rig::cmd::{self, Run as _};
use anchor_rig::daemon::{Interface, pin_dir};
use anchor_rig::process::{Transport, wait_for_listener};
use anchor_rig::topology::{MN_P1_ADDR, P1, R2_LOCATOR, remove_stale_rigs, teardown};
use anchor_rig::{Daemon, Node, Proc, Rig, Router, WorkDir};
use serde_json::Value;

/// The UDP port the mobile node receives the stream on.
const STREAM_PORT: u16 = 7010;
/// Datagrams a second: a fixed rate, low enough for any machine, high enough that every
/// restart happens with packets in flight.
const STREAM_RATE: u32 = 1000;
/// How long the stream runs before, between and after the restarts.
const STEP: Duration = Duration::from_millis(300);
/// Upper bound for any one helper process.
const PROC_TIMEOUT: Duration = Duration::from_secs(30);
/// IFLA_XDP_ATTACHED_DRV and IFLA_XDP_ATTACHED_SKB, as `ip -j link` reports them.
const XDP_ATTACHED_DRV: u64 = 1;
const XDP_ATTACHED_SKB: u64 = 2;

/// `send ADDR PORT RATE`: sends datagrams carrying their sequence number at RATE a second (on
/// an absolute schedule) until SIGTERM, then prints how many it sent. `receive ADDR PORT`:
/// counts datagrams until SIGTERM, then prints `distinct total` (distinct sequence numbers).
const STREAM: &str = r#"
import signal, socket, struct, sys, time
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
role, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
if role == "send":
    rate = int(sys.argv[4])
    start, n = time.monotonic(), 0
    while not stop:
        s.sendto(struct.pack("!Q", n) + bytes(56), (addr, port))
        n += 1
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(n, flush=True)
else:
    s.bind((addr, port))
    s.settimeout(0.05)
    seen, total = set(), 0
    while not stop:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        total += 1
        seen.add(struct.unpack("!Q", data[:8])[0])
    print(len(seen), total, flush=True)
"#;

/// Loads an XDP program named `foreign_xdp` (return XDP_PASS), attaches it to interface IFINDEX
/// in skb mode through a BPF link and pins the link at PATH (raw bpf(2) through ctypes).
const FOREIGN_LINK: &str = r#"
import ctypes, struct, sys
ifindex, path = int(sys.argv[1]), sys.argv[2].encode()
libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf = 321
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    fd = libc.syscall(SYS_bpf, cmd, buf, 128)
    if fd < 0:
        sys.exit(f"bpf({cmd}) failed: errno {ctypes.get_errno()}")
    return fd
insns = ctypes.create_string_buffer(bytes.fromhex("b700000002000000" "9500000000000000"), 16)
lic = ctypes.create_string_buffer(b"GPL")
name = b"foreign_xdp".ljust(16, b"\0")
# BPF_PROG_LOAD: prog_type 6 (XDP), insn_cnt, insns, license, log fields, kern_version, flags, name
prog = bpf(5, struct.pack("=IIQQIIQII16s", 6, 2, ctypes.addressof(insns), ctypes.addressof(lic), 0, 0, 0, 0, 0, name))
# BPF_LINK_CREATE: prog_fd, target_ifindex, attach_type 37 (BPF_XDP), flags 2 (XDP_FLAGS_SKB_MODE)
link = bpf(28, struct.pack("=IIII", prog, ifindex, 37, 2))
p = ctypes.create_string_buffer(path)
# BPF_OBJ_PIN: pathname, bpf_fd
bpf(6, struct.pack("=QI", ctypes.addressof(p), link))
"#;

#[test]
fn sigkill_and_restart_lose_no_packet() {
    let anchor = anchor_binary();
    require_tools();
    let dir = WorkDir::create("anchor-restart-kill").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = build_rig("k");
    let [r1_router, r2_router] = rig.routers("native");
    let r1 = start(&anchor, &dir, &r1_router);
    let r2 = start(&anchor, &dir, &r2_router);
    rig.move_mobile_node(&r1, &r2)
        .unwrap_or_else(|e| panic!("cannot move the mobile node: {e:#}"));
    let bindings_before = [bindings(&r1), bindings(&r2)];
    let stats_before = [Stats::read(&r1), Stats::read(&r2)];

    let stream = Stream::start(&rig, dir.path());
    pause(STEP).expect("pause");
    let r1 = kill_and_restart(&rig, &anchor, &dir, r1, &r1_router, &["r1c", "r1x", "r1a"]);
    pause(STEP).expect("pause");
    let r2 = kill_and_restart(&rig, &anchor, &dir, r2, &r2_router, &["r2x", "r2a"]);
    pause(STEP).expect("pause");
    let (sent, received) = stream.stop();

    assert!(sent > 0, "the sender sent nothing");
    assert_eq!(
        received, sent,
        "the mobile node received {received} of the {sent} datagrams sent across the restarts"
    );
    for (daemon, before, links) in [(&r1, &bindings_before[0], 3), (&r2, &bindings_before[1], 2)] {
        assert_eq!(
            &bindings(daemon),
            before,
            "router {}: the restarted daemon lists other bindings",
            daemon.name()
        );
        let log = daemon.log();
        assert!(
            log.contains(&format!("{links} link(s) taken over"))
                && log.contains("adopted 1 pinned binding(s)"),
            "router {}: the restarted daemon did not take over the pinned state:\n{}",
            daemon.name(),
            daemon.log_tail()
        );
    }
    let stats_after = [Stats::read(&r1), Stats::read(&r2)];
    let sent = u64::from(sent);
    for (router, counter, i) in [("r1", "encap", 0), ("r2", "decap", 1)] {
        let delta = stats_after[i].counter(counter) - stats_before[i].counter(counter);
        assert_eq!(
            delta, sent,
            "{router}: {counter} grew by {delta} over the stream of {sent} datagrams \
             (its counters should go on across the restart)"
        );
        let binding_delta = stats_after[i].binding(P1, "to_mn_packets")
            - stats_before[i].binding(P1, "to_mn_packets");
        assert_eq!(
            binding_delta, sent,
            "{router}: the {P1} binding's to_mn_packets grew by {binding_delta}, not {sent}"
        );
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario: its steps in order, each with its checks"
)]
fn max_bindings_change_migrates_every_binding_under_traffic() {
    let anchor = anchor_binary();
    require_tools();
    let dir = WorkDir::create("anchor-restart-resize").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = build_rig("z");
    let [mut r1_router, r2_router] = rig.routers("native");
    r1_router.max_bindings = Some(64);
    let mut r1 = start(&anchor, &dir, &r1_router);
    let r2 = start(&anchor, &dir, &r2_router);
    rig.move_mobile_node(&r1, &r2)
        .unwrap_or_else(|e| panic!("cannot move the mobile node: {e:#}"));

    // Slots: P1 has 0, the /64s 1..=60; deleting 1..=20 leaves holes that the /48 and the
    // visiting /56 (with a route to r1a) partly fill. Lowering max_bindings to 48 then moves
    // the slots 48..=60 into the holes.
    let extra = |i: u32| format!("2001:db8:100:{i:x}::/64");
    for i in 1..=60 {
        cli(&r1, &["binding", "add", &extra(i), "--serving", R2_LOCATOR]);
    }
    for i in 1..=20 {
        cli(&r1, &["binding", "del", &extra(i)]);
    }
    let short = "2001:db8:200::/48";
    let visiting = "2001:db8:300::/56";
    cli(&r1, &["binding", "add", short, "--serving", R2_LOCATOR]);
    cli(
        &r1,
        &[
            "binding",
            "add",
            visiting,
            "--home",
            R2_LOCATOR,
            "--reverse-tunnel",
            "--dev",
            "r1a",
        ],
    );
    // Statistics of their own for bindings without traffic later: one that keeps its slot,
    // one whose slot moves, and the short prefix.
    let quiet = [extra(30), extra(55), short.to_owned()];
    for prefix in &quiet {
        send_burst(&rig, prefix, 5);
    }
    let slots_before = slots(&r1);
    assert!(
        slots_before.get(extra(55).as_str()) == Some(&55),
        "setup: {} should have slot 55: {slots_before:?}",
        extra(55)
    );
    let bindings_before = without_slots(&bindings(&r1));
    let stats_before = Stats::read(&r1);
    let r2_before = Stats::read(&r2);
    for prefix in &quiet {
        assert!(
            stats_before.binding(prefix, "to_mn_packets") >= 5,
            "setup: {prefix} should have counted the burst: {}",
            stats_before.json
        );
    }

    let stream = Stream::start(&rig, dir.path());
    for max_bindings in [4096, 48] {
        pause(STEP).expect("pause");
        let status = r1
            .stop()
            .unwrap_or_else(|e| panic!("r1 did not stop: {e:#}"));
        assert!(status.success(), "r1 exited with {status} after SIGTERM");
        r1_router.max_bindings = Some(max_bindings);
        r1 = start(&anchor, &dir, &r1_router);
        assert_eq!(
            pinned_max_entries(&r1_router.instance, "BINDINGS"),
            u64::from(max_bindings),
            "the pinned BINDINGS map should have the new capacity"
        );
        assert_eq!(
            without_slots(&bindings(&r1)),
            bindings_before,
            "r1 lost or changed bindings when max_bindings became {max_bindings}"
        );
    }
    pause(STEP).expect("pause");
    let (sent, received) = stream.stop();
    let log = r1.log();
    assert_eq!(
        log.matches("migrating its entries").count(),
        4,
        "each restart should have migrated BINDINGS and BINDING_STATS:\n{log}"
    );

    assert!(sent > 0, "the sender sent nothing");
    assert_eq!(
        received, sent,
        "the mobile node received {received} of the {sent} datagrams sent across the resizes"
    );
    let slots_after = slots(&r1);
    assert!(
        slots_after.values().all(|&slot| slot < 48),
        "every slot should be below the new max_bindings = 48: {slots_after:?}"
    );
    assert_eq!(
        slots_after[extra(30).as_str()],
        30,
        "a slot below the new capacity should stay"
    );
    assert_ne!(
        slots_after[extra(55).as_str()],
        55,
        "slot 55 should have moved"
    );
    let stats_after = Stats::read(&r1);
    for prefix in &quiet {
        for field in [
            "to_mn_packets",
            "to_mn_bytes",
            "from_mn_packets",
            "from_mn_bytes",
        ] {
            assert_eq!(
                stats_after.binding(prefix, field),
                stats_before.binding(prefix, field),
                "{prefix}: {field} changed across the migrations"
            );
        }
    }
    let sent = u64::from(sent);
    // The counters map keeps its capacity: it is reused, and exact.
    let encap = stats_after.counter("encap") - stats_before.counter("encap");
    assert_eq!(encap, sent, "r1's encap grew by {encap}, not {sent}");
    // The stream's binding statistics migrated while counting: kept, and at most exact (see
    // anchor-user/src/datapath/migrate.rs for the one race that can miss a packet). The
    // catch-up itself is checked exactly, COUNTERS migrated too, in tests/tests/migration.rs.
    let p1_before = stats_before.binding(P1, "to_mn_packets");
    let p1_after = stats_after.binding(P1, "to_mn_packets");
    assert!(
        p1_after > p1_before && p1_after <= p1_before + sent,
        "r1's {P1} to_mn_packets went from {p1_before} to {p1_after} over {sent} datagrams"
    );
    let r2_decap = Stats::read(&r2).counter("decap") - r2_before.counter("decap");
    assert_eq!(r2_decap, sent, "r2 decapsulated {r2_decap}, not {sent}");

    // The table works on: a new binding takes a free slot below the capacity.
    cli(&r1, &["binding", "add", &extra(1), "--serving", R2_LOCATOR]);
    assert!(slots(&r1)[extra(1).as_str()] < 48);
}

#[test]
fn pinned_state_that_does_not_fit_is_refused_with_what_differs() {
    let anchor = anchor_binary();
    require_tools();
    let dir = WorkDir::create("anchor-restart-mismatch").unwrap_or_else(|e| panic!("{e:#}"));
    let ns = SmallNs::create("m");
    let router = ns.router(false);
    let config = dir.path().join("m.toml");
    std::fs::write(&config, router.config(&dir.path().join("m.sock"))).expect("write config");
    let pins = pin_dir(&router.instance);
    let maps = pins.join("maps");
    let links = pins.join("links");

    let cases: [(&str, PinIt, String); 4] = [
        (
            "a BINDINGS map with the 24-byte values of earlier builds",
            Box::new(|| bpftool_map(&maps.join("BINDINGS"), "hash", 8, 24, 64)),
            format!(
                "pinned map {} does not match this build: value size 24, expected 8",
                maps.join("BINDINGS").display()
            ),
        ),
        (
            "an array where IFACES should be",
            Box::new(|| bpftool_map(&maps.join("IFACES"), "array", 4, 4, 1024)),
            format!(
                "pinned map {} does not match this build: type Array, expected Hash",
                maps.join("IFACES").display()
            ),
        ),
        (
            "a foreign program's XDP link",
            Box::new(|| {
                let path = links.join("skb/a0");
                let ifindex = ns.ifindex("a0");
                let out = run_bounded(
                    cmd::in_netns_only(&ns.name, "python3")
                        .args(["-c", FOREIGN_LINK, &ifindex.to_string()])
                        .arg(&path),
                );
                assert!(out.status.success(), "{}", describe(&out));
            }),
            format!(
                "the XDP link pinned at {} runs program \"foreign_xdp\"",
                links.join("skb/a0").display()
            ),
        ),
        (
            "a map where a link should be",
            Box::new(|| bpftool_map(&links.join("skb/a1"), "array", 4, 4, 1)),
            format!(
                "{} holds a BPF map, not an XDP link of anchor_xdp",
                links.join("skb/a1").display()
            ),
        ),
    ];
    for (what, pin_it, expected) in cases {
        teardown_pins(&router.instance);
        // An unpinned link detaches a little later, from a kernel work queue.
        ns.wait_without_xdp(&["a0", "a1"]);
        for sub in ["maps", "links/skb", "links/native"] {
            std::fs::create_dir_all(pins.join(sub)).expect("create the pin directory");
        }
        pin_it();
        let pinned_before = pinned_listing(&pins);
        let out = run_bounded(
            cmd::in_netns_only(&ns.name, &anchor)
                .args(["run", "--config"])
                .arg(&config),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "with {what} pinned, anchor run should fail: {}",
            describe(&out)
        );
        assert!(
            stderr.contains(&expected),
            "with {what} pinned, the error should say {expected:?}; it said:\n{stderr}"
        );
        assert_eq!(
            pinned_listing(&pins),
            pinned_before,
            "with {what} pinned, the refused start changed the pins"
        );
        let foreign = what.contains("foreign");
        assert_eq!(
            ns.xdp_mode("a0"),
            foreign.then_some(XDP_ATTACHED_SKB),
            "with {what} pinned, a0 should {}",
            if foreign {
                "keep the foreign program"
            } else {
                "have no program"
            }
        );
        assert_eq!(
            ns.xdp_mode("a1"),
            None,
            "with {what} pinned, a1 should have no program"
        );
    }
}

/// Pins something in the instance directory.
type PinIt<'a> = Box<dyn Fn() + 'a>;

#[test]
fn sigterm_keeps_the_program_and_detach_on_exit_removes_it() {
    let anchor = anchor_binary();
    require_tools();
    let dir = WorkDir::create("anchor-restart-detach").unwrap_or_else(|e| panic!("{e:#}"));
    let ns = SmallNs::create("d");
    let visiting = "2001:db8:7::/56";
    let route = || ns.ip_stdout(&["-6", "route", "show", visiting]);

    let keep = ns.router(false);
    let daemon = start(&anchor, &dir, &keep);
    cli(
        &daemon,
        &[
            "binding",
            "add",
            visiting,
            "--home",
            "2001:db8:12::2",
            "--dev",
            "a1",
        ],
    );
    cli(
        &daemon,
        &[
            "binding",
            "add",
            "2001:db8:8::/64",
            "--serving",
            "2001:db8:12::2",
        ],
    );
    let before = bindings(&daemon);
    let status = daemon.stop().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        status.success(),
        "the daemon exited with {status} after SIGTERM"
    );
    for dev in ["a0", "a1"] {
        assert_eq!(
            ns.xdp_mode(dev),
            Some(XDP_ATTACHED_SKB),
            "{dev} should keep the program after SIGTERM without --detach-on-exit"
        );
    }
    assert!(
        route().contains("dev a1"),
        "the --dev route should stay: {:?}",
        route()
    );
    assert!(pin_dir(&keep.instance).join("maps/BINDINGS").exists());

    let detach = ns.router(true);
    let daemon = start(&anchor, &dir, &detach);
    assert_eq!(
        bindings(&daemon),
        before,
        "the next daemon should adopt the bindings, the --dev route included"
    );
    let status = daemon.stop().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        status.success(),
        "the daemon exited with {status} after SIGTERM"
    );
    for dev in ["a0", "a1"] {
        assert_eq!(
            ns.xdp_mode(dev),
            None,
            "{dev} should have no program after SIGTERM with --detach-on-exit"
        );
    }
    assert!(
        route().trim().is_empty(),
        "the --dev route should be gone: {:?}",
        route()
    );
    assert!(
        !pin_dir(&detach.instance).exists(),
        "the pinned state should be gone with --detach-on-exit"
    );
}

/// Fails with the reason when a tool the test drives cannot run or bpffs is missing.
fn require_tools() {
    let probes: &[&[&str]] = &[
        &["ip", "-V"],
        &["ethtool", "--version"],
        &["ss", "-V"],
        &["nsenter", "--version"],
        &["bpftool", "version"],
        &["python3", "--version"],
    ];
    anchor_tests::support::require_tools(probes);
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("read /proc/self/mounts");
    assert!(
        mounts
            .lines()
            .any(|line| line.split_whitespace().nth(1) == Some("/sys/fs/bpf")
                && line.split_whitespace().nth(2) == Some("bpf")),
        "no bpffs at /sys/fs/bpf (`cargo xtask setup` mounts it)"
    );
}

/// The rig `anc-rTAGPID-`, after removing the rigs of dead test processes.
fn build_rig(tag: &str) -> Rig {
    remove_stale_rigs("anc-r").unwrap_or_else(|e| panic!("{e:#}"));
    Rig::build(&format!("anc-r{tag}{}-", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"))
}

fn start(anchor: &Path, dir: &WorkDir, router: &Router) -> Daemon {
    Daemon::start(anchor, dir.path(), router)
        .unwrap_or_else(|e| panic!("cannot start {}: {e:#}", router.name))
}

/// SIGKILL, a check that the program keeps running without its daemon, and a restart.
fn kill_and_restart(
    rig: &Rig,
    anchor: &Path,
    dir: &WorkDir,
    daemon: Daemon,
    router: &Router,
    interfaces: &[&str],
) -> Daemon {
    daemon
        .kill()
        .unwrap_or_else(|e| panic!("cannot kill {}: {e:#}", router.name));
    let node = if router.name == "r1" {
        Node::R1
    } else {
        Node::R2
    };
    for dev in interfaces {
        assert_eq!(
            link_xdp_mode(&rig.ns(node), dev),
            Some(XDP_ATTACHED_DRV),
            "{dev} should keep the program while {} is dead",
            router.name
        );
    }
    pause(STEP).expect("pause");
    start(anchor, dir, router)
}

fn cli(daemon: &Daemon, args: &[&str]) -> String {
    daemon.cli(args).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `anchor binding list --json`.
fn bindings(daemon: &Daemon) -> Value {
    let json = cli(daemon, &["binding", "list", "--json"]);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("no JSON ({e}): {json}"))
}

/// The binding list without the statistics slots (which a shrinking migration moves).
fn without_slots(list: &Value) -> Value {
    let mut list = list.clone();
    for binding in list.as_array_mut().expect("a list").iter_mut() {
        binding.as_object_mut().expect("an object").remove("slot");
    }
    list
}

/// Prefix -> statistics slot.
fn slots(daemon: &Daemon) -> BTreeMap<String, u64> {
    bindings(daemon)
        .as_array()
        .expect("a list")
        .iter()
        .map(|b| {
            (
                b["prefix"].as_str().expect("prefix").to_owned(),
                b["slot"].as_u64().expect("slot"),
            )
        })
        .collect()
}

/// `anchor stats --json`.
struct Stats {
    json: String,
    report: Value,
}

impl Stats {
    fn read(daemon: &Daemon) -> Stats {
        let json = cli(daemon, &["stats", "--json"]);
        let report =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("no JSON ({e}): {json}"));
        Stats { json, report }
    }

    fn counter(&self, name: &str) -> u64 {
        self.report["counters"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["name"] == name))
            .and_then(|c| c["packets"].as_u64())
            .unwrap_or_else(|| panic!("no counter {name} in {}", self.json))
    }

    fn binding(&self, prefix: &str, field: &str) -> u64 {
        self.report["bindings"]
            .as_array()
            .and_then(|list| list.iter().find(|b| b["prefix"] == prefix))
            .and_then(|b| b[field].as_u64())
            .unwrap_or_else(|| panic!("no {field} for {prefix} in {}", self.json))
    }
}

/// The UDP stream from the correspondent to the mobile node's old address.
struct Stream {
    sender: Proc,
    receiver: Proc,
    sender_out: PathBuf,
    receiver_out: PathBuf,
}

impl Stream {
    fn start(rig: &Rig, dir: &Path) -> Stream {
        let port = STREAM_PORT.to_string();
        let mn = rig.ns(Node::Mn);
        let receiver_out = dir.join("receiver.out");
        let receiver = Proc::spawn(
            "receiver",
            cmd::in_netns(&mn, "python3")
                .args(["-c", STREAM, "receive", MN_P1_ADDR, &port])
                .stdout(std::fs::File::create(&receiver_out).expect("receiver output"))
                .stderr(Stdio::inherit()),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        wait_for_listener(&mn, Transport::Udp, STREAM_PORT, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("the receiver did not start: {e:#}"));
        let sender_out = dir.join("sender.out");
        let sender = Proc::spawn(
            "sender",
            cmd::in_netns(&rig.ns(Node::Cn), "python3")
                .args([
                    "-c",
                    STREAM,
                    "send",
                    MN_P1_ADDR,
                    &port,
                    &STREAM_RATE.to_string(),
                ])
                .stdout(std::fs::File::create(&sender_out).expect("sender output"))
                .stderr(Stdio::inherit()),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        Stream {
            sender,
            receiver,
            sender_out,
            receiver_out,
        }
    }

    /// Stops the sender, lets the last datagrams land, stops the receiver: (sent, received
    /// distinct).
    fn stop(mut self) -> (u32, u32) {
        let sender = self
            .sender
            .stop_with("TERM", PROC_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(sender.success(), "the sender failed ({sender})");
        pause(Duration::from_millis(500)).expect("pause");
        let receiver = self
            .receiver
            .stop_with("TERM", PROC_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(receiver.success(), "the receiver failed ({receiver})");
        let read = |path: &Path| std::fs::read_to_string(path).expect("stream output");
        let sent_text = read(&self.sender_out);
        let sent: u32 = sent_text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("the sender printed {sent_text:?} ({e})"));
        let received_text = read(&self.receiver_out);
        let numbers: Vec<u32> = received_text
            .split_whitespace()
            .map(|n| n.parse().expect("a number"))
            .collect();
        let [distinct, total] = numbers[..] else {
            panic!("the receiver printed {received_text:?}")
        };
        assert_eq!(distinct, total, "the receiver got duplicates");
        println!("stream: {sent} datagrams sent, {distinct} received");
        (sent, distinct)
    }
}

/// Sends `count` datagrams from the correspondent to the first address of `prefix` (r1
/// encapsulates them; r2, without a binding, drops them).
fn send_burst(rig: &Rig, prefix: &str, count: u32) {
    let net: ipnet::Ipv6Net = prefix.parse().expect("prefix");
    let addr = std::net::Ipv6Addr::from(u128::from(net.network()) + 1).to_string();
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
         for _ in range({count}): s.sendto(bytes(64), ('{addr}', 9))\n"
    );
    let out = run_bounded(cmd::in_netns(&rig.ns(Node::Cn), "python3").args(["-c", &script]));
    assert!(out.status.success(), "{}", describe(&out));
    // Let them pass r1 before the statistics are read.
    pause(Duration::from_millis(200)).expect("pause");
}

/// `max_entries` of a pinned map, as bpftool reads it.
fn pinned_max_entries(instance: &str, map: &str) -> u64 {
    let path = pin_dir(instance).join("maps").join(map);
    let json = cmd::new("bpftool")
        .args(["-j", "map", "show", "pinned"])
        .arg(&path)
        .read_stdout()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let info: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    info["max_entries"]
        .as_u64()
        .unwrap_or_else(|| panic!("no max_entries in {json}"))
}

/// `bpftool map create PATH type TYPE key K value V entries N`.
fn bpftool_map(path: &Path, map_type: &str, key: u32, value: u32, entries: u32) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    cmd::new("bpftool")
        .args(["map", "create"])
        .arg(path)
        .args(["type", map_type])
        .args(["key", &key.to_string(), "value", &value.to_string()])
        .args(["entries", &entries.to_string(), "name", &name])
        .run_quiet()
        .unwrap_or_else(|e| panic!("{e:#}"));
}

/// Every pinned object under `dir` with its kernel id (bpftool), to see that nothing changed.
fn pinned_listing(dir: &Path) -> Vec<String> {
    let mut listing = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list the pins") {
            let path = entry.expect("a pin").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let kind = if path.to_string_lossy().contains("/links/") {
                "link"
            } else {
                "map"
            };
            let json = cmd::new("bpftool")
                .args(["-j", kind, "show", "pinned"])
                .arg(&path)
                .read_stdout()
                .unwrap_or_else(|_| "?".to_owned());
            listing.push(format!("{} {json}", path.display()));
        }
    }
    listing.sort();
    listing
}

fn teardown_pins(instance: &str) {
    let dir = pin_dir(instance);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    }
}

/// The XDP mode on `dev` in namespace `ns` (`ip -j link`), or `None` without a program.
fn link_xdp_mode(ns: &str, dev: &str) -> Option<u64> {
    let out = cmd::new("ip")
        .args(["-n", ns, "-j", "link", "show", "dev", dev])
        .read_stdout()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let links: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    links[0]["xdp"]["mode"].as_u64()
}

/// One namespace `anc-rTAGPID-r1` with a veth pair a0 (core, the locator 2001:db8:12::1) and
/// a1 (access), both ends inside, for the daemon in skb mode. Dropping it removes the namespace
/// and the daemon's pins.
struct SmallNs {
    prefix: String,
    name: String,
}

impl SmallNs {
    fn create(tag: &str) -> SmallNs {
        remove_stale_rigs("anc-r").unwrap_or_else(|e| panic!("{e:#}"));
        let prefix = format!("anc-r{tag}{}-", std::process::id());
        teardown(&prefix).unwrap_or_else(|e| panic!("{e:#}"));
        let ns = SmallNs {
            name: format!("{prefix}{}", Node::R1.suffix()),
            prefix,
        };
        cmd::new("ip")
            .args(["netns", "add", &ns.name])
            .run_quiet()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let steps: &[&[&str]] = &[
            &["link", "set", "lo", "up"],
            &["link", "add", "a0", "type", "veth", "peer", "name", "a1"],
            &["link", "set", "a0", "up"],
            &["link", "set", "a1", "up"],
            &[
                "-6",
                "addr",
                "add",
                "2001:db8:12::1/64",
                "dev",
                "a0",
                "nodad",
            ],
        ];
        for step in steps {
            ns.ip_stdout(step);
        }
        ns
    }

    fn router(&self, detach_on_exit: bool) -> Router {
        let iface = |name, role| Interface {
            name,
            role,
            xdp_mode: "skb",
            source_validation: false,
        };
        Router {
            name: "m1",
            ns: self.name.clone(),
            locator: "2001:db8:12::1",
            interfaces: vec![iface("a0", "core"), iface("a1", "access")],
            instance: self.name.clone(),
            max_bindings: Some(16),
            detach_on_exit,
            log_format: None,
            metrics_listen: None,
        }
    }

    fn ip_stdout(&self, args: &[&str]) -> String {
        cmd::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .read_stdout()
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn ifindex(&self, dev: &str) -> u32 {
        let out = self.ip_stdout(&["-j", "link", "show", "dev", dev]);
        let links: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        links[0]["ifindex"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or_else(|| panic!("no ifindex in {out}"))
    }

    fn xdp_mode(&self, dev: &str) -> Option<u64> {
        link_xdp_mode(&self.name, dev)
    }

    /// Waits (up to 10 s) until no XDP program is attached to `devs`.
    fn wait_without_xdp(&self, devs: &[&str]) {
        for _ in 0..200 {
            if devs.iter().all(|dev| self.xdp_mode(dev).is_none()) {
                return;
            }
            pause(Duration::from_millis(50)).expect("pause");
        }
        panic!("{devs:?} in {} still have an XDP program", self.name);
    }
}

impl Drop for SmallNs {
    fn drop(&mut self) {
        if let Err(e) = teardown(&self.prefix) {
            eprintln!("cannot remove {}: {e:#}", self.name);
        }
    }
}

/// Runs a command to its end (killed after [`PROC_TIMEOUT`]) and returns its output.
fn run_bounded(command: &mut std::process::Command) -> Output {
    let line = cmd::describe(command);
    let dir = std::env::temp_dir();
    let id = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let (out_path, err_path) = (
        dir.join(format!("anchor-restart-{id}.out")),
        dir.join(format!("anchor-restart-{id}.err")),
    );
    let mut proc = Proc::spawn(
        "command",
        command
            .stdout(std::fs::File::create(&out_path).expect("output file"))
            .stderr(std::fs::File::create(&err_path).expect("error file")),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let status = proc
        .wait(PROC_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .unwrap_or_else(|| panic!("`{line}` still ran after {PROC_TIMEOUT:?} and was killed"));
    let read = |path: &Path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        let _ = std::fs::remove_file(path);
        bytes
    };
    Output {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

fn describe(out: &Output) -> String {
    format!(
        "exit {}; stdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
