//! Section 4: control-plane rates. Binding installs through the daemon's API (its server,
//! binding table and datapath, in this process; the client is the CLI's), and batched at the
//! datapath with BPF_MAP_UPDATE_BATCH; the PBU-to-map-update latency of the MAAR role
//! ([`crate::signalling`]).

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::Ipv6Addr,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use anchor_common::config::DEFAULT_MAX_BINDINGS;
use anchor_user::{
    api::{ApiServer, Client, Request, Response},
    binding_table::BindingTable,
    datapath::{Datapath, DatapathParams},
    routing::NetlinkRoutes,
};
use anyhow::{Context as _, Result, bail};
use tokio::sync::{Mutex, oneshot};

use crate::{
    bindings::{address, random_prefixes},
    cost::BatchInstall,
    report::{Bound, Report, Row},
    signalling,
};

const SECTION: &str = "4. control plane";
const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
const SERVING: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);

/// A private directory for the API socket, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("anc-bn{}-api", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon's API server on its own thread, stopped on drop.
struct Server {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Server {
    fn start(socket: &Path) -> Result<Self> {
        let socket = socket.to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(async move {
                let setup = async {
                    let datapath = Datapath::load(&DatapathParams {
                        locator: LOCATOR,
                        tunnel_mtu: 1500,
                        outer_hop_limit: 64,
                        max_bindings: DEFAULT_MAX_BINDINGS,
                        dense_pools: Vec::new(),
                        log: false,
                    })?;
                    let routes = NetlinkRoutes::new()?;
                    let table = Arc::new(Mutex::new(BindingTable::new(
                        datapath,
                        routes,
                        LOCATOR,
                        DEFAULT_MAX_BINDINGS,
                        Vec::new(),
                    )));
                    let server = ApiServer::bind(&socket)?;
                    anyhow::Ok((server, table))
                };
                match setup.await {
                    Ok((server, table)) => {
                        let _ = ready_tx.send(Ok(()));
                        server
                            .serve(table, async {
                                let _ = shutdown_rx.await;
                            })
                            .await;
                        Ok(())
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!("{error:#}")));
                        Err(error)
                    }
                }
            })
        });
        ready_rx
            .recv()
            .context("the API server thread ended before it was ready")?
            .context("cannot start the API server")?;
        Ok(Self {
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => eprintln!("bench: API server: {error:#}"),
                Err(_) => eprintln!("bench: the API server thread panicked"),
            }
        }
    }
}

fn add_request(prefix: String) -> Request {
    Request::AddBinding {
        prefix,
        serving: Some(SERVING),
        home: None,
        reverse_tunnel: false,
        dev: None,
        mac: None,
    }
}

/// Installs one binding per request, each on a new connection (what `anchor binding add` does).
fn one_per_connection(socket: &Path, prefixes: &[String]) -> Result<f64> {
    let client = Client::new(socket);
    let start = Instant::now();
    for prefix in prefixes {
        client
            .add_binding(&add_request(prefix.clone()))
            .with_context(|| format!("binding add {prefix}"))?;
    }
    Ok(prefixes.len() as f64 / start.elapsed().as_secs_f64())
}

/// Installs bindings with all requests written back to back on one connection while the
/// responses are read.
fn pipelined(socket: &Path, prefixes: &[String]) -> Result<f64> {
    let stream = UnixStream::connect(socket)
        .with_context(|| format!("cannot connect to {}", socket.display()))?;
    let mut writer = stream
        .try_clone()
        .context("cannot clone the API connection")?;
    let mut lines = Vec::new();
    for prefix in prefixes {
        serde_json::to_writer(&mut lines, &add_request(prefix.clone()))
            .context("cannot encode a request")?;
        lines.push(b'\n');
    }
    let start = Instant::now();
    let sender = std::thread::spawn(move || writer.write_all(&lines));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    for prefix in prefixes {
        line.clear();
        reader
            .read_line(&mut line)
            .context("cannot read an API response")?;
        match serde_json::from_str::<Response>(&line) {
            Ok(Response::Ok) => {}
            _ => bail!("binding add {prefix}: unexpected response {}", line.trim()),
        }
    }
    let rate = prefixes.len() as f64 / start.elapsed().as_secs_f64();
    match sender.join() {
        Ok(result) => result.context("cannot send the requests")?,
        Err(_) => bail!("the request writer panicked"),
    }
    Ok(rate)
}

