//! Kernel probes: the BPF program, bpffs, test runs, XDP attachment on veth, kernel tunnels, ESP
//! and XFRM, each tried for real in a [`Scratch`] namespace; and the kernel's config options,
//! to name the one behind an absence.

use std::{
    fs::File,
    os::fd::{AsRawFd as _, OwnedFd},
    path::Path,
};

use anyhow::{Context as _, Result, anyhow, bail};

use super::scratch::Scratch;
use crate::bpf;
use crate::cmd::{self, Run as _};

const BPFFS: &str = "/sys/fs/bpf";

pub fn bpf_program() -> Result<OwnedFd> {
    bpf::load_xdp_returning(bpf::XDP_DROP).context("BPF_PROG_LOAD of an XDP program failed")
}

pub fn bpffs() -> Result<String> {
    if bpf::is_bpffs(Path::new(BPFFS)) {
        Ok(String::new())
    } else {
        bail!("{BPFFS} is not a bpffs mount (`cargo xtask setup` mounts it)")
    }
}

fn program(prog: Option<&OwnedFd>) -> Result<&OwnedFd> {
    prog.ok_or_else(|| anyhow!("no XDP program could be loaded"))
}

/// A test run of the probe program; `live` runs in live-frames mode inside `scratch`, whose
/// loopback device receives the frame (and drops it: the program answers XDP_DROP).
pub fn test_run(prog: Option<&OwnedFd>, scratch: &Result<Scratch>, live: bool) -> Result<String> {
    let prog = program(prog)?;
    if !live {
        let verdict = bpf::test_run(prog, false).context("BPF_PROG_TEST_RUN failed")?;
        if verdict != bpf::XDP_DROP {
            bail!(
                "BPF_PROG_TEST_RUN returned verdict {verdict}, the program returns {}",
                bpf::XDP_DROP
            );
        }
        return Ok(String::new());
    }
    let ns = scratch_ns(scratch)?;
    std::thread::scope(|s| {
        s.spawn(|| -> Result<String> {
            enter(&ns)?;
            bpf::test_run(prog, true)
                .context("BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES failed")?;
            Ok(String::new())
        })
        .join()
        .map_err(|_| anyhow!("the live-frames probe thread panicked"))?
    })
}

/// Attaches the probe program natively to `v0` and generically to `v1`.
pub fn xdp_attach(
    prog: Option<&OwnedFd>,
    scratch: &Result<Scratch>,
) -> (Result<String>, Result<String>) {
    let attach = || -> Result<(Result<String>, Result<String>)> {
        let prog = program(prog)?;
        let scratch = scratch.as_ref().map_err(|e| anyhow!("{e:#}"))?;
        let pin = Path::new(BPFFS).join(format!("anchor-probe-{}", std::process::id()));
        let _ = std::fs::remove_file(&pin);
        bpf::pin(prog, &pin).with_context(|| format!("cannot pin on {BPFFS}"))?;
        let pinned = pin.to_string_lossy().into_owned();
        let try_mode = |dev: &str, mode: &str| -> Result<String> {
            scratch.ip_with_bpffs(&["link", "set", "dev", dev, mode, "pinned", &pinned])?;
            scratch.ip_with_bpffs(&["link", "set", "dev", dev, mode, "off"])?;
            Ok(String::new())
        };
        let result = (try_mode("v0", "xdpdrv"), try_mode("v1", "xdpgeneric"));
        let _ = std::fs::remove_file(&pin);
        Ok(result)
    };
    match attach() {
        Ok(pair) => pair,
        Err(e) => (Err(anyhow!("{e:#}")), Err(e)),
    }
}

/// A kernel feature tried with one `ip` command in the scratch namespace (whose `v0` holds
/// 2001:db8:fe::1), and the config options whose absence would explain a refusal.
pub struct IpProbe {
    args: &'static [&'static str],
    options: &'static [&'static str],
}

/// seg6 encapsulation, as the benchmark's comparator uses it.
pub const SEG6: IpProbe = IpProbe {
    args: &[
        "-6",
        "route",
        "add",
        "2001:db8:fd::/64",
        "encap",
        "seg6",
        "mode",
        "encap.red",
        "segs",
        "2001:db8:fe::2",
        "dev",
        "v0",
    ],
    options: &["CONFIG_IPV6_SEG6_LWTUNNEL"],
};

/// An IPv6-in-IPv6 tunnel device.
pub const IP6TNL: IpProbe = IpProbe {
    args: &[
        "link",
        "add",
        "t6",
        "type",
        "ip6tnl",
        "mode",
        "ip6ip6",
        "local",
        "2001:db8:fe::1",
        "remote",
        "2001:db8:fe::2",
    ],
    options: &["CONFIG_IPV6_TUNNEL"],
};

