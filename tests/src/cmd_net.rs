//! The CMD's test network: the CMD (`anchor cmd`, one or several instances) in a namespace of
//! its own and two fake MAARs in two others, exchanging real PBU/PBA over raw Mobility Header
//! sockets.
//!
//! Layout (documentation addresses, inside the namespaces only):
//! - `<p>c`: the CMD, 2001:db8:c::1/128 on lo (and ::2, ::3 for more instances);
//!   `c1` 2001:db8:f1::1/64, `c2` 2001:db8:f2::1/64.
//! - `<p>m1`: MAAR 1, `m1` 2001:db8:f1::2/64, route to 2001:db8:c::/64 via the CMD; may anchor
//!   2001:db8:1::/48.
//! - `<p>m2`: MAAR 2, the same with f2 and 2001:db8:2::/48.

use std::{
    fs::File,
    net::Ipv6Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anchor_pmip::transport::MhSocket;
use anchor_rig::cmd::{self, Run as _};
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};

use crate::{hostile::mh_socket_in, support::anchor_binary};

/// The CMD's address; with several instances, the first.
pub const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
/// The addresses of up to three CMD instances, all on the CMD namespace's loopback.
pub const CMDS: [Ipv6Addr; 3] = [
    CMD,
    Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 3),
];
pub const M1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);
pub const M2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2);
/// How long a reply may take before the test fails: generous, the namespaces are local.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const STEM: &str = "anc-cmd";

/// The namespaces of one test and its work directory; removed on drop.
pub struct Net {
    prefix: String,
    pub dir: PathBuf,
}

impl Net {
    pub fn build(tag: &str) -> Net {
        remove_stale();
        let prefix = format!("{STEM}{tag}{}-", std::process::id());
        let dir = std::env::temp_dir().join(prefix.trim_end_matches('-'));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the work directory");
        let net = Net { prefix, dir };
        let (c, m1, m2) = (net.ns("c"), net.ns("m1"), net.ns("m2"));
        let mut script = vec![
            format!("ip netns add {c}"),
            format!("ip -n {c} link set lo up"),
        ];
        for cmd in CMDS {
            script.push(format!("ip -n {c} addr add {cmd}/128 dev lo"));
        }
        for (maar, n, link) in [(&m1, 1, "f1"), (&m2, 2, "f2")] {
            script.extend([
                format!("ip netns add {maar}"),
                format!("ip -n {maar} link set lo up"),
                format!("ip -n {c} link add c{n} type veth peer name m{n} netns {maar}"),
                format!("ip -n {c} addr add 2001:db8:{link}::1/64 dev c{n} nodad"),
                format!("ip -n {maar} addr add 2001:db8:{link}::2/64 dev m{n} nodad"),
                format!("ip -n {c} link set c{n} up"),
                format!("ip -n {maar} link set m{n} up"),
                format!("ip -n {maar} route add 2001:db8:c::/64 via 2001:db8:{link}::1"),
            ]);
        }
        for line in script {
            let args: Vec<&str> = line.split_whitespace().collect();
            cmd::new(args[0])
                .args(&args[1..])
                .run_quiet()
                .unwrap_or_else(|e| panic!("cannot set up the namespaces: {e:#}"));
        }
        net
    }

    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The CMD's config. The timestamp window is a minute, so that a replay seconds later is
    /// refused for its timestamp being old news to the store (157), not for the clock (156).
    pub fn config(&self, insecure: bool) -> PathBuf {
        self.config_with(insecure, &self.dir.join("cmd.json").display().to_string())
    }

    /// The CMD's configuration with `store` (a path or an etcd URL).
    pub fn config_with(&self, insecure: bool, store: &str) -> PathBuf {
        self.instance_config(
            "cmd",
            CMD,
            store,
            &format!("insecure_signaling = {insecure}\n"),
        )
    }

    /// The configuration `NAME.toml` of a CMD at `address` on `store`, with the lines `extra`.
    pub fn instance_config(
        &self,
        name: &str,
        address: Ipv6Addr,
        store: &str,
        extra: &str,
    ) -> PathBuf {
        let path = self.dir.join(format!("{name}.toml"));
        let text = format!(
            "address = \"{address}\"\nstore = \"{store}\"\n{extra}\
             timestamp_window_ms = 60000\n\
             [[maar]]\naddress = \"{M1}\"\nprefixes = [\"2001:db8:1::/48\"]\n\
             [[maar]]\naddress = \"{M2}\"\nprefixes = [\"2001:db8:2::/48\"]\n"
        );
        std::fs::write(&path, text).expect("write the config");
        path
    }

