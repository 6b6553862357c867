//! The CMD's TOML configuration (`anchor cmd --config FILE`):
//!
//! ```toml
//! address = "2001:db8:c::1"            # the CMD's address: the raw socket binds to it
//! store = "/var/lib/anchor/cmd.json"   # the file-backed binding store, or
//!                                      # "etcd://HOST:PORT[,HOST:PORT...]/PREFIX" (EtcdStore)
//! insecure_signaling = false           # true: run without IPsec ESP (lab only)
//! initial_bindack_timeout_ms = 1000    # RFC 6275 INITIAL_BINDACK_TIMEOUT
//! max_bindack_timeout_ms = 32000       # RFC 6275 MAX_BINDACK_TIMEOUT
//! timestamp_window_ms = 300            # RFC 5213 TimestampValidityWindow
//! max_lifetime_s = 65535               # longest lifetime granted
//! report_interval_s = 60               # the signaling counts report (a warning when insecure)
//! log_format = "text"                  # "text" or "json" lines on stderr
//! metrics_listen = "127.0.0.1:9470"    # IP:PORT of /metrics; "" turns it off
//! subscribers = ["2001:db8:c::3"]      # anchors near correspondents (RFC 8818 Figure 6)
//! instance = "cmd-a"                   # on etcd: this instance's name in the leader key
//!                                      # (default: its address)
//! leader_lease_s = 3                   # on etcd: the leader's lease; a standby takes over
//!                                      # at most this long after the leader's death
//!
//! [[maar]]
//! address = "2001:db8:f1::2"
//! prefixes = ["2001:db8:1::/48"]       # the prefixes this MAAR may anchor
//! nonpersistent = []                   # those of them released, not redirected, on a move
//! fixed = []                           # those of them with the fixed policy (recorded)
//! ```

use std::{
    net::{Ipv6Addr, SocketAddr},
    path::Path,
    path::PathBuf,
    time::Duration,
};

use ipnet::Ipv6Net;
use serde::Deserialize;
use thiserror::Error;

use crate::etcd_store::EtcdLocation;

use anchor_pmip::{
    LogFormat, Policy,
    timing::{SignalingTiming, TimingError},
};

/// The configuration, checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub address: Ipv6Addr,
    pub store: PathBuf,
    #[serde(default)]
    pub insecure_signaling: bool,
    #[serde(default = "anchor_pmip::timing::default_initial_bindack_timeout_ms")]
    pub initial_bindack_timeout_ms: u64,
    #[serde(default = "anchor_pmip::timing::default_max_bindack_timeout_ms")]
    pub max_bindack_timeout_ms: u64,
    #[serde(default = "anchor_pmip::timing::default_timestamp_window_ms")]
    pub timestamp_window_ms: u64,
    #[serde(default = "default_max_lifetime_s")]
    pub max_lifetime_s: u64,
    #[serde(default = "anchor_pmip::timing::default_report_interval_s")]
    pub report_interval_s: u64,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Where `/metrics` is served; `None` (`metrics_listen = ""`) serves no metrics.
    #[serde(
        default = "anchor_pmip::metrics_listen::default_cmd_metrics_listen",
        deserialize_with = "anchor_pmip::metrics_listen::deserialize"
    )]
    pub metrics_listen: Option<SocketAddr>,
    /// Anchors near correspondents (RFC 8818 section 4.2, Figure 6): each gets, as a previous
    /// MAAR does, an update (Serving MAAR, Anchored Prefix options) whenever a node's
    /// redirected prefixes or its serving MAAR change, and a lifetime-0 update when a prefix
    /// stops being redirected, so that it tunnels its correspondents' traffic for those
    /// prefixes straight to the serving MAAR.
    #[serde(default)]
    pub subscribers: Vec<Ipv6Addr>,
    /// On an etcd store: this instance's name, the leader key's value while it leads.
    #[serde(default)]
    pub instance: Option<String>,
    /// On an etcd store: the time to live of the leader's lease.
    #[serde(default = "default_leader_lease_s")]
    pub leader_lease_s: u64,
    #[serde(rename = "maar")]
    pub maars: Vec<MaarConfig>,
}

/// One `[[maar]]` entry: a MAAR allowed to signal, and what it may anchor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaarConfig {
    pub address: Ipv6Addr,
    pub prefixes: Vec<Ipv6Net>,
    /// The MAAR's pools with the `nonpersistent` policy (RFC 8818 section 4.1): when the node
    /// moves, their prefixes are released at the anchor, never redirected.
    #[serde(default)]
    pub nonpersistent: Vec<Ipv6Net>,
    /// The MAAR's pools with the `fixed` policy (RFC 8818 section 4.3), recorded with each prefix
    /// in the store. Anchor relocation is not implemented: on a move they are redirected like
    /// `session-lasting` prefixes.
    #[serde(default)]
    pub fixed: Vec<Ipv6Net>,
}

