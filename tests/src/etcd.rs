//! etcd for the tests: [`anchor_rig::etcd::Etcd`], failing the test with the reason where it
//! cannot start.

use std::path::Path;

use anchor_cmd::EtcdLocation;

pub struct Etcd(anchor_rig::etcd::Etcd);

impl Etcd {
    /// A one-member etcd with its data and log in `dir`, in namespace `ns` when given.
    pub fn start(dir: &Path, ns: Option<&str>) -> Etcd {
        Self::cluster(dir, ns, 1)
    }

    /// A cluster of `size` members on 127.0.0.1.
    pub fn cluster(dir: &Path, ns: Option<&str>, size: usize) -> Etcd {
        Etcd(anchor_rig::etcd::Etcd::cluster(dir, ns, size).unwrap_or_else(|e| panic!("{e:#}")))
    }

    /// Kills member `i` (0-based) with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        self.0.kill(i);
    }

    /// Starts member `i` again on its data.
    pub fn restart(&mut self, i: usize) {
        self.0.restart(i).unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// `etcd://127.0.0.1:PORT[,...]/PREFIX`.
    pub fn url(&self, prefix: &str) -> String {
        self.0.url(prefix)
    }

    pub fn location(&self, prefix: &str) -> EtcdLocation {
        EtcdLocation::parse(&self.url(prefix))
            .expect("an etcd URL")
            .expect("valid")
    }
}
