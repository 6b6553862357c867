//! The daemon side of the control API.

use std::{
    future::Future,
    io,
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anchor_signal::MnId;
use ipnet::Ipv6Net;
use thiserror::Error;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::{UnixListener, UnixStream},
    sync::Mutex,
};

use anchor_maar::{MaarError, MaarHandle, mn_id_from_mac};
use anchor_pmip::error_chain;

use super::{
    MAX_REQUEST_LEN,
    protocol::{
        BindingInfo, BindingStatsInfo, ErrorKind, MnListReport, Request, Response, StatsReport,
        binding_kind,
    },
};
use crate::{
    binding_table::{BindingTable, DatapathPort, TableError},
    prefix::parse_binding_prefix,
    routing::Routes,
};

/// The table shared by the connections.
pub type SharedTable<D, R> = Arc<Mutex<BindingTable<D, R>>>;

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

fn table_error(error: &TableError) -> Response {
    let kind = match error {
        _ if error.is_full() => ErrorKind::MapFull,
        TableError::Prefix(_) => ErrorKind::InvalidPrefix,
        TableError::Duplicate { .. } => ErrorKind::Duplicate,
        TableError::Unknown { .. } => ErrorKind::UnknownPrefix,
        TableError::InvalidPeer { .. } => ErrorKind::InvalidPeer,
        TableError::NotAccessInterface { .. } => ErrorKind::InvalidDev,
        TableError::Route(_) => ErrorKind::Route,
        // `Full` is caught by `is_full` above.
        TableError::Full { .. } => ErrorKind::MapFull,
        TableError::Datapath { .. } => ErrorKind::Datapath,
    };
    Response::Error {
        kind,
        message: error_chain(error),
    }
}

async fn dispatch<D, R>(
    request: Request,
    table: &SharedTable<D, R>,
    maar: Option<&MaarHandle>,
) -> Response
where
    D: DatapathPort,
    R: Routes,
{
    match request {
        Request::AddBinding {
            prefix,
            serving,
            home,
            reverse_tunnel,
            dev,
            mac,
        } => {
            let prefix = match parse_binding_prefix(&prefix) {
                Ok(prefix) => prefix,
                Err(e) => {
                    return Response::Error {
                        kind: ErrorKind::InvalidPrefix,
                        message: error_chain(&e),
                    };
                }
            };
            let kind = match binding_kind(serving, home, reverse_tunnel, dev, mac.as_deref()) {
                Ok(kind) => kind,
                Err(e) => {
                    return Response::Error {
                        kind: ErrorKind::BadRequest,
                        message: e.to_string(),
                    };
                }
            };
            let result = table.lock().await.add(prefix, kind).await;
            match result {
                Ok(binding) => {
                    tracing::info!(
                        "added {} binding {}",
                        BindingInfo::from(&binding).kind.as_str(),
                        binding.prefix
                    );
                    Response::Ok
                }
                Err(e) => table_error(&e),
            }
        }
        Request::DelBinding { prefix } => {
            let prefix = match parse_binding_prefix(&prefix) {
                Ok(prefix) => prefix,
                Err(e) => {
                    return Response::Error {
                        kind: ErrorKind::InvalidPrefix,
                        message: error_chain(&e),
                    };
                }
            };
            let result = table.lock().await.remove(prefix).await;
            match result {
                Ok(binding) => {
                    tracing::info!("removed binding {}", binding.prefix);
                    Response::Ok
                }
                Err(e) => table_error(&e),
            }
        }
        Request::ListBindings => {
            let table = table.lock().await;
            Response::Bindings {
                bindings: table.bindings().map(BindingInfo::from).collect(),
            }
        }
        Request::DebugPackets { on } => match table.lock().await.set_packet_debug(on) {
            Ok(()) => {
                let state = if on { "on" } else { "off" };
                tracing::info!("packet debugging {state}");
                Response::Ok
            }
            Err(e) => Response::Error {
                kind: ErrorKind::Datapath,
                message: error_chain(&e),
            },
        },
        Request::MnAttach { mn_id, dev } => {
            mobility(maar, &mn_id, |maar, mn| maar.attach(mn, dev)).await
        }
        Request::MnDetach { mn_id } => mobility(maar, &mn_id, |maar, mn| maar.detach(mn)).await,
        Request::MnList => match maar {
            Some(maar) => Response::MnList(MnListReport::from(&maar.list())),
            None => not_maar(),
        },
        Request::Stats => {
            let table = table.lock().await;
            match stats(&table) {
                Ok(report) => Response::Stats(report),
                Err(e) => Response::Error {
                    kind: ErrorKind::Datapath,
                    message: error_chain(&e),
                },
            }
        }
    }
}

