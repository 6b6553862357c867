//! The command-line side of the control API (blocking: one request, one response).

use std::{
    io::{self, BufRead as _, BufReader, Read as _, Write as _},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use thiserror::Error;

use super::protocol::{
    BindingInfo, ErrorKind, MAX_RESPONSE_LEN, MnListReport, Request, Response, StatsReport,
};

/// How long the client waits for the daemon.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach the anchor daemon at {}: is `anchor run` running?", path.display())]
    NotRunning { path: PathBuf },
    #[error("cannot reach the anchor daemon at {}: {error}", path.display())]
    Connect { path: PathBuf, error: io::Error },
    #[error("lost the connection to the anchor daemon at {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the anchor daemon closed the connection without answering")]
    NoResponse,
    #[error("the anchor daemon sent an invalid response")]
    BadResponse(#[source] serde_json::Error),
    #[error("cannot encode the request")]
    Encode(#[source] serde_json::Error),
    /// The daemon refused the request; `message` says why.
    #[error("{message}")]
    Daemon { kind: ErrorKind, message: String },
    #[error("unexpected response from the anchor daemon (expected {expected})")]
    Unexpected { expected: &'static str },
}

/// A connection-per-request client of the control socket.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request and returns the daemon's response (an error response is returned as
    /// is, not as [`ClientError::Daemon`]).
    pub fn call(&self, request: &Request) -> Result<Response, ClientError> {
        let path = &self.socket;
        let mut stream = UnixStream::connect(path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path: path.clone() }
            }
            _ => ClientError::Connect {
                path: path.clone(),
                error,
            },
        })?;
        let io_error = |source| ClientError::Io {
            path: path.clone(),
            source,
        };
        stream.set_read_timeout(Some(TIMEOUT)).map_err(io_error)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(io_error)?;
        let mut line = serde_json::to_vec(request).map_err(ClientError::Encode)?;
        line.push(b'\n');
        stream.write_all(&line).map_err(io_error)?;

        let mut reply = Vec::new();
        BufReader::new(stream.take(MAX_RESPONSE_LEN))
            .read_until(b'\n', &mut reply)
            .map_err(io_error)?;
        if reply.is_empty() {
            return Err(ClientError::NoResponse);
        }
        serde_json::from_slice(&reply).map_err(ClientError::BadResponse)
    }

    /// Like [`Self::call`], with an error response turned into [`ClientError::Daemon`].
    fn call_ok(&self, request: &Request) -> Result<Response, ClientError> {
        match self.call(request)? {
            Response::Error { kind, message } => Err(ClientError::Daemon { kind, message }),
            response => Ok(response),
        }
    }

    fn expect_ok(&self, request: &Request) -> Result<(), ClientError> {
        match self.call_ok(request)? {
            Response::Ok => Ok(()),
            _ => Err(ClientError::Unexpected { expected: "ok" }),
        }
    }

    pub fn add_binding(&self, request: &Request) -> Result<(), ClientError> {
        self.expect_ok(request)
    }

    pub fn del_binding(&self, prefix: &str) -> Result<(), ClientError> {
        self.expect_ok(&Request::DelBinding {
            prefix: prefix.to_owned(),
        })
    }

    /// `mn attach`: the prefix delegated to the node.
    pub fn mn_attach(&self, mn_id: &str, dev: &str) -> Result<ipnet::Ipv6Net, ClientError> {
        self.expect_mn(&Request::MnAttach {
            mn_id: mn_id.to_owned(),
            dev: dev.to_owned(),
        })
    }

    /// `mn detach`: the prefix the node held.
    pub fn mn_detach(&self, mn_id: &str) -> Result<ipnet::Ipv6Net, ClientError> {
        self.expect_mn(&Request::MnDetach {
            mn_id: mn_id.to_owned(),
        })
    }

    fn expect_mn(&self, request: &Request) -> Result<ipnet::Ipv6Net, ClientError> {
        match self.call_ok(request)? {
            Response::Mn { prefix } => Ok(prefix),
            _ => Err(ClientError::Unexpected { expected: "mn" }),
        }
    }

    /// `mn list`: what the MAAR holds.
    pub fn mn_list(&self) -> Result<MnListReport, ClientError> {
        match self.call_ok(&Request::MnList)? {
            Response::MnList(report) => Ok(report),
            _ => Err(ClientError::Unexpected {
                expected: "mn_list",
            }),
        }
    }

    pub fn list_bindings(&self) -> Result<Vec<BindingInfo>, ClientError> {
        match self.call_ok(&Request::ListBindings)? {
            Response::Bindings { bindings } => Ok(bindings),
            _ => Err(ClientError::Unexpected {
                expected: "bindings",
            }),
        }
    }

    pub fn debug_packets(&self, on: bool) -> Result<(), ClientError> {
        self.expect_ok(&Request::DebugPackets { on })
    }

    pub fn stats(&self) -> Result<StatsReport, ClientError> {
        match self.call_ok(&Request::Stats)? {
            Response::Stats(report) => Ok(report),
            _ => Err(ClientError::Unexpected { expected: "stats" }),
        }
    }
}
