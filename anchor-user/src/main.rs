//! `anchor`: the daemon (`anchor run`) and its client commands.

use std::{io::Write as _, path::Path, process::ExitCode, sync::Arc};

use anchor_common::IfaceRole;
use anchor_user::{
    api::{ApiServer, Client, error_chain},
    cli::{BindingCommand, Cli, Command, one_line_error},
    config::Config,
    datapath::{Datapath, LogLevel, forward_kernel_logs},
    output,
    routes::NetlinkRoutes,
    state::BindingTable,
};
use anyhow::Context as _;
use clap::Parser as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::Mutex,
};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            return match one_line_error(&error) {
                Some(line) => {
                    eprintln!("anchor: {line}");
                    ExitCode::from(2)
                }
                None => {
                    let _ = error.print();
                    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
                }
            };
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("anchor: {}", format!("{error:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { config } => run(&config),
        Command::Binding { command } => binding(command),
        Command::Stats { json, socket } => {
            let report = Client::new(socket.socket).stats()?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", output::stats_tables(&report));
            }
            Ok(())
        }
    }
}

fn binding(command: BindingCommand) -> anyhow::Result<()> {
    match command {
        BindingCommand::Add(args) => {
            let request = args.to_request()?;
            Client::new(&args.socket.socket).add_binding(&request)?;
        }
        BindingCommand::Del { prefix, socket } => {
            let prefix = anchor_user::prefix::parse_binding_prefix(&prefix)?;
            Client::new(socket.socket).del_binding(&prefix.to_string())?;
        }
        BindingCommand::List { json, socket } => {
            let bindings = Client::new(socket.socket).list_bindings()?;
            if json {
                println!("{}", serde_json::to_string(&bindings)?);
            } else {
                print!("{}", output::bindings_table(&bindings));
            }
        }
    }
    Ok(())
}

/// Logs to stderr as `anchor: message` (RUST_LOG, default info). The XDP program's own records
/// (target `anchor`, the eBPF crate's binary) are shown down to the configured `log_level`.
fn init_logging(kernel_level: LogLevel) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(log::LevelFilter::Info);
    if kernel_level.level_filter() > log::LevelFilter::Info {
        builder.filter_module("anchor", kernel_level.level_filter());
    }
    builder
        .parse_env("RUST_LOG")
        .format(|buf, record| {
            let level = match record.level() {
                log::Level::Info => String::new(),
                log::Level::Warn => "warning: ".to_owned(),
                log::Level::Error => "error: ".to_owned(),
                level => format!("{}: {}: ", level.as_str().to_lowercase(), record.target()),
            };
            writeln!(buf, "anchor: {level}{}", record.args())
        })
        .init();
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones ignore it.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `unlimited` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        log::debug!(
            "cannot raise RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::from_file(config_path)?;
    init_logging(config.log_level);
    // Fail before touching any interface when another daemon serves this socket.
    ApiServer::check_not_running(&config.api_socket)?;
    raise_memlock_limit();

    let mut datapath = Datapath::load_with_log_level(&config.datapath_params(), config.log_level)?;
    for iface in &config.interfaces {
        // On error, dropping `datapath` detaches the interfaces attached so far.
        datapath.attach(&iface.name, iface.role, iface.xdp_mode)?;
        log::info!("attached to {} ({})", iface.name, iface.xdp_mode);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(&config, datapath));
    // Connection tasks may still hold the table: dropping the runtime drops them, and with the
    // last reference the datapath, which detaches the program.
    drop(runtime);
    if result.is_ok() {
        log::info!("detached; exiting");
    }
    result
}

async fn serve(config: &Config, mut datapath: Datapath) -> anyhow::Result<()> {
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let kernel_log = datapath.take_kernel_logger().map(|logger| {
        tokio::spawn(async move {
            if let Err(error) = forward_kernel_logs(logger).await {
                log::warn!("stopped forwarding the XDP program's log: {error}");
            }
        })
    });

    let access: Vec<(String, u32)> = datapath
        .interfaces()
        .filter(|iface| iface.role == IfaceRole::Access)
        .map(|iface| (iface.name.clone(), iface.ifindex))
        .collect();
    let routes = NetlinkRoutes::new()?;
    let table = Arc::new(Mutex::new(BindingTable::new(
        datapath,
        routes,
        config.locator,
        config.max_bindings,
        access,
    )));

    let server = ApiServer::bind(&config.api_socket)?;
    log::info!("listening on {}", server.path().display());
    let shutdown = async move {
        tokio::select! {
            _ = sigint.recv() => log::info!("SIGINT: shutting down"),
            _ = sigterm.recv() => log::info!("SIGTERM: shutting down"),
        }
    };
    server.serve(Arc::clone(&table), shutdown).await;

    let errors = table.lock().await.remove_routes().await;
    let failed = errors.len();
    for error in errors {
        log::error!("{}", error_chain(&error));
    }
    if let Some(task) = kernel_log {
        task.abort();
    }
    anyhow::ensure!(failed == 0, "{failed} route(s) could not be removed");
    Ok(())
}
