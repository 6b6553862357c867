use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::Ipv6Addr,
    os::unix::net::UnixStream as StdUnixStream,
    sync::Arc,
};

use tokio::sync::{Mutex, oneshot};

use super::*;
use crate::{
    api::{BindingKindName, Client, ClientError, Response},
    binding_table::BindingTable,
    testing::{FakeDatapath, FakeRoutes},
};

const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("anchor-api-{name}-{}", std::process::id()));
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
fn fake_table(access: Vec<(String, u32)>) -> Arc<Mutex<BindingTable<FakeDatapath, FakeRoutes>>> {
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

/// Raw protocol: garbage, a blank line, then a valid request on the same connection.
fn raw_protocol_survives_garbage(path: &Path) {
    let mut raw = StdUnixStream::connect(path).expect("connect");
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
        let kind =
            daemon_error(client.add_binding(&add("2001:db8:3::/64", Some("2001:db8:ff::2"), None)));
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

        raw_protocol_survives_garbage(&client_path);
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
