//! The central mobility database (CMD) of RFC 8885: the location management server of RFC 8818
//! section 2. It keeps, per mobile node (keyed by its MN-ID option), every prefix the node holds,
//! the MAAR that anchors each prefix, the serving MAAR and the lifetime; it answers Proxy Binding
//! Updates from MAARs and tells previous MAARs where the node is now.
//!
//! - [`config`]: the TOML configuration.
//! - [`record`]: the per-node record and how it is keyed.
//! - [`memory_store`]: [`MemoryStore`], the records in memory (tests, fuzzing).
//! - [`store`]: [`MobilityStore`], the trait the records live behind, and the file-backed store.
//! - [`engine`]: the protocol logic without I/O: messages and the time in, messages out.
//! - [`counters`]: what was accepted, rejected, retransmitted.
//! - [`daemon`]: the XFRM check, the store, the socket and the loop tying them together.
//!
//! What the CMD shares with the MAAR (the Mobility Header socket, the XFRM check, the RFC 6275
//! retransmission, the timers, the report, [`anchor_pmip::Now`] and [`anchor_pmip::Outgoing`])
//! is in `anchor-pmip`.

pub mod cmd_store;
pub mod config;
pub mod counters;
pub mod daemon;
pub mod engine;
pub mod etcd_leader;
pub mod etcd_store;
pub mod memory_store;
pub mod record;
pub mod store;

pub use cmd_store::{CmdStore, CmdStoreError};
pub use config::{Config, ConfigError};
pub use engine::Engine;
pub use etcd_leader::{Fence, Leadership, Role};
pub use etcd_store::{EtcdLocation, EtcdStore};
pub use memory_store::MemoryStore;
pub use record::{MnRecord, PrefixAnchor};
pub use store::{FileStore, MobilityStore, StoreError};
