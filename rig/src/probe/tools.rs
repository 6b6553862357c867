//! The programs the tasks run, each asked for its version, and charon's algorithms, asked of a
//! [`Charon`] started in a namespace of its own (as the strongSwan test starts it).

use anyhow::{Context as _, Result, anyhow, bail};

use super::{ALL, TEST, Task};
use crate::{
    charon::Charon,
    cmd::{self, Run as _},
};

/// A program and the command line that proves it runs.
pub struct Tool {
    pub name: &'static str,
    pub version: &'static [&'static str],
    pub needed_by: &'static [Task],
    pub disables: &'static str,
}

pub const TOOLS: &[Tool] = &[
    Tool {
        name: "bpf-linker",
        version: &["bpf-linker", "--version"],
        needed_by: ALL,
        disables: "building the XDP program",
    },
    Tool {
        name: "bpftool",
        version: &["bpftool", "version"],
        needed_by: TEST,
        disables: "the restart tests' map inspection",
    },
    Tool {
        name: "iperf3",
        version: &["iperf3", "--version"],
        needed_by: &[Task::Test, Task::Demo],
        disables: "the demo's TCP stream across the move",
    },
    Tool {
        name: "tshark",
        version: &["tshark", "--version"],
        needed_by: TEST,
        disables: "the dissector checks of the signaling codec",
    },
    Tool {
        name: "tcpdump",
        version: &["tcpdump", "--version"],
        needed_by: TEST,
        disables: "the captures of the end-to-end tests",
    },
    Tool {
        name: "prometheus",
        version: &["prometheus", "--version"],
        needed_by: TEST,
        disables: "the test that a real Prometheus scrapes /metrics",
    },
    Tool {
        name: "promtool",
        version: &["promtool", "--version"],
        needed_by: TEST,
        disables: "the check of the metrics exposition",
    },
    Tool {
        name: "cargo-fuzz",
        version: &["cargo-fuzz", "--version"],
        needed_by: TEST,
        disables: "the fuzzing of the signaling decoder",
    },
    Tool {
        name: "nft",
        version: &["nft", "--version"],
        needed_by: TEST,
        disables: "the tests that drop signaling on the wire",
    },
    Tool {
        name: "bird",
        version: &["bird", "--version"],
        needed_by: TEST,
        disables: "the anchor relocation test with BGP (BIRD 2 and birdc)",
    },
    Tool {
        name: "ethtool",
        version: &["ethtool", "--version"],
        needed_by: ALL,
        disables: "the rig's veth offload settings",
    },
    Tool {
        name: "nsenter",
        version: &["nsenter", "--version"],
        needed_by: ALL,
        disables: "running daemons in the rig's namespaces",
    },
];

/// The first line of the tool's version output.
pub fn version(tool: &Tool) -> Result<String> {
    let (program, args) = tool
        .version
        .split_first()
        .ok_or_else(|| anyhow!("no command"))?;
    let output = cmd::new(program)
        .args(args)
        .output()
        .map_err(|e| anyhow!("`{program}` cannot run: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("`{}` failed: {}", tool.version.join(" "), text.trim());
    }
    Ok(text.lines().next().unwrap_or("").trim().to_owned())
}

/// What the packaged configurations propose (packaging/strongswan: aes256gcm16-prfsha384-ecp384).
const ALGORITHMS: [&str; 3] = ["AES_GCM_16", "PRF_HMAC_SHA2_384", "ECP_384"];

/// Starts charon in a namespace of its own and asks `swanctl --list-algs` for [`ALGORITHMS`].
pub fn charon_algorithms() -> Result<String> {
    let ns = format!("anchor-probe-ike-{}", std::process::id());
    let dir = std::env::temp_dir().join(&ns);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _ = cmd::new("ip").args(["netns", "del", &ns]).run_quiet();
    cmd::new("ip").args(["netns", "add", &ns]).run_quiet()?;
    let result = list_algorithms(&ns, &dir);
    let _ = cmd::new("ip").args(["netns", "del", &ns]).run_quiet();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn list_algorithms(ns: &str, dir: &std::path::Path) -> Result<String> {
    let charon = Charon::start(ns, dir, "probe")?;
    let listing = charon.swanctl(&["--list-algs"]).read_stdout()?;
    let missing: Vec<&str> = ALGORITHMS
        .into_iter()
        .filter(|alg| !listing.contains(&format!("{alg}[")))
        .collect();
    if !missing.is_empty() {
        bail!(
            "charon lacks {} (package libstrongswan-standard-plugins: openssl, gcm)",
            missing.join(", ")
        );
    }
    Ok(String::new())
}
