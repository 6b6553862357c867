//! The protocol layer shared by the two signaling roles of RFC 8885, the CMD (`anchor-cmd`) and
//! the MAAR (`anchor-maar`): what either needs to exchange PBU/PBA with the other. The messages
//! themselves are the codec's (`anchor-signal`, which stays free of I/O and fuzzable).
//!
//! - [`message`]: [`Now`] and [`Outgoing`], what the I/O-free engines take and give, and the
//!   options read from a PBU.
//! - [`mobile_node`]: [`MnKey`] and [`Policy`].
//! - [`retransmit`]: the updates waiting for their acknowledgement (RFC 6275 back-off).
//! - [`histogram`]: latency distributions for `/metrics`.
//! - [`timing`]: the signaling timers both roles configure, and their checks.
//! - [`report`]: the periodic report of the signaling counts (with the insecure-signaling
//!   warning).
//! - [`metrics_listen`]: the CMD's `metrics_listen` key.
//! - [`signaling_metrics`]: the messages sent and received by type and status, and what a role
//!   shows on `/metrics`.
//! - [`transport`]: the raw IPv6 socket for the Mobility Header (next header 135).
//! - [`xfrm`]: the start-up check that IPsec ESP protects the signaling with every peer.
//! - [`durable`]: files written whole or not at all ([`durable::write_atomic`]).
//! - [`log_format`]: [`LogFormat`], how the daemons write their log lines.
//! - [`error_chain`](mod@error_chain): an error and its sources on one line.

pub mod durable;
pub mod error_chain;
pub mod histogram;
pub mod log_format;
pub mod log_limit;
pub mod message;
pub mod metrics_listen;
pub mod mobile_node;
pub mod report;
pub mod retransmit;
pub mod signaling_metrics;
pub mod timing;
pub mod transport;
pub mod xfrm;

pub use error_chain::error_chain;
pub use log_format::LogFormat;
pub use message::{Now, Outgoing};
pub use mobile_node::{MnKey, Policy};
