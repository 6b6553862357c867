//! Client-based DMM (RFC 8818 section 3.1.2, Figure 2) on the mobile node, without I/O: the node
//! itself is the location-management client and the forwarding-management function. It
//! remembers which anchor advertised each prefix it got by SLAAC; after a move it tells the
//! anchor of each earlier prefix still in use where it is now (an RFC 6275 Binding Update, see
//! [`engine`]), tunnels that prefix's uplink to the anchor and accepts its downlink from it.
//!
//! - [`config`]: `anchor client --config FILE`.
//! - [`ra`]: what a Router Advertisement says: its prefixes and the anchor's address.
//! - [`engine`]: the bindings with the anchors, the messages to send and the changes to make.
//! - [`sockets`]: which prefixes the host's sockets still use (`/proc/net/tcp6`, `udp6`).
//!
//! The I/O (netlink, the sockets, the XDP and TC programs) is `anchor client` in anchor-user.

pub mod config;
pub mod engine;
pub mod ra;
pub mod sockets;

pub use config::{ClientConfig, ClientConfigError};
pub use engine::{BindingInfo, Change, ClientEngine};
pub use ra::{RaError, RouterAdvert};
