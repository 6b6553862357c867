//! The daemon's TOML configuration file.
//!
//! ```toml
//! locator = "2001:db8:ff::1"          # required
//! api_socket = "/run/anchor/anchor.sock"
//! tunnel_mtu = 1500                   # 1320..=65535
//! outer_hop_limit = 64                # 1..=255
//! max_bindings = 1048576              # >= 1; changing it migrates the pinned maps
//! instance = "default"                # pinned state in BPFFS/anchor/INSTANCE/
//! bpffs = "/sys/fs/bpf"               # a bpffs mount point (mounted when missing)
//! log_level = "info"                  # off | error | warn | info | debug | trace
//! log_format = "text"                 # text | json
//! metrics_listen = "127.0.0.1:9469"   # IP:PORT of /metrics; "" turns it off
//! metrics_binding_labels_max = 1000   # bindings with series of their own
//!
//! [[interface]]
//! name = "eth0"                       # required
//! role = "core"                       # core | access, required
//! xdp_mode = "native"                 # native | skb
//! source_validation = false           # access only: drop IPv6 from sources not allowed here
//!
//! [maar]                              # optional: the MAAR role, see `anchor_maar::config`
//! cmd = "2001:db8:c::1"
//! [[maar.pool]]
//! prefix = "2001:db8:1::/48"
//! policy = "session-lasting"
//! ```

use std::{
    collections::HashSet,
    io,
    net::{Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    str::FromStr,
};

use anchor_common::{
    IfaceRole,
    config::{DEFAULT_MAX_BINDINGS, DEFAULT_OUTER_HOP_LIMIT, DEFAULT_TUNNEL_MTU, MIN_TUNNEL_MTU},
};
use anchor_maar::{MaarConfig, config::MaarConfigError};
use serde::{Deserialize, Deserializer, de::Error as _};
use thiserror::Error;

use crate::{
    datapath::{
        DatapathParams, LogLevel, XdpMode,
        pin::{DEFAULT_BPFFS, DEFAULT_INSTANCE, instance_problem},
    },
    logging::LogFormat,
    metrics::{DEFAULT_BINDING_LABELS_MAX, DEFAULT_METRICS_LISTEN},
};

pub const DEFAULT_API_SOCKET: &str = "/run/anchor/anchor.sock";
pub const MAX_TUNNEL_MTU: u32 = 65_535;
/// Linux's `IFNAMSIZ` minus the terminating NUL.
const MAX_IFNAME_LEN: usize = 15;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub locator: Ipv6Addr,
    #[serde(default = "default_api_socket")]
    pub api_socket: PathBuf,
    #[serde(default = "default_tunnel_mtu")]
    pub tunnel_mtu: u32,
    #[serde(default = "default_outer_hop_limit")]
    pub outer_hop_limit: u32,
    #[serde(default = "default_max_bindings")]
    pub max_bindings: u32,
    /// Names the pinned state (`bpffs/anchor/INSTANCE/`): one per daemon on a host.
    #[serde(default = "default_instance")]
    pub instance: String,
    /// Where bpffs is mounted (an absolute path); the daemon mounts it there when it is not.
    #[serde(default = "default_bpffs")]
    pub bpffs: PathBuf,
    /// The daemon's log level (`RUST_LOG` overrides it).
    #[serde(default = "default_log_level")]
    pub log_level: LogLevel,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Where `/metrics` is served; `None` (`metrics_listen = ""`) serves no metrics.
    #[serde(
        default = "default_metrics_listen",
        deserialize_with = "deserialize_metrics_listen"
    )]
    pub metrics_listen: Option<SocketAddr>,
    /// How many bindings get series of their own in `/metrics`.
    #[serde(default = "default_binding_labels_max")]
    pub metrics_binding_labels_max: u32,
    #[serde(rename = "interface", default)]
    pub interfaces: Vec<InterfaceConfig>,
    /// The MAAR role (RFC 8885): signaling with a CMD. `None`: bindings only through the API.
    #[serde(default)]
    pub maar: Option<MaarConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    pub name: String,
    #[serde(with = "RoleDef")]
    pub role: IfaceRole,
    #[serde(default)]
    pub xdp_mode: XdpMode,
    /// Source address validation of the IPv6 frames arriving here (role access only).
    #[serde(default)]
    pub source_validation: bool,
}

#[derive(Deserialize)]
#[serde(remote = "IfaceRole", rename_all = "lowercase")]
enum RoleDef {
    Core,
    Access,
}

