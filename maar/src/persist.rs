//! The MAAR's state across restarts: the served nodes (access interface, prefix, policy, phase,
//! visiting prefixes with their anchors), the prefixes anchored here for nodes served elsewhere
//! (node, serving MAAR, policy), the last update accepted from the CMD per node and the next
//! sequence number. The pools' allocations are the served and anchored prefixes. Written as
//! JSON with [`anchor_pmip::durable::write_atomic`] (temporary file, fsync, rename) at every
//! change; an absent file is an empty state, an unreadable or corrupt one an error naming it.

use std::{
    net::Ipv6Addr,
    path::{Path, PathBuf},
};

use anchor_pmip::MnKey;
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::Policy;

/// Where a served node's registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The PBU is out; nothing installed yet.
    Registering,
    Registered,
    /// The lifetime-0 PBU is out.
    Deregistering,
}

/// What a restarted MAAR needs to go on where it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaarState {
    pub next_sequence: u16,
    pub served: Vec<SavedServed>,
    pub anchored: Vec<SavedAnchored>,
    /// The last update accepted from the CMD, per node (its replay protection).
    pub last_cmd: Vec<SavedCmdUpdate>,
    /// As a subscriber: the prefixes redirected for nodes anchored and served elsewhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribed: Vec<SavedSubscribed>,
    /// Fixed /64s of this MAAR's pools relocated away, out of the pool until the CMD gives
    /// them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lent: Vec<Ipv6Net>,
    /// The last Binding Update accepted from each mobile node (client-based DMM), its replay
    /// protection; `sequence` is the update's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_client: Vec<SavedCmdUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedSubscribed {
    pub prefix: Ipv6Net,
    pub mn: MnKey,
    pub serving: Ipv6Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedServed {
    pub mn: MnKey,
    pub dev: String,
    pub prefix: Ipv6Net,
    pub policy: Policy,
    pub phase: Phase,
    /// Whether the route of `prefix` toward `dev` is installed.
    pub route: bool,
    pub visiting: Vec<SavedVisiting>,
    /// Fixed prefixes of other anchors relocated here, routed onto `dev`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relocated: Vec<Ipv6Net>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedVisiting {
    pub prefix: Ipv6Net,
    /// The MAAR anchoring it.
    pub home: Ipv6Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedAnchored {
    pub prefix: Ipv6Net,
    pub mn: MnKey,
    pub serving: Ipv6Addr,
    pub policy: Policy,
    /// The node asked for the redirect itself (client-based DMM): it ends with the binding's
    /// lifetime, counted anew from a restart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedCmdUpdate {
    pub mn: MnKey,
    /// The Timestamp option's 64 bits.
    pub timestamp: u64,
    pub sequence: u16,
}

#[derive(Debug, Error)]
pub enum PersistError {
    #[error("cannot read the MAAR state file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the MAAR state file {path} is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot create the MAAR state directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the MAAR state file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The state saved at `path`; empty when there is no file yet.
pub fn load(path: &Path) -> Result<MaarState, PersistError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| PersistError::Corrupt {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MaarState::default()),
        Err(source) => Err(PersistError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates the directory of `path` when it is missing (at start, so that a write later fails
/// only for a new reason).
pub fn prepare(path: &Path) -> Result<(), PersistError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|source| PersistError::CreateDir {
            path: dir.to_owned(),
            source,
        }),
        None => Ok(()),
    }
}

/// Replaces the state at `path` with `state`, crash-safely.
pub fn save(path: &Path, state: &MaarState) -> Result<(), PersistError> {
    let write_error = |source| PersistError::Write {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| write_error(e.into()))?;
    anchor_pmip::durable::write_atomic(path, &bytes).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("anchor-maar-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn state() -> MaarState {
        let mn = MnKey {
            subtype: 5,
            id: vec![2, 0, 0, 0, 0, 1],
        };
        MaarState {
            next_sequence: 7,
            served: vec![SavedServed {
                mn: mn.clone(),
                dev: "acc".into(),
                prefix: "2001:db8:a1::/64".parse().unwrap(),
                policy: Policy::SessionLasting,
                phase: Phase::Registered,
                route: true,
                visiting: vec![SavedVisiting {
                    prefix: "2001:db8:a2::/64".parse().unwrap(),
                    home: "2001:db8:12::2".parse().unwrap(),
                }],
                relocated: vec!["2001:db8:a3:1::/64".parse().unwrap()],
            }],
            anchored: vec![SavedAnchored {
                prefix: "2001:db8:a1:1::/64".parse().unwrap(),
                mn: mn.clone(),
                serving: "2001:db8:12::2".parse().unwrap(),
                policy: Policy::Fixed,
                client: false,
            }],
            last_cmd: vec![SavedCmdUpdate {
                mn: mn.clone(),
                timestamp: 42,
                sequence: 3,
            }],
            subscribed: vec![SavedSubscribed {
                prefix: "2001:db8:a3::/64".parse().unwrap(),
                mn,
                serving: "2001:db8:12::2".parse().unwrap(),
            }],
            lent: vec!["2001:db8:a1:2::/64".parse().unwrap()],
            last_client: Vec::new(),
        }
    }

    #[test]
    fn saves_and_loads() {
        let dir = TempDir::new("persist");
        let path = dir.0.join("sub/maar.json");
        assert_eq!(load(&path).unwrap(), MaarState::default(), "absent: empty");
        assert!(matches!(
            save(&path, &state()),
            Err(PersistError::Write { .. })
        ));
        prepare(&path).unwrap();
        save(&path, &state()).unwrap();
        assert_eq!(load(&path).unwrap(), state());
        assert!(!dir.0.join("sub/maar.json.tmp").exists());
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = TempDir::new("corrupt");
        let path = dir.0.join("maar.json");
        prepare(&path).unwrap();
        std::fs::write(&path, b"{\"next_sequence\": 1,").unwrap();
        let error = load(&path).unwrap_err();
        assert!(matches!(error, PersistError::Corrupt { .. }));
        let text = error.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}