pub fn run(report: &mut Report, quick: bool, batched: Option<&BatchInstall>) -> Result<()> {
    let (single, piped) = if quick {
        (100, 1_000)
    } else {
        (5_000, 100_000)
    };
    report.method(
        "api",
        "the daemon's API server, binding table and datapath (max_bindings = 1048576, \
         not attached) in this process, the CLI's client in another thread; /64 redirect \
         bindings, each a map entry and a zeroed statistics slot; installs / wall time",
    );
    report.method(
        "batch",
        "BPF_MAP_UPDATE_BATCH (chunks of 65536) of the statistics slots and the binding \
         entries straight into the program's maps, while filling the 1M-binding map of \
         section 2; installs / wall time of the two updates",
    );
    let dir = TempDir::create()?;
    let socket = dir.0.join("api.sock");
    let prefixes: Vec<String> = random_prefixes(single + piped)
        .iter()
        .map(|k| format!("{}/64", address(*k, 0)))
        .collect();
    let (first, rest) = prefixes.split_at(single);
    let (single_rate, piped_rate) = {
        let _server = Server::start(&socket)?;
        (
            one_per_connection(&socket, first)?,
            pipelined(&socket, rest)?,
        )
    };
    report.push(
        Row::new(
            SECTION,
            format!("installs via the API, one connection each ({single})"),
            single_rate,
            "/s",
        )
        .method("api"),
    );
    report.push(
        Row::new(
            SECTION,
            format!("installs via the API, pipelined on one connection ({piped})"),
            piped_rate,
            "/s",
        )
        .method("api")
        .against("one connection each", single_rate),
    );
    if let Some(batched) = batched {
        report.push(
            Row::new(
                SECTION,
                format!("installs batched at the datapath ({})", batched.bindings),
                batched.bindings as f64 / batched.seconds,
                "/s",
            )
            .method("batch")
            .target(Bound::AtLeast, 500_000.0, quick),
        );
    }
    signalling_latency(report, quick)
}

/// The PBU-to-map-update and PBU-to-PBA latencies of the MAAR role.
fn signalling_latency(report: &mut Report, quick: bool) -> Result<()> {
    report.method(
        "pbu",
        "the MAAR role of `anchor run` (service, engine, binding table, datapath) on a thread \
         of its own in a namespace, the CMD played on a raw Mobility Header socket: per node, \
         the time from sending the PBU with a Serving MAAR option to the prefix's entry being \
         found in the BPF binding map by BPF_MAP_LOOKUP_ELEM polling; nearest-rank quantiles",
    );
    let nodes = if quick { 20 } else { 1_000 };
    let measured = signalling::measure(nodes)?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let (map, ack) = (&measured.map, &measured.acknowledged);
    report.push(
        Row::new(
            SECTION,
            format!("PBU-to-map-update latency p50 ({} updates)", map.len()),
            ms(map.quantile(0.50)),
            "ms",
        )
        .method("pbu"),
    );
    report.push(
        Row::new(
            SECTION,
            format!("PBU-to-map-update latency p99 ({} updates)", map.len()),
            ms(map.quantile(0.99)),
            "ms",
        )
        .method("pbu")
        .target(Bound::AtMost, 5.0, quick),
    );
    for (q, name) in [(0.50, "p50"), (0.99, "p99")] {
        report.push(
            Row::new(
                SECTION,
                format!("PBU-to-PBA latency {name} ({} updates)", ack.len()),
                ms(ack.quantile(q)),
                "ms",
            )
            .method("pbu")
            .against(
                format!("PBU-to-map-update latency {name}"),
                ms(map.quantile(q)),
            )
            .note("the acknowledgement leaves after the map update and the fsync'ed state file"),
        );
    }
    Ok(())
}
