//! The optional `[maar]` section of `anchor run`'s configuration: this router as a MAAR of
//! RFC 8885, signaling with a CMD.
//!
//! ```toml
//! [maar]
//! cmd = "2001:db8:c::1"              # the CMD's address (required without client_bindings); or the addresses of
//!                                    # several CMD instances (one etcd), tried in order:
//!                                    # cmd = ["2001:db8:c::1", "2001:db8:c::2"]
//! address = "2001:db8:12::1"         # this MAAR's signaling address; default: the locator
//! insecure_signaling = false         # true: run without IPsec ESP (lab only)
//! reverse_tunnel = true              # visiting bindings tunnel the uplink to the anchor
//! lifetime_s = 600                   # the registration lifetime asked for
//! initial_bindack_timeout_ms = 1000  # RFC 6275 INITIAL_BINDACK_TIMEOUT
//! max_bindack_timeout_ms = 32000     # RFC 6275 MAX_BINDACK_TIMEOUT
//! timestamp_window_ms = 300          # RFC 5213 TimestampValidityWindow (CMD-initiated PBUs)
//! ra_interval_s = 600                # periodic Router Advertisements (RFC 4861 MaxRtrAdvInterval)
//! report_interval_s = 60             # the signaling counts report (a warning when insecure)
//! state_dir = "/var/lib/anchor/lab"  # maar.json, the state across restarts; default:
//!                                    # /var/lib/anchor/<instance>
//! subscriber = false                 # true: an anchor near correspondents (RFC 8818 Fig. 6):
//!                                    # redirects any node's prefix the CMD names to its
//!                                    # serving MAAR (listed in the CMD's `subscribers`)
//! correspondent_anchors = []         # the subscribers' locators: their tunnels to visiting
//!                                    # prefixes are accepted like the home anchors'
//! shared_access_identity = false     # true: RFC 6543's MAC and link-local address on every
//!                                    # access interface (see [`crate::identity`])
//! access_mac = "00:00:5e:00:52:13"   # with shared_access_identity: the MAC (RFC 6543's)
//! access_link_local = "fe80::200:5eff:fe00:5213"   # ... and the link-local address
//! attach_on_first_frame = false      # true: a node is attached on its first IPv6 frame on an
//!                                    # access interface (see [`crate::first_frame`])
//! client_bindings = false            # true: client-based DMM (RFC 8818 section 3.1.2): the
//!                                    # nodes' own Binding Updates redirect the prefixes
//!                                    # delegated to them; `cmd` may then be left out
//!
//! [[maar.pool]]
//! prefix = "2001:db8:1::/48"         # /64s are delegated from it
//! policy = "session-lasting"         # nonpersistent | session-lasting | fixed
//! idle_release_s = 600               # session-lasting, fixed: release a redirect idle this long
//!                                    # (0: never)
//! ```
//!
//! `maar.json` in `state_dir` is written at every change of the MAAR's state and read at
//! start (see [`crate::persist`]).

use std::{
    net::Ipv6Addr,
    path::{Path, PathBuf},
    time::Duration,
};

use anchor_pmip::timing::{SignalingTiming, TimingError};

use crate::identity::{AccessIdentity, IdentityError, parse_mac};
use anchor_signal::MnId;
use ipnet::Ipv6Net;
use serde::{Deserialize, Deserializer, de::Error as _};
use thiserror::Error;

