//! What the CMD keeps per mobile node.

use std::net::Ipv6Addr;

use anchor_pmip::{MnKey, Policy};
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

/// One prefix of a node, the MAAR that anchors it, and its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixAnchor {
    pub prefix: Ipv6Net,
    pub anchor: Ipv6Addr,
    /// Absent from stores written before the policy was recorded: `session-lasting`.
    #[serde(default)]
    pub policy: Policy,
    /// A `fixed` prefix relocated away from the MAAR that delegated it (RFC 8818 section 4.3):
    /// that MAAR, which keeps the /64 out of its pool until the node's record ends. `None`:
    /// `anchor` delegated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Ipv6Addr>,
}

/// Everything the CMD knows about one mobile node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MnRecord {
    pub mn: MnKey,
    /// The MAAR serving the node now.
    pub serving: Ipv6Addr,
    /// Every prefix the node holds, in the order it got them.
    pub prefixes: Vec<PrefixAnchor>,
    /// The lifetime granted by the last accepted registration, in seconds.
    pub lifetime_s: u64,
    /// When the binding expires: seconds since 1970 (wall clock, so that it survives a restart).
    pub expires_unix_s: u64,
    /// The Timestamp option (RFC 5213 section 8.8) of the last accepted update.
    pub last_timestamp: u64,
    /// The updates sent to previous MAARs about this node and not yet acknowledged: stored with
    /// the record, so that a CMD that starts on this store sends them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingUpdate>,
}

/// An update (a PBU with Serving MAAR and Anchored Prefix options) the CMD sent to a MAAR and
/// waits to see acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    /// The MAAR it is sent to (the prefixes' anchor, or the serving MAAR for a release).
    pub to: Ipv6Addr,
    /// Its sequence number, which the PBA echoes.
    pub sequence: u16,
    /// The Serving MAAR option.
    pub serving: Ipv6Addr,
    /// The Anchored Prefix options.
    pub anchored: Vec<Ipv6Net>,
    /// The lifetime, in seconds (0: release).
    pub lifetime: u16,
}

impl PendingUpdate {
    /// Whether `later`, to the same MAAR about some of the same prefixes, makes this one moot.
    pub fn superseded_by(&self, later: &PendingUpdate) -> bool {
        self.to == later.to && self.anchored.iter().any(|p| later.anchored.contains(p))
    }
}

impl MnRecord {
    /// The prefixes anchored at a MAAR other than `maar`, grouped by their anchor in first-seen
    /// order.
    pub fn anchored_elsewhere(&self, maar: Ipv6Addr) -> Vec<(Ipv6Addr, Vec<Ipv6Net>)> {
        let mut groups: Vec<(Ipv6Addr, Vec<Ipv6Net>)> = Vec::new();
        for p in self.prefixes.iter().filter(|p| p.anchor != maar) {
            match groups.iter_mut().find(|(a, _)| *a == p.anchor) {
                Some((_, prefixes)) => prefixes.push(p.prefix),
                None => groups.push((p.anchor, vec![p.prefix])),
            }
        }
        groups
    }
}
