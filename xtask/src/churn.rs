//! `cargo xtask churn`: the long run of `tests/tests/churn.rs`, of which `cargo xtask test` runs
//! a bounded one (3 s): bindings rewritten at a high rate for as long as asked while traffic
//! flows through one that does not change, every one of its packets counted at the receiver.

use anyhow::{Context as _, Result};

use crate::cmd::{self, Run as _};

/// Runs the churn test with `bindings` bindings, `seconds` of updates at up to `rate` a second.
pub fn churn(bindings: u64, seconds: u64, rate: u64) -> Result<()> {
    println!("churn: {bindings} bindings, {seconds} s of updates at up to {rate}/s");
    cmd::cargo_test("churn", true)
        .env("ANCHOR_CHURN_BINDINGS", bindings.to_string())
        .env("ANCHOR_CHURN_SECONDS", seconds.to_string())
        .env("ANCHOR_CHURN_RATE", rate.to_string())
        .run()
        .context("the churn run failed")
}
