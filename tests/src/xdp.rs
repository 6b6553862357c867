//! Running the program through BPF_PROG_TEST_RUN and reading counter deltas.

use std::{collections::BTreeMap, time::Duration};

use anchor_common::Counter;
use anchor_user::datapath::Datapath;
use aya::programs::{TestRun, TestRunOptions, TestRunResult, Xdp};

/// What one run of the program did.
pub struct Outcome {
    pub action: u32,
    pub frame: Vec<u8>,
    pub duration: Duration,
}

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;
pub const XDP_REDIRECT: u32 = 4;

pub fn action_name(a: u32) -> &'static str {
    match a {
        0 => "XDP_ABORTED",
        XDP_DROP => "XDP_DROP",
        XDP_PASS => "XDP_PASS",
        XDP_TX => "XDP_TX",
        XDP_REDIRECT => "XDP_REDIRECT",
        _ => "unknown",
    }
}

/// Runs the program once on `frame` as if it arrived on `ingress_ifindex` (in the calling
/// thread's network namespace).
pub fn run(dp: &Datapath, frame: &[u8], ingress_ifindex: u32) -> Outcome {
    run_program(dp.program(), frame, ingress_ifindex)
}

/// The `struct xdp_md` of a test run on a frame of `len` octets arriving on `ingress_ifindex`:
/// data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
pub fn xdp_md(len: usize, ingress_ifindex: u32) -> [u8; 24] {
    let mut md = [0u8; 24];
    let data_end = u32::try_from(len).expect("a test frame is far shorter than 4 GiB");
    md[4..8].copy_from_slice(&data_end.to_ne_bytes());
    md[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
    md
}

/// [`run`] for any loaded XDP program.
pub fn run_program(program: &Xdp, frame: &[u8], ingress_ifindex: u32) -> Outcome {
    run_with_context(program, frame, &xdp_md(frame.len(), ingress_ifindex))
}

/// Runs any loaded program once on `frame` with the context `ctx` (an `xdp_md`, an
/// `__sk_buff`), its output frame allowed 512 octets of growth.
pub fn run_with_context<P>(program: &P, frame: &[u8], ctx: &[u8]) -> Outcome
where
    P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = TestRunResult>,
{
    let mut out = vec![0u8; frame.len() + 512];
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.data_out = Some(&mut out);
    opts.ctx_in = Some(ctx);
    let r = program.test_run(opts).expect("BPF_PROG_TEST_RUN");
    out.truncate(r.data_size_out as usize);
    Outcome {
        action: r.return_value,
        frame: out,
        duration: r.duration,
    }
}

/// Packets per counter name, summed over CPUs.
pub fn counters(dp: &Datapath) -> BTreeMap<&'static str, u64> {
    dp.counters()
        .expect("read counters")
        .into_iter()
        .map(|(c, v)| (c.name(), v.packets))
        .collect()
}

/// Asserts that exactly the `expected` counters moved, by exactly these packet counts.
pub fn assert_deltas(
    case: &str,
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
    expected: &[(Counter, u64)],
) {
    let named: Vec<(&str, u64)> = expected.iter().map(|(c, n)| (c.name(), *n)).collect();
    assert_named_deltas(case, before, after, &named);
}

/// Asserts that exactly the counters named in `expected` moved, by exactly these counts.
pub fn assert_named_deltas(
    case: &str,
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
    expected: &[(&str, u64)],
) {
    let mut want: BTreeMap<&str, u64> = before.keys().map(|k| (*k, 0)).collect();
    for (name, n) in expected {
        *want.entry(name).or_default() += n;
    }
    let got: BTreeMap<&str, u64> = after
        .iter()
        .map(|(k, v)| (*k, v - before.get(k).copied().unwrap_or(0)))
        .collect();
    assert_eq!(got, want, "{case}: counter deltas");
}

/// Compares frames and, on a difference, names the first differing byte.
pub fn assert_frame(case: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let first = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{case}: output frame differs at byte {first} (got {} bytes, want {})\n got: {:02x?}\nwant: {:02x?}",
            got.len(),
            want.len(),
            &got[..got.len().min(first + 16)],
            &want[..want.len().min(first + 16)],
        );
    }
}

/// Keeps the calling thread on the CPU it runs on now, so that its runs of the program share
/// that CPU's lookup caches (a test that shows a cached answer needs the same cache twice).
///
/// Panics with the reason when the affinity cannot be set.
pub fn stay_on_this_cpu() {
    // SAFETY: plain libc calls on a zeroed CPU set of this thread.
    unsafe {
        let cpu = usize::try_from(libc::sched_getcpu())
            .unwrap_or_else(|_| panic!("sched_getcpu: {}", std::io::Error::last_os_error()));
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let result =
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set);
        assert_eq!(
            result,
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }
}
