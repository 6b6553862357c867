//! The daemon side of the control API.

use std::{
    future::Future,
    io,
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anchor_maar::MaarHandle;
use thiserror::Error;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::{UnixListener, UnixStream},
};

pub use super::dispatch::SharedTable;
use super::{
    dispatch::dispatch,
    protocol::{ErrorKind, MAX_REQUEST_LEN, Request, Response},
};
use crate::{binding_table::DatapathPort, routing::Routes};

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("cannot create the directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another anchor daemon is already listening on {}", path.display())]
    AlreadyRunning { path: PathBuf },
    #[error("{} exists and is not a socket", path.display())]
    NotASocket { path: PathBuf },
    #[error("cannot remove the stale socket {}", path.display())]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on {}", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot set the permissions of {}", path.display())]
    Permissions {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Removes the socket file when dropped.
#[derive(Debug)]
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", self.0.display()),
        }
    }
}

/// A bound control socket. Dropping it removes the socket file.
#[derive(Debug)]
pub struct ApiServer {
    listener: UnixListener,
    socket: SocketFile,
    /// Where `mn attach` and `mn detach` go; `None` without a `[maar]` section.
    maar: Option<MaarHandle>,
}

impl ApiServer {
    /// [`ApiError::AlreadyRunning`] when something accepts connections on `path`.
    pub fn check_not_running(path: &Path) -> Result<(), ApiError> {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ApiError::AlreadyRunning {
                path: path.to_owned(),
            });
        }
        Ok(())
    }

    /// Creates the parent directory, replaces a stale socket (one nobody listens on), binds and
    /// restricts the socket to its owner (0600). Must run inside a tokio runtime.
    pub fn bind(path: &Path) -> Result<Self, ApiError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| ApiError::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(ApiError::AlreadyRunning {
                        path: path.to_owned(),
                    });
                }
                std::fs::remove_file(path).map_err(|source| ApiError::RemoveStale {
                    path: path.to_owned(),
                    source,
                })?;
            }
            Ok(_) => {
                return Err(ApiError::NotASocket {
                    path: path.to_owned(),
                });
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(path).map_err(|source| ApiError::Bind {
            path: path.to_owned(),
            source,
        })?;
        let socket = SocketFile(path.to_owned());
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| ApiError::Permissions {
                path: path.to_owned(),
                source,
            },
        )?;
        Ok(Self {
            listener,
            socket,
            maar: None,
        })
    }

    /// Serves `mn attach` and `mn detach` through `maar`.
    #[must_use]
    pub fn with_maar(mut self, maar: MaarHandle) -> Self {
        self.maar = Some(maar);
        self
    }

    pub fn path(&self) -> &Path {
        &self.socket.0
    }

    /// Serves connections until `shutdown` completes, then removes the socket file. Requests
    /// in progress finish first: they hold the table's lock.
    pub async fn serve<D, R>(self, table: SharedTable<D, R>, shutdown: impl Future<Output = ()>)
    where
        D: DatapathPort + Send + 'static,
        R: Routes + Send + 'static,
    {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(handle_connection(
                            stream,
                            Arc::clone(&table),
                            self.maar.clone(),
                        ));
                    }
                    Err(error) => {
                        // Out of descriptors or memory: back off instead of spinning.
                        tracing::warn!("accept on {} failed: {error}", self.path().display());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(self);
    }
}

async fn handle_connection<D, R>(
    stream: UnixStream,
    table: SharedTable<D, R>,
    maar: Option<MaarHandle>,
) where
    D: DatapathPort + Send + 'static,
    R: Routes + Send + 'static,
{
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_REQUEST_LEN + 1)
            .read_until(b'\n', &mut line)
            .await;
        let too_long = match read {
            Ok(0) | Err(_) => return,
            Ok(_) => line.len() as u64 > MAX_REQUEST_LEN,
        };
        let response = if too_long {
            Response::Error {
                kind: ErrorKind::BadRequest,
                message: format!("request longer than {MAX_REQUEST_LEN} bytes"),
            }
        } else if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(request) => dispatch(request, &table, maar.as_ref()).await,
                Err(error) => Response::Error {
                    kind: ErrorKind::BadRequest,
                    message: format!("invalid request: {error}"),
                },
            }
        };
        let Ok(mut out) = serde_json::to_vec(&response) else {
            return;
        };
        out.push(b'\n');
        if write.write_all(&out).await.is_err() || too_long {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