/// An ESP state with the AEAD the packaged strongSwan configuration proposes.
pub const ESP_AEAD: IpProbe = IpProbe {
    args: &[
        "xfrm",
        "state",
        "add",
        "src",
        "2001:db8:fe::1",
        "dst",
        "2001:db8:fe::2",
        "proto",
        "esp",
        "spi",
        "0x1000",
        "mode",
        "transport",
        "aead",
        "rfc4106(gcm(aes))",
        "0x0102030405060708090a0b0c0d0e0f1011121314",
        "128",
    ],
    options: &["CONFIG_INET6_ESP", "CONFIG_CRYPTO_GCM"],
};

/// An ESP state with an authenc suite, as manual keys often use.
pub const ESP_AUTHENC: IpProbe = IpProbe {
    args: &[
        "xfrm",
        "state",
        "add",
        "src",
        "2001:db8:fe::1",
        "dst",
        "2001:db8:fe::2",
        "proto",
        "esp",
        "spi",
        "0x1001",
        "mode",
        "transport",
        "auth-trunc",
        "hmac(sha256)",
        "0x0102030405060708090a0b0c0d0e0f100102030405060708090a0b0c0d0e0f10",
        "128",
        "enc",
        "cbc(aes)",
        "0x0102030405060708090a0b0c0d0e0f10",
    ],
    options: &["CONFIG_INET6_ESP", "CONFIG_CRYPTO_AUTHENC"],
};

/// A source-specific route, as `anchor client` adds one per tunnelled prefix (its MTU).
pub const SOURCE_ROUTE: IpProbe = IpProbe {
    args: &[
        "-6",
        "route",
        "add",
        "default",
        "from",
        "2001:db8:fc::/64",
        "via",
        "2001:db8:fe::2",
        "dev",
        "v0",
        "mtu",
        "1460",
    ],
    options: &["CONFIG_IPV6_SUBTREES"],
};

/// The XFRM policy the signaling's protection check looks for.
pub const XFRM_POLICY: IpProbe = IpProbe {
    args: &[
        "xfrm",
        "policy",
        "add",
        "src",
        "2001:db8:fe::1/128",
        "dst",
        "2001:db8:fe::2/128",
        "proto",
        "135",
        "dir",
        "out",
        "tmpl",
        "proto",
        "esp",
        "mode",
        "transport",
    ],
    options: &["CONFIG_XFRM_USER"],
};

/// Tries `probe`; a refusal names the unset config options behind it when the kernel says.
pub fn try_ip(scratch: &Result<Scratch>, probe: &IpProbe) -> Result<String> {
    let scratch = scratch
        .as_ref()
        .map_err(|e| anyhow!("no scratch namespace: {e:#}"))?;
    scratch.ip(probe.args).map(|()| String::new()).map_err(|e| {
        let unset: Vec<String> = kernel_config(probe.options)
            .into_iter()
            .filter(|(_, value)| value == "not set")
            .map(|(name, _)| name)
            .collect();
        if unset.is_empty() {
            anyhow!("{e:#}")
        } else {
            anyhow!("kernel without {} ({e:#})", unset.join(", "))
        }
    })
}

/// `options`' values in the running kernel's config (`y`, `m`, `not set`, or `unknown` when
/// the kernel does not publish /proc/config.gz).
pub fn kernel_config(options: &[&str]) -> Vec<(String, String)> {
    let text = cmd::new("zcat")
        .arg("/proc/config.gz")
        .read_stdout()
        .unwrap_or_default();
    options
        .iter()
        .map(|option| {
            let value = text.lines().find_map(|line| {
                if line == format!("# {option} is not set") {
                    Some("not set".to_owned())
                } else {
                    line.strip_prefix(&format!("{option}=")).map(str::to_owned)
                }
            });
            let value = value.unwrap_or_else(|| {
                if text.is_empty() {
                    "unknown"
                } else {
                    "not set"
                }
                .to_owned()
            });
            ((*option).to_owned(), value)
        })
        .collect()
}

fn scratch_ns(scratch: &Result<Scratch>) -> Result<String> {
    scratch
        .as_ref()
        .map(|s| s.ns.clone())
        .map_err(|e| anyhow!("no scratch namespace: {e:#}"))
}

/// Moves the calling thread into namespace `ns`.
fn enter(ns: &str) -> Result<()> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).with_context(|| format!("cannot open {path}"))?;
    // SAFETY: a valid namespace descriptor; setns changes only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {path}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
