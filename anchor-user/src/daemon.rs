//! The daemons behind `anchor run` and `anchor cmd`: start-up in the order that fails before
//! touching anything (the API socket, the metrics address, the MAAR's IPsec check), then the
//! wiring of the roles to the data plane. `anchor run` loads or adopts the XDP program, adopts
//! the binding table, starts the next-hop resolver, the MAAR role (`anchor-maar`, through
//! [`MaarRouter`]), the metrics and the API, and tears them down in reverse at shutdown.
//! `anchor cmd` is the CMD role (`anchor-cmd`) alone. A module of the binary: `main.rs` keeps
//! the command-line dispatch.

use std::{path::Path, sync::Arc};

use anchor_common::IfaceRole;
use anchor_pmip::error_chain;
use anchor_user::{
    api::ApiServer,
    binding_table::BindingTable,
    config::Config,
    datapath::{Datapath, InterfaceSpec, LogLevel, PinDir, forward_kernel_logs},
    first_frame, logging,
    maar_router::MaarRouter,
    metrics::{Capacity, Exporter, MapsScrape, MetricsListener, SignalingScrape},
    routing::{NetlinkRoutes, NextHopResolver},
};
use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::Mutex,
};

/// `anchor client --config FILE`: the mobile node's side of client-based DMM until SIGINT or
/// SIGTERM; its programs are detached at the exit.
pub fn client(config_path: &Path) -> anyhow::Result<()> {
    let config = anchor_user::client_node::service::load_config(config_path)?;
    logging::init(LogLevel::Info, config.log_format)?;
    runtime()?.block_on(async {
        let shutdown = termination()?;
        anchor_user::client_node::service::serve(&config, shutdown).await
    })
}

/// `anchor cmd`: the central mobility database, until SIGINT or SIGTERM.
pub fn cmd(config_path: &Path) -> anyhow::Result<()> {
    let config = anchor_cmd::Config::from_file(config_path)?;
    logging::init(LogLevel::Info, config.log_format)?;
    runtime()?.block_on(async {
        let shutdown = termination()?;
        // Before anything else: a busy metrics address stops the CMD here.
        let metrics = config
            .metrics_listen
            .map(MetricsListener::bind)
            .transpose()?;
        let cmd = anchor_cmd::daemon::start(config)?;
        let metrics = match metrics {
            Some(listener) => {
                let addr = listener.local_addr();
                let signaling = cmd.metrics();
                let read = Box::new(move || signaling.borrow().clone());
                let task = tokio::spawn(listener.serve(SignalingScrape(read))?);
                tracing::info!("serving metrics on http://{addr}/metrics");
                Some(task)
            }
            None => None,
        };
        let served = cmd.serve(shutdown).await;
        if let Some(task) = metrics {
            task.abort();
        }
        served?;
        Ok(())
    })
}

/// The single-threaded runtime of `anchor cmd` and `anchor client`.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Completes at the first SIGINT or SIGTERM (the handlers are in place when it returns; call it
/// inside the runtime).
fn termination() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = sigint.recv() => tracing::info!("SIGINT: shutting down"),
            _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    })
}

/// `anchor run`: loads and attaches the program, then serves the API, the metrics and the MAAR
/// role until SIGINT or SIGTERM.
pub fn run(config_path: &Path, detach_on_exit: bool) -> anyhow::Result<()> {
    let config = Config::from_file(config_path)?;
    logging::init(config.log_level, config.log_format)?;
    // Fail before touching any interface when another daemon serves this socket.
    ApiServer::check_not_running(&config.api_socket)?;
    raise_memlock_limit();
    // Also before any interface: a busy metrics address stops the daemon here.
    let metrics = config
        .metrics_listen
        .map(MetricsListener::bind)
        .transpose()?;
    // And the signaling's protection: a MAAR without IPsec ESP stops here.
    if let Some(maar) = &config.maar {
        anchor_maar::check_security(maar, config.locator)?;
    }

    // The program's logging is loaded but silent until `anchor debug packets on`. The pinned
    // state of an earlier run is taken over; on error, what this run attached is detached.
    let pins = PinDir::open(&config.bpffs, &config.instance)?;
    let interfaces = interface_specs(&config);
    let datapath = Datapath::start(&config.datapath_params(), &pins, &interfaces)?;
    for iface in datapath.interfaces() {
        tracing::info!("attached to {} ({})", iface.name, iface.mode);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(&config, datapath, metrics, detach_on_exit));
    // Connection tasks may still hold the table: dropping the runtime drops them, and with the
    // last reference the datapath. Its links are pinned: the program keeps running.
    drop(runtime);
    if detach_on_exit {
        let dir = pins.path().display().to_string();
        // Unpinning the links detaches the program; unpinning the maps frees them.
        pins.remove()
            .with_context(|| format!("cannot remove the pinned state in {dir}"))?;
        if result.is_ok() {
            tracing::info!("detached and removed the pinned state; exiting");
        }
    } else if result.is_ok() {
        tracing::info!(
            "the program stays attached, its state pinned in {}; exiting",
            pins.path().display()
        );
    }
    result
}