/// The delegated prefix length.
pub const DELEGATED_LEN: u8 = 64;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "the section's on/off keys, as the operator writes them in the file"
)]
pub struct MaarConfig {
    /// The CMD's address, or the addresses of several instances of one CMD (one address or a
    /// list in the file).
    /// Empty (or absent): no CMD, the MAAR registers its nodes itself (standalone, for
    /// client-based DMM).
    #[serde(default, deserialize_with = "one_or_more_addresses")]
    pub cmd: Vec<Ipv6Addr>,
    /// `None`: the locator.
    #[serde(default)]
    pub address: Option<Ipv6Addr>,
    #[serde(default)]
    pub insecure_signaling: bool,
    #[serde(default = "yes")]
    pub reverse_tunnel: bool,
    #[serde(default = "default_lifetime_s")]
    pub lifetime_s: u64,
    #[serde(default = "anchor_pmip::timing::default_initial_bindack_timeout_ms")]
    pub initial_bindack_timeout_ms: u64,
    #[serde(default = "anchor_pmip::timing::default_max_bindack_timeout_ms")]
    pub max_bindack_timeout_ms: u64,
    #[serde(default = "anchor_pmip::timing::default_timestamp_window_ms")]
    pub timestamp_window_ms: u64,
    #[serde(default = "default_ra_interval_s")]
    pub ra_interval_s: u64,
    #[serde(default = "anchor_pmip::timing::default_report_interval_s")]
    pub report_interval_s: u64,
    /// Where the MAAR keeps its state across restarts; `None`: `/var/lib/anchor/<instance>`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// An anchor near correspondents (RFC 8818 section 4.2, Figure 6), listed among the CMD's
    /// `subscribers`: it takes the CMD's updates about any node's prefixes and redirects them
    /// to the serving MAAR. Its pools may be empty (no node attaches here then).
    #[serde(default)]
    pub subscriber: bool,
    /// The locators of the anchors near correspondents (subscribers) of the domain: their
    /// tunnels to the prefixes visiting here are decapsulated like those of the prefixes' home
    /// anchors.
    #[serde(default)]
    pub correspondent_anchors: Vec<Ipv6Addr>,
    /// One router identity (MAC and link-local address) on every access link of the domain
    /// (RFC 5213 section 6.8, RFC 6543); see [`crate::identity`].
    #[serde(default)]
    pub shared_access_identity: bool,
    /// The shared MAC address; `None`: RFC 6543's.
    #[serde(default, deserialize_with = "crate::identity::optional_mac")]
    pub access_mac: Option<[u8; 6]>,
    /// The shared link-local address; `None`: RFC 6543's.
    #[serde(default)]
    pub access_link_local: Option<Ipv6Addr>,
    /// Attach a node on its first IPv6 frame on an access interface, reported by the XDP
    /// program; see [`crate::first_frame`].
    #[serde(default)]
    pub attach_on_first_frame: bool,
    /// Accept RFC 6275 Binding Updates from the mobile nodes for the prefixes delegated to them
    /// here (client-based DMM, RFC 8818 section 3.1.2), and name this router's address in its
    /// Router Advertisements (a Prefix Information option with the R flag).
    #[serde(default)]
    pub client_bindings: bool,
    #[serde(default, rename = "pool")]
    pub pools: Vec<PoolConfig>,
    /// Access interfaces with one known node behind each: attached on carrier up.
    #[serde(default)]
    pub point_to_point: Vec<PointToPointConfig>,
}

/// One `[[maar.pool]]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub prefix: Ipv6Net,
    pub policy: Policy,
    /// `session-lasting` and `fixed`: how long a redirected prefix may carry no packet before
    /// it is released (a `fixed` one locally: the redirect only bridges routing convergence
    /// after a relocation); `None`: [`DEFAULT_IDLE_RELEASE_S`], 0: never.
    #[serde(default)]
    pub idle_release_s: Option<u64>,
}

/// The idle time after which a `session-lasting` redirect is released, by default.
pub const DEFAULT_IDLE_RELEASE_S: u64 = 600;

impl PoolConfig {
    /// The idle time after which a redirected prefix of this pool is released; `None`: never
    /// (a `nonpersistent` pool, or `idle_release_s = 0`).
    pub fn idle_release(&self) -> Option<Duration> {
        match (self.policy, self.idle_release_s) {
            (Policy::SessionLasting | Policy::Fixed, None) => {
                Some(Duration::from_secs(DEFAULT_IDLE_RELEASE_S))
            }
            (Policy::SessionLasting | Policy::Fixed, Some(s)) if s > 0 => {
                Some(Duration::from_secs(s))
            }
            _ => None,
        }
    }
}

/// One `[[maar.point_to_point]]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointToPointConfig {
    /// The access interface.
    pub dev: String,
    /// The node behind it (a MAC address in the file).
    #[serde(deserialize_with = "mac_mn_id")]
    pub mn_id: MnId,
}

/// One address (`"2001:db8:c::1"`) or a list of them.
fn one_or_more_addresses<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Ipv6Addr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMore {
        One(Ipv6Addr),
        More(Vec<Ipv6Addr>),
    }
    match OneOrMore::deserialize(deserializer) {
        Ok(OneOrMore::One(address)) => Ok(vec![address]),
        Ok(OneOrMore::More(list)) => Ok(list),
        Err(_) => Err(D::Error::custom(
            "expected an IPv6 address or a list of IPv6 addresses",
        )),
    }
}

fn mac_mn_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<MnId, D::Error> {
    let text = String::deserialize(deserializer)?;
    mn_id_from_mac(&text).ok_or_else(|| {
        D::Error::custom(format!(
            "{text:?} is not a MAC address such as 02:00:00:00:00:01"
        ))
    })
}

