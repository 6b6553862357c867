//! The command line.

use std::{
    ffi::OsString,
    net::Ipv6Addr,
    path::{Path, PathBuf},
};

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::{
    api::Request,
    config::DEFAULT_API_SOCKET,
    prefix::{PrefixError, parse_binding_prefix},
};

#[derive(Debug, Parser)]
#[command(name = "anchor", version, about = "Per-/64 mobility anchor on XDP")]
pub struct Cli {
    /// The daemon's control socket, for the client commands (binding, stats, mn, debug); one
    /// given after the subcommand wins. Default: $ANCHOR_SOCKET, else /run/anchor/anchor.sock.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The environment variable that names the control socket when no `--socket` does.
pub const SOCKET_ENV: &str = "ANCHOR_SOCKET";

impl Cli {
    /// The command, when it is a daemon's or `check-config` and a `--socket` came before it:
    /// such a command has no use for it (`run` takes its socket from its configuration).
    pub fn socket_without_client(&self) -> Option<&'static str> {
        self.socket.as_ref()?;
        match self.command {
            Command::Run { .. } => Some("run"),
            Command::Cmd { .. } => Some("cmd"),
            Command::CheckConfig { .. } => Some("check-config"),
            Command::Client { .. } => Some("client"),
            Command::Mn { .. }
            | Command::Binding { .. }
            | Command::Stats(_)
            | Command::Debug { .. } => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the XDP program, attach it to the configured interfaces (taking over the pinned
    /// state of an earlier run) and serve the control API until SIGINT or SIGTERM.
    Run {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// On SIGINT or SIGTERM, detach the program, remove the routes and the pinned state
        /// (the bindings are lost). Without it the program keeps forwarding after the exit
        /// and the next `anchor run` takes over.
        #[arg(long)]
        detach_on_exit: bool,
    },
    /// Run the central mobility database (CMD) of RFC 8885: answer the MAARs' Proxy Binding
    /// Updates and tell previous MAARs where each mobile node is served now. `anchor cmd status`
    /// shows what it holds.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Cmd {
        /// The CMD's TOML configuration file.
        #[arg(long, value_name = "FILE", required = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<CmdCommand>,
    },
    /// Mobile nodes at this MAAR (needs the `[maar]` section): attach one (delegate a prefix,
    /// register it with the CMD), detach it, or list what the MAAR holds.
    Mn {
        #[command(subcommand)]
        command: MnCommand,
    },
    /// Run on a mobile node (client-based DMM, RFC 8818 section 3.1.2): after each move, tell
    /// the anchors of earlier prefixes still in use where the node is now, and tunnel those
    /// prefixes' traffic to and from them.
    Client {
        /// The client's TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Add, remove or list bindings.
    Binding {
        #[command(subcommand)]
        command: BindingCommand,
    },
    /// Show the global counters and the per-binding counters.
    Stats(OutputArgs),
    /// Check a configuration file: print every error with its line, or "ok".
    CheckConfig {
        /// The TOML configuration file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Troubleshooting switches of the running daemon.
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Log what the XDP program drops (its aya-log records) in the daemon's log, or stop.
    Packets {
        #[arg(value_enum)]
        state: Switch,
        #[command(flatten)]
        socket: SocketArg,
    },
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Self::On
    }
}

#[derive(Debug, Subcommand)]
pub enum CmdCommand {
    /// The CMD's nodes (serving MAAR, prefixes and their anchors, expiry) and its updates
    /// outstanding to MAARs, read from its store (written at every change; also while the CMD
    /// is stopped).
    Status {
        /// The CMD's TOML configuration file (its `store`).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// What a showing command prints, and where it asks.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

#[derive(Debug, Args)]
pub struct SocketArg {
    /// The daemon's control socket. Default: the --socket before the subcommand, else
    /// $ANCHOR_SOCKET, else /run/anchor/anchor.sock.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

impl SocketArg {
    /// The socket to ask: this `--socket`, else the one before the subcommand, else `env`
    /// (the value of [`SOCKET_ENV`]), else [`DEFAULT_API_SOCKET`].
    pub fn resolve(&self, before: Option<&Path>, env: Option<OsString>) -> PathBuf {
        self.socket
            .clone()
            .or_else(|| before.map(Path::to_owned))
            .or_else(|| env.filter(|value| !value.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_API_SOCKET))
    }
}

#[derive(Debug, Subcommand)]
pub enum MnCommand {
    /// A mobile node attached on an access interface: prints the prefix delegated to it.
    Attach {
        /// The node's MAC address (its EUI-48 MN-ID), e.g. 02:00:00:00:00:01.
        #[arg(long, value_name = "MAC")]
        mn_id: String,
        /// The access interface it attached on.
        #[arg(long, value_name = "IFACE")]
        dev: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// A mobile node left: de-register it and release its prefix.
    Detach {
        /// The node's MAC address.
        #[arg(long, value_name = "MAC")]
        mn_id: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// The nodes served here (MN-ID, interface, prefix, policy, phase, visiting prefixes) and
    /// the prefixes anchored here for nodes served elsewhere (serving MAAR, policy, idle time).
    List(OutputArgs),
}

#[derive(Debug, Subcommand)]
pub enum BindingCommand {
    /// Add a binding: `--serving ADDR` redirects the prefix to the router now serving its
    /// mobile node; `--home ADDR` accepts a visiting prefix anchored at ADDR.
    Add(AddArgs),
    /// Remove the binding for PREFIX.
    Del {
        /// The binding's prefix (/64 or shorter).
        prefix: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// List the bindings.
    List(OutputArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("peer").required(true).args(["serving", "home"])))]
pub struct AddArgs {
    /// The prefix (/64, or shorter for a mobile network prefix).
    pub prefix: String,
    /// Redirect: the locator of the router now serving the mobile node.
    #[arg(long, value_name = "ADDR")]
    pub serving: Option<Ipv6Addr>,
    /// Visiting: the locator of the prefix's home (anchor) router.
    #[arg(long, value_name = "ADDR")]
    pub home: Option<Ipv6Addr>,
    /// Visiting: tunnel the mobile node's uplink traffic back to the home router.
    #[arg(long, requires = "home", conflicts_with = "serving")]
    pub reverse_tunnel: bool,
    /// Visiting: route the prefix to this access interface.
    #[arg(
        long,
        value_name = "IFACE",
        requires = "home",
        conflicts_with = "serving"
    )]
    pub dev: Option<String>,
    /// Visiting, with --dev: the node's MAC address; decapsulated packets go straight to it
    /// (no FIB lookup, no Neighbour Discovery).
    #[arg(
        long,
        value_name = "MAC",
        requires = "dev",
        value_parser = mac_arg
    )]
    pub mac: Option<String>,
    #[command(flatten)]
    pub socket: SocketArg,
}

/// A `--mac` value, checked here and sent as written.
fn mac_arg(text: &str) -> Result<String, String> {
    crate::api::protocol::parse_mac(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

impl AddArgs {
    /// The request, with the prefix checked and normalized here before the daemon sees it.
    pub fn to_request(&self) -> Result<Request, PrefixError> {
        let prefix = parse_binding_prefix(&self.prefix)?;
        Ok(Request::AddBinding {
            prefix: prefix.to_string(),
            serving: self.serving,
            home: self.home,
            reverse_tunnel: self.reverse_tunnel,
            dev: self.dev.clone(),
            mac: self.mac.clone(),
        })
    }
}

/// A clap error as one line (its message without the usage block), or `None` for help and
/// version output, which clap prints as is.
pub fn one_line_error(error: &clap::Error) -> Option<String> {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let rendered = error.render().to_string();
    let message = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let message = message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_owned();
    Some(format!("{message} (see 'anchor --help')"))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, error::ErrorKind};

    use std::path::Path;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("anchor").chain(args.iter().copied()))
    }

    fn kind(args: &[&str]) -> ErrorKind {
        parse(args).expect_err("should fail").kind()
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_needs_config() {
        assert_eq!(kind(&["run"]), ErrorKind::MissingRequiredArgument);
        let cli = parse(&["run", "--config", "/etc/anchor.toml"]).expect("parse");
        assert!(
            matches!(cli.command, Command::Run { config, detach_on_exit: false } if config == Path::new("/etc/anchor.toml"))
        );
        let cli = parse(&["run", "--config", "a.toml", "--detach-on-exit"]).expect("parse");
        assert!(matches!(
            cli.command,
            Command::Run {
                detach_on_exit: true,
                ..
            }
        ));
    }

    #[test]
    fn add_redirect() {
        let cli = parse(&[
            "binding",
            "add",
            "2001:db8:1:1::/64",
            "--serving",
            "2001:db8:ff::2",
            "--socket",
            "/tmp/s",
        ])
        .expect("parse");
        let Command::Binding {
            command: BindingCommand::Add(args),
        } = cli.command
        else {
            panic!("not add")
        };
        assert_eq!(args.socket.socket, Some(PathBuf::from("/tmp/s")));
        assert!(matches!(
            args.to_request(),
            Ok(Request::AddBinding {
                serving: Some(_),
                home: None,
                ..
            })
        ));
    }

    #[test]
    fn add_visiting() {
        let cli = parse(&[
            "binding",
            "add",
            "2001:db8:1:1::/64",
            "--home",
            "2001:db8:ff::1",
            "--reverse-tunnel",
            "--dev",
            "eth1",
        ])
        .expect("parse");
        let Command::Binding {
            command: BindingCommand::Add(args),
        } = cli.command
        else {
            panic!("not add")
        };
        assert!(args.reverse_tunnel);
        assert_eq!(args.dev.as_deref(), Some("eth1"));
    }

    #[test]
    fn serving_and_home_conflict() {
        let args = [
            "binding",
            "add",
            "2001:db8:1:1::/64",
            "--serving",
            "2001:db8::2",
            "--home",
            "2001:db8::1",
        ];
        assert_eq!(kind(&args), ErrorKind::ArgumentConflict);
        let message = one_line_error(&parse(&args).expect_err("conflict")).expect("message");
        assert!(
            message.contains("--serving") && message.contains("--home"),
            "{message}"
        );
        assert!(!message.contains('\n'));
    }

    #[test]
    fn a_peer_is_required() {
        let args = ["binding", "add", "2001:db8:1:1::/64"];
        assert_eq!(kind(&args), ErrorKind::MissingRequiredArgument);
        let message = one_line_error(&parse(&args).expect_err("missing")).expect("message");
        assert!(
            message.contains("--serving") && message.contains("--home"),
            "{message}"
        );
    }

    #[test]
    fn reverse_tunnel_and_dev_need_home() {
        let base = [
            "binding",
            "add",
            "2001:db8:1:1::/64",
            "--serving",
            "2001:db8::2",
        ];
        let with = |extra: &[&'static str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            v
        };
        for extra in [&["--reverse-tunnel"][..], &["--dev", "eth1"]] {
            let err = parse(&with(extra)).expect_err("needs --home");
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
            let message = one_line_error(&err).expect("message");
            assert!(
                message.contains(extra[0]) && message.contains("--serving"),
                "{message}"
            );
        }
    }

    #[test]
    fn bad_address_is_a_parse_error() {
        assert_eq!(
            kind(&[
                "binding",
                "add",
                "2001:db8:1:1::/64",
                "--serving",
                "10.0.0.1"
            ]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn prefix_is_checked_before_sending() {
        for (prefix, long) in [("nonsense", false), ("2001:db8:1:1::/65", true)] {
            let cli =
                parse(&["binding", "add", prefix, "--serving", "2001:db8::2"]).expect("parse");
            let Command::Binding {
                command: BindingCommand::Add(args),
            } = cli.command
            else {
                panic!("not add")
            };
            let err = args.to_request().expect_err("invalid");
            assert_eq!(matches!(err, PrefixError::TooLong { .. }), long);
        }
    }

    #[test]
    fn prefix_is_normalized() {
        let cli = parse(&[
            "binding",
            "add",
            "2001:db8:1:1::7/64",
            "--serving",
            "2001:db8::2",
        ])
        .expect("parse");
        let Command::Binding {
            command: BindingCommand::Add(args),
        } = cli.command
        else {
            panic!("not add")
        };
        let Ok(Request::AddBinding { prefix, .. }) = args.to_request() else {
            panic!("request")
        };
        assert_eq!(prefix, "2001:db8:1:1::/64");
    }

    #[test]
    fn cmd_runs_with_a_config_or_shows_its_status() {
        assert!(matches!(
            parse(&["cmd", "--config", "/etc/anchor/cmd.toml"])
                .expect("parse")
                .command,
            Command::Cmd {
                config: Some(_),
                command: None
            }
        ));
        let Command::Cmd {
            config: None,
            command: Some(CmdCommand::Status { config, json: true }),
        } = parse(&["cmd", "status", "--config", "/c.toml", "--json"])
            .expect("parse")
            .command
        else {
            panic!("not cmd status")
        };
        assert_eq!(config, PathBuf::from("/c.toml"));
        assert_eq!(kind(&["cmd"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(kind(&["cmd", "status"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            kind(&[
                "cmd", "--config", "/a.toml", "status", "--config", "/b.toml"
            ]),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn del_list_stats() {
        assert!(matches!(
            parse(&["binding", "del", "2001:db8:1:1::/64"])
                .expect("parse")
                .command,
            Command::Binding {
                command: BindingCommand::Del { .. }
            }
        ));
        assert_eq!(
            kind(&["binding", "del"]),
            ErrorKind::MissingRequiredArgument
        );
        assert!(matches!(
            parse(&["binding", "list", "--json"])
                .expect("parse")
                .command,
            Command::Binding {
                command: BindingCommand::List(OutputArgs { json: true, .. })
            }
        ));
        assert!(matches!(
            parse(&["stats"]).expect("parse").command,
            Command::Stats(OutputArgs { json: false, .. })
        ));
        assert_eq!(kind(&["stats", "--bogus"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["frobnicate"]), ErrorKind::InvalidSubcommand);
    }

    #[test]
    fn check_config_and_debug_packets() {
        let cli = parse(&["check-config", "/etc/anchor/anchor.toml"]).expect("parse");
        assert!(
            matches!(cli.command, Command::CheckConfig { file } if file == Path::new("/etc/anchor/anchor.toml"))
        );
        assert_eq!(kind(&["check-config"]), ErrorKind::MissingRequiredArgument);
        for (word, on) in [("on", true), ("off", false)] {
            let cli = parse(&["debug", "packets", word, "--socket", "/tmp/s"]).expect("parse");
            let Command::Debug {
                command: DebugCommand::Packets { state, socket },
            } = cli.command
            else {
                panic!("not debug packets")
            };
            assert_eq!(state.is_on(), on);
            assert_eq!(socket.socket, Some(PathBuf::from("/tmp/s")));
        }
        assert_eq!(
            kind(&["debug", "packets", "maybe"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&["debug", "packets"]),
            ErrorKind::MissingRequiredArgument
        );
    }

    /// The socket `args` make `binding list` ask, with `env` as $ANCHOR_SOCKET.
    fn list_socket(args: &[&str], env: Option<&str>) -> PathBuf {
        let cli = parse(args).expect("parse");
        assert_eq!(cli.socket_without_client(), None);
        let Command::Binding {
            command: BindingCommand::List(list),
        } = &cli.command
        else {
            panic!("not binding list")
        };
        list.socket
            .resolve(cli.socket.as_deref(), env.map(OsString::from))
    }

    #[test]
    fn socket_before_or_after_the_subcommand() {
        let after = ["binding", "list", "--socket", "/run/after.sock"];
        let before = ["--socket", "/run/before.sock", "binding", "list"];
        let both = [
            "--socket",
            "/run/before.sock",
            "binding",
            "list",
            "--socket",
            "/run/after.sock",
        ];
        for env in [None, Some("/run/env.sock")] {
            assert_eq!(list_socket(&after, env), Path::new("/run/after.sock"));
            assert_eq!(list_socket(&before, env), Path::new("/run/before.sock"));
            assert_eq!(list_socket(&both, env), Path::new("/run/after.sock"));
        }
        assert_eq!(
            list_socket(&["binding", "list"], Some("/run/env.sock")),
            Path::new("/run/env.sock")
        );
        assert_eq!(
            list_socket(&["binding", "list"], None),
            Path::new(DEFAULT_API_SOCKET)
        );
        assert_eq!(
            list_socket(&["binding", "list"], Some("")),
            Path::new(DEFAULT_API_SOCKET)
        );
        // Before every client command.
        for args in [
            &["--socket", "/s", "stats"][..],
            &["--socket", "/s", "binding", "del", "2001:db8::/64"],
            &["--socket", "/s", "mn", "list", "--json"],
            &["--socket", "/s", "debug", "packets", "on"],
        ] {
            let cli = parse(args).expect("parse");
            assert_eq!(cli.socket.as_deref(), Some(Path::new("/s")), "{args:?}");
            assert_eq!(cli.socket_without_client(), None, "{args:?}");
        }
    }

    #[test]
    fn socket_before_a_daemon_command_is_refused() {
        for (args, command) in [
            (&["--socket", "/s", "run", "--config", "a.toml"][..], "run"),
            (&["--socket", "/s", "cmd", "--config", "c.toml"], "cmd"),
            (
                &["--socket", "/s", "check-config", "a.toml"],
                "check-config",
            ),
        ] {
            let cli = parse(args).expect("parse");
            assert_eq!(cli.socket_without_client(), Some(command));
            let without = parse(&args[2..]).expect("parse");
            assert_eq!(without.socket_without_client(), None);
        }
        // After them it is no argument of theirs.
        assert_eq!(
            kind(&["run", "--config", "a.toml", "--socket", "/s"]),
            ErrorKind::UnknownArgument
        );
    }

    #[test]
    fn help_is_not_an_error_line() {
        let err = parse(&["--help"]).expect_err("help");
        assert!(one_line_error(&err).is_none());
    }
}
