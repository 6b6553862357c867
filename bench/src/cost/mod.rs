//! Sections 1 and 2: the cost of one packet inside the kernel, measured with BPF_PROG_TEST_RUN
//! next to the reference programs, with 1, 10k and 1M bindings in the map.
//!
//! Method: the rewriting paths cannot use `repeat` (the kernel runs every iteration on the
//! same, already rewritten buffer), so every case is timed with many `repeat = 1` runs, each on
//! a fresh copy of its frame. A run's kernel-reported duration includes a fixed timer overhead;
//! it is measured with the XDP_PASS-only program, whose own cost is known from a long `repeat`
//! run (where the overhead is spread over a million iterations), and subtracted. Cases are
//! interleaved round by round so that a noisy neighbour hits all of them alike.
//!
//! - [`timing`]: that method;
//! - [`frames`]: the frames, as they arrive in the fixture namespace ([`FixtureNet`]);
//! - [`single`]: section 1, one binding of each kind;
//! - [`scale`]: section 2, 10k and 1M bindings.

mod frames;
mod scale;
mod single;
mod timing;
mod uncached;

use anchor_common::{BindingKey, IfaceRole, config::DEFAULT_MAX_BINDINGS};
use anchor_rig::fixture_net::{FixtureNet, LOCATOR};
use anchor_user::datapath::{Datapath, DatapathParams};
use anyhow::{Context as _, Result};
use ipnet::Ipv6Net;

use self::timing::Settings;
pub use self::{scale::BatchInstall, timing::xdp_md};
use crate::{bindings::address, objects::RefProgram, report::Report};

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const XDP_REDIRECT: u32 = 4;

const FLOOR: &str = "XDP_PASS-only program (floor)";
const ONE_LOOKUP: &str = "one hash-map lookup (ref_lookup)";

/// Sections 1 and 2, and what needs the 1M-binding map: its memory (section 5) and the batched
/// install rate (section 4).
pub fn run(report: &mut Report, quick: bool) -> Result<BatchInstall> {
    let settings = Settings::new(quick);
    report.method(
        "repeat",
        format!(
            "BPF_PROG_TEST_RUN with repeat = {} (the buffer is reused, fine for a program that \
             does not rewrite it): the kernel's average per iteration (+0.5 ns for its \
             truncation), interquartile mean of 21 runs",
            settings.floor_repeat
        ),
    );
    report.method(
        "single-runs",
        format!(
            "{} BPF_PROG_TEST_RUN calls with repeat = 1 per case (a fresh copy of the frame \
             each), interleaved over {} rounds with the other cases; interquartile mean of the \
             kernel-reported duration minus the timer overhead (that mean for the \
             XDP_PASS-only program minus its `repeat` cost). Every run's verdict is checked",
            settings.samples, settings.rounds
        ),
    );
    let net = FixtureNet::create(crate::NETNS_STEM)?;
    let _inside = net.ns.enter()?;
    let floor_program = RefProgram::pass()?;
    let level1 = single::run(report, &net, &floor_program, &settings, quick)?;
    scale::run(report, &net, &floor_program, &level1, &settings, quick)
}

/// The anchor program with room for the default number of bindings, the fixture namespace's
/// locator its own.
pub fn load_datapath() -> Result<Datapath> {
    load_datapath_with_pools(Vec::new())
}

/// [`load_datapath`], with the dense tables of `pools`.
pub fn load_datapath_with_pools(dense_pools: Vec<Ipv6Net>) -> Result<Datapath> {
    Datapath::load(&DatapathParams {
        locator: LOCATOR,
        tunnel_mtu: 1500,
        outer_hop_limit: 64,
        max_bindings: DEFAULT_MAX_BINDINGS,
        dense_pools,
        log: false,
    })
    .context("cannot load the anchor program")
}

/// Gives the fixture namespace's interface `ifindex` the `role` and puts it in `TX_PORTS`, as
/// attaching the program to it would (the benchmark runs the program with test runs, not
/// attached).
pub fn as_attached(dp: &mut Datapath, ifindex: u32, role: IfaceRole) -> Result<()> {
    dp.set_iface_role(ifindex, role)?;
    dp.add_tx_port(ifindex)?;
    Ok(())
}

/// The /64 of `key`.
pub fn net64(key: BindingKey) -> Result<Ipv6Net> {
    Ipv6Net::new(address(key, 0), 64).context("a /64")
}
