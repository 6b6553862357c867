//! `cargo xtask setup`: make this machine able to build, test and demo the project.
//!
//! Idempotent and quick when there is nothing to do: every step checks first and prints a line only
//! when it does some work.

use std::{io::Write as _, path::Path};

use anyhow::{Context as _, Result, bail, ensure};

use crate::cmd::{self, Run as _};

/// Debian packages the build, the tests and the demo need.
const PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    "bpftool",
    "tshark",
    "tcpdump",
    "iproute2",
    "ethtool",
    "iputils-ping",
    "iperf3",
    "python3",
    "procps",
    // The Prometheus server and promtool (in the same package), for the metrics test and the
    // alert rules' unit tests (alert_rules.rs).
    "prometheus",
    // strongSwan's IKE daemon and swanctl, for the packaged IPsec configuration's test, and
    // the openssl and gcm plugins for its AES-GCM and ECP-384 proposals (a Recommends of
    // strongswan that --no-install-recommends leaves out).
    "strongswan-charon",
    "strongswan-swanctl",
    "libstrongswan-standard-plugins",
    // nsenter and unshare, mount: the rigs and charon's private /run.
    "util-linux",
    "mount",
    // nft, for the tests that drop signaling on the wire.
    "nftables",
    // zcat, for /proc/config.gz in `cargo xtask doctor` and the benchmark's report.
    "gzip",
    // BIRD 2 (`bird`, `birdc` in /usr/sbin), the BGP speaker of the anchor relocation test
    // (tests/tests/scenario_relocation.rs). The test starts its own bird in each namespace with
    // its own `-c` and `-s`; the bird.service the package enables (where systemd runs) is not
    // used and changes nothing.
    "bird2",
    // systemd-analyze, which checks the Debian package's units (tests/tests/deb_package.rs;
    // dpkg and dpkg-deb, which build and install it, are essential).
    "systemd",
    // protoc, which the etcd client's build script needs for the etcd v3 API (the CMD's etcd
    // store).
    "protobuf-compiler",
    // etcd, the server of the CMD's etcd store tests (tests/tests/cmd_etcd.rs).
    "etcd-server",
];

/// The LLVM major version shared by the nightly rustc and bpf-linker.
const LLVM_MAJOR: &str = "22";
const BPF_LINKER_VERSION: &str = "0.13.0";
/// cargo-fuzz, for the signaling decoder's fuzz run in `cargo xtask test`.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
const BPFFS: &str = "/sys/fs/bpf";

pub fn setup() -> Result<()> {
    check_root()?;
    check_kernel()?;
    install_packages()?;
    check_nightly()?;
    install_bpf_linker()?;
    install_cargo_fuzz()?;
    mount_bpffs()?;
    println!("setup: ok");
    Ok(())
}

fn check_root() -> Result<()> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    // "Uid:\treal\teffective\tsaved\tfs"
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .context("/proc/self/status has no Uid line")?;
    ensure!(
        euid == "0",
        "anchor needs root (it loads XDP programs and builds network namespaces): run this as root."
    );
    Ok(())
}

fn check_kernel() -> Result<()> {
    // Present exactly when the kernel has the bpf() syscall (CONFIG_BPF_SYSCALL).
    ensure!(
        Path::new("/proc/sys/kernel/unprivileged_bpf_disabled").exists(),
        "This kernel has no bpf() syscall (CONFIG_BPF_SYSCALL is off), so anchor cannot run here."
    );
    let symbols = std::fs::read_to_string("/proc/kallsyms")
        .context("cannot read /proc/kallsyms to check that the kernel supports XDP")?;
    ensure!(
        symbols
            .lines()
            .any(|line| line.ends_with(" xdp_do_redirect")),
        "This kernel has no XDP support (no xdp_do_redirect in /proc/kallsyms), so anchor cannot run here."
    );
    Ok(())
}

fn install_packages() -> Result<()> {
    let missing = missing_packages()?;
    if missing.is_empty() {
        return Ok(());
    }
    println!("setup: installing Debian packages: {}", missing.join(" "));
    if missing.contains(&"tshark") {
        // Answer wireshark-common's question (may non-root users capture?) in advance.
        let mut preseed = cmd::new("debconf-set-selections");
        preseed.stdin(std::process::Stdio::piped());
        let mut child = preseed
            .spawn()
            .context("cannot start debconf-set-selections")?;
        child
            .stdin
            .take()
            .context("no stdin for debconf-set-selections")?
            .write_all(b"wireshark-common wireshark-common/install-setuid boolean false\n")?;
        let status = child.wait()?;
        ensure!(status.success(), "debconf-set-selections failed ({status})");
    }
    cmd::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run_quiet()?;
    cmd::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run_quiet()?;
    let still_missing = missing_packages()?;
    ensure!(
        still_missing.is_empty(),
        "apt-get did not install {}",
        still_missing.join(" ")
    );
    Ok(())
}

