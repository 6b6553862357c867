//! The daemon's log: `tracing` events on stderr, as text lines or JSON objects, one per line.
//!
//! - The level comes from `log_level` in the config; `RUST_LOG` (tracing-subscriber's
//!   `EnvFilter` syntax, e.g. `info,anchor_user::binding_table=debug`) replaces it when set.
//! - Records of the `log` crate (from libraries, and from code not yet written with `tracing`)
//!   are turned into `tracing` events.
//! - The XDP program's own records (aya-log, target [`XDP_LOG_TARGET`]) are always let through:
//!   the program writes them only while `anchor debug packets on` is in force, so that switch
//!   alone decides whether they are seen.

use std::io::IsTerminal as _;

use thiserror::Error;
use tracing_subscriber::{
    EnvFilter, filter::LevelFilter, fmt, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

use crate::datapath::{LogLevel, XDP_LOG_TARGET};

/// How log lines are written (shared with `anchor cmd`, whose configuration names it too).
pub use anchor_pmip::LogFormat;

#[derive(Debug, Error)]
pub enum LoggingError {
    #[error("invalid log filter {directives:?} (from RUST_LOG)")]
    Filter {
        directives: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("cannot install the logger")]
    Install(#[source] tracing_subscriber::util::TryInitError),
}

/// The `tracing` level that `log_level` stands for.
pub fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Off => LevelFilter::OFF,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// The filter directives: `rust_log` when it is set and not blank, else `log_level` for
/// everything, every level for the XDP program's records, and at most errors from
/// netlink-packet-route (it warns about every link message whose `IFLA_INET6_CONF` is longer
/// than the kernel it was written for, which newer kernels' always are).
pub fn directives(level: LogLevel, rust_log: Option<&str>) -> String {
    match rust_log {
        Some(directives) if !directives.trim().is_empty() => directives.to_owned(),
        _ => {
            let level = level_filter(level);
            format!(
                "{level},{NETLINK_ROUTE_TARGET}={},{XDP_LOG_TARGET}=trace",
                level.min(LevelFilter::ERROR)
            )
        }
    }
}

/// The log target of the netlink-packet-route crate.
const NETLINK_ROUTE_TARGET: &str = "netlink_packet_route";

/// Installs the process-wide logger (once; a second call fails). Reads `RUST_LOG`.
pub fn init(level: LogLevel, format: LogFormat) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let directives = directives(level, rust_log.as_deref());
    let filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|source| LoggingError::Filter { directives, source })?;
    let registry = tracing_subscriber::registry().with(filter);
    let ansi = std::io::stderr().is_terminal();
    // `try_init` also routes the `log` crate's records into `tracing`.
    match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr).with_ansi(ansi))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    }
    .map_err(LoggingError::Install)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn config_level_lets_the_program_records_through() {
        assert_eq!(
            directives(LogLevel::Info, None),
            "info,netlink_packet_route=error,anchor_xdp=trace"
        );
        assert_eq!(
            directives(LogLevel::Off, Some("  ")),
            "off,netlink_packet_route=off,anchor_xdp=trace"
        );
        assert_eq!(
            directives(LogLevel::Info, Some("warn,anchor_user=debug")),
            "warn,anchor_user=debug"
        );
        for level in [
            LogLevel::Off,
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ] {
            let text = directives(level, None);
            assert!(EnvFilter::builder().parse(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn format_names() {
        #[derive(Deserialize)]
        struct T {
            f: LogFormat,
        }
        let t: T = toml::from_str("f = \"json\"").expect("json");
        assert_eq!(t.f, LogFormat::Json);
        let t: T = toml::from_str("f = \"text\"").expect("text");
        assert_eq!(t.f, LogFormat::Text);
        assert!(toml::from_str::<T>("f = \"xml\"").is_err());
    }
}