fn default_max_lifetime_s() -> u64 {
    65_535
}

fn default_leader_lease_s() -> u64 {
    3
}

anchor_pmip::signaling_timing_fields!(Config);

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("maar: at least one [[maar]] entry is needed")]
    NoMaar,
    #[error("maar[{index}].address: {address} is listed twice")]
    DuplicateMaar { index: usize, address: Ipv6Addr },
    #[error("maar[{index}].address: {address} is the CMD's own address")]
    MaarIsCmd { index: usize, address: Ipv6Addr },
    #[error("maar[{index}].prefixes: a MAAR needs at least one prefix it may anchor")]
    NoPrefix { index: usize },
    #[error("maar[{index}].nonpersistent: {prefix} is not inside the MAAR's prefixes")]
    NonpersistentOutside { index: usize, prefix: Ipv6Net },
    #[error("maar[{index}].fixed: {prefix} is not inside the MAAR's prefixes")]
    FixedOutside { index: usize, prefix: Ipv6Net },
    #[error("maar[{index}].fixed: {prefix} overlaps nonpersistent {other}")]
    PolicyOverlap {
        index: usize,
        prefix: Ipv6Net,
        other: Ipv6Net,
    },
    #[error("subscribers[{index}]: {address} is listed twice, or is the CMD's or a MAAR's address")]
    SubscriberClash { index: usize, address: Ipv6Addr },
    #[error("{key}: {value} must be at least 1")]
    Zero { key: &'static str, value: u64 },
    #[error("max_bindack_timeout_ms: {max} is below initial_bindack_timeout_ms {initial}")]
    TimeoutOrder { initial: u64, max: u64 },
    #[error("store: {store}: {reason} (etcd://HOST:PORT[,HOST:PORT...]/PREFIX, or a path)")]
    Store { store: String, reason: String },
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and checks `text`; a [`ConfigError::Parse`] names the key (toml's message, one line).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("config"),
            message: one_line(&e),
        })?;
        config.check()?;
        Ok(config)
    }

    /// The etcd store `store` names, if it is an `etcd://` URL.
    pub fn etcd_store(&self) -> Result<Option<EtcdLocation>, ConfigError> {
        let store = self.store.to_string_lossy();
        EtcdLocation::parse(&store)
            .transpose()
            .map_err(|reason| ConfigError::Store {
                store: store.into_owned(),
                reason,
            })
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.etcd_store()?;
        if self.maars.is_empty() {
            return Err(ConfigError::NoMaar);
        }
        for (index, maar) in self.maars.iter().enumerate() {
            if self.maars[..index]
                .iter()
                .any(|m| m.address == maar.address)
            {
                return Err(ConfigError::DuplicateMaar {
                    index,
                    address: maar.address,
                });
            }
            if maar.address == self.address {
                return Err(ConfigError::MaarIsCmd {
                    index,
                    address: maar.address,
                });
            }
            if maar.prefixes.is_empty() {
                return Err(ConfigError::NoPrefix { index });
            }
            if let Some(prefix) = maar.nonpersistent.iter().find(|p| !maar.may_anchor(p)) {
                return Err(ConfigError::NonpersistentOutside {
                    index,
                    prefix: *prefix,
                });
            }
            if let Some(prefix) = maar.fixed.iter().find(|p| !maar.may_anchor(p)) {
                return Err(ConfigError::FixedOutside {
                    index,
                    prefix: *prefix,
                });
            }
            for prefix in &maar.fixed {
                if let Some(other) = maar
                    .nonpersistent
                    .iter()
                    .find(|o| o.contains(prefix) || prefix.contains(*o))
                {
                    return Err(ConfigError::PolicyOverlap {
                        index,
                        prefix: *prefix,
                        other: *other,
                    });
                }
            }
        }
        for (index, address) in self.subscribers.iter().enumerate() {
            if self.subscribers[..index].contains(address)
                || *address == self.address
                || self.maar(*address).is_some()
            {
                return Err(ConfigError::SubscriberClash {
                    index,
                    address: *address,
                });
            }
        }
        self.check_timing(&[
            (
                "initial_bindack_timeout_ms",
                self.initial_bindack_timeout_ms,
                1,
            ),
            ("max_bindack_timeout_ms", self.max_bindack_timeout_ms, 1),
            ("max_lifetime_s", self.max_lifetime_s, 1),
            ("report_interval_s", self.report_interval_s, 1),
            ("leader_lease_s", self.leader_lease_s, 1),
        ])
        .map_err(|error| match error {
            TimingError::TooSmall { key, value, .. } => ConfigError::Zero { key, value },
            TimingError::TimeoutOrder { initial, max } => {
                ConfigError::TimeoutOrder { initial, max }
            }
        })
    }

    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime_s)
    }

    pub fn leader_lease(&self) -> Duration {
        Duration::from_secs(self.leader_lease_s)
    }

    /// The name this instance campaigns with: `instance`, or its address.
    pub fn instance_name(&self) -> String {
        self.instance
            .clone()
            .unwrap_or_else(|| self.address.to_string())
    }

    /// The entry of the MAAR at `address`, if it is configured.
    pub fn maar(&self, address: Ipv6Addr) -> Option<&MaarConfig> {
        self.maars.iter().find(|m| m.address == address)
    }
}

