//! The measurement method of sections 1 and 2 (see [`super`]): cases timed with many
//! `repeat = 1` runs, interleaved, minus the timer overhead found with the floor program.

use anyhow::{Context as _, Result, bail};
use aya::programs::{TestRun as _, TestRunOptions, Xdp};

use super::XDP_PASS;
use crate::stats::interquartile_mean;

/// How long each measurement runs.
pub struct Settings {
    /// `repeat = 1` runs per case.
    pub samples: usize,
    /// Rounds the samples are interleaved in.
    pub rounds: usize,
    /// Iterations of the long `repeat` run of the floor.
    pub floor_repeat: u32,
}

impl Settings {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                samples: 400,
                rounds: 4,
                floor_repeat: 10_000,
            }
        } else {
            Self {
                samples: 40_000,
                rounds: 40,
                floor_repeat: 200_000,
            }
        }
    }
}

/// One timed case: a program, the frames it cycles over, where they arrive, the verdict each
/// run must give.
pub struct Case<'a> {
    pub name: String,
    pub program: &'a Xdp,
    pub frames: Vec<Vec<u8>>,
    pub ingress: u32,
    pub action: u32,
}

/// What a measured level found, per case name: cost in ns (timer overhead removed).
pub struct Costs {
    pub floor: f64,
    pub overhead: f64,
    by_case: Vec<(String, f64)>,
}

impl Costs {
    pub fn get(&self, name: &str) -> Result<f64> {
        self.by_case
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .with_context(|| format!("no measurement named {name}"))
    }
}

/// Runs `program` once on `frame` arriving on `ingress`: (verdict, kernel-reported ns).
fn run_once(program: &Xdp, frame: &[u8], ingress: u32) -> Result<(u32, f64)> {
    let mut opts = TestRunOptions::new();
    let md = xdp_md(frame.len(), ingress);
    opts.data_in = Some(frame);
    opts.ctx_in = Some(&md);
    let r = program.test_run(opts).context("BPF_PROG_TEST_RUN")?;
    Ok((r.return_value, r.duration.as_nanos() as f64))
}

/// `struct xdp_md`: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
pub fn xdp_md(len: usize, ingress: u32) -> [u8; 24] {
    let mut md = [0u8; 24];
    let data_end = u32::try_from(len).expect("a test frame is far shorter than 4 GiB");
    md[4..8].copy_from_slice(&data_end.to_ne_bytes());
    md[12..16].copy_from_slice(&ingress.to_ne_bytes());
    md
}

/// The floor's own cost per packet: the kernel's average over long `repeat` runs (time the
/// thread spent descheduled is not counted), middle half of 21 runs. The kernel truncates the
/// average to whole nanoseconds; run-to-run noise spreads the fraction, so the mean of the
/// truncated values plus half a nanosecond estimates it.
pub fn floor_cost(program: &Xdp, frame: &[u8], ingress: u32, repeat: u32) -> Result<f64> {
    let md = xdp_md(frame.len(), ingress);
    let mut runs = Vec::new();
    for _ in 0..21 {
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.ctx_in = Some(&md);
        opts.repeat = repeat;
        let r = program.test_run(opts).context("BPF_PROG_TEST_RUN")?;
        if r.return_value != XDP_PASS {
            bail!("verdict {}, expected XDP_PASS", r.return_value);
        }
        runs.push(r.duration.as_nanos() as f64);
    }
    Ok(interquartile_mean(&runs) + 0.5)
}

/// Times every case, interleaved; the first case must be the floor program.
pub fn measure(cases: &[Case<'_>], settings: &Settings) -> Result<Costs> {
    let per_round = settings.samples.div_ceil(settings.rounds);
    let mut samples = vec![Vec::with_capacity(settings.samples); cases.len()];
    let mut cursor = vec![0usize; cases.len()];
    for round in 0..=settings.rounds {
        for (i, case) in cases.iter().enumerate() {
            for _ in 0..per_round {
                let frame = &case.frames[cursor[i] % case.frames.len()];
                cursor[i] += 1;
                let (action, ns) = run_once(case.program, frame, case.ingress)?;
                if action != case.action {
                    bail!(
                        "{}: verdict {action}, expected {} (frame {})",
                        case.name,
                        case.action,
                        cursor[i] - 1
                    );
                }
                // Round 0 warms caches and is not kept.
                if round > 0 {
                    samples[i].push(ns);
                }
            }
        }
    }
    let floor_case = &cases[0];
    let floor = floor_cost(
        floor_case.program,
        &floor_case.frames[0],
        floor_case.ingress,
        settings.floor_repeat,
    )?;
    let overhead = interquartile_mean(&samples[0]) - floor;
    let by_case = cases
        .iter()
        .zip(&samples)
        .map(|(case, s)| (case.name.clone(), interquartile_mean(s) - overhead))
        .collect();
    Ok(Costs {
        floor,
        overhead,
        by_case,
    })
}
