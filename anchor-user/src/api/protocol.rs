//! Requests and responses of the control API. Each is one line of JSON, internally tagged:
//!
//! ```text
//! {"request":"add_binding","prefix":"2001:db8:1:1::/64","serving":"2001:db8:ff::2"}
//! {"request":"add_binding","prefix":"2001:db8:1:1::/64","home":"2001:db8:ff::1","reverse_tunnel":true,"dev":"eth1","mac":"02:00:00:00:00:01"}
//! {"request":"del_binding","prefix":"2001:db8:1:1::/64"}
//! {"request":"list_bindings"}
//! {"request":"stats"}
//! {"request":"debug_packets","on":true}
//! {"request":"mn_attach","mn_id":"02:00:00:00:00:01","dev":"eth1"}
//! {"request":"mn_detach","mn_id":"02:00:00:00:00:01"}
//! {"request":"mn_list"}
//!
//! {"response":"ok"}
//! {"response":"mn","prefix":"2001:db8:1::/64"}
//! {"response":"error","kind":"duplicate","message":"binding for 2001:db8:1:1::/64 already exists"}
//! {"response":"bindings","bindings":[{"prefix":"2001:db8:1:1::/64","kind":"redirect","peer":"2001:db8:ff::2","reverse_tunnel":false,"dev":null,"slot":0}]}
//! {"response":"mn_list","served":[{"mn_id":"02:00:00:00:00:01","dev":"eth1","prefix":"2001:db8:1::/64","policy":"session-lasting","phase":"registered","visiting":["2001:db8:2::/64"]}],"anchored":[{"prefix":"2001:db8:1:1::/64","mn_id":"02:00:00:00:00:02","serving":"2001:db8:12::2","policy":"session-lasting","idle_s":12,"idle_release_s":600,"release_pending":false}]}
//! {"response":"stats","counters":[{"name":"rx","packets":1,"bytes":100},...],"bindings":[{"prefix":...,"kind":...,"peer":...,"to_mn_packets":0,"to_mn_bytes":0,"from_mn_packets":0,"from_mn_bytes":0}]}
//! ```

use std::net::Ipv6Addr;

use anchor_common::{BindingStats, Counter, CounterValue, Direction};
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use anchor_maar::{
    Policy,
    engine::{MnList, Phase},
};

use crate::binding_table::{TableBinding, TableBindingKind};

/// The longest request or response line accepted, in bytes.
pub const MAX_REQUEST_LEN: u64 = 64 * 1024;
/// The longest response line accepted by the client (a `list` of a full table is large).
pub const MAX_RESPONSE_LEN: u64 = 1 << 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Exactly one of `serving` (a redirect binding) and `home` (a visiting binding);
    /// `reverse_tunnel` and `dev` only with `home`, `mac` (the node's MAC address) only with
    /// `dev`. `prefix` is validated by the daemon too.
    AddBinding {
        prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        serving: Option<Ipv6Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        home: Option<Ipv6Addr>,
        #[serde(default)]
        reverse_tunnel: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dev: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<String>,
    },
    DelBinding {
        prefix: String,
    },
    ListBindings,
    Stats,
    /// Turn the XDP program's packet debugging (its log records on drops) on or off.
    DebugPackets {
        on: bool,
    },
    /// A mobile node (MN-ID: its MAC address) attached on access interface `dev`: the MAAR
    /// delegates a prefix and registers it with the CMD.
    MnAttach {
        mn_id: String,
        dev: String,
    },
    /// The mobile node left: the MAAR de-registers it and releases its prefix.
    MnDetach {
        mn_id: String,
    },
    /// The nodes the MAAR serves and the prefixes it anchors for nodes served elsewhere.
    MnList,
}

/// Why a request's fields do not fit together.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("--serving and --home cannot be used together")]
    ServingAndHome,
    #[error("one of --serving ADDR (redirect) or --home ADDR (visiting) is required")]
    NoPeer,
    #[error("--reverse-tunnel needs --home")]
    ReverseTunnelWithoutHome,
    #[error("--dev needs --home")]
    DevWithoutHome,
    #[error("--mac needs --dev")]
    MacWithoutDev,
    #[error("invalid --mac {mac:?}: expected a MAC address such as 02:00:00:00:00:01")]
    InvalidMac { mac: String },
}

/// A MAC address written `02:00:00:00:00:01`.
pub fn parse_mac(text: &str) -> Result<[u8; 6], RequestError> {
    match anchor_maar::config::mn_id_from_mac(text) {
        Some(anchor_signal::MnId::Eui48(mac)) => Ok(mac),
        _ => Err(RequestError::InvalidMac {
            mac: text.to_owned(),
        }),
    }
}

/// `mac` written as [`parse_mac`] reads it.
pub fn format_mac(mac: &[u8; 6]) -> String {
    anchor_signal::MnId::Eui48(*mac).to_string()
}

