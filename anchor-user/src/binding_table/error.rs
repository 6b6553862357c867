//! The table's errors: a change refused or failed ([`TableError`]), and pinned state it cannot
//! adopt ([`AdoptBindingError`]).

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use thiserror::Error;

use crate::{datapath::DatapathError, prefix::PrefixError, routing::RouteError};

#[derive(Debug, Error)]
pub enum TableError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("binding for {prefix} already exists")]
    Duplicate { prefix: Ipv6Net },
    #[error("no binding for {prefix}")]
    Unknown { prefix: Ipv6Net },
    #[error("the binding map is full: all max_bindings = {max_bindings} slots are in use")]
    Full { max_bindings: u32 },
    #[error("{peer} cannot be the peer of a binding: {reason}")]
    InvalidPeer {
        peer: Ipv6Addr,
        reason: &'static str,
    },
    #[error("dev {dev} is not an interface this daemon is attached to with role access")]
    NotAccessInterface { dev: String },
    #[error("cannot apply the binding for {prefix} to the datapath")]
    Datapath {
        prefix: Ipv6Net,
        #[source]
        source: Box<DatapathError>,
    },
    #[error(transparent)]
    Route(#[from] RouteError),
}

/// A binding found in pinned maps that the table cannot take (see [`BindingTable::adopt`]).
///
/// [`BindingTable::adopt`]: super::BindingTable::adopt
#[derive(Debug, Error)]
#[error("the pinned binding for {prefix} cannot be adopted: {reason}")]
pub struct AdoptBindingError {
    pub prefix: Ipv6Net,
    pub reason: String,
}

impl TableError {
    /// Whether a map or the table ran out of room.
    pub fn is_full(&self) -> bool {
        match self {
            Self::Full { .. } => true,
            Self::Datapath { source, .. } => matches!(**source, DatapathError::MapFull { .. }),
            _ => false,
        }
    }
}