    /// A raw Mobility Header socket bound to `addr` in namespace `name`.
    pub fn maar(&self, name: &str, addr: Ipv6Addr) -> FakeMaar {
        FakeMaar {
            addr,
            socket: mh_socket_in(&self.ns(name), addr),
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for name in ["c", "m1", "m2"] {
            let _ = cmd::new("ip")
                .args(["netns", "del", &self.ns(name)])
                .run_quiet();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deletes the namespaces of earlier runs of this test whose process is gone.
fn remove_stale() {
    let Ok(list) = anchor_rig::topology::netns_list() else {
        return;
    };
    for name in list {
        let Some(rest) = name.strip_prefix(STEM) else {
            continue;
        };
        let Some((head, _)) = rest.split_once('-') else {
            continue;
        };
        let pid: String = head.chars().filter(char::is_ascii_digit).collect();
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = cmd::new("ip").args(["netns", "del", &name]).run_quiet();
        }
    }
}

/// `anchor cmd` running in the CMD's namespace; killed on drop.
pub struct CmdProcess {
    pub child: Child,
    log: PathBuf,
}

impl CmdProcess {
    pub fn spawn(net: &Net, config: &Path, run: u32) -> CmdProcess {
        Self::spawn_named(net, config, &format!("cmd-{run}"))
    }

    /// `anchor cmd --config CONFIG`, logging to `NAME.log` in the work directory.
    pub fn spawn_named(net: &Net, config: &Path, name: &str) -> CmdProcess {
        let log = net.dir.join(format!("{name}.log"));
        let file = File::create(&log).expect("create the log");
        let mut command: Command = cmd::in_netns_only(&net.ns("c"), anchor_binary());
        command
            .args(["cmd", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(file);
        let child = command.spawn().expect("start anchor cmd");
        CmdProcess { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the CMD answers: its "listening" line and, on etcd, its taking the lead;
    /// fails with the log if the CMD exits first.
    pub fn wait_listening(&mut self) {
        self.wait_for(|log| {
            log.contains("CMD listening on")
                && (!log.contains("campaigns for") || log.contains("leader: answering"))
        });
    }

    /// Waits for the "listening" line (a standby instance on etcd listens, but does not answer).
    pub fn wait_started(&mut self) {
        self.wait_for(|log| log.contains("CMD listening on"));
    }

    fn wait_for(&mut self, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if done(&self.log()) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("anchor cmd exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("anchor cmd did not start listening: {}", self.log());
    }

    /// Waits for the exit (bounded) and returns the exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("anchor cmd did not exit: {}", self.log());
    }

    pub fn terminate(&mut self) -> Option<i32> {
        // SAFETY: signals our own child by its pid.
        unsafe { libc::kill(self.child.id().cast_signed(), libc::SIGTERM) };
        self.wait_exit()
    }
}

impl Drop for CmdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A MAAR played by the test: a raw Mobility Header socket.
pub struct FakeMaar {
    pub addr: Ipv6Addr,
    pub socket: MhSocket,
}

impl FakeMaar {
    /// Sends `message` to the (first) CMD.
    pub fn send(&self, message: &MobilityHeader) {
        self.send_to(CMD, message);
    }

    pub fn send_to(&self, cmd: Ipv6Addr, message: &MobilityHeader) {
        let wire = message.encode(self.addr, cmd).expect("encode");
        self.socket.send(cmd, &wire).expect("send to the CMD");
    }

    /// The next message from the CMD within `timeout`, if any.
    pub fn recv_within(&self, timeout: Duration) -> Option<MobilityHeader> {
        self.recv_from_within(timeout).map(|(message, _)| message)
    }

    /// The next message from a CMD instance within `timeout`, and which instance sent it.
    pub fn recv_from_within(&self, timeout: Duration) -> Option<(MobilityHeader, Ipv6Addr)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.socket.recv() {
                Ok((mh, from)) => {
                    assert!(
                        CMDS.contains(&from),
                        "a Mobility Header from an unexpected sender {from}"
                    );
                    let message = MobilityHeader::decode(&mh, from, self.addr)
                        .unwrap_or_else(|e| panic!("the CMD sent a bad message: {e}"));
                    return Some((message, from));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("receiving at {}: {e}", self.addr),
            }
        }
        None
    }

    pub fn recv(&self) -> MobilityHeader {
        self.recv_within(REPLY_TIMEOUT)
            .unwrap_or_else(|| panic!("no message from the CMD at {}", self.addr))
    }

    pub fn recv_pba(&self) -> Pba {
        match self.recv() {
            MobilityHeader::Pba(pba) => pba,
            other @ MobilityHeader::Pbu(_) => {
                panic!("expected a PBA at {}, got {other:?}", self.addr)
            }
        }
    }

    pub fn recv_pbu(&self) -> Pbu {
        match self.recv() {
            MobilityHeader::Pbu(pbu) => pbu,
            other @ MobilityHeader::Pba(_) => {
                panic!("expected a PBU at {}, got {other:?}", self.addr)
            }
        }
    }

    /// Acknowledges the CMD's update `pbu` (to the first CMD).
    pub fn ack(&self, pbu: &Pbu) {
        self.ack_to(CMD, pbu);
    }

    /// Acknowledges the update `pbu` to the instance `cmd` that sent it.
    pub fn ack_to(&self, cmd: Ipv6Addr, pbu: &Pbu) {
        let mn = pbu
            .options
            .iter()
            .find(|o| matches!(o, MobilityOption::MnId(_)))
            .cloned()
            .expect("the update names its node");
        self.send_to(
            cmd,
            &MobilityHeader::Pba(Pba {
                status: Status::ACCEPTED,
                flags: PbaFlags::P | PbaFlags::D,
                sequence: pbu.sequence,
                lifetime: pbu.lifetime,
                options: vec![mn],
            }),
        );
    }
}

/// A MAAR's PBU for node `mn`, with a fresh timestamp and, when given, its local prefix.
pub fn pbu_for(mn: MnId, sequence: u16, lifetime: u16, local: Option<&str>) -> MobilityHeader {
    // Later than any earlier update of the test (the CMD rejects equal timestamps).
    std::thread::sleep(Duration::from_millis(2));
    let mut options = vec![
        MobilityOption::MnId(mn),
        MobilityOption::Timestamp(Timestamp::now()),
    ];
    options.extend(local.map(|p| MobilityOption::LocalPrefix(p.parse().unwrap())));
    MobilityHeader::Pbu(Pbu {
        sequence,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime: Lifetime(lifetime),
        options,
    })
}

/// The Previous MAAR options of `pba`: each MAAR and the prefix it anchors.
pub fn previous_maars(pba: &Pba) -> Vec<(Ipv6Addr, String)> {
    pba.options
        .iter()
        .filter_map(|o| match o {
            MobilityOption::PreviousMaar { maar, prefix } => Some((*maar, prefix.to_string())),
            _ => None,
        })
        .collect()
}