fn default_api_socket() -> PathBuf {
    PathBuf::from(DEFAULT_API_SOCKET)
}
fn default_tunnel_mtu() -> u32 {
    DEFAULT_TUNNEL_MTU
}
fn default_outer_hop_limit() -> u32 {
    DEFAULT_OUTER_HOP_LIMIT
}
fn default_max_bindings() -> u32 {
    DEFAULT_MAX_BINDINGS
}
fn default_instance() -> String {
    DEFAULT_INSTANCE.to_owned()
}
fn default_bpffs() -> PathBuf {
    PathBuf::from(DEFAULT_BPFFS)
}
fn default_log_level() -> LogLevel {
    LogLevel::Info
}
fn default_metrics_listen() -> Option<SocketAddr> {
    DEFAULT_METRICS_LISTEN.parse().ok()
}
fn default_binding_labels_max() -> u32 {
    DEFAULT_BINDING_LABELS_MAX
}

/// `metrics_listen`: `IP:PORT` (an IPv6 address in brackets), or `""` for no metrics.
fn deserialize_metrics_listen<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        D::Error::custom(format!(
            "invalid metrics_listen {text:?}: expected IP:PORT (e.g. \"{DEFAULT_METRICS_LISTEN}\" or \"[::1]:9469\"), or \"\" to serve no metrics"
        ))
    })
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A syntax error, an unknown key, a missing key or a value of the wrong type. `line` is
    /// 1-based; `text` is that line of the file, which names the key.
    #[error("{origin}{}: {message}", location(*line, text.as_deref()))]
    Parse {
        origin: String,
        line: Option<usize>,
        text: Option<String>,
        message: String,
    },
    #[error("{origin}: locator = {locator} is not a unicast address")]
    LocatorNotUnicast { origin: String, locator: Ipv6Addr },
    #[error("{origin}: api_socket is empty")]
    EmptyApiSocket { origin: String },
    #[error("{origin}: tunnel_mtu = {value} is below the minimum {min}")]
    TunnelMtuTooSmall {
        origin: String,
        value: u32,
        min: u32,
    },
    #[error("{origin}: tunnel_mtu = {value} is above the maximum {max}")]
    TunnelMtuTooLarge {
        origin: String,
        value: u32,
        max: u32,
    },
    #[error("{origin}: outer_hop_limit = {value} is out of range 1..=255")]
    OuterHopLimitOutOfRange { origin: String, value: u32 },
    #[error("{origin}: max_bindings = 0: at least 1 is required")]
    MaxBindingsZero { origin: String },
    #[error("{origin}: instance = {instance:?} is invalid: {reason}")]
    InvalidInstance {
        origin: String,
        instance: String,
        reason: &'static str,
    },
    #[error("{origin}: bpffs = {path:?} is not an absolute path")]
    BpffsNotAbsolute { origin: String, path: PathBuf },
    #[error("{origin}: no [[interface]]: at least one is required")]
    NoInterface { origin: String },
    #[error("{origin}: interface name {name:?} is invalid: {reason}")]
    InvalidInterfaceName {
        origin: String,
        name: String,
        reason: &'static str,
    },
    #[error("{origin}: interface {name} is configured more than once")]
    DuplicateInterface { origin: String, name: String },
    #[error("{origin}: interface {name}: source_validation = true needs role = \"access\"")]
    SourceValidationNotAccess { origin: String, name: String },
    #[error("{origin}: maar.point_to_point[{index}].dev: {dev} {reason}")]
    PointToPoint {
        origin: String,
        index: usize,
        dev: String,
        reason: &'static str,
    },
    #[error("{origin}: {source}")]
    Maar {
        origin: String,
        #[source]
        source: MaarConfigError,
    },
}