/// The EUI-48 MN-ID of a MAC address written `02:00:00:00:00:01` (or with `-`).
pub fn mn_id_from_mac(text: &str) -> Option<MnId> {
    parse_mac(text).map(MnId::Eui48)
}

/// The mobility policy of a pool's prefixes: the type the CMD records per prefix, so that the
/// two sides name it alike. Kept in the MAAR's state for each node it serves or anchors.
pub use anchor_pmip::Policy;

/// The policy as the configuration writes it.
fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Nonpersistent => "nonpersistent",
        Policy::SessionLasting => "session-lasting",
        Policy::Fixed => "fixed",
    }
}

fn yes() -> bool {
    true
}
fn default_lifetime_s() -> u64 {
    600
}
fn default_ra_interval_s() -> u64 {
    600
}

anchor_pmip::signaling_timing_fields!(MaarConfig);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MaarConfigError {
    #[error("maar.pool: at least one [[maar.pool]] is needed (or subscriber = true)")]
    NoPool,
    #[error("maar.pool[{index}].prefix: {prefix} is longer than /{DELEGATED_LEN}")]
    PoolTooLong { index: usize, prefix: Ipv6Net },
    #[error("maar.pool[{index}].prefix: {prefix} overlaps {other}")]
    PoolOverlap {
        index: usize,
        prefix: Ipv6Net,
        other: Ipv6Net,
    },
    #[error(
        "maar.pool[{index}].idle_release_s: a {policy} pool's prefixes are never redirected, so \
         never released when idle"
    )]
    IdleReleaseOfNonpersistent { index: usize, policy: &'static str },
    #[error("maar.cmd: {cmd} is this MAAR's own address")]
    CmdIsSelf { cmd: Ipv6Addr },
    #[error("maar.cmd: at least one CMD address is needed (or client_bindings = true)")]
    NoCmd,
    #[error("maar.subscriber: an anchor near correspondents needs a CMD (maar.cmd)")]
    SubscriberWithoutCmd,
    #[error(
        "maar.address: with client_bindings, the signaling address is the locator (the nodes \
         tunnel to it): leave it out or set it to {locator}"
    )]
    ClientAddressNotLocator { locator: Ipv6Addr },
    #[error("maar.cmd: {cmd} is listed twice")]
    DuplicateCmd { cmd: Ipv6Addr },
    #[error("maar.{key}: {value} must be at least {min}")]
    TooSmall {
        key: &'static str,
        value: u64,
        min: u64,
    },
    #[error("maar.max_bindack_timeout_ms: {max} is below initial_bindack_timeout_ms {initial}")]
    TimeoutOrder { initial: u64, max: u64 },
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl MaarConfig {
    /// The signaling address: `address`, else `locator`.
    pub fn address(&self, locator: Ipv6Addr) -> Ipv6Addr {
        self.address.unwrap_or(locator)
    }

    pub fn validate(&self, locator: Ipv6Addr) -> Result<(), MaarConfigError> {
        if self.pools.is_empty() && !self.subscriber {
            return Err(MaarConfigError::NoPool);
        }
        for (index, pool) in self.pools.iter().enumerate() {
            let prefix = pool.prefix.trunc();
            if prefix.prefix_len() > DELEGATED_LEN {
                return Err(MaarConfigError::PoolTooLong { index, prefix });
            }
            if let Some(other) = self.pools[..index]
                .iter()
                .map(|p| p.prefix.trunc())
                .find(|o| o.contains(&prefix) || prefix.contains(o))
            {
                return Err(MaarConfigError::PoolOverlap {
                    index,
                    prefix,
                    other,
                });
            }
            if pool.idle_release_s.is_some() && pool.policy == Policy::Nonpersistent {
                return Err(MaarConfigError::IdleReleaseOfNonpersistent {
                    index,
                    policy: policy_name(pool.policy),
                });
            }
        }
        if self.cmd.is_empty() && !self.client_bindings {
            return Err(MaarConfigError::NoCmd);
        }
        if self.cmd.is_empty() && self.subscriber {
            return Err(MaarConfigError::SubscriberWithoutCmd);
        }
        if self.client_bindings && self.address(locator) != locator {
            return Err(MaarConfigError::ClientAddressNotLocator { locator });
        }
        for (index, cmd) in self.cmd.iter().enumerate() {
            if *cmd == self.address(locator) {
                return Err(MaarConfigError::CmdIsSelf { cmd: *cmd });
            }
            if self.cmd[..index].contains(cmd) {
                return Err(MaarConfigError::DuplicateCmd { cmd: *cmd });
            }
        }
        self.access_identity()?;
        // A refresh goes out at half the lifetime: at least one 4-second unit on each side.
        self.check_timing(&[
            ("lifetime_s", self.lifetime_s, 8),
            ("ra_interval_s", self.ra_interval_s, 1),
            ("report_interval_s", self.report_interval_s, 1),
            (
                "initial_bindack_timeout_ms",
                self.initial_bindack_timeout_ms,
                1,
            ),
        ])
        .map_err(|error| match error {
            TimingError::TooSmall { key, value, min } => {
                MaarConfigError::TooSmall { key, value, min }
            }
            TimingError::TimeoutOrder { initial, max } => {
                MaarConfigError::TimeoutOrder { initial, max }
            }
        })
    }

    /// The identity of every access interface, when `shared_access_identity` is on.
    pub fn access_identity(&self) -> Result<Option<AccessIdentity>, IdentityError> {
        crate::identity::resolve(
            self.shared_access_identity,
            self.access_mac,
            self.access_link_local,
        )
    }

    /// The file of the MAAR's state: `maar.json` in `state_dir`, by default in
    /// `/var/lib/anchor/<instance>`.
    pub fn state_file(&self, instance: &str) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| Path::new("/var/lib/anchor").join(instance))
            .join("maar.json")
    }

    /// How often the traffic of idle-released redirects is sampled: a quarter of the shortest
    /// idle time, between 1 and 10 seconds; `None` when no pool releases idle redirects.
    pub fn idle_sample_interval(&self) -> Option<Duration> {
        self.pools
            .iter()
            .filter_map(PoolConfig::idle_release)
            .min()
            .map(|idle| (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(10)))
    }

    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.lifetime_s)
    }

    pub fn ra_interval(&self) -> Duration {
        Duration::from_secs(self.ra_interval_s)
    }

    /// The Router Lifetime of the advertisements: three intervals (RFC 4861 section 6.2.1),
    /// at most 9000 s.
    pub fn router_lifetime_s(&self) -> u16 {
        u16::try_from(self.ra_interval_s.saturating_mul(3).min(9000)).unwrap_or(9000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x12, 0, 0, 0, 0, 1);

    fn parse(text: &str) -> MaarConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn defaults_and_checks() {
        let good = parse(
            "cmd = \"2001:db8:c::1\"\n[[pool]]\nprefix = \"2001:db8:1::/48\"\npolicy = \"session-lasting\"\n",
        );
        assert_eq!(good.validate(LOCATOR), Ok(()));
        assert_eq!(good.address(LOCATOR), LOCATOR);
        assert!(good.reverse_tunnel && !good.insecure_signaling);
        assert_eq!(good.pools[0].policy, Policy::SessionLasting);

        let mut overlap = good.clone();
        overlap.pools.push(PoolConfig {
            prefix: "2001:db8:1:5::/64".parse().unwrap(),
            policy: Policy::Fixed,
            idle_release_s: None,
        });
        assert!(matches!(
            overlap.validate(LOCATOR),
            Err(MaarConfigError::PoolOverlap { index: 1, .. })
        ));
        let mut long = good.clone();
        long.pools[0].prefix = "2001:db8:1::/80".parse().unwrap();
        assert!(matches!(
            long.validate(LOCATOR),
            Err(MaarConfigError::PoolTooLong { index: 0, .. })
        ));
        let mut own = good.clone();
        own.cmd = vec!["2001:db8:c::1".parse().unwrap(), LOCATOR];
        assert!(matches!(
            own.validate(LOCATOR),
            Err(MaarConfigError::CmdIsSelf { .. })
        ));
        let mut none = good.clone();
        none.cmd = Vec::new();
        assert!(matches!(
            none.validate(LOCATOR),
            Err(MaarConfigError::NoCmd)
        ));
        let mut twice = good.clone();
        twice.cmd = vec!["2001:db8:c::1".parse().unwrap(); 2];
        assert!(matches!(
            twice.validate(LOCATOR),
            Err(MaarConfigError::DuplicateCmd { .. })
        ));
        let listed: MaarConfig = toml::from_str(
            "cmd = [\"2001:db8:c::1\", \"2001:db8:c::2\"]\n[[pool]]\nprefix = \"2001:db8::/48\"\n\
             policy = \"session-lasting\"\n",
        )
        .expect("a list of CMD addresses");
        assert_eq!(listed.cmd.len(), 2);
        assert!(
            toml::from_str::<MaarConfig>(
                "cmd = 7\n[[pool]]\nprefix = \"2001:db8::/48\"\npolicy = \"session-lasting\"\n"
            )
            .is_err()
        );
        assert!(
            toml::from_str::<MaarConfig>(
                "cmd = \"::1\"\n[[pool]]\nprefix = \"2001:db8::/48\"\npolicy = \"sticky\"\n"
            )
            .is_err()
        );
    }

    #[test]
    fn idle_release_is_for_redirected_pools_only() {
        let config = |policy: &str, idle: &str| {
            parse(&format!(
                "cmd = \"2001:db8:c::1\"\n[[pool]]\nprefix = \"2001:db8:1::/48\"\n\
                 policy = \"{policy}\"\n{idle}"
            ))
        };
        let default = config("session-lasting", "");
        assert_eq!(
            default.pools[0].idle_release(),
            Some(Duration::from_secs(DEFAULT_IDLE_RELEASE_S))
        );
        assert_eq!(
            default.idle_sample_interval(),
            Some(Duration::from_secs(10))
        );
        let short = config("session-lasting", "idle_release_s = 3\n");
        assert_eq!(short.validate(LOCATOR), Ok(()));
        assert_eq!(short.pools[0].idle_release(), Some(Duration::from_secs(3)));
        assert_eq!(short.idle_sample_interval(), Some(Duration::from_secs(1)));
        let never = config("session-lasting", "idle_release_s = 0\n");
        assert_eq!(never.pools[0].idle_release(), None);
        assert_eq!(never.idle_sample_interval(), None);
        // A fixed pool's redirect bridges routing convergence after a relocation, and ends
        // when idle.
        let fixed = config("fixed", "idle_release_s = 5\n");
        assert_eq!(fixed.validate(LOCATOR), Ok(()));
        assert_eq!(fixed.pools[0].idle_release(), Some(Duration::from_secs(5)));
        let policy = "nonpersistent";
        let wrong = config(policy, "idle_release_s = 30\n");
        let error = wrong.validate(LOCATOR).unwrap_err();
        assert!(
            matches!(
                error,
                MaarConfigError::IdleReleaseOfNonpersistent { index: 0, .. }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("maar.pool[0].idle_release_s"),
            "{error}"
        );
        assert_eq!(config(policy, "").pools[0].idle_release(), None);
    }

    #[test]
    fn attachment_on_first_frames_is_off_unless_asked_for() {
        let section = "cmd = \"2001:db8:c::1\"\n[[pool]]\nprefix = \"2001:db8:1::/48\"\n\
                       policy = \"fixed\"\n";
        assert!(!parse(section).attach_on_first_frame);
        let on = parse(&format!("attach_on_first_frame = true\n{section}"));
        assert!(on.attach_on_first_frame);
        assert_eq!(on.validate(LOCATOR), Ok(()));
    }

    #[test]
    fn the_state_file_defaults_under_var_lib() {
        let mut config = parse(
            "cmd = \"2001:db8:c::1\"\n[[pool]]\nprefix = \"2001:db8:1::/48\"\npolicy = \"fixed\"\n",
        );
        assert_eq!(
            config.state_file("lab"),
            Path::new("/var/lib/anchor/lab/maar.json")
        );
        config.state_dir = Some("/tmp/x".into());
        assert_eq!(config.state_file("lab"), Path::new("/tmp/x/maar.json"));
    }

    #[derive(Deserialize)]
    struct File {
        point_to_point: Vec<PointToPointConfig>,
    }

    #[test]
    fn config_names_the_node_by_its_mac() {
        let file: File =
            toml::from_str("[[point_to_point]]\ndev = \"eth2\"\nmn_id = \"02:00:00:00:00:0a\"\n")
                .expect("parses");
        assert_eq!(
            file.point_to_point,
            vec![PointToPointConfig {
                dev: "eth2".to_owned(),
                mn_id: MnId::Eui48([2, 0, 0, 0, 0, 0x0a]),
            }]
        );
        let error =
            toml::from_str::<File>("[[point_to_point]]\ndev = \"eth2\"\nmn_id = \"nope\"\n")
                .err()
                .expect("a bad MAC is refused");
        assert!(
            error.to_string().contains("\"nope\" is not a MAC address"),
            "{error}"
        );
    }

    #[test]
    fn mn_id_from_a_mac_address() {
        assert_eq!(
            mn_id_from_mac("02:00:00:00:00:0a"),
            Some(MnId::Eui48([2, 0, 0, 0, 0, 0x0a]))
        );
        assert_eq!(
            mn_id_from_mac("02-00-00-00-00-0A"),
            Some(MnId::Eui48([2, 0, 0, 0, 0, 0x0a]))
        );
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:0a:0b",
            "2:0:0:0:0:a",
            "zz:00:00:00:00:00",
        ] {
            assert_eq!(mn_id_from_mac(bad), None, "{bad}");
        }
    }
}