/// The binding kind an `add_binding` request describes.
pub fn binding_kind(
    serving: Option<Ipv6Addr>,
    home: Option<Ipv6Addr>,
    reverse_tunnel: bool,
    dev: Option<String>,
    mac: Option<&str>,
) -> Result<TableBindingKind, RequestError> {
    let mac = mac.map(parse_mac).transpose()?;
    match (serving, home) {
        (Some(_), Some(_)) => Err(RequestError::ServingAndHome),
        (None, None) => Err(RequestError::NoPeer),
        (Some(_), None) if reverse_tunnel => Err(RequestError::ReverseTunnelWithoutHome),
        (Some(_), None) if dev.is_some() => Err(RequestError::DevWithoutHome),
        (Some(serving), None) if mac.is_none() => Ok(TableBindingKind::Redirect { serving }),
        (_, _) if mac.is_some() && dev.is_none() => Err(RequestError::MacWithoutDev),
        (Some(_), None) => Err(RequestError::DevWithoutHome),
        (None, Some(home)) => Ok(TableBindingKind::Visiting {
            home,
            reverse_tunnel,
            dev,
            mac,
        }),
    }
}

/// What went wrong, for programs; `message` is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not JSON, unknown request, or fields that do not fit together.
    BadRequest,
    InvalidPrefix,
    InvalidPeer,
    /// `dev` is not an attached access interface.
    InvalidDev,
    /// A binding for the prefix already exists.
    Duplicate,
    /// No binding for the prefix.
    UnknownPrefix,
    /// The binding table or a map is full.
    MapFull,
    /// Adding or removing the kernel route failed.
    Route,
    /// A map operation failed.
    Datapath,
    /// An `mn` request to a daemon without a `[maar]` section.
    NotMaar,
    /// The MAAR refused an `mn` request (unknown node, no free prefix, ...).
    Mobility,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Error {
        kind: ErrorKind,
        message: String,
    },
    Bindings {
        bindings: Vec<BindingInfo>,
    },
    Stats(StatsReport),
    /// The prefix of the node an `mn` request was about.
    Mn {
        prefix: Ipv6Net,
    },
    MnList(MnListReport),
}

