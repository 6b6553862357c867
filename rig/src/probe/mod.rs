//! What this machine can do, probed for real: the capabilities that anchor, its tests and its
//! benchmarks use, whether each is here, and what its absence disables. `cargo xtask doctor`
//! prints them; `cargo xtask test` and `cargo xtask demo` stop at once when one that they cannot
//! do without is missing, and the benchmarks leave out a comparator that the kernel lacks.
//!
//! - [`scratch`]: a throw-away namespace with a veth pair for the probes that change state.
//! - [`kernel`]: XDP attachment, kernel tunnels, ESP, XFRM, and the kernel's config options.
//! - [`tools`]: charon's algorithms and the programs the tasks run.

pub mod kernel;
pub mod scratch;
pub mod tools;

use std::fmt::Write as _;

use anyhow::{Result, bail};

pub use kernel::kernel_config;

/// A task of the xtask that may depend on a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    Test,
    Demo,
    Bench,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Test => "test",
            Task::Demo => "demo",
            Task::Bench => "bench",
        }
    }
}

/// Everything that [`Task::Test`] runs needs [`Task::Bench`]'s too (it runs `bench --quick`).
const ALL: &[Task] = &[Task::Test, Task::Demo, Task::Bench];
const TEST_BENCH: &[Task] = &[Task::Test, Task::Bench];
const TEST: &[Task] = &[Task::Test];
const OPTIONAL: &[Task] = &[];

/// One probed capability.
#[derive(Clone, Debug)]
pub struct Capability {
    pub name: &'static str,
    /// The tasks that cannot run without it; empty: they run, with less.
    pub needed_by: &'static [Task],
    /// What its absence disables.
    pub disables: &'static str,
    /// `Ok(detail)` when present; `Err(reason)` when absent.
    pub outcome: Result<String, String>,
}

