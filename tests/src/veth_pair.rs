//! A namespace of a test's own holding one veth pair, `g0` (the traffic's side) and `r0` (the
//! anchor's), and the pinned state of the anchor started on it: both removed on drop.

use std::path::{Path, PathBuf};

use anchor_rig::cmd::{self, Run as _};
use anchor_user::datapath::{PinDir, pin::DEFAULT_BPFFS};

/// `g0`'s MAC.
pub const G0_MAC: [u8; 6] = [2, 0, 0, 0, 9, 1];
/// `r0`'s MAC.
pub const R0_MAC: [u8; 6] = [2, 0, 0, 0, 9, 2];

/// The namespace `anc-TAG<pid>` with `g0` and `r0` up, and the pin directory `test-TAG-<pid>`.
pub struct VethPair {
    pub ns: String,
    pub pins: PinDir,
}

impl VethPair {
    /// Builds it, removing a namespace of the same name first; with `ipv6` off, neither end
    /// has IPv6 (the kernel sends nothing of its own on the link).
    pub fn build(tag: &str, ipv6: bool) -> Self {
        let ns = format!("anc-{tag}{}", std::process::id());
        let _ = cmd::new("ip").args(["netns", "del", &ns]).run_quiet();
        let mut lines = vec![
            format!("ip netns add {ns}"),
            format!(
                "ip -n {ns} link add g0 address 02:00:00:00:09:01 type veth peer name r0 \
                 address 02:00:00:00:09:02"
            ),
        ];
        if !ipv6 {
            for dev in ["g0", "r0"] {
                lines.push(format!(
                    "ip netns exec {ns} sysctl -qw net.ipv6.conf.{dev}.disable_ipv6=1"
                ));
            }
        }
        lines.push(format!("ip -n {ns} link set g0 up"));
        lines.push(format!("ip -n {ns} link set r0 up"));
        for line in lines {
            let args: Vec<&str> = line.split_whitespace().collect();
            if let Err(e) = cmd::new(args[0]).args(&args[1..]).run_quiet() {
                let _ = cmd::new("ip").args(["netns", "del", &ns]).run_quiet();
                panic!("cannot build the namespace: {e:#}");
            }
        }
        let instance = format!("test-{tag}-{}", std::process::id());
        let pins = PinDir::open(Path::new(DEFAULT_BPFFS), &instance)
            .unwrap_or_else(|e| panic!("open the pin directory: {e:#}"));
        Self { ns, pins }
    }

    fn pin_path(&self) -> PathBuf {
        self.pins.path().to_owned()
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.pin_path());
        let _ = cmd::new("ip").args(["netns", "del", &self.ns]).run_quiet();
    }
}

/// The index of `dev` in the calling thread's namespace (sysfs shows the host's).
pub fn ifindex(dev: &str) -> u32 {
    let name = std::ffi::CString::new(dev).expect("a name without NUL");
    // SAFETY: a valid NUL-terminated name; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(
        index,
        0,
        "no interface {dev}: {}",
        std::io::Error::last_os_error()
    );
    index
}
