//! A one-member etcd (Debian's `etcd-server`) on 127.0.0.1, in the calling process's network
//! namespace or in a named one, its data in a directory of the test's; killed on drop.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anchor_cmd::EtcdLocation;
use anchor_rig::cmd;

use crate::support::in_netns;

pub struct Etcd {
    child: Child,
    pub client_port: u16,
}

impl Etcd {
    /// Starts etcd with its data and log in `dir`, in namespace `ns` when given; waits until it
    /// accepts connections.
    pub fn start(dir: &Path, ns: Option<&str>) -> Etcd {
        let ports = || (free_port(), free_port());
        let (client_port, peer_port) = match ns {
            Some(ns) => in_netns(ns, ports),
            None => ports(),
        };
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.join("etcd.log")).expect("etcd.log");
        let mut command = match ns {
            Some(ns) => cmd::in_netns_only(ns, "etcd"),
            None => Command::new("etcd"),
        };
        let child = command
            .arg("--name=m1")
            .arg(format!("--data-dir={}", dir.join("etcd-m1").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=m1={peer}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
        let etcd = Etcd { child, client_port };
        let deadline = Instant::now() + Duration::from_secs(20);
        let listening = || std::net::TcpStream::connect(("127.0.0.1", client_port)).is_ok();
        while !match ns {
            Some(ns) => in_netns(ns, listening),
            None => listening(),
        } {
            assert!(
                Instant::now() < deadline,
                "etcd did not listen on {client}; its log:\n{}",
                std::fs::read_to_string(dir.join("etcd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        etcd
    }

    /// `etcd://127.0.0.1:PORT/PREFIX`.
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://127.0.0.1:{}/{prefix}", self.client_port)
    }

    pub fn location(&self, prefix: &str) -> EtcdLocation {
        EtcdLocation::parse(&self.url(prefix))
            .expect("an etcd URL")
            .expect("valid")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