fn interface_specs(config: &Config) -> Vec<InterfaceSpec> {
    config
        .interfaces
        .iter()
        .map(|iface| InterfaceSpec {
            name: iface.name.clone(),
            role: iface.role,
            mode: iface.xdp_mode,
            source_validation: iface.source_validation,
        })
        .collect()
}

/// With `[maar] attach_on_first_frame`, the program's reports on the access interfaces,
/// forwarded to the channel returned, until the MAAR drops it.
fn first_frames(
    config: &Config,
    datapath: &mut Datapath,
    access: &[(String, u32)],
) -> anyhow::Result<Option<tokio::sync::mpsc::Receiver<anchor_maar::FirstFrame>>> {
    if !config
        .maar
        .as_ref()
        .is_some_and(|m| m.attach_on_first_frame)
    {
        return Ok(None);
    }
    let specs = interface_specs(config);
    let entries: Vec<_> = access
        .iter()
        .filter_map(|(name, ifindex)| {
            let spec = specs.iter().find(|s| s.name == *name)?;
            Some((name.clone(), *ifindex, spec.iface_value()))
        })
        .collect();
    let watched = first_frame::enable(datapath, &entries)?;
    let (tx, rx) = tokio::sync::mpsc::channel(first_frame::QUEUE);
    first_frame::forward(watched, access.to_vec(), tx);
    tracing::info!("attaching nodes on their first frame on the access interfaces");
    Ok(Some(rx))
}

