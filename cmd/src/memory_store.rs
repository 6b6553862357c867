//! A [`MobilityStore`] in memory, nothing kept across a restart: for tests, fuzzing, and as the
//! smallest example of the trait.

use std::collections::BTreeMap;

use anchor_pmip::MnKey;

use crate::{
    record::MnRecord,
    store::{MobilityStore, StoreError},
};

/// The records in a map, by key. Cloning it is what a restart on the same store looks like.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore(BTreeMap<MnKey, MnRecord>);

impl MobilityStore for MemoryStore {
    fn get(&self, mn: &MnKey) -> Option<&MnRecord> {
        self.0.get(mn)
    }
    fn put(&mut self, record: MnRecord) -> Result<(), StoreError> {
        self.0.insert(record.mn.clone(), record);
        Ok(())
    }
    fn remove(&mut self, mn: &MnKey) -> Result<(), StoreError> {
        self.0.remove(mn);
        Ok(())
    }
    fn records(&self) -> Vec<&MnRecord> {
        self.0.values().collect()
    }
}
