//! `anchor cmd status`: what the CMD holds, read from its store. The CMD writes the store whole
//! at every change (temporary file, fsync, rename), so a reader sees one consistent snapshot,
//! also while the CMD is stopped: the nodes with their serving MAAR, prefixes and expiry, and
//! the updates outstanding to MAARs, which a CMD starting on the store sends again.

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use anchor_cmd::{CmdStore, CmdStoreError, Config, ConfigError, MnRecord, MobilityStore as _};
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CmdStatusError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] CmdStoreError),
}

/// The CMD's state as its store holds it.
#[derive(Debug, Serialize)]
pub struct CmdStatus {
    /// The store's file, or its etcd URL.
    pub store: String,
    /// Seconds since 1970 when the store was read.
    pub read_unix_s: u64,
    pub nodes: Vec<MnRecord>,
    /// The updates outstanding to MAARs, over every node.
    pub outstanding_updates: usize,
    /// On etcd: the instance that leads (the leader key's value), `Some(None)` when none does;
    /// `None` on a file store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<Option<String>>,
}

impl CmdStatus {
    /// Reads the store named by the CMD's configuration at `config`.
    pub fn read(config: &Path) -> Result<Self, CmdStatusError> {
        let config = Config::from_file(config)?;
        let mut store = CmdStore::open(&config)?;
        let leader = store.leader().map_err(CmdStoreError::from)?;
        let nodes: Vec<MnRecord> = store.records().into_iter().cloned().collect();
        let outstanding_updates = nodes.iter().map(|n| n.pending.len()).sum();
        Ok(Self {
            store: store.describe(),
            read_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            nodes,
            outstanding_updates,
            leader,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use anchor_cmd::{PrefixAnchor, record::PendingUpdate};
    use anchor_pmip::{MnKey, Policy};
    use anchor_signal::MnId;

    use super::*;
    use crate::output::cmd_status_tables;

    const AR1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);
    const AR2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2);

    fn net(s: &str) -> ipnet::Ipv6Net {
        s.parse().expect("prefix")
    }

    #[test]
    fn status_shows_the_stores_nodes_and_outstanding_updates() {
        let dir = std::env::temp_dir().join(format!("anchor-cmd-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store_path = dir.join("cmd.json");
        let config = dir.join("cmd.toml");
        std::fs::write(
            &config,
            format!(
                "address = \"2001:db8:cc::1\"\nstore = \"{}\"\ninsecure_signaling = true\n\n\
                 [[maar]]\naddress = \"{AR1}\"\nprefixes = [\"2001:db8:a1::/48\"]\n\n\
                 [[maar]]\naddress = \"{AR2}\"\nprefixes = [\"2001:db8:a2::/48\"]\n",
                store_path.display()
            ),
        )
        .expect("write the config");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let mut store = anchor_cmd::FileStore::open(&store_path).expect("a new store");
        let moved = net("2001:db8:a1:1::/64");
        store
            .put(MnRecord {
                mn: MnKey::from(&MnId::Eui48([2, 0, 0, 0, 0, 0x0a])),
                serving: AR2,
                prefixes: vec![
                    PrefixAnchor {
                        prefix: moved,
                        anchor: AR1,
                        policy: Policy::SessionLasting,
                        origin: None,
                    },
                    PrefixAnchor {
                        prefix: net("2001:db8:a2:1::/64"),
                        anchor: AR2,
                        policy: Policy::SessionLasting,
                        origin: None,
                    },
                ],
                lifetime_s: 150,
                expires_unix_s: now + 3600,
                last_timestamp: 0,
                pending: vec![PendingUpdate {
                    to: AR1,
                    sequence: 7,
                    serving: AR2,
                    anchored: vec![moved],
                    lifetime: 150,
                }],
            })
            .expect("put");

        let status = CmdStatus::read(&config).expect("read the status");
        assert_eq!(status.nodes.len(), 1);
        assert_eq!(status.outstanding_updates, 1);
        let text = cmd_status_tables(&status);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "store {}: 1 node(s), 1 update(s) outstanding",
                store_path.display()
            )
        );
        let node = lines
            .iter()
            .find(|l| l.starts_with("02:00:00:00:00:0a"))
            .expect("the node's row");
        for part in [
            "2001:db8:f2::2",
            "2001:db8:a1:1::/64 (anchor 2001:db8:f1::2, session-lasting)",
            "2001:db8:a2:1::/64 (local, session-lasting)",
        ] {
            assert!(node.contains(part), "{part} in {node}");
        }
        let update = lines
            .iter()
            .find(|l| l.starts_with("2001:db8:f1::2"))
            .expect("the update's row");
        let cells: Vec<&str> = update.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "2001:db8:f1::2",
                "7",
                "02:00:00:00:00:0a",
                "2001:db8:f2::2",
                "2001:db8:a1:1::/64",
                "150"
            ]
        );
        let json: serde_json::Value = serde_json::to_value(&status).expect("the status as JSON");
        assert_eq!(json["outstanding_updates"], 1);
        assert_eq!(json["nodes"][0]["pending"][0]["sequence"], 7);
        std::fs::remove_dir_all(&dir).expect("remove the temp dir");
    }

    #[test]
    fn a_missing_config_is_one_clear_error() {
        let error = CmdStatus::read(Path::new("/nonexistent/cmd.toml")).expect_err("no file");
        assert!(matches!(error, CmdStatusError::Config(_)), "{error}");
    }
}
