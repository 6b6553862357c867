//! etcd (Debian's `etcd-server`) on 127.0.0.1: one member, or a cluster of several, in the
//! calling process's network namespace or in a named one, their data in directories of the
//! caller's; killed on drop. A member can be killed (SIGKILL) and started again on its data.
//! For the CMD's etcd tests and benchmarks.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{cmd, netns::within};

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

pub struct Etcd {
    dir: PathBuf,
    ns: Option<String>,
    members: Vec<Member>,
    /// `NAME=PEER-URL,...`: every member's peer address.
    initial_cluster: String,
}

impl Etcd {
    /// Starts a one-member etcd with its data and log in `dir`, in namespace `ns` when given;
    /// waits until it accepts connections.
    pub fn start(dir: &Path, ns: Option<&str>) -> Result<Etcd> {
        Self::cluster(dir, ns, 1)
    }

    /// Starts a cluster of `size` members (`m1`, `m2`, ...) on 127.0.0.1, each with its data
    /// and log in `dir`; waits until each accepts connections.
    pub fn cluster(dir: &Path, ns: Option<&str>, size: usize) -> Result<Etcd> {
        // Every listener held until all are chosen, so that no port comes twice.
        let ports = || -> std::io::Result<Vec<(u16, u16)>> {
            let listeners = (0..2 * size)
                .map(|_| TcpListener::bind(("127.0.0.1", 0)))
                .collect::<std::io::Result<Vec<_>>>()?;
            let mut ports = Vec::new();
            for pair in listeners.chunks(2) {
                ports.push((pair[0].local_addr()?.port(), pair[1].local_addr()?.port()));
            }
            Ok(ports)
        };
        let ports = match ns {
            Some(ns) => within(ns, ports)?,
            None => ports(),
        }
        .context("cannot find free ports for etcd")?;
        let members: Vec<Member> = ports
            .into_iter()
            .enumerate()
            .map(|(i, (client_port, peer_port))| Member {
                name: format!("m{}", i + 1),
                client_port,
                peer_port,
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut etcd = Etcd {
            dir: dir.to_owned(),
            ns: ns.map(str::to_owned),
            members,
            initial_cluster,
        };
        for i in 0..size {
            etcd.spawn(i)?;
        }
        for i in 0..size {
            etcd.wait_listening(i)?;
        }
        Ok(etcd)
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("etcd-{}.log", self.members[i].name))
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let member = &self.members[i];
        let client = format!("http://127.0.0.1:{}", member.client_port);
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(i))
            .with_context(|| format!("cannot open {}", self.log(i).display()))?;
        let mut command = match &self.ns {
            Some(ns) => cmd::in_netns_only(ns, "etcd"),
            None => Command::new("etcd"),
        };
        let child = command
            .arg(format!("--name={}", member.name))
            .arg(format!(
                "--data-dir={}",
                self.dir.join(format!("etcd-{}", member.name)).display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg("--initial-cluster-token=anchor-test")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start etcd (Debian's etcd-server)")?;
        self.members[i].child = Some(child);
        Ok(())
    }

    fn wait_listening(&self, i: usize) -> Result<()> {
        let port = self.members[i].client_port;
        let deadline = Instant::now() + Duration::from_secs(20);
        let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while !match &self.ns {
            Some(ns) => within(ns, listening)?,
            None => listening(),
        } {
            if Instant::now() >= deadline {
                bail!(
                    "etcd {} did not listen on 127.0.0.1:{port}; its log:\n{}",
                    self.members[i].name,
                    std::fs::read_to_string(self.log(i)).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Kills member `i` (0-based) with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data; waits until it accepts connections.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.kill(i);
        self.spawn(i)?;
        self.wait_listening(i)
    }

    /// `etcd://127.0.0.1:PORT[,...]/PREFIX`, every member's client address.
    pub fn url(&self, prefix: &str) -> String {
        let endpoints = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",");
        format!("etcd://{endpoints}/{prefix}")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