impl Capability {
    pub fn present(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// The capabilities probed with `ip` in the scratch namespace: name, the tasks that need it,
/// what its absence disables, the probe.
const IP_PROBES: [(&str, &[Task], &str, &kernel::IpProbe); 6] = [
    (
        "IPv6 source-specific routes",
        TEST,
        "client-based DMM's MTU for tunnelled prefixes (`anchor client`): the client scenario",
        &kernel::SOURCE_ROUTE,
    ),
    (
        "seg6 lwtunnel (encap.red)",
        OPTIONAL,
        "the benchmarks' kernel seg6 comparator (its rows show n/a)",
        &kernel::SEG6,
    ),
    (
        "ip6tnl (ip6ip6)",
        OPTIONAL,
        "kernel IPv6-in-IPv6 tunnels beside anchor (no benchmark compares with it yet)",
        &kernel::IP6TNL,
    ),
    (
        "ESP, AEAD rfc4106(gcm(aes))",
        OPTIONAL,
        "ESP on the wire: the signaling's CHILD SAs (aes256gcm16) cannot be installed; \
         the tests check policies and IKEv2 only",
        &kernel::ESP_AEAD,
    ),
    (
        "ESP, authenc hmac(sha256) cbc(aes)",
        OPTIONAL,
        "ESP on the wire with manual keys of that suite",
        &kernel::ESP_AUTHENC,
    ),
    (
        "XFRM policies",
        TEST,
        "the check that IPsec protects the signaling, and its tests",
        &kernel::XFRM_POLICY,
    ),
];

/// Probes everything, in the order of the table. Needs root; changes nothing it does not undo.
pub fn probe_all() -> Vec<Capability> {
    let mut caps = Vec::new();
    let mut add = |name, needed_by, disables, outcome: Result<String>| {
        caps.push(Capability {
            name,
            needed_by,
            disables,
            outcome: outcome.map_err(|e| format!("{e:#}")),
        });
    };
    let bpf = kernel::bpf_program();
    let scratch = scratch::Scratch::create();
    add(
        "bpf() and XDP programs",
        ALL,
        "everything: the data plane cannot load",
        bpf.as_ref()
            .map(|_| String::new())
            .map_err(|e| anyhow::anyhow!("{e:#}")),
    );
    add(
        "bpffs at /sys/fs/bpf",
        ALL,
        "pinned state: hitless restart and resize, the demo, the tests",
        kernel::bpffs(),
    );
    add(
        "BPF_PROG_TEST_RUN (XDP)",
        TEST_BENCH,
        "the packet fixture tests and the cost benchmarks",
        kernel::test_run(bpf.as_ref().ok(), &scratch, false),
    );
    add(
        "BPF_PROG_TEST_RUN live frames",
        TEST_BENCH,
        "the forwarding-rate benchmarks",
        kernel::test_run(bpf.as_ref().ok(), &scratch, true),
    );
    let (native, generic) = kernel::xdp_attach(bpf.as_ref().ok(), &scratch);
    add(
        "XDP native on veth",
        ALL,
        "native attachment (xdp_mode = \"native\"): the demo, the rigs, the benchmarks",
        native,
    );
    add(
        "XDP generic on veth",
        TEST,
        "generic attachment (xdp_mode = \"skb\") and the tests that use it",
        generic,
    );
    for (name, needed_by, disables, probe) in IP_PROBES {
        add(name, needed_by, disables, kernel::try_ip(&scratch, probe));
    }
    add(
        "charon: AES_GCM_16, PRF_HMAC_SHA2_384, ECP_384",
        TEST,
        "the packaged strongSwan configuration (IKEv2 with the CMD) and its test",
        tools::charon_algorithms(),
    );
    for tool in tools::TOOLS {
        add(
            tool.name,
            tool.needed_by,
            tool.disables,
            tools::version(tool),
        );
    }
    drop(scratch);
    caps
}

/// The kernel options behind the capabilities, as the benchmark's report records them.
pub const KERNEL_OPTIONS: &[&str] = &[
    "CONFIG_BPF_SYSCALL",
    "CONFIG_BPF_JIT",
    "CONFIG_XDP_SOCKETS",
    "CONFIG_IPV6_SEG6_LWTUNNEL",
    "CONFIG_IPV6_TUNNEL",
    "CONFIG_IPV6_SIT",
    "CONFIG_NET_IPIP",
    "CONFIG_INET6_ESP",
    "CONFIG_XFRM_USER",
    "CONFIG_CRYPTO_GCM",
    "CONFIG_CRYPTO_AUTHENC",
];

/// Whether the kernel can encapsulate with seg6 (`encap.red`), as the benchmark's comparator
/// does: `Err(reason)` when not.
pub fn seg6() -> Result<(), String> {
    kernel::try_ip(&scratch::Scratch::create(), &kernel::SEG6)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// The table `cargo xtask doctor` prints.
pub fn table(caps: &[Capability]) -> String {
    let width = caps.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:width$}  here  {:15}  its absence disables",
        "capability", "needed by"
    );
    for cap in caps {
        let needed = if cap.needed_by.is_empty() {
            "(optional)".to_owned()
        } else {
            cap.needed_by
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(",")
        };
        let here = if cap.present() { "yes" } else { "NO" };
        let _ = writeln!(
            out,
            "{:width$}  {here:4}  {needed:15}  {}",
            cap.name, cap.disables
        );
        match &cap.outcome {
            Ok(detail) if !detail.is_empty() => {
                let _ = writeln!(out, "{:width$}        {detail}", "");
            }
            Err(reason) => {
                let _ = writeln!(out, "{:width$}        absent: {reason}", "");
            }
            Ok(_) => {}
        }
    }
    out
}

/// Fails, naming every missing piece, when `task` cannot run here.
pub fn require(caps: &[Capability], task: Task) -> Result<()> {
    let missing: Vec<String> = caps
        .iter()
        .filter(|c| !c.present() && c.needed_by.contains(&task))
        .map(|c| {
            format!(
                "{} ({})",
                c.name,
                c.outcome.as_ref().err().map_or("", String::as_str)
            )
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "`{}` cannot run on this machine; missing: {} (see `cargo xtask doctor`)",
            task.name(),
            missing.join("; ")
        );
    }
    Ok(())
}

/// The optional capabilities that are absent, as `name (reason): what goes unexercised`.
pub fn absent_optional(caps: &[Capability]) -> Vec<String> {
    caps.iter()
        .filter(|c| !c.present() && c.needed_by.is_empty())
        .map(|c| {
            format!(
                "{} ({}): {}",
                c.name,
                c.outcome.as_ref().err().map_or("", String::as_str),
                c.disables
            )
        })
        .collect()
}
