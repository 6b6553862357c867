//! The local control API: one JSON request per line on a unix socket, one JSON response per
//! line back.
//!
//! - `protocol.rs`: the request and response types, shared by both ends.
//! - `server.rs`: the daemon side (tokio): the socket and its connections; `dispatch.rs`: one
//!   request answered.
//! - `client.rs`: the command-line side (blocking).

pub mod client;
mod dispatch;
pub mod protocol;
pub mod server;

pub use client::{Client, ClientError};
pub use protocol::{
    AnchoredPrefix, BindingInfo, BindingKindName, BindingStatsInfo, CounterInfo, ErrorKind,
    MAX_REQUEST_LEN, MAX_RESPONSE_LEN, MnListReport, Request, RequestError, Response, ServedNode,
    StatsReport,
};
pub use server::{ApiError, ApiServer};
