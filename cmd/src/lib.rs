//! The central mobility database (CMD) of RFC 8885: the location management server of RFC 8818
//! section 2. It keeps, per mobile node (keyed by its MN-ID option), every prefix the node holds,
//! the MAAR that anchors each prefix, the serving MAAR and the lifetime; it answers Proxy Binding
//! Updates from MAARs and tells previous MAARs where the node is now.
//!
//! - [`config`]: the TOML configuration.
//! - [`record`]: the per-node record and how it is keyed.
//! - [`store`]: [`MobilityStore`], the trait the records live behind, and the file-backed store.
//! - [`engine`]: the protocol logic without I/O: messages and the time in, messages out.
//! - [`retransmit`]: the CMD-initiated updates waiting for their acknowledgement (RFC 6275 back-off).
//! - [`counters`]: what was accepted, rejected, retransmitted.
//! - [`timing`]: the signaling timers both the CMD and the MAAR configure, and their checks.
//! - [`report`]: the periodic report of those counts (with the insecure-signaling warning).
//! - [`transport`]: the raw IPv6 socket for the Mobility Header (next header 135).
//! - [`xfrm`]: the start-up check that IPsec ESP protects the signaling with every MAAR.
//! - [`daemon`]: the loop tying them together.

pub mod config;
pub mod counters;
pub mod daemon;
pub mod engine;
pub mod record;
pub mod report;
pub mod retransmit;
pub mod store;
pub mod timing;
pub mod transport;
pub mod xfrm;

pub use config::{Config, ConfigError, LogFormat};
pub use engine::{Engine, Now, Outgoing};
pub use record::{MnKey, MnRecord, Policy, PrefixAnchor};
pub use store::{FileStore, MobilityStore, StoreError};