/// Packages of [`PACKAGES`] that are not installed, asked of dpkg in one call.
fn missing_packages() -> Result<Vec<&'static str>> {
    // dpkg-query exits 1 when it does not know a package at all; its stdout still lists the others.
    let output = cmd::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Status}\n"])
        .args(PACKAGES)
        .output()
        .context("cannot run dpkg-query (is this Debian?)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let installed: Vec<&str> = stdout
        .lines()
        .filter(|line| line.ends_with(" ok installed"))
        .filter_map(|line| line.split_whitespace().next())
        // Multi-arch packages are listed as name:arch.
        .map(|name| name.split(':').next().unwrap_or(name))
        .collect();
    Ok(PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed.contains(p))
        .collect())
}

fn check_nightly() -> Result<()> {
    let installed = cmd::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .context("cannot run rustup: install it from https://rustup.rs")?;
    if !installed.status.success() {
        println!("setup: installing the nightly toolchain with rust-src");
        cmd::new("rustup")
            .args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ])
            .run_quiet()?;
    } else if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|c| c.trim() == "rust-src")
    {
        println!("setup: adding rust-src to the nightly toolchain");
        cmd::new("rustup")
            .args(["component", "add", "rust-src", "--toolchain", "nightly"])
            .run_quiet()?;
    }
    let version = cmd::new("rustc").args(["+nightly", "-vV"]).read_stdout()?;
    let llvm = version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .unwrap_or("unknown");
    ensure!(
        llvm.split('.').next() == Some(LLVM_MAJOR),
        "The nightly rustc uses LLVM {llvm} but bpf-linker is built against LLVM {LLVM_MAJOR}: \
         install a nightly whose `rustc +nightly -vV` says LLVM version {LLVM_MAJOR}."
    );
    Ok(())
}

fn install_bpf_linker() -> Result<()> {
    let cache = cmd::tool_cache()?;
    let linker = cache.join("bin/bpf-linker");
    if let Ok(out) = cmd::new(&linker).arg("--version").output()
        && String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            == Some(BPF_LINKER_VERSION)
    {
        return Ok(());
    }
    println!(
        "setup: building bpf-linker {BPF_LINKER_VERSION} against LLVM {LLVM_MAJOR} into {} (about a minute)",
        cache.display()
    );
    let llvm_prefix = format!("/usr/lib/llvm-{LLVM_MAJOR}");
    if !Path::new(&llvm_prefix).join("bin/llvm-config").exists() {
        bail!("{llvm_prefix}/bin/llvm-config is missing: install llvm-{LLVM_MAJOR}-dev.");
    }
    cmd::new("cargo")
        .args([
            "install",
            "--locked",
            &format!("bpf-linker@{BPF_LINKER_VERSION}"),
        ])
        .args([
            "--no-default-features",
            "--features",
            &format!("llvm-{LLVM_MAJOR}"),
        ])
        .arg("--root")
        .arg(&cache)
        .env("LLVM_PREFIX", &llvm_prefix)
        // A failed install otherwise leaves /tmp/cargo-install* behind.
        .env("CARGO_TARGET_DIR", cache.join("build"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .run_quiet()?;
    Ok(())
}

/// cargo-fuzz into the tool cache beside bpf-linker (about 30 s to build), unless it is there.
fn install_cargo_fuzz() -> Result<()> {
    let cache = cmd::tool_cache()?;
    // `cargo-fuzz --version` prints "cargo-fuzz X.Y.Z".
    if let Ok(out) = cmd::new(cache.join("bin/cargo-fuzz"))
        .arg("--version")
        .output()
        && String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            == Some(CARGO_FUZZ_VERSION)
    {
        return Ok(());
    }
    println!(
        "setup: building cargo-fuzz {CARGO_FUZZ_VERSION} into {} (about 30 s)",
        cache.display()
    );
    cmd::new("cargo")
        .args([
            "install",
            "--locked",
            &format!("cargo-fuzz@{CARGO_FUZZ_VERSION}"),
        ])
        .arg("--root")
        .arg(&cache)
        .env("CARGO_TARGET_DIR", cache.join("build"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .run_quiet()?;
    Ok(())
}

fn mount_bpffs() -> Result<()> {
    let mounts = std::fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    let mounted = mounts.lines().any(|line| {
        let mut fields = line.split_whitespace().skip(1);
        fields.next() == Some(BPFFS) && fields.next() == Some("bpf")
    });
    if mounted {
        return Ok(());
    }
    println!("setup: mounting bpffs at {BPFFS}");
    cmd::new("mount")
        .args(["-t", "bpf", "bpf", BPFFS])
        .run_quiet()?;
    Ok(())
}
