//! `cargo xtask fuzz`: the long fuzzing runs, of which `cargo xtask test` runs bounded, seeded
//! versions: random and mutated frames through the XDP program (`tests/tests/xdp_fuzz.rs`,
//! with its frames per second), and cargo-fuzz on the signaling decoder and on the CMD's and the
//! MAAR's engines (`cmd/fuzz` and `maar/fuzz`, target `engine`: sequences of messages and clock
//! jumps, with the invariants of their state checked after every step).

use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};

/// How long `cargo xtask test` fuzzes the decoder: enough to reach every option parser from the
/// seeds, bounded for CI (the fuzz crate's build takes about as long again).
pub const CI_DECODER_SECONDS: u32 = 30;
/// How long `cargo xtask test` fuzzes each engine (the CMD's, the MAAR's).
pub const CI_ENGINE_SECONDS: u32 = 30;

/// Runs `frames` random frames through the program (seed `seed`), then fuzzes the decoder and
/// the CMD's engine for `decoder_seconds` each.
pub fn fuzz(frames: u64, seed: u64, decoder_seconds: u32) -> Result<()> {
    println!("fuzz: {frames} frames through the XDP program, seed {seed:#x}");
    cmd::cargo_test("xdp_fuzz", false)
        .env("ANCHOR_FUZZ_FRAMES", frames.to_string())
        .env("ANCHOR_FUZZ_SEED", seed.to_string())
        .run()
        .context("fuzzing the XDP program failed")?;
    fuzz_decoder(decoder_seconds).context("fuzzing the signaling decoder failed")?;
    fuzz_cmd_engine(decoder_seconds).context("fuzzing the CMD's engine failed")?;
    fuzz_maar_engine(decoder_seconds).context("fuzzing the MAAR's engine failed")
}

/// Fuzzes the CMD's engine (cmd/fuzz, target `engine`) for `seconds`, from the committed
/// seeds (cmd/fuzz/seeds/engine).
pub fn fuzz_cmd_engine(seconds: u32) -> Result<()> {
    fuzz_engine("CMD", "cmd/fuzz", seconds)
}

/// Fuzzes the MAAR's engine (maar/fuzz, target `engine`) for `seconds`, from the committed
/// seeds (maar/fuzz/seeds/engine).
pub fn fuzz_maar_engine(seconds: u32) -> Result<()> {
    fuzz_engine("MAAR", "maar/fuzz", seconds)
}

/// `cargo +nightly fuzz run engine` in `dir` for `seconds`: new inputs go to its ignored
/// corpus, the committed seeds are read too. A crash fails and leaves the input in
/// `dir/artifacts/engine/`.
fn fuzz_engine(role: &str, dir: &str, seconds: u32) -> Result<()> {
    let fuzz_dir = cmd::workspace_root().join(dir);
    let corpus = fuzz_dir.join("corpus/engine");
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    println!("fuzz ({role} engine): cargo +nightly fuzz run engine for {seconds} s");
    cmd::cargo(["+nightly", "fuzz", "run", "engine", "--fuzz-dir"])
        .arg(&fuzz_dir)
        .arg(&corpus)
        .arg(fuzz_dir.join("seeds/engine"))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .run()
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
