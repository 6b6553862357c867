//! Where the records live: [`MobilityStore`], and [`FileStore`], an embedded file-backed store
//! (a JSON snapshot written to a temporary file, synced and renamed over the old one, so that a
//! crash leaves either the old or the new snapshot). A replicated store (etcd, for operators who
//! run several CMDs) would implement the same trait. The write itself is
//! [`anchor_pmip::durable::write_atomic`], also used by the MAAR for its state.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use thiserror::Error;

use anchor_pmip::{MnKey, durable::write_atomic, histogram::Histogram};

use crate::record::MnRecord;

/// The records of the CMD. Every change is durable when the call returns.
pub trait MobilityStore {
    fn get(&self, mn: &MnKey) -> Option<&MnRecord>;
    /// Inserts or replaces the record of `record.mn`.
    fn put(&mut self, record: MnRecord) -> Result<(), StoreError>;
    fn remove(&mut self, mn: &MnKey) -> Result<(), StoreError>;
    /// Every record, ordered by key.
    fn records(&self) -> Vec<&MnRecord>;
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot read the store {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the store {path} is not a valid snapshot: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot serialize the records for the store {path}: {source}")]
    Serialize {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the store {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("etcd store {url}: {source}")]
    Etcd {
        url: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("cannot run the etcd client: {source}")]
    EtcdRuntime {
        #[source]
        source: std::io::Error,
    },
    #[error("the etcd record {key} is not a valid record: {source}")]
    EtcdRecord {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the etcd record {key} was changed by another writer: not applied")]
    Conflict { key: String },
    #[error("another CMD instance leads now (the leader key {key} is not this one's): not applied")]
    NotLeader { key: String },
}

impl StoreError {
    /// Whether the store could not be reached or no longer belongs to this instance: the state
    /// is then unknown here, and the CMD answers nothing rather than answer from it.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Etcd { .. } | Self::EtcdRuntime { .. } | Self::NotLeader { .. }
        )
    }
}

/// The file-backed store: all records in memory, the whole snapshot rewritten on every change.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    records: BTreeMap<MnKey, MnRecord>,
    /// How long each write took (the snapshot serialized, written, synced and renamed).
    write_times: Histogram,
}

impl FileStore {
    /// Opens the store at `path`: the records of its snapshot, or none when the file is absent.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let records = match std::fs::read(path) {
            Ok(bytes) => {
                let list: Vec<MnRecord> =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                        path: path.to_owned(),
                        source,
                    })?;
                list.into_iter().map(|r| (r.mn.clone(), r)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(StoreError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Ok(Self {
            path: path.to_owned(),
            records,
            write_times: Histogram::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long the writes took, as a histogram for `/metrics`.
    pub fn write_times(&self) -> &Histogram {
        &self.write_times
    }

    fn save(&mut self) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.write();
        self.write_times.observe(started.elapsed());
        result
    }

    fn write(&self) -> Result<(), StoreError> {
        let list: Vec<&MnRecord> = self.records.values().collect();
        let bytes = serde_json::to_vec_pretty(&list).map_err(|source| StoreError::Serialize {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes).map_err(|source| StoreError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

impl MobilityStore for FileStore {
    fn get(&self, mn: &MnKey) -> Option<&MnRecord> {
        self.records.get(mn)
    }

    fn put(&mut self, record: MnRecord) -> Result<(), StoreError> {
        let old = self.records.insert(record.mn.clone(), record.clone());
        self.save().inspect_err(|_| {
            // Keep memory and disk the same when the write fails.
            match old {
                Some(old) => {
                    self.records.insert(old.mn.clone(), old);
                }
                None => {
                    self.records.remove(&record.mn);
                }
            }
        })
    }

    fn remove(&mut self, mn: &MnKey) -> Result<(), StoreError> {
        let Some(old) = self.records.remove(mn) else {
            return Ok(());
        };
        self.save().inspect_err(|_| {
            self.records.insert(old.mn.clone(), old);
        })
    }

    fn records(&self) -> Vec<&MnRecord> {
        self.records.values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PrefixAnchor;
    use anchor_pmip::Policy;

    /// A directory of its own under the system's temporary directory, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("anchor-cmd-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create a temporary directory");
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn record(last: u8) -> MnRecord {
        MnRecord {
            mn: MnKey {
                subtype: 5,
                id: vec![2, 0, 0, 0, 0, last],
            },
            serving: "2001:db8:f2::2".parse().unwrap(),
            prefixes: vec![PrefixAnchor {
                prefix: "2001:db8:1:1::/64".parse().unwrap(),
                anchor: "2001:db8:f1::2".parse().unwrap(),
                policy: Policy::Fixed,
                origin: None,
            }],
            lifetime_s: 600,
            expires_unix_s: 1_700_000_600,
            last_timestamp: 42,
            pending: Vec::new(),
        }
    }

    #[test]
    fn records_survive_reopening() {
        let dir = TempDir::new("reopen");
        let path = dir.0.join("cmd.json");
        let mut store = FileStore::open(&path).expect("opens an absent store");
        assert!(store.records().is_empty());
        store.put(record(1)).unwrap();
        store.put(record(2)).unwrap();
        store.remove(&record(1).mn).unwrap();
        let mut changed = record(2);
        changed.last_timestamp = 43;
        store.put(changed.clone()).unwrap();
        drop(store);
        let store = FileStore::open(&path).expect("reopens");
        assert_eq!(store.records(), vec![&changed]);
        assert_eq!(store.get(&record(2).mn), Some(&changed));
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn the_policy_survives_reopening_and_old_snapshots_read_as_session_lasting() {
        let dir = TempDir::new("policy");
        let path = dir.0.join("cmd.json");
        let mut store = FileStore::open(&path).unwrap();
        store.put(record(1)).unwrap();
        drop(store);
        let store = FileStore::open(&path).unwrap();
        assert_eq!(
            store.get(&record(1).mn).unwrap().prefixes[0].policy,
            Policy::Fixed
        );
        drop(store);

        // A snapshot written before the policy was recorded: the same without the field.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut snapshot: serde_json::Value = serde_json::from_str(&text).unwrap();
        let anchor = snapshot
            .pointer_mut("/0/prefixes/0")
            .and_then(serde_json::Value::as_object_mut)
            .unwrap_or_else(|| panic!("no prefix in {text}"));
        assert_eq!(anchor.remove("policy"), Some("fixed".into()));
        std::fs::write(&path, snapshot.to_string()).unwrap();
        let store = FileStore::open(&path).expect("an old snapshot still opens");
        assert_eq!(
            store.get(&record(1).mn).unwrap().prefixes[0].policy,
            Policy::SessionLasting
        );
    }

    #[test]
    fn a_corrupt_snapshot_is_an_error_naming_the_file() {
        let dir = TempDir::new("corrupt");
        let path = dir.0.join("cmd.json");
        std::fs::write(&path, b"{not json").unwrap();
        match FileStore::open(&path) {
            Err(StoreError::Corrupt { path: p, .. }) => assert_eq!(p, path),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn a_failed_write_leaves_memory_unchanged() {
        let dir = TempDir::new("fail");
        let path = dir.0.join("missing-dir/cmd.json");
        let mut store = FileStore::open(&path).expect("absent is empty");
        assert!(matches!(
            store.put(record(1)),
            Err(StoreError::Write { .. })
        ));
        assert!(store.records().is_empty());
    }
}
