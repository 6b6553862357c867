//! What can go wrong serving the metrics.

use std::{io, net::SocketAddr};

use thiserror::Error;

use crate::datapath::DatapathError;

#[derive(Debug, Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {addr} (metrics_listen)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the maps for /metrics")]
    Read(#[source] DatapathError),
    #[error("cannot encode the metrics")]
    Encode(#[source] std::fmt::Error),
}