fn location(line: Option<usize>, text: Option<&str>) -> String {
    match (line, text) {
        (Some(line), Some(text)) => format!(": line {line}: `{text}`"),
        (Some(line), None) => format!(": line {line}"),
        _ => String::new(),
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates `text`; `origin` names it in errors (a file name).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| parse_error(text, origin, &e))?;
        config.validate(origin)?;
        Ok(config)
    }

    /// The `[[interface]]` rules: at least one, valid and distinct names, `source_validation`
    /// on access interfaces only.
    fn validate_interfaces(&self, origin: &dyn Fn() -> String) -> Result<(), ConfigError> {
        if self.interfaces.is_empty() {
            return Err(ConfigError::NoInterface { origin: origin() });
        }
        let mut seen = HashSet::new();
        for iface in &self.interfaces {
            if let Some(reason) = ifname_problem(&iface.name) {
                return Err(ConfigError::InvalidInterfaceName {
                    origin: origin(),
                    name: iface.name.clone(),
                    reason,
                });
            }
            if !seen.insert(iface.name.as_str()) {
                return Err(ConfigError::DuplicateInterface {
                    origin: origin(),
                    name: iface.name.clone(),
                });
            }
            if iface.source_validation && iface.role != IfaceRole::Access {
                return Err(ConfigError::SourceValidationNotAccess {
                    origin: origin(),
                    name: iface.name.clone(),
                });
            }
        }
        Ok(())
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let origin = || origin.to_owned();
        let locator = self.locator;
        if locator.is_unspecified() || locator.is_multicast() || locator.is_loopback() {
            return Err(ConfigError::LocatorNotUnicast {
                origin: origin(),
                locator,
            });
        }
        if self.api_socket.as_os_str().is_empty() {
            return Err(ConfigError::EmptyApiSocket { origin: origin() });
        }
        let value = self.tunnel_mtu;
        if value < MIN_TUNNEL_MTU {
            return Err(ConfigError::TunnelMtuTooSmall {
                origin: origin(),
                value,
                min: MIN_TUNNEL_MTU,
            });
        }
        if value > MAX_TUNNEL_MTU {
            return Err(ConfigError::TunnelMtuTooLarge {
                origin: origin(),
                value,
                max: MAX_TUNNEL_MTU,
            });
        }
        let value = self.outer_hop_limit;
        if !(1..=255).contains(&value) {
            return Err(ConfigError::OuterHopLimitOutOfRange {
                origin: origin(),
                value,
            });
        }
        if self.max_bindings == 0 {
            return Err(ConfigError::MaxBindingsZero { origin: origin() });
        }
        if let Some(reason) = instance_problem(&self.instance) {
            return Err(ConfigError::InvalidInstance {
                origin: origin(),
                instance: self.instance.clone(),
                reason,
            });
        }
        if !self.bpffs.is_absolute() {
            return Err(ConfigError::BpffsNotAbsolute {
                origin: origin(),
                path: self.bpffs.clone(),
            });
        }
        self.validate_interfaces(&origin)?;
        if let Some(maar) = &self.maar {
            maar.validate(locator).map_err(|source| ConfigError::Maar {
                origin: origin(),
                source,
            })?;
            for (index, p2p) in maar.point_to_point.iter().enumerate() {
                let access = self
                    .interfaces
                    .iter()
                    .any(|i| i.name == p2p.dev && i.role == IfaceRole::Access);
                let reason = if !access {
                    "is not an [[interface]] with role = \"access\""
                } else if maar.point_to_point[..index]
                    .iter()
                    .any(|other| other.dev == p2p.dev)
                {
                    "is listed more than once"
                } else {
                    continue;
                };
                return Err(ConfigError::PointToPoint {
                    origin: origin(),
                    index,
                    dev: p2p.dev.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// What the datapath is loaded with: the program's logging is always loaded, so that
    /// `anchor debug packets on` can switch it on at run time.
    pub fn datapath_params(&self) -> DatapathParams {
        DatapathParams {
            locator: self.locator,
            tunnel_mtu: self.tunnel_mtu,
            // Validated to be in 1..=255.
            outer_hop_limit: u8::try_from(self.outer_hop_limit).unwrap_or(u8::MAX),
            max_bindings: self.max_bindings,
            // The MAAR's own pools: every redirection it anchors is for one of their /64s.
            dense_pools: self
                .maar
                .iter()
                .flat_map(|maar| maar.pools.iter().map(|pool| pool.prefix))
                .collect(),
            log: true,
        }
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// Parses and validates a configuration held in a string.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text, "configuration")
    }
}

fn ifname_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_IFNAME_LEN {
        Some("it is longer than 15 bytes")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        Some("it contains '/', ':', whitespace or NUL")
    } else {
        None
    }
}

/// Turns toml's multi-line error into one line: the line number and text of the offending line
/// (which names the key) and toml's own message.
fn parse_error(text: &str, origin: &str, error: &toml::de::Error) -> ConfigError {
    let (line, line_text) = match error.span() {
        Some(span) if span.start <= text.len() && text.is_char_boundary(span.start) => {
            let before = &text[..span.start];
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let line_text = text[start..end].trim();
            let spans_lines = text
                .get(span.clone())
                .is_some_and(|s| s.trim_end().contains('\n'));
            if spans_lines || line_text.is_empty() {
                (Some(line), None)
            } else {
                (Some(line), Some(line_text.to_owned()))
            }
        }
        _ => (None, None),
    };
    ConfigError::Parse {
        origin: origin.to_owned(),
        line,
        text: line_text,
        message: error.message().trim().replace('\n', " "),
    }
}

#[cfg(test)]
mod tests;