async fn serve(
    config: &Config,
    mut datapath: Datapath,
    metrics: Option<MetricsListener>,
    detach_on_exit: bool,
) -> anyhow::Result<()> {
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    // Off at every start, also when an earlier run left it on in a pinned map.
    datapath.set_packet_debug(false)?;
    accept_cn_anchors(config, &mut datapath)?;
    let kernel_log = datapath.take_kernel_logger().map(|logger| {
        tokio::spawn(async move {
            if let Err(error) = forward_kernel_logs(logger).await {
                tracing::warn!("stopped forwarding the XDP program's log: {error}");
            }
        })
    });

    let access: Vec<(String, u32)> = datapath
        .interfaces()
        .filter(|iface| iface.role == IfaceRole::Access)
        .map(|iface| (iface.name.clone(), iface.ifindex))
        .collect();
    // The next hops toward the peers, kept from rtnetlink events: encapsulated packets skip
    // the FIB lookup while their peer's entry is valid.
    // One router identity on every access link: before any binding reads an interface's MAC
    // and before the MAAR opens its Router Advertisement sockets.
    if let Some(identity) = config
        .maar
        .as_ref()
        .map(anchor_maar::MaarConfig::access_identity)
        .transpose()?
        .flatten()
    {
        anchor_user::routing::identity::apply(&access, identity).await?;
    }
    let first_frames = first_frames(config, &mut datapath, &access)?;
    let next_hops = NextHopResolver::new(datapath.next_hop_cache()?)?;
    let (next_hops_stop, next_hops_stopped) = tokio::sync::oneshot::channel::<()>();
    let next_hops = tokio::spawn(next_hops.run(async move {
        let _ = next_hops_stopped.await;
    }));
    let table = adopt_bindings(config, datapath, access.clone()).await?;
    let table = Arc::new(Mutex::new(table));

    // The MAAR role: the XFRM check and the socket before the API answers.
    let maar = match &config.maar {
        Some(maar_config) => {
            let names = access.iter().map(|(name, _)| name.clone()).collect();
            let (maar, handle) = anchor_maar::service::start(maar_config, config.locator, names)?;
            // The nodes and prefixes of an earlier run, re-registered as serving starts.
            let mut maar = maar.restore_state(&maar_config.state_file(&config.instance))?;
            if let Some(frames) = first_frames {
                maar = maar.attach_on_first_frames(frames);
            }
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(maar.serve(
                MaarRouter::new(Arc::clone(&table), NetlinkRoutes::new()?),
                access.iter().cloned().collect(),
                detach_on_exit,
                async move {
                    let _ = stopped.await;
                },
            ));
            Some((handle, stop, task))
        }
        None => None,
    };

    let signaling = maar.as_ref().map(|(handle, _, _)| handle.clone());
    let metrics = metrics
        .map(|listener| serve_metrics(config, listener, &table, signaling))
        .transpose()?;

    let mut server = ApiServer::bind(&config.api_socket)?;
    if let Some((handle, _, _)) = &maar {
        server = server.with_maar(handle.clone());
    }
    tracing::info!("listening on {}", server.path().display());
    let shutdown = async move {
        tokio::select! {
            _ = sigint.recv() => tracing::info!("SIGINT: shutting down"),
            _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    };
    server.serve(Arc::clone(&table), shutdown).await;
    if let Some((handle, stop, task)) = maar {
        drop(handle);
        let _ = stop.send(());
        if let Err(error) = task.await {
            tracing::error!("the MAAR task failed: {error}");
        }
    }

    // The routes go with the program: they stay unless it is detached.
    let errors = if detach_on_exit {
        table.lock().await.remove_routes().await
    } else {
        Vec::new()
    };
    let failed = errors.len();
    for error in errors {
        tracing::error!("{}", error_chain(&error));
    }
    // Entries nobody keeps up to date are marked invalid: a program left running asks the FIB.
    let _ = next_hops_stop.send(());
    if let Err(error) = next_hops.await {
        tracing::error!("the next-hop resolver failed: {error}");
    }
    if let Some(task) = kernel_log {
        task.abort();
    }
    if let Some(task) = metrics {
        task.abort();
    }
    anyhow::ensure!(failed == 0, "{failed} route(s) could not be removed");
    Ok(())
}

/// The binding table over `datapath`, holding the bindings of an earlier run: they are in the
/// pinned maps, their `--dev` routes in the kernel.
async fn adopt_bindings(
    config: &Config,
    datapath: Datapath,
    access: Vec<(String, u32)>,
) -> anyhow::Result<BindingTable<Datapath, NetlinkRoutes>> {
    // The visiting bindings' routes, never announced (the MAAR's own go through its router).
    let routes = NetlinkRoutes::visiting()?;
    // The bindings of an earlier run are in the pinned maps, their `--dev` routes in the kernel.
    let pinned = datapath.bindings()?;
    let dev_routes = routes.dev_routes().await?;
    // The visiting nodes' MACs, from their bindings' L2 next hops.
    let l2_macs: Vec<_> = datapath
        .visiting_l2()?
        .into_iter()
        .map(|(prefix, entry)| (prefix, entry.dmac))
        .collect();
    let table = BindingTable::adopt(
        datapath,
        routes,
        config.locator,
        config.max_bindings,
        access,
        pinned,
        &dev_routes,
        &l2_macs,
    )?;
    if !table.is_empty() {
        tracing::info!("adopted {} pinned binding(s)", table.len());
    }
    Ok(table)
}

/// The anchors near correspondents whose tunnels are accepted: the configuration's, also when an
/// earlier run pinned others.
fn accept_cn_anchors(config: &Config, datapath: &mut Datapath) -> anyhow::Result<()> {
    let cn_anchors = config
        .maar
        .as_ref()
        .map(|m| m.correspondent_anchors.clone())
        .unwrap_or_default();
    datapath.set_cn_anchors(&cn_anchors)?;
    if !cn_anchors.is_empty() {
        tracing::info!(
            "accepting tunnels to visiting prefixes from the anchors near correspondents {}",
            cn_anchors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Serves the metrics of `table`, and of the MAAR role behind `maar`, on `listener`, in a task
/// of its own.
fn serve_metrics(
    config: &Config,
    listener: MetricsListener,
    table: &Arc<Mutex<BindingTable<Datapath, NetlinkRoutes>>>,
    maar: Option<anchor_maar::MaarHandle>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let addr = listener.local_addr();
    let mut exporter = Exporter::new(
        Capacity::new(
            config.max_bindings,
            anchor_user::datapath::DenseLayout::new(&config.datapath_params().dense_pools),
        ),
        config.metrics_binding_labels_max,
    );
    if let Some(handle) = maar {
        exporter = exporter.with_signaling(Box::new(move || handle.metrics()));
    }
    let task = tokio::spawn(listener.serve(MapsScrape {
        source: Arc::clone(table),
        exporter,
    })?);
    tracing::info!("serving metrics on http://{addr}/metrics");
    Ok(task)
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones ignore it.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `unlimited` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const unlimited) } != 0 {
        tracing::debug!(
            "cannot raise RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
}