impl MaarConfig {
    /// Whether this MAAR may anchor `prefix`: it lies inside one of its prefixes.
    pub fn may_anchor(&self, prefix: &Ipv6Net) -> bool {
        self.prefixes.iter().any(|p| p.contains(prefix))
    }

    /// Whether `prefix` has the `nonpersistent` policy: released, not redirected, on a move.
    pub fn is_nonpersistent(&self, prefix: &Ipv6Net) -> bool {
        self.nonpersistent.iter().any(|p| p.contains(prefix))
    }

    /// The policy of `prefix`, one of this MAAR's: from the `nonpersistent` and `fixed` lists,
    /// else `session-lasting`.
    pub fn policy(&self, prefix: &Ipv6Net) -> Policy {
        if self.is_nonpersistent(prefix) {
            Policy::Nonpersistent
        } else if self.fixed.iter().any(|p| p.contains(prefix)) {
            Policy::Fixed
        } else {
            Policy::SessionLasting
        }
    }
}

/// toml's message (which names the key and shows the line) on one line.
fn one_line(error: &toml::de::Error) -> String {
    let mut text = error.message().to_owned();
    if let Some(span) = error.span() {
        text = format!("{text} (at byte {})", span.start);
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        address = "2001:db8:c::1"
        store = "/tmp/cmd.json"
        [[maar]]
        address = "2001:db8:f1::2"
        prefixes = ["2001:db8:1::/48"]
        [[maar]]
        address = "2001:db8:f2::2"
        prefixes = ["2001:db8:2::/48"]
    "#;

    #[test]
    fn the_packaged_sample_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/cmd/cmd.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let config = Config::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let maar = config.maar("2001:db8:f1::2".parse().unwrap()).unwrap();
        assert!(maar.is_nonpersistent(&"2001:db8:131:7::/64".parse().unwrap()));
        assert!(!maar.is_nonpersistent(&"2001:db8:31:7::/64".parse().unwrap()));
    }

    #[test]
    fn the_packaged_etcd_sample_parses_with_three_endpoints() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/cmd/cmd-etcd.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let config = Config::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let location = config.etcd_store().expect("valid").expect("etcd");
        assert_eq!(location.endpoints.len(), 3);
        assert_eq!(location.prefix, "/anchor/domain1");
        assert_eq!(config.instance_name(), "cmd-a");
        assert_eq!(config.leader_lease(), Duration::from_secs(3));
        let unnamed = Config::parse(GOOD).expect("parses");
        assert_eq!(unnamed.instance_name(), unnamed.address.to_string());
        assert!(matches!(
            Config::parse(&format!("leader_lease_s = 0\n{GOOD}")),
            Err(ConfigError::Zero {
                key: "leader_lease_s",
                ..
            })
        ));
    }

    #[test]
    fn metrics_listen_defaults_to_localhost_and_can_be_off() {
        let config = Config::parse(GOOD).expect("parses");
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9470".parse().expect("addr"))
        );
        let off = Config::parse(&format!("metrics_listen = \"\"\n{GOOD}")).expect("parses");
        assert_eq!(off.metrics_listen, None);
        let v6 =
            Config::parse(&format!("metrics_listen = \"[::1]:9999\"\n{GOOD}")).expect("parses");
        assert_eq!(v6.metrics_listen, Some("[::1]:9999".parse().expect("addr")));
        let Err(ConfigError::Parse { message, .. }) =
            Config::parse(&format!("metrics_listen = \"cmd:9470\"\n{GOOD}"))
        else {
            panic!("metrics_listen = \"cmd:9470\" should not parse");
        };
        assert!(
            message.contains("invalid metrics_listen \"cmd:9470\": expected IP:PORT"),
            "{message}"
        );
    }

    #[test]
    fn defaults_follow_rfc_6275_and_rfc_5213() {
        let config = Config::parse(GOOD).expect("parses");
        assert_eq!(config.initial_bindack_timeout(), Duration::from_secs(1));
        assert_eq!(config.max_bindack_timeout(), Duration::from_secs(32));
        assert_eq!(config.timestamp_window(), Duration::from_millis(300));
        assert!(!config.insecure_signaling);
        let maar = config.maar("2001:db8:f1::2".parse().unwrap()).unwrap();
        assert!(maar.may_anchor(&"2001:db8:1:5::/64".parse().unwrap()));
        assert!(!maar.may_anchor(&"2001:db8:2:5::/64".parse().unwrap()));
    }

    fn parse_error(text: &str) -> String {
        match Config::parse(text) {
            Err(ConfigError::Parse { message, .. }) => message,
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn parse_errors_name_the_key() {
        let unknown = parse_error(&GOOD.replace("store =", "stor = \"x\"\nstore ="));
        assert!(unknown.contains("stor"), "{unknown}");
        let bad_address = parse_error(&GOOD.replace("2001:db8:c::1", "not-an-address"));
        assert!(bad_address.contains("address"), "{bad_address}");
        let unknown_in_maar =
            parse_error(&GOOD.replace("prefixes = [\"2001:db8:2::/48\"]", "prefix = []"));
        assert!(unknown_in_maar.contains("prefix"), "{unknown_in_maar}");
        assert!(!unknown.contains('\n'));
    }

    #[test]
    fn checks_name_the_entry() {
        let twice = GOOD.replace("2001:db8:f2::2", "2001:db8:f1::2");
        assert!(matches!(
            Config::parse(&twice),
            Err(ConfigError::DuplicateMaar { index: 1, .. })
        ));
        let no_prefix = GOOD.replace("[\"2001:db8:2::/48\"]", "[]");
        assert!(matches!(
            Config::parse(&no_prefix),
            Err(ConfigError::NoPrefix { index: 1 })
        ));
        let order =
            format!("initial_bindack_timeout_ms = 5000\nmax_bindack_timeout_ms = 10\n{GOOD}");
        assert!(matches!(
            Config::parse(&order),
            Err(ConfigError::TimeoutOrder {
                initial: 5000,
                max: 10
            })
        ));
        let none = "address = \"2001:db8:c::1\"\nstore = \"x\"\nmaar = []\n";
        assert!(matches!(Config::parse(none), Err(ConfigError::NoMaar)));
        let outside = GOOD.replace(
            "prefixes = [\"2001:db8:2::/48\"]",
            "prefixes = [\"2001:db8:2::/48\"]\nnonpersistent = [\"2001:db8:3::/48\"]",
        );
        assert!(matches!(
            Config::parse(&outside),
            Err(ConfigError::NonpersistentOutside { index: 1, .. })
        ));
        let inside = GOOD.replace(
            "prefixes = [\"2001:db8:2::/48\"]",
            "prefixes = [\"2001:db8:2::/48\"]\nnonpersistent = [\"2001:db8:2::/48\"]",
        );
        let config = Config::parse(&inside).expect("nonpersistent inside the prefixes");
        let maar = config.maar("2001:db8:f2::2".parse().unwrap()).unwrap();
        assert!(maar.is_nonpersistent(&"2001:db8:2:7::/64".parse().unwrap()));
    }

    #[test]
    fn fixed_prefixes_are_checked_and_give_the_policy() {
        let fixed = GOOD.replace(
            "prefixes = [\"2001:db8:2::/48\"]",
            "prefixes = [\"2001:db8:2::/48\"]\nnonpersistent = [\"2001:db8:2:100::/56\"]\n\
             fixed = [\"2001:db8:2::/56\"]",
        );
        let config = Config::parse(&fixed).expect("fixed inside the prefixes");
        let maar = config.maar("2001:db8:f2::2".parse().unwrap()).unwrap();
        let policy = |p: &str| maar.policy(&p.parse().unwrap());
        assert_eq!(policy("2001:db8:2:5::/64"), Policy::Fixed);
        assert_eq!(policy("2001:db8:2:105::/64"), Policy::Nonpersistent);
        assert_eq!(policy("2001:db8:2:205::/64"), Policy::SessionLasting);
        let first = config.maar("2001:db8:f1::2".parse().unwrap()).unwrap();
        assert!(first.fixed.is_empty(), "fixed defaults to none");

        let outside = GOOD.replace(
            "prefixes = [\"2001:db8:2::/48\"]",
            "prefixes = [\"2001:db8:2::/48\"]\nfixed = [\"2001:db8:3::/48\"]",
        );
        assert!(matches!(
            Config::parse(&outside),
            Err(ConfigError::FixedOutside { index: 1, .. })
        ));
        let both = GOOD.replace(
            "prefixes = [\"2001:db8:2::/48\"]",
            "prefixes = [\"2001:db8:2::/48\"]\nnonpersistent = [\"2001:db8:2::/48\"]\n\
             fixed = [\"2001:db8:2:100::/56\"]",
        );
        assert!(matches!(
            Config::parse(&both),
            Err(ConfigError::PolicyOverlap { index: 1, .. })
        ));
    }
}
