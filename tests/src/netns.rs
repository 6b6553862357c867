//! A network namespace for BPF_PROG_TEST_RUN fixtures, so that `bpf_fib_lookup` sees routes and
//! neighbours the tests control rather than the host's.
//!
//! Layout (addresses are documentation prefixes, inside the namespace only):
//! - `fxc` (core, MAC 02:00:00:00:00:c0): 2001:db8:ff::1/64 (the locator); neighbours
//!   2001:db8:ff::2 -> 02:..:02, 2001:db8:ff::3 -> 02:..:03, 2001:db8:ff::9 -> 02:..:09;
//!   2001:db8:c::/64 via 2001:db8:ff::9.
//! - `fxa` (access, MAC 02:00:00:00:00:a0): 2001:db8:aa::1/64; 2001:db8:3:3::/64 on-link with
//!   neighbour 2001:db8:3:3::100 -> 02:..:64.

use std::{fs::File, os::fd::AsRawFd, process::Command, sync::OnceLock};

pub const CORE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
pub const ACCESS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];

pub struct FixtureNet {
    pub name: String,
    pub core_ifindex: u32,
    pub access_ifindex: u32,
}

static NET: OnceLock<Result<FixtureNet, String>> = OnceLock::new();

/// The fixture namespace, created on first use, entered by the calling thread.
///
/// Panics with the reason when the namespace cannot be made: a privileged test never skips.
pub fn fixture_net() -> &'static FixtureNet {
    let net = NET
        .get_or_init(create)
        .as_ref()
        .unwrap_or_else(|e| panic!("fixture netns: {e}"));
    enter(&net.name).unwrap_or_else(|e| panic!("fixture netns: {e}"));
    net
}

fn create() -> Result<FixtureNet, String> {
    let name = format!("anc-fx-{}", std::process::id());
    remove_stale();
    let n = name.as_str();
    let neighbours = [
        ("2001:db8:ff::2", "02:00:00:00:00:02", "fxc"),
        ("2001:db8:ff::3", "02:00:00:00:00:03", "fxc"),
        ("2001:db8:ff::9", "02:00:00:00:00:09", "fxc"),
        ("2001:db8:3:3::100", "02:00:00:00:00:64", "fxa"),
    ];
    let mut cmds = vec![
        format!("ip netns add {n}"),
        format!("ip -n {n} link set lo up"),
        format!("ip netns exec {n} sysctl -qw net.ipv6.conf.all.forwarding=1"),
        format!("ip netns exec {n} sysctl -qw net.ipv6.conf.default.accept_dad=0"),
        format!("ip netns exec {n} sysctl -qw net.ipv6.conf.all.accept_dad=0"),
    ];
    for (dev, mac) in [("fxc", "c"), ("fxa", "a")] {
        cmds.push(format!(
            "ip -n {n} link add {dev} address 02:00:00:00:00:{mac}0 type veth \
             peer name {dev}-p address 02:00:00:00:00:{mac}1"
        ));
        cmds.push(format!("ip -n {n} link set {dev} up"));
        cmds.push(format!("ip -n {n} link set {dev}-p up"));
    }
    cmds.extend([
        format!("ip -n {n} addr add 2001:db8:ff::1/64 dev fxc nodad"),
        format!("ip -n {n} addr add 2001:db8:aa::1/64 dev fxa nodad"),
        format!("ip -n {n} route add 2001:db8:3:3::/64 dev fxa"),
    ]);
    for (addr, mac, dev) in neighbours {
        cmds.push(format!(
            "ip -n {n} neigh replace {addr} lladdr {mac} dev {dev} nud permanent"
        ));
    }
    cmds.push(format!(
        "ip -n {n} route add 2001:db8:c::/64 via 2001:db8:ff::9 dev fxc"
    ));
    for cmd in &cmds {
        run(&cmd.split_whitespace().collect::<Vec<_>>())?;
    }
    // SAFETY: registers a plain extern "C" function without captured state.
    unsafe { libc::atexit(cleanup) };
    let core_ifindex = ifindex(n, "fxc")?;
    let access_ifindex = ifindex(n, "fxa")?;
    Ok(FixtureNet {
        name,
        core_ifindex,
        access_ifindex,
    })
}

extern "C" fn cleanup() {
    let name = format!("anc-fx-{}", std::process::id());
    let _ = Command::new("ip").args(["netns", "del", &name]).status();
}

fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("anc-fx-")
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

fn run(cmd: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cmd[0]))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn ifindex(ns: &str, dev: &str) -> Result<u32, String> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{dev}/ifindex"),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("ifindex of {dev}: {e}"))
}

fn enter(name: &str) -> Result<(), String> {
    let f = File::open(format!("/run/netns/{name}")).map_err(|e| format!("open {name}: {e}"))?;
    // SAFETY: a valid namespace fd; affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}