/// An `mn` request: the MN-ID checked, then `call` on the MAAR.
async fn mobility<'a, F>(
    maar: Option<&'a MaarHandle>,
    mn_id: &str,
    call: impl FnOnce(&'a MaarHandle, MnId) -> F,
) -> Response
where
    F: Future<Output = Result<Ipv6Net, MaarError>>,
{
    let Some(maar) = maar else {
        return not_maar();
    };
    let Some(mn) = mn_id_from_mac(mn_id) else {
        return Response::Error {
            kind: ErrorKind::BadRequest,
            message: format!("mn_id {mn_id:?} is not a MAC address like 02:00:00:00:00:01"),
        };
    };
    match call(maar, mn).await {
        Ok(prefix) => Response::Mn { prefix },
        Err(e) => Response::Error {
            kind: ErrorKind::Mobility,
            message: e.to_string(),
        },
    }
}

fn not_maar() -> Response {
    Response::Error {
        kind: ErrorKind::NotMaar,
        message: "this daemon has no [maar] section".to_owned(),
    }
}

fn stats<D: DatapathPort, R>(
    table: &BindingTable<D, R>,
) -> Result<StatsReport, crate::datapath::DatapathError>
where
    R: Routes,
{
    let datapath = table.datapath();
    let counters = datapath.counters()?.into_iter().map(Into::into).collect();
    let bindings = table
        .bindings()
        .map(|binding| {
            datapath
                .binding_stats(binding.slot)
                .map(|stats| BindingStatsInfo::new(binding, &stats))
        })
        .collect::<Result<_, _>>()?;
    Ok(StatsReport { counters, bindings })
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead as _, BufReader, Write as _},
        net::Ipv6Addr,
        os::unix::net::UnixStream as StdUnixStream,
    };

    use tokio::sync::oneshot;

    use super::*;
    use crate::{
        api::{BindingKindName, Client, ClientError, Response},
        testing::{FakeDatapath, FakeRoutes},
    };

    const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("anchor-api-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn add(prefix: &str, serving: Option<&str>, home: Option<&str>) -> Request {
        Request::AddBinding {
            prefix: prefix.to_owned(),
            serving: serving.map(|a| a.parse().expect("addr")),
            home: home.map(|a| a.parse().expect("addr")),
            reverse_tunnel: false,
            dev: None,
            mac: None,
        }
    }

    /// A binding table of two entries over the fakes, with `access` interfaces.
    fn fake_table(
        access: Vec<(String, u32)>,
    ) -> Arc<Mutex<BindingTable<FakeDatapath, FakeRoutes>>> {
        Arc::new(Mutex::new(BindingTable::new(
            FakeDatapath::default(),
            FakeRoutes::default(),
            LOCATOR,
            2,
            access,
        )))
    }

    fn daemon_error(result: Result<(), ClientError>) -> ErrorKind {
        match result {
            Err(ClientError::Daemon { kind, .. }) => kind,
            other => panic!("expected a daemon error, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_the_protocol_and_cleans_up() {
        let dir = TempDir::new("serve");
        let path = dir.0.join("sub/anchor.sock");
        let table = fake_table(vec![("acc0".to_owned(), 7)]);
        let server = ApiServer::bind(&path).expect("bind");
        let mode = std::fs::metadata(&path)
            .expect("socket")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            ApiServer::bind(&path),
            Err(ApiError::AlreadyRunning { .. })
        ));

        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(Arc::clone(&table), async {
            let _ = stopped.await;
        }));

        let client_path = path.clone();
        tokio::task::spawn_blocking(move || {
            let client = Client::new(&client_path);
            client
                .add_binding(&add("2001:db8:1:1::/64", Some("2001:db8:ff::2"), None))
                .expect("add");
            let kind = daemon_error(client.add_binding(&add(
                "2001:db8:1:1::/64",
                Some("2001:db8:ff::2"),
                None,
            )));
            assert_eq!(kind, ErrorKind::Duplicate);
            let Err(ClientError::Daemon { message, .. }) =
                client.add_binding(&add("2001:db8:1:1::/64", Some("2001:db8:ff::2"), None))
            else {
                panic!("duplicate accepted")
            };
            assert_eq!(message, "binding for 2001:db8:1:1::/64 already exists");
            let kind = daemon_error(client.add_binding(&add(
                "2001:db8:1:1::/65",
                Some("2001:db8:ff::2"),
                None,
            )));
            assert_eq!(kind, ErrorKind::InvalidPrefix);
            let kind = daemon_error(client.add_binding(&add("x", Some("2001:db8:ff::2"), None)));
            assert_eq!(kind, ErrorKind::InvalidPrefix);
            let kind = daemon_error(client.add_binding(&add(
                "2001:db8:2::/64",
                Some("2001:db8:ff::2"),
                Some("2001:db8:ff::3"),
            )));
            assert_eq!(kind, ErrorKind::BadRequest);
            let mut bad_dev = add("2001:db8:2::/64", None, Some("2001:db8:ff::3"));
            if let Request::AddBinding { dev, .. } = &mut bad_dev {
                *dev = Some("core0".into());
            }
            assert_eq!(
                daemon_error(client.add_binding(&bad_dev)),
                ErrorKind::InvalidDev
            );
            client
                .add_binding(&add("2001:db8:2::/48", None, Some("2001:db8:ff::3")))
                .expect("add visiting");
            let kind = daemon_error(client.add_binding(&add(
                "2001:db8:3::/64",
                Some("2001:db8:ff::2"),
                None,
            )));
            assert_eq!(kind, ErrorKind::MapFull);

            let bindings = client.list_bindings().expect("list");
            assert_eq!(bindings.len(), 2);
            assert_eq!(bindings[0].prefix.to_string(), "2001:db8:1:1::/64");
            assert_eq!(bindings[0].kind, BindingKindName::Redirect);
            assert_eq!(bindings[1].kind, BindingKindName::Visiting);

            let stats = client.stats().expect("stats");
            assert_eq!(stats.counters.len(), anchor_common::Counter::ALL.len());
            assert_eq!(stats.counters[0].name, "rx");
            assert_eq!(stats.bindings.len(), 2);

            client.del_binding("2001:db8:1:1::/64").expect("del");
            let kind = daemon_error(client.del_binding("2001:db8:1:1::/64"));
            assert_eq!(kind, ErrorKind::UnknownPrefix);
            client.debug_packets(true).expect("debug packets on");
            // Without a [maar] section there is nobody to attach mobile nodes.
            let kind = daemon_error(client.mn_attach("02:00:00:00:00:01", "eth1").map(|_| ()));
            assert_eq!(kind, ErrorKind::NotMaar);
            let kind = daemon_error(client.mn_list().map(|_| ()));
            assert_eq!(kind, ErrorKind::NotMaar);

            // Raw protocol: garbage, a blank line, then a valid request on the same connection.
            let mut raw = StdUnixStream::connect(&client_path).expect("connect");
            raw.write_all(b"not json\n\n{\"request\":\"list_bindings\"}\n")
                .expect("write");
            let mut reader = BufReader::new(raw);
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            let response: Response = serde_json::from_str(&line).expect("json");
            assert!(matches!(
                response,
                Response::Error {
                    kind: ErrorKind::BadRequest,
                    ..
                }
            ));
            line.clear();
            reader.read_line(&mut line).expect("read");
            assert!(line.starts_with("{\"response\":\"bindings\""), "{line}");
        })
        .await
        .expect("client");

        stop.send(()).expect("stop");
        serving.await.expect("server task");
        assert!(table.lock().await.datapath().packet_debug);
        assert!(!path.exists(), "socket removed at shutdown");
        let err = Client::new(&path).list_bindings().expect_err("no daemon");
        assert!(matches!(err, ClientError::NotRunning { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "cannot reach the anchor daemon at {}: is `anchor run` running?",
                path.display()
            )
        );
    }

    #[tokio::test]
    async fn replaces_a_stale_socket_but_not_a_file() {
        let dir = TempDir::new("stale");
        std::fs::create_dir_all(&dir.0).expect("dir");
        let path = dir.0.join("anchor.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("stale"));
        assert!(path.exists());
        let server = ApiServer::bind(&path).expect("replaces the stale socket");
        drop(server);
        assert!(!path.exists());

        std::fs::write(&path, b"precious").expect("file");
        assert!(matches!(
            ApiServer::bind(&path),
            Err(ApiError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read(&path).expect("kept"), b"precious");
    }

    #[tokio::test]
    async fn oversized_request_is_refused() {
        let dir = TempDir::new("big");
        let path = dir.0.join("anchor.sock");
        let table = fake_table(Vec::new());
        let server = ApiServer::bind(&path).expect("bind");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(table, async {
            let _ = stopped.await;
        }));
        let client_path = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut raw = StdUnixStream::connect(&client_path).expect("connect");
            let big = vec![b'x'; usize::try_from(MAX_REQUEST_LEN).expect("size") + 10];
            // The server may close before everything is written.
            let _ = raw.write_all(&big);
            let mut line = String::new();
            BufReader::new(raw).read_line(&mut line).expect("read");
            assert!(line.contains("bad_request"), "{line}");
        })
        .await
        .expect("client");
        stop.send(()).expect("stop");
        serving.await.expect("server task");
    }
}
