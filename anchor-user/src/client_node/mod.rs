//! The mobile node of client-based DMM (RFC 8818 section 3.1.2).

pub mod datapath;
pub mod host;
pub mod ra_socket;
pub mod service;
