//! `cargo xtask fuzz`: the long fuzzing runs, of which `cargo xtask test` runs bounded, seeded
//! versions: random and mutated frames through the XDP program (`tests/tests/xdp_fuzz.rs`,
//! with its frames per second), and cargo-fuzz on the signaling decoder.

use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};

/// How long `cargo xtask test` fuzzes the decoder: enough to reach every option parser from the
/// seeds, bounded for CI (the fuzz crate's build takes about as long again).
pub const CI_DECODER_SECONDS: u32 = 30;

/// Runs `frames` random frames through the program (seed `seed`), then fuzzes the decoder for
/// `decoder_seconds`.
pub fn fuzz(frames: u64, seed: u64, decoder_seconds: u32) -> Result<()> {
    println!("fuzz: {frames} frames through the XDP program, seed {seed:#x}");
    cmd::cargo([
        "test",
        "--package",
        "anchor-tests",
        "--test",
        "xdp_fuzz",
        "--",
        "--nocapture",
    ])
    .env("ANCHOR_FUZZ_FRAMES", frames.to_string())
    .env("ANCHOR_FUZZ_SEED", seed.to_string())
    .run()
    .context("fuzzing the XDP program failed")?;
    fuzz_decoder(decoder_seconds).context("fuzzing the signaling decoder failed")
}

/// Fuzzes the Mobility Header decoder (signal/fuzz, target `decode`) for `seconds`, starting
/// from the seeds the `fuzz_seeds` example writes. A crash fails and leaves the input in
/// signal/fuzz/artifacts/decode/.
pub fn fuzz_decoder(seconds: u32) -> Result<()> {
    let fuzz_dir = cmd::workspace_root().join("signal/fuzz");
    let corpus = fuzz_dir.join("corpus/decode");
    println!("fuzz (decoder): cargo +nightly fuzz run decode for {seconds} s");
    let seeds = [
        "run",
        "-q",
        "-p",
        "anchor-signal",
        "--example",
        "fuzz_seeds",
        "--",
    ];
    cmd::cargo(seeds).arg(&corpus).run()?;
    cmd::cargo(["+nightly", "fuzz", "run", "decode", "--fuzz-dir"])
        .arg(&fuzz_dir)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .run()
}
