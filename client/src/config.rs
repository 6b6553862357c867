//! The configuration of `anchor client --config FILE`:
//!
//! ```toml
//! interfaces = ["wlan0", "eth0"]     # the node's access interfaces, required
//! lifetime_s = 60                    # the binding lifetime asked of the anchors
//! insecure_signaling = false         # true: run without IPsec ESP (lab only)
//! initial_bindack_timeout_ms = 1000  # RFC 6275 INITIAL_BINDACK_TIMEOUT
//! max_bindack_timeout_ms = 32000     # RFC 6275 MAX_BINDACK_TIMEOUT
//! socket_check_ms = 1000             # how often the sockets in use are looked at
//! status_file = "/run/anchor-client/status.json"   # the bindings and counters, rewritten
//!                                                   # at every change and every second
//! log_format = "text"                # or "json"
//! ```

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub interfaces: Vec<String>,
    #[serde(default = "default_lifetime_s")]
    pub lifetime_s: u64,
    #[serde(default)]
    pub insecure_signaling: bool,
    #[serde(default = "anchor_pmip::timing::default_initial_bindack_timeout_ms")]
    pub initial_bindack_timeout_ms: u64,
    #[serde(default = "anchor_pmip::timing::default_max_bindack_timeout_ms")]
    pub max_bindack_timeout_ms: u64,
    #[serde(default = "default_socket_check_ms")]
    pub socket_check_ms: u64,
    #[serde(default = "default_status_file")]
    pub status_file: PathBuf,
    #[serde(default)]
    pub log_format: anchor_pmip::LogFormat,
}

fn default_lifetime_s() -> u64 {
    60
}
fn default_socket_check_ms() -> u64 {
    1000
}
fn default_status_file() -> PathBuf {
    PathBuf::from("/run/anchor-client/status.json")
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClientConfigError {
    #[error("interfaces: at least one access interface is needed")]
    NoInterface,
    #[error("interfaces: {dev} is listed twice")]
    DuplicateInterface { dev: String },
    #[error("{key}: {value} must be at least {min}")]
    TooSmall {
        key: &'static str,
        value: u64,
        min: u64,
    },
    #[error("{key}: {value} must be at most {max}")]
    TooLarge {
        key: &'static str,
        value: u64,
        max: u64,
    },
    #[error("max_bindack_timeout_ms: {max} is below initial_bindack_timeout_ms {initial}")]
    TimeoutOrder { initial: u64, max: u64 },
}

/// The largest lifetime a Binding Update carries: 65535 units of 4 s.
const MAX_LIFETIME_S: u64 = 65_535 * 4;

impl ClientConfig {
    pub fn validate(&self) -> Result<(), ClientConfigError> {
        if self.interfaces.is_empty() {
            return Err(ClientConfigError::NoInterface);
        }
        for (index, dev) in self.interfaces.iter().enumerate() {
            if self.interfaces[..index].contains(dev) {
                return Err(ClientConfigError::DuplicateInterface { dev: dev.clone() });
            }
        }
        // A refresh goes out at half the lifetime: at least one 4-second unit on each side.
        for (key, value, min) in [
            ("lifetime_s", self.lifetime_s, 8),
            (
                "initial_bindack_timeout_ms",
                self.initial_bindack_timeout_ms,
                1,
            ),
            ("socket_check_ms", self.socket_check_ms, 10),
        ] {
            if value < min {
                return Err(ClientConfigError::TooSmall { key, value, min });
            }
        }
        if self.lifetime_s > MAX_LIFETIME_S {
            return Err(ClientConfigError::TooLarge {
                key: "lifetime_s",
                value: self.lifetime_s,
                max: MAX_LIFETIME_S,
            });
        }
        if self.max_bindack_timeout_ms < self.initial_bindack_timeout_ms {
            return Err(ClientConfigError::TimeoutOrder {
                initial: self.initial_bindack_timeout_ms,
                max: self.max_bindack_timeout_ms,
            });
        }
        Ok(())
    }

    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.lifetime_s)
    }

    pub fn initial_bindack_timeout(&self) -> Duration {
        Duration::from_millis(self.initial_bindack_timeout_ms)
    }

    pub fn max_bindack_timeout(&self) -> Duration {
        Duration::from_millis(self.max_bindack_timeout_ms)
    }

    pub fn socket_check(&self) -> Duration {
        Duration::from_millis(self.socket_check_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ClientConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn defaults_and_checks() {
        let config = parse("interfaces = [\"ar1\", \"ar2\"]\n");
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.lifetime(), Duration::from_mins(1));
        assert!(!config.insecure_signaling);
        assert_eq!(config.initial_bindack_timeout(), Duration::from_secs(1));
        assert_eq!(config.max_bindack_timeout(), Duration::from_secs(32));
        assert_eq!(
            parse("interfaces = []").validate(),
            Err(ClientConfigError::NoInterface)
        );
        assert_eq!(
            parse("interfaces = [\"a\", \"a\"]").validate(),
            Err(ClientConfigError::DuplicateInterface { dev: "a".into() })
        );
        assert_eq!(
            parse("interfaces = [\"a\"]\nlifetime_s = 4").validate(),
            Err(ClientConfigError::TooSmall {
                key: "lifetime_s",
                value: 4,
                min: 8
            })
        );
        assert_eq!(
            parse("interfaces = [\"a\"]\nlifetime_s = 262144").validate(),
            Err(ClientConfigError::TooLarge {
                key: "lifetime_s",
                value: 262_144,
                max: 262_140
            })
        );
        assert_eq!(
            parse("interfaces = [\"a\"]\nmax_bindack_timeout_ms = 10").validate(),
            Err(ClientConfigError::TimeoutOrder {
                initial: 1000,
                max: 10
            })
        );
        assert!(toml::from_str::<ClientConfig>("interfaces = [\"a\"]\nbogus = 1").is_err());
    }

    #[test]
    fn the_packaged_sample_is_valid_and_says_the_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/client/client.toml"
        );
        let text = std::fs::read_to_string(path).expect("the packaged sample");
        let sample = parse(&text);
        assert_eq!(sample.validate(), Ok(()));
        let defaults = parse("interfaces = [\"wlan0\"]");
        assert_eq!(sample, defaults, "the sample should show the defaults");
    }
}
