//! Line-rate traffic on a veth pair for the privileged tests: [`Generator`] sends one frame over
//! and over with `bench_gen` in live-frames BPF_PROG_TEST_RUN mode; [`Sink`], attached to the
//! other end's peer, counts what comes back (`bench_sink`).

use std::{
    net::Ipv6Addr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anchor_bench::programs;
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, PerCpuArray},
    programs::{TestRun as _, TestRunAttrs, TestRunOptions, Xdp, XdpMode},
};

use crate::{support::in_netns, xdp::xdp_md};

/// Bytes `bench_gen` drops from the front of each input frame.
const SPARE: usize = 40;
/// Frames per live-frames batch.
const BATCH: u32 = 64;

/// `bench_gen` sending `frame` out of an interface, from a thread of its own, until dropped or
/// [`stop`](Self::stop)ped.
pub struct Generator {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<Duration>>,
}

impl Generator {
    /// Sends `frame` (Ethernet, IPv6, UDP: at least 64 bytes) out of `ifindex` in namespace
    /// `ns`, in runs of `run` frames; with `pace`, at most `run` frames per `pace`, otherwise as
    /// fast as one CPU can.
    pub fn start(ns: &str, ifindex: u32, frame: &[u8], run: u32, pace: Option<Duration>) -> Self {
        let mut header = [0u64; 8];
        for (word, bytes) in header.iter_mut().zip(frame.chunks_exact(8)) {
            *word = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
        }
        let mut input = vec![0u8; SPARE];
        input.extend_from_slice(frame);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, sent, ns) = (Arc::clone(&stop), Arc::clone(&sent), ns.to_owned());
            std::thread::spawn(move || {
                in_netns(&ns, || {
                    let mut loader = EbpfLoader::new();
                    loader.override_global("GEN_HEADER", &header, true);
                    let mut ebpf = loader.load(programs::BENCH_GEN).expect("load bench_gen");
                    let program: &mut Xdp = ebpf
                        .program_mut("bench_gen")
                        .expect("bench_gen")
                        .try_into()
                        .expect("an XDP program");
                    program.load().expect("the kernel loads bench_gen");
                    let md = xdp_md(input.len(), ifindex);
                    let started = Instant::now();
                    let mut runs: u32 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let mut opts = TestRunOptions::new();
                        opts.data_in = Some(&input);
                        opts.ctx_in = Some(&md);
                        opts.repeat = run;
                        opts.attrs = TestRunAttrs::new().xdp_live_frames(BATCH);
                        program
                            .test_run(opts)
                            .expect("live-frames BPF_PROG_TEST_RUN");
                        sent.fetch_add(u64::from(run), Ordering::Relaxed);
                        runs = runs.saturating_add(1);
                        if let Some(pace) = pace {
                            let due = started + pace * runs;
                            std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        }
                    }
                    started.elapsed()
                })
            })
        };
        Self {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Frames sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits until `frames` have been sent; panics after `bound`.
    pub fn wait_for(&self, frames: u64, bound: Duration) {
        let deadline = Instant::now() + bound;
        while self.sent() < frames {
            assert!(Instant::now() < deadline, "the generator stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the generator: the frames sent and how long it ran.
    pub fn stop(mut self) -> (u64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let ran = self
            .thread
            .take()
            .map(|thread| thread.join().expect("the generator"))
            .unwrap_or_default();
        (self.sent(), ran)
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `bench_sink` attached (native) to an interface: counts the IPv6 frames with the expected
/// source, destination and next header apart from every other frame, and drops both.
pub struct Sink {
    ebpf: Ebpf,
}

impl Sink {
    /// Attaches to `ifindex` of the calling thread's namespace, expecting `source` ->
    /// `destination` with `next_header`.
    pub fn attach(ifindex: u32, source: Ipv6Addr, destination: Ipv6Addr, next_header: u8) -> Self {
        let mut ebpf = EbpfLoader::new()
            .load(programs::BENCH_SINK)
            .expect("load bench_sink");
        let mut expect: Array<_, [u8; 34]> =
            Array::try_from(ebpf.map_mut("SINK_EXPECT").expect("SINK_EXPECT"))
                .expect("SINK_EXPECT is an array");
        let mut value = [0u8; 34];
        value[..16].copy_from_slice(&source.octets());
        value[16..32].copy_from_slice(&destination.octets());
        value[32] = next_header;
        value[33] = 1;
        expect.set(0, value, 0).expect("write SINK_EXPECT");
        let program: &mut Xdp = ebpf
            .program_mut("bench_sink")
            .expect("bench_sink")
            .try_into()
            .expect("an XDP program");
        program.load().expect("the kernel loads bench_sink");
        program
            .attach_to_if_index(ifindex, XdpMode::Driver)
            .expect("attach bench_sink natively");
        Self { ebpf }
    }

    /// Frames counted so far, summed over the CPUs: (as expected, any other).
    pub fn frames(&self) -> (u64, u64) {
        let frames: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.ebpf.map("SINK_FRAMES").expect("SINK_FRAMES"))
                .expect("SINK_FRAMES is a per-CPU array");
        let slot = |index: u32| -> u64 {
            frames
                .get(&index, 0)
                .expect("read SINK_FRAMES")
                .iter()
                .sum()
        };
        (slot(0), slot(1))
    }
}
