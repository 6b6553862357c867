//! [`CmdStore`]: the store `anchor cmd` runs on, as its configuration's `store` names it: a
//! file ([`FileStore`]) or etcd ([`EtcdStore`]).

use std::path::Path;

use anchor_pmip::{MnKey, histogram::Histogram};

use crate::{
    config::{Config, ConfigError},
    etcd_store::EtcdStore,
    record::MnRecord,
    store::{FileStore, MobilityStore, StoreError},
};

#[derive(Debug)]
pub enum CmdStore {
    File(FileStore),
    Etcd(EtcdStore),
}

#[derive(Debug, thiserror::Error)]
pub enum CmdStoreError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CmdStore {
    /// Opens the store of `config`.
    pub fn open(config: &Config) -> Result<Self, CmdStoreError> {
        Ok(match config.etcd_store()? {
            Some(location) => Self::Etcd(EtcdStore::open(location, None)?),
            None => Self::File(FileStore::open(&config.store)?),
        })
    }

    /// The file's path, or the etcd URL.
    pub fn describe(&self) -> String {
        match self {
            Self::File(store) => store.path().display().to_string(),
            Self::Etcd(store) => store.location().url(),
        }
    }

    /// How long the writes took.
    pub fn write_times(&self) -> &Histogram {
        match self {
            Self::File(store) => store.write_times(),
            Self::Etcd(store) => store.write_times(),
        }
    }

    /// On etcd, the instance that leads (`Some(None)`: none); `None` on a file.
    pub fn leader(&mut self) -> Result<Option<Option<String>>, StoreError> {
        match self {
            Self::File(_) => Ok(None),
            Self::Etcd(store) => store.leader().map(Some),
        }
    }

    /// The path of a file store.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File(store) => Some(store.path()),
            Self::Etcd(_) => None,
        }
    }
}

impl MobilityStore for CmdStore {
    fn get(&self, mn: &MnKey) -> Option<&MnRecord> {
        match self {
            Self::File(store) => store.get(mn),
            Self::Etcd(store) => store.get(mn),
        }
    }

    fn put(&mut self, record: MnRecord) -> Result<(), StoreError> {
        match self {
            Self::File(store) => store.put(record),
            Self::Etcd(store) => store.put(record),
        }
    }

    fn remove(&mut self, mn: &MnKey) -> Result<(), StoreError> {
        match self {
            Self::File(store) => store.remove(mn),
            Self::Etcd(store) => store.remove(mn),
        }
    }

    fn records(&self) -> Vec<&MnRecord> {
        match self {
            Self::File(store) => store.records(),
            Self::Etcd(store) => store.records(),
        }
    }
}
