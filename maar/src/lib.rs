//! The MAAR role of RFC 8885 in `anchor run` (the `[maar]` section): prefixes delegated from
//! pools to attached mobile nodes, registered with the CMD over PBU/PBA, and the bindings the
//! CMD's updates call for. A peer of the CMD (`anchor-cmd`) on the shared protocol layer
//! (`anchor-pmip`); it reaches the router it runs in only through [`port::RouterPort`].
//!
//! - [`config`]: the `[maar]` section.
//! - [`pool`]: /64 delegation.
//! - [`engine`]: the protocol logic without I/O.
//! - [`persist`]: the engine's state across restarts, in a file.
//! - [`port`]: what the MAAR needs from the router (bindings, their packet counts, routes).
//! - [`handle`]: [`MaarHandle`], how the API and the access links ask for attachments.
//! - [`service`]: the socket, the timer, applying routes and bindings through the port.
//! - [`upkeep`]: the service's traffic sampling for idle release, state restore and saving.
//! - [`identity`]: one MAC and link-local address on every access link (RFC 6543).
//! - [`link`]: point-to-point access links, attached on carrier up.
//! - [`first_frame`]: nodes attached on their first frame, as the router's program reports it.
//! - [`ra`]: Router Solicitation and Advertisement bytes.
//! - [`ndp`]: the raw ICMPv6 socket of an access interface (solicitations in, advertisements
//!   out).
//!
//! The Mobility Header socket, the retransmission back-off and the XFRM ESP check are shared
//! with the CMD ([`anchor_pmip`]).

pub mod config;
pub mod engine;
pub mod first_frame;
pub mod handle;
pub mod identity;
pub mod link;
pub mod ndp;
pub mod persist;
pub mod pool;
pub mod port;
pub mod ra;
pub mod service;
pub mod upkeep;

pub use config::{MaarConfig, PointToPointConfig, Policy, PoolConfig, mn_id_from_mac};
pub use engine::{Action, MaarEngine, MaarError};
pub use first_frame::FirstFrame;
pub use handle::MaarHandle;
pub use port::{MaarBindingKind, RouteFailure, RouterPort};
pub use service::{Maar, StartError, check_security};
