//! `anchor`: the command line. The daemons (`anchor run`, `anchor cmd`) start in [`daemon`];
//! the other commands are clients of the running daemon's API socket.

use std::{path::Path, process::ExitCode};

use anchor_user::{
    api::Client,
    check_config::check_file,
    cli::{
        BindingCommand, Cli, CmdCommand, Command, DebugCommand, MnCommand, SOCKET_ENV, SocketArg,
        one_line_error,
    },
    cmd_status::CmdStatus,
    output,
};
use clap::Parser as _;

mod daemon;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            return if let Some(line) = one_line_error(&error) {
                eprintln!("anchor: {line}");
                ExitCode::from(2)
            } else {
                let _ = error.print();
                ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
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
    if let Some(command) = cli.socket_without_client() {
        anyhow::bail!("--socket is for the client commands, not `anchor {command}`");
    }
    let before = cli.socket.as_deref();
    match cli.command {
        Command::Run {
            config,
            detach_on_exit,
        } => daemon::run(&config, detach_on_exit),
        Command::Cmd {
            command: Some(CmdCommand::Status { config, json }),
            ..
        } => {
            let status = CmdStatus::read(&config)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", output::cmd_status_tables(&status));
            }
            Ok(())
        }
        Command::Cmd {
            config: Some(config),
            command: None,
        } => daemon::cmd(&config),
        Command::Cmd { .. } => {
            anyhow::bail!("anchor cmd needs --config FILE (or: anchor cmd status --config FILE)")
        }
        Command::Client { config } => daemon::client(&config),
        Command::Binding { command } => binding(command, before),
        Command::Mn { command } => {
            let prefix = match command {
                MnCommand::Attach { mn_id, dev, socket } => {
                    client(&socket, before).mn_attach(&mn_id, &dev)?
                }
                MnCommand::Detach { mn_id, socket } => client(&socket, before).mn_detach(&mn_id)?,
                MnCommand::List(args) => {
                    let list = client(&args.socket, before).mn_list()?;
                    return show(&list, args.json, output::mn_tables);
                }
            };
            println!("{prefix}");
            Ok(())
        }
        Command::Stats(args) => {
            let report = client(&args.socket, before).stats()?;
            show(&report, args.json, output::stats_tables)
        }
        Command::CheckConfig { file } => check_config(&file),
        Command::Debug {
            command: DebugCommand::Packets { state, socket },
        } => Ok(client(&socket, before).debug_packets(state.is_on())?),
    }
}

/// Prints "ok", or every error (one a line on stderr) and fails.
fn check_config(file: &Path) -> anyhow::Result<()> {
    let errors = check_file(file)?;
    if errors.is_empty() {
        println!("ok");
        return Ok(());
    }
    for error in &errors {
        eprintln!("anchor: {error}");
    }
    anyhow::bail!("{} error(s) in {}", errors.len(), file.display())
}

/// The client of the socket `socket` resolves to, given the `--socket` before the subcommand.
fn client(socket: &SocketArg, before: Option<&Path>) -> Client {
    Client::new(socket.resolve(before, std::env::var_os(SOCKET_ENV)))
}

fn binding(command: BindingCommand, before: Option<&Path>) -> anyhow::Result<()> {
    match command {
        BindingCommand::Add(args) => {
            let request = args.to_request()?;
            client(&args.socket, before).add_binding(&request)?;
        }
        BindingCommand::Del { prefix, socket } => {
            let prefix = anchor_user::prefix::parse_binding_prefix(&prefix)?;
            client(&socket, before).del_binding(&prefix.to_string())?;
        }
        BindingCommand::List(args) => {
            let bindings = client(&args.socket, before).list_bindings()?;
            show(&bindings, args.json, |b| output::bindings_table(b))?;
        }
    }
    Ok(())
}

/// Prints `value` as one line of JSON, or as the text `table` makes of it.
fn show<T: serde::Serialize + ?Sized>(
    value: &T,
    json: bool,
    table: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        print!("{}", table(value));
    }
    Ok(())
}