/// What a MAAR holds (`mn_list`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MnListReport {
    /// The nodes attached here, ordered by MN-ID.
    pub served: Vec<ServedNode>,
    /// The prefixes delegated here to nodes now served by other MAARs, ordered by prefix.
    pub anchored: Vec<AnchoredPrefix>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedNode {
    pub mn_id: String,
    pub dev: String,
    /// The prefix delegated here.
    pub prefix: Ipv6Net,
    pub policy: Policy,
    pub phase: Phase,
    /// Prefixes anchored at other MAARs that the node keeps using through this one.
    pub visiting: Vec<Ipv6Net>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchoredPrefix {
    pub prefix: Ipv6Net,
    pub mn_id: String,
    /// The MAAR serving the node now, where the prefix is redirected.
    pub serving: Ipv6Addr,
    pub policy: Policy,
    /// Seconds without a packet on the redirect; `None` when it is never released on idle.
    pub idle_s: Option<u64>,
    /// The idle time after which it is released; `None`: never.
    pub idle_release_s: Option<u64>,
    /// Its release is sent, waiting for the CMD.
    pub release_pending: bool,
}

impl From<&MnList> for MnListReport {
    fn from(list: &MnList) -> Self {
        Self {
            served: list
                .served
                .iter()
                .map(|(mn, s)| ServedNode {
                    mn_id: mn.to_string(),
                    dev: s.dev.clone(),
                    prefix: s.prefix,
                    policy: s.policy,
                    phase: s.phase,
                    visiting: s.visiting.clone(),
                })
                .collect(),
            anchored: list
                .anchored
                .iter()
                .map(|a| AnchoredPrefix {
                    prefix: a.prefix,
                    mn_id: a.mn.to_string(),
                    serving: a.serving,
                    policy: a.policy,
                    idle_s: a.idle.map(|d| d.as_secs()),
                    idle_release_s: a.idle_release.map(|d| d.as_secs()),
                    release_pending: a.release_pending,
                })
                .collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingKindName {
    Redirect,
    Visiting,
}

impl BindingKindName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redirect => "redirect",
            Self::Visiting => "visiting",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingInfo {
    pub prefix: Ipv6Net,
    pub kind: BindingKindName,
    /// The serving router (redirect) or the home router (visiting).
    pub peer: Ipv6Addr,
    pub reverse_tunnel: bool,
    pub dev: Option<String>,
    /// A visiting binding's node MAC address (the L2 next hop of its decapsulated packets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Index of the binding's statistics slot.
    pub slot: u32,
}

impl From<&TableBinding> for BindingInfo {
    fn from(binding: &TableBinding) -> Self {
        let (kind, reverse_tunnel, dev, mac) = match &binding.kind {
            TableBindingKind::Redirect { .. } => (BindingKindName::Redirect, false, None, None),
            TableBindingKind::Visiting {
                reverse_tunnel,
                dev,
                mac,
                ..
            } => (
                BindingKindName::Visiting,
                *reverse_tunnel,
                dev.clone(),
                mac.as_ref().map(format_mac),
            ),
        };
        Self {
            prefix: binding.prefix,
            kind,
            peer: binding.kind.peer(),
            reverse_tunnel,
            dev,
            mac,
            slot: binding.slot,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Every global counter, in the program's order.
    pub counters: Vec<CounterInfo>,
    /// One entry per binding, ordered by prefix.
    pub bindings: Vec<BindingStatsInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterInfo {
    /// [`Counter::name`].
    pub name: String,
    pub packets: u64,
    pub bytes: u64,
}

impl From<(Counter, CounterValue)> for CounterInfo {
    fn from((counter, value): (Counter, CounterValue)) -> Self {
        Self {
            name: counter.name().to_owned(),
            packets: value.packets,
            bytes: value.bytes,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingStatsInfo {
    pub prefix: Ipv6Net,
    pub kind: BindingKindName,
    pub peer: Ipv6Addr,
    pub to_mn_packets: u64,
    pub to_mn_bytes: u64,
    pub from_mn_packets: u64,
    pub from_mn_bytes: u64,
}

impl BindingStatsInfo {
    pub fn new(binding: &TableBinding, stats: &BindingStats) -> Self {
        let info = BindingInfo::from(binding);
        let to = Direction::ToMn as usize;
        let from = Direction::FromMn as usize;
        Self {
            prefix: info.prefix,
            kind: info.kind,
            peer: info.peer,
            to_mn_packets: stats.packets[to],
            to_mn_bytes: stats.bytes[to],
            from_mn_packets: stats.packets[from],
            from_mn_bytes: stats.bytes[from],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        let request = Request::AddBinding {
            prefix: "2001:db8:1:1::/64".into(),
            serving: Some("2001:db8:ff::2".parse().expect("a")),
            home: None,
            reverse_tunnel: false,
            dev: None,
            mac: None,
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"request":"add_binding","prefix":"2001:db8:1:1::/64","serving":"2001:db8:ff::2","reverse_tunnel":false}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&json).expect("parse"),
            request
        );
        let attach: Request = serde_json::from_str(
            r#"{"request":"mn_attach","mn_id":"02:00:00:00:00:01","dev":"eth1"}"#,
        )
        .expect("parse");
        assert_eq!(
            attach,
            Request::MnAttach {
                mn_id: "02:00:00:00:00:01".into(),
                dev: "eth1".into()
            }
        );
        let prefix = Response::Mn {
            prefix: "2001:db8:1::/64".parse().expect("prefix"),
        };
        assert_eq!(
            serde_json::to_string(&prefix).expect("json"),
            r#"{"response":"mn","prefix":"2001:db8:1::/64"}"#
        );
        let list: Request = serde_json::from_str(r#"{"request":"list_bindings"}"#).expect("parse");
        assert_eq!(list, Request::ListBindings);
        let short: Request =
            serde_json::from_str(r#"{"request":"add_binding","prefix":"p","home":"::2"}"#)
                .expect("parse");
        assert!(matches!(
            short,
            Request::AddBinding {
                reverse_tunnel: false,
                dev: None,
                ..
            }
        ));
    }

    #[test]
    fn mn_list_wire_format() {
        let request: Request = serde_json::from_str(r#"{"request":"mn_list"}"#).expect("parse");
        assert_eq!(request, Request::MnList);
        let mn = anchor_signal::MnId::Eui48([2, 0, 0, 0, 0, 1]);
        let list = MnList {
            served: vec![(
                mn.clone(),
                anchor_maar::engine::ServedInfo {
                    prefix: "2001:db8:1::/64".parse().expect("p"),
                    dev: "eth1".into(),
                    policy: Policy::SessionLasting,
                    phase: Phase::Registered,
                    visiting: vec!["2001:db8:2::/64".parse().expect("p")],
                },
            )],
            anchored: vec![anchor_maar::engine::AnchoredInfo {
                prefix: "2001:db8:1:1::/64".parse().expect("p"),
                mn: anchor_signal::MnId::Eui48([2, 0, 0, 0, 0, 2]),
                serving: "2001:db8:12::2".parse().expect("a"),
                policy: Policy::SessionLasting,
                idle: Some(std::time::Duration::from_millis(12_700)),
                idle_release: Some(std::time::Duration::from_mins(10)),
                release_pending: false,
            }],
        };
        let response = Response::MnList(MnListReport::from(&list));
        let json = serde_json::to_string(&response).expect("json");
        assert_eq!(
            json,
            r#"{"response":"mn_list","served":[{"mn_id":"02:00:00:00:00:01","dev":"eth1","prefix":"2001:db8:1::/64","policy":"session-lasting","phase":"registered","visiting":["2001:db8:2::/64"]}],"anchored":[{"prefix":"2001:db8:1:1::/64","mn_id":"02:00:00:00:00:02","serving":"2001:db8:12::2","policy":"session-lasting","idle_s":12,"idle_release_s":600,"release_pending":false}]}"#
        );
        assert_eq!(
            serde_json::from_str::<Response>(&json).expect("parse"),
            response
        );
        let empty =
            serde_json::to_string(&Response::MnList(MnListReport::default())).expect("json");
        assert_eq!(empty, r#"{"response":"mn_list","served":[],"anchored":[]}"#);
    }

    #[test]
    fn unknown_request_fields_are_rejected() {
        let typo = r#"{"request":"add_binding","prefix":"p","home":"::2","reverse_tunel":true}"#;
        assert!(serde_json::from_str::<Request>(typo).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"request":"reboot"}"#).is_err());
    }

    #[test]
    fn response_wire_format() {
        let json = serde_json::to_string(&Response::Ok).expect("json");
        assert_eq!(json, r#"{"response":"ok"}"#);
        let error = Response::Error {
            kind: ErrorKind::MapFull,
            message: "full".into(),
        };
        let json = serde_json::to_string(&error).expect("json");
        assert_eq!(
            json,
            r#"{"response":"error","kind":"map_full","message":"full"}"#
        );
        let stats = Response::Stats(StatsReport {
            counters: vec![CounterInfo {
                name: "rx".into(),
                packets: 1,
                bytes: 2,
            }],
            bindings: vec![],
        });
        let json = serde_json::to_string(&stats).expect("json");
        assert_eq!(
            json,
            r#"{"response":"stats","counters":[{"name":"rx","packets":1,"bytes":2}],"bindings":[]}"#
        );
        assert_eq!(
            serde_json::from_str::<Response>(&json).expect("parse"),
            stats
        );
    }

    #[test]
    fn binding_kind_rules() {
        let a: Ipv6Addr = "2001:db8::2".parse().expect("a");
        assert_eq!(
            binding_kind(Some(a), Some(a), false, None, None),
            Err(RequestError::ServingAndHome)
        );
        assert_eq!(
            binding_kind(None, None, false, None, None),
            Err(RequestError::NoPeer)
        );
        assert_eq!(
            binding_kind(Some(a), None, true, None, None),
            Err(RequestError::ReverseTunnelWithoutHome)
        );
        assert_eq!(
            binding_kind(Some(a), None, false, Some("x".into()), None),
            Err(RequestError::DevWithoutHome)
        );
        assert_eq!(
            binding_kind(Some(a), None, false, None, None),
            Ok(TableBindingKind::Redirect { serving: a })
        );
        assert_eq!(
            binding_kind(None, Some(a), true, Some("x".into()), None),
            Ok(TableBindingKind::Visiting {
                home: a,
                reverse_tunnel: true,
                dev: Some("x".into()),
                mac: None,
            })
        );
        assert_eq!(
            binding_kind(
                None,
                Some(a),
                false,
                Some("x".into()),
                Some("02:00:00:00:00:0a")
            ),
            Ok(TableBindingKind::Visiting {
                home: a,
                reverse_tunnel: false,
                dev: Some("x".into()),
                mac: Some([2, 0, 0, 0, 0, 0x0a]),
            })
        );
        assert_eq!(
            binding_kind(None, Some(a), false, None, Some("02:00:00:00:00:0a")),
            Err(RequestError::MacWithoutDev)
        );
        assert_eq!(
            binding_kind(Some(a), None, false, None, Some("02:00:00:00:00:0a")),
            Err(RequestError::MacWithoutDev)
        );
        assert!(matches!(
            binding_kind(None, Some(a), false, Some("x".into()), Some("nope")),
            Err(RequestError::InvalidMac { .. })
        ));
    }

    #[test]
    fn the_mac_is_optional_on_the_wire() {
        // A request and a binding list without `mac` (an older client or daemon) still parse.
        let request: Request = serde_json::from_str(
            r#"{"request":"add_binding","prefix":"2001:db8:1:1::/64","home":"2001:db8:ff::1","dev":"eth1"}"#,
        )
        .expect("request without mac");
        assert!(matches!(request, Request::AddBinding { mac: None, .. }));
        let info: BindingInfo = serde_json::from_str(
            r#"{"prefix":"2001:db8:1:1::/64","kind":"visiting","peer":"2001:db8:ff::1","reverse_tunnel":false,"dev":"eth1","slot":0}"#,
        )
        .expect("binding without mac");
        assert_eq!(info.mac, None);
    }
}
