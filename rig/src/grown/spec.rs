//! The topology file: what a grown rig holds, read from TOML and checked before anything is built.
//!
//! ```toml
//! prefix = "ant-"                   # namespace names: PREFIX + each node's name (`cargo xtask rig`)
//!
//! [correspondent]
//! address = "2001:db8:c::2"         # on its link to the core, 2001:db8:c::/64 (the core is ::1)
//!
//! [cmd]
//! placement = "core"                # "core": in the core router's namespace; "own": a namespace
//! address = "2001:db8:cc::1"        #   of its own, linked to the core (as the correspondent)
//!
//! # [near_anchor]                   # an anchor next to the correspondent (RFC 8818 Figure 6):
//! # locator = "2001:db8:cf::2"      #   a router between the correspondent and the core that
//!                                   #   runs a subscriber MAAR (see `grown::near`)
//!
//! [maar]                            # what every access router's MAAR gets unless its entry says
//! policy = "session-lasting"        #   otherwise: its pool's policy,
//! # idle_release_s = 600            #   idle release (session-lasting pools; fixed pools: the
//!                                   #   end of a relocation's bridge),
//! ra_interval_s = 2                 #   advertisement interval,
//! attachment = "solicitation"       #   and how nodes attach ("solicitation" | "point-to-point")
//!
//! # [bgp]                           # BIRD on the core and every access router (see
//! # asn = 64512                     #   [`crate::grown::bgp`]): the core learns the pools and the
//!                                   #   MAARs' /64s by eBGP instead of static pool routes
//!
//! [[access_router]]
//! name = "ar1"
//! locator = "2001:db8:f1::2"        # on its link to the core, 2001:db8:f1::/64 (the core is ::1)
//! pool = "2001:db8:a1::/48"         # the core routes it to this router
//!
//! [[mobile_node]]
//! name = "mn1"
//! mac = "02:00:00:00:00:0a"         # its MN-ID; the same on its link to every access router
//! start_at = "ar1"                  # the link that is up once the daemons run (none: all down)
//! ```
//!
//! The core router always exists: plain kernel forwarding, a static route to each access
//! router's pool through its locator (with `[bgp]`: routes learned from the access routers). Every link is a /64 whose `::1` is the core's end (the near
//! anchor's, for the correspondent's link when there is one), and the other end is the address
//! given.

use std::{collections::HashSet, fmt, net::Ipv6Addr, path::Path};

use ipnet::Ipv6Net;
use serde::Deserialize;

/// A node's name: the suffix of its namespace and the name of the interfaces that lead to it.
pub const MAX_NAME_LEN: usize = 15;
/// The longest namespace prefix (an anchor instance, `PREFIX` + name, has at most 64 bytes).
pub const MAX_PREFIX_LEN: usize = 32;
/// Names the rig gives to nodes of its own.
pub const RESERVED_NAMES: [&str; 6] = ["cn", "core", "cmd", "near", "air", "lo"];

/// A topology file that cannot be used: one line, naming the file and, for syntax errors, the
/// line and column.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The I/O error is in the message, not a `source`: `{:#}` would print it twice.
    #[error("cannot read the topology file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The whole topology.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The namespaces' name prefix for `cargo xtask rig`; tests choose their own.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    pub correspondent: Correspondent,
    pub cmd: Cmd,
    #[serde(default)]
    pub near_anchor: Option<NearAnchor>,
    #[serde(default)]
    pub maar: MaarDefaults,
    /// BGP between the core and the access routers, instead of static pool routes.
    #[serde(default)]
    pub bgp: Option<Bgp>,
    #[serde(rename = "access_router", default)]
    pub access_routers: Vec<AccessRouter>,
    #[serde(rename = "mobile_node", default)]
    pub mobile_nodes: Vec<MobileNode>,
    /// The MAARs serve `/metrics` on their locators and the CMD on its address (ports 9469 and
    /// 9470), for a Prometheus in the core's namespace; otherwise each on its default
    /// 127.0.0.1 address in its own namespace.
    #[serde(default)]
    pub metrics_on_locators: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correspondent {
    /// Its address on its /64 toward the core.
    pub address: Ipv6Addr,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cmd {
    #[serde(default)]
    pub placement: CmdPlacement,
    /// The CMD's address: a /128 on the core's loopback, or its end of its own link.
    pub address: Ipv6Addr,
}

/// Where the CMD runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmdPlacement {
    /// In the core router's namespace.
    #[default]
    Core,
    /// In a namespace of its own (`PREFIXcmd`), linked to the core.
    Own,
}

/// An anchor next to the correspondent (RFC 8818 section 4.2, Figure 6): a router of its own
/// between the correspondent and the core, running `anchor run` as a subscriber MAAR
/// ([`crate::grown::near`]): it redirects a moved node's prefixes straight to its serving MAAR.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearAnchor {
    /// Its address on its /64 toward the core.
    pub locator: Ipv6Addr,
}

/// BGP on the rig (`[bgp]`): BIRD on the core and on every access router, eBGP over each
/// access router's core link with private AS numbers. See [`crate::grown::bgp`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bgp {
    /// The core's AS number; access router N (1-based, in the order of the file) has `asn + N`.
    /// All of them must be private 16-bit AS numbers (RFC 6996: 64512 to 65534).
    #[serde(default = "default_core_asn")]
    pub asn: u32,
}

/// The private 16-bit AS numbers (RFC 6996).
pub const PRIVATE_ASNS: std::ops::RangeInclusive<u32> = 64512..=65534;

fn default_core_asn() -> u32 {
    *PRIVATE_ASNS.start()
}

/// A pool's mobility policy (RFC 8818 section 4), as `[[maar.pool]]` spells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    Nonpersistent,
    #[default]
    SessionLasting,
    Fixed,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Nonpersistent => "nonpersistent",
            Policy::SessionLasting => "session-lasting",
            Policy::Fixed => "fixed",
        }
    }
}

/// Which of RFC 8818's configurations runs (section 3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dmm {
    /// Network-based (section 3.1.1): the MAARs signal with the CMD.
    #[default]
    Network,
    /// Client-based (section 3.1.2): no CMD; each mobile node runs `anchor client`, and the
    /// access routers take its Binding Updates (`client_bindings`).
    Client,
}

/// How a MAAR learns that a node attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attachment {
    /// The node's Router Solicitation.
    #[default]
    Solicitation,
    /// Carrier up: every access link is a `[[maar.point_to_point]]` link to its node.
    PointToPoint,
    /// A Wi-Fi roam: each node has one interface, plugged into an access switch (the
    /// namespace `air`, one bridge per access router); a move re-plugs it from one router's
    /// bridge into another's, so the node's interface never goes down and it sends no
    /// solicitation. The first attachment is by solicitation; a roam's is the caller's
    /// `anchor mn attach` on the new router, as an access point's association event would call
    /// it.
    Roam,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaarDefaults {
    #[serde(default)]
    pub policy: Policy,
    /// For session-lasting pools; the daemon's default when absent.
    #[serde(default)]
    pub idle_release_s: Option<u64>,
    #[serde(default = "default_ra_interval_s")]
    pub ra_interval_s: u64,
    #[serde(default)]
    pub attachment: Attachment,
    /// RFC 6543's MAC and link-local address on every access interface
    /// (`shared_access_identity`).
    #[serde(default)]
    pub shared_identity: bool,
    /// Nodes attached on their first frame on an access interface (`attach_on_first_frame`).
    #[serde(default)]
    pub first_frame: bool,
    /// The MAARs' `initial_bindack_timeout_ms`, when not the daemon's default.
    #[serde(default)]
    pub initial_bindack_timeout_ms: Option<u64>,
    /// The MAARs' `max_bindack_timeout_ms`, when not the daemon's default.
    #[serde(default)]
    pub max_bindack_timeout_ms: Option<u64>,
    #[serde(default)]
    pub dmm: Dmm,
}

impl Default for MaarDefaults {
    fn default() -> Self {
        MaarDefaults {
            policy: Policy::default(),
            idle_release_s: None,
            ra_interval_s: default_ra_interval_s(),
            attachment: Attachment::default(),
            shared_identity: false,
            first_frame: false,
            initial_bindack_timeout_ms: None,
            max_bindack_timeout_ms: None,
            dmm: Dmm::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRouter {
    pub name: String,
    /// Its address on its /64 toward the core: its tunnels' end and its signaling address.
    pub locator: Ipv6Addr,
    /// The prefix it delegates /64s from.
    pub pool: Ipv6Net,
    /// Overrides `[maar] policy`.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// Overrides `[maar] idle_release_s`.
    #[serde(default)]
    pub idle_release_s: Option<u64>,
    /// Its daemon's `max_bindings`; the daemon's default when absent.
    #[serde(default)]
    pub max_bindings: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileNode {
    pub name: String,
    pub mac: Mac,
    /// The access router whose link is up once the daemons run.
    #[serde(default)]
    pub start_at: Option<String>,
}

/// An EUI-48 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Mac(pub [u8; 6]);

impl TryFrom<String> for Mac {
    type Error = String;

    fn try_from(text: String) -> Result<Mac, String> {
        let octets: Vec<u8> = text
            .split(':')
            .map(|part| match part.len() {
                1 | 2 => u8::from_str_radix(part, 16).ok(),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{text:?} is not a MAC address (six hex octets with ':')"))?;
        let octets: [u8; 6] = octets
            .try_into()
            .map_err(|_| format!("{text:?} is not a MAC address (six hex octets with ':')"))?;
        Ok(Mac(octets))
    }
}

impl fmt::Display for Mac {
    #[expect(clippy::many_single_char_names, reason = "the six octets, in order")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Mac {
    /// The SLAAC address in `prefix` (a /64): the modified EUI-64 interface identifier
    /// (RFC 4291 appendix A), as the kernel forms it.
    #[expect(clippy::many_single_char_names, reason = "the six octets, in order")]
    pub fn slaac_address(self, prefix: Ipv6Net) -> Ipv6Addr {
        let [a, b, c, d, e, g] = self.0;
        let iid = u64::from_be_bytes([a ^ 0x02, b, c, 0xff, 0xfe, d, e, g]);
        let net = u128::from(prefix.network()) & !u128::from(u64::MAX);
        Ipv6Addr::from(net | u128::from(iid))
    }
}

fn default_prefix() -> String {
    "ant-".to_owned()
}

fn default_ra_interval_s() -> u64 {
    2
}

impl Spec {
    /// Reads and checks a topology file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|error| SpecError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Spec::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a topology; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
        let spec: Spec = toml::from_str(text).map_err(|err| {
            let (line, column) = err
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            SpecError::Syntax {
                origin: origin.to_owned(),
                line,
                column,
                message: err.message().replace('\n', " "),
            }
        })?;
        spec.check().map_err(|message| SpecError::Invalid {
            origin: origin.to_owned(),
            message,
        })?;
        Ok(spec)
    }

    /// The access router named `name`.
    pub fn access_router(&self, name: &str) -> Option<&AccessRouter> {
        self.access_routers.iter().find(|ar| ar.name == name)
    }

    /// The mobile node named `name`.
    pub fn mobile_node(&self, name: &str) -> Option<&MobileNode> {
        self.mobile_nodes.iter().find(|mn| mn.name == name)
    }

    /// An access router's pool policy.
    pub fn policy(&self, ar: &AccessRouter) -> Policy {
        ar.policy.unwrap_or(self.maar.policy)
    }

    /// An access router's `idle_release_s`, when one is set for its session-lasting pool (the
    /// idle release of its redirects) or its fixed pool (the end of a relocation's bridge).
    pub fn idle_release_s(&self, ar: &AccessRouter) -> Option<u64> {
        match self.policy(ar) {
            Policy::SessionLasting | Policy::Fixed => {
                ar.idle_release_s.or(self.maar.idle_release_s)
            }
            Policy::Nonpersistent => None,
        }
    }

    /// Every rule the builder relies on; the first one broken, in one line.
    pub fn check(&self) -> Result<(), String> {
        check_prefix(&self.prefix)?;
        if self.access_routers.is_empty() {
            return Err("no [[access_router]]: a topology needs at least one".into());
        }
        if self.mobile_nodes.is_empty() {
            return Err("no [[mobile_node]]: a topology needs at least one".into());
        }
        let mut names = HashSet::new();
        let nodes = self
            .access_routers
            .iter()
            .map(|ar| ("access_router", &ar.name));
        for (kind, name) in
            nodes.chain(self.mobile_nodes.iter().map(|mn| ("mobile_node", &mn.name)))
        {
            check_name(kind, name)?;
            if !names.insert(name.as_str()) {
                return Err(format!("{kind} name {name:?} is used twice"));
            }
        }
        if self.maar.ra_interval_s == 0 {
            return Err("maar.ra_interval_s must be at least 1".into());
        }
        if self.maar.dmm == Dmm::Client
            && (self.maar.attachment == Attachment::Roam
                || self.near_anchor.is_some()
                || self.bgp.is_some())
        {
            return Err(
                "maar.dmm = \"client\" takes neither attachment = \"roam\", [near_anchor] \
                 nor [bgp]: the node's own links and bindings carry its moves"
                    .into(),
            );
        }
        self.check_addresses()?;
        self.check_pools()?;
        self.check_bgp()?;
        let mut macs = HashSet::new();
        for mn in &self.mobile_nodes {
            if mn.mac.0[0] & 1 != 0 || mn.mac.0 == [0; 6] {
                return Err(format!(
                    "mobile_node {}: mac {} is not unicast",
                    mn.name, mn.mac
                ));
            }
            if !macs.insert(mn.mac) {
                return Err(format!(
                    "mobile_node {}: mac {} is used twice",
                    mn.name, mn.mac
                ));
            }
            if let Some(at) = &mn.start_at
                && self.access_router(at).is_none()
            {
                return Err(format!(
                    "mobile_node {}: start_at = {at:?} names no access_router",
                    mn.name
                ));
            }
        }
        Ok(())
    }

    /// Each link's /64 with the address given for it, in a fixed order.
    pub fn links(&self) -> Vec<(String, Ipv6Addr)> {
        let mut links = vec![(
            "correspondent.address".to_owned(),
            self.correspondent.address,
        )];
        if let Some(near) = &self.near_anchor {
            links.push(("near_anchor.locator".to_owned(), near.locator));
        }
        if self.cmd.placement == CmdPlacement::Own {
            links.push(("cmd.address".to_owned(), self.cmd.address));
        }
        for ar in &self.access_routers {
            links.push((format!("access_router {}: locator", ar.name), ar.locator));
        }
        links
    }

    fn check_addresses(&self) -> Result<(), String> {
        let links = self.links();
        let mut seen: Vec<(&str, Ipv6Net)> = Vec::new();
        for (what, addr) in &links {
            let net = link_net(*addr);
            if *addr == gateway(net) || *addr == net.network() {
                return Err(format!(
                    "{what} = {addr}: ::1 and ::0 of its /64 are the core's end and the subnet"
                ));
            }
            if !is_global_unicast(*addr) {
                return Err(format!("{what} = {addr} is not a global unicast address"));
            }
            if let Some((other, _)) = seen.iter().find(|(_, n)| *n == net) {
                return Err(format!("{what} = {addr} is in the same /64 as {other}"));
            }
            seen.push((what, net));
        }
        if self.cmd.placement == CmdPlacement::Core {
            let addr = self.cmd.address;
            if !is_global_unicast(addr) {
                return Err(format!(
                    "cmd.address = {addr} is not a global unicast address"
                ));
            }
            if let Some((other, _)) = seen.iter().find(|(_, n)| n.contains(&addr)) {
                return Err(format!(
                    "cmd.address = {addr} (on the core's loopback) is inside the /64 of {other}"
                ));
            }
        }
        Ok(())
    }

    fn check_bgp(&self) -> Result<(), String> {
        let Some(bgp) = &self.bgp else {
            return Ok(());
        };
        let last = u64::from(bgp.asn) + self.access_routers.len() as u64;
        if !PRIVATE_ASNS.contains(&bgp.asn) || last > u64::from(*PRIVATE_ASNS.end()) {
            return Err(format!(
                "bgp.asn = {}: the core's and the {} access routers' AS numbers ({} to {last}) \
                 must be private, {} to {}",
                bgp.asn,
                self.access_routers.len(),
                bgp.asn,
                PRIVATE_ASNS.start(),
                PRIVATE_ASNS.end()
            ));
        }
        Ok(())
    }

    fn check_pools(&self) -> Result<(), String> {
        let mut taken: Vec<(String, Ipv6Net)> = self
            .links()
            .into_iter()
            .map(|(what, addr)| (what, link_net(addr)))
            .collect();
        if self.cmd.placement == CmdPlacement::Core {
            let cmd = Ipv6Net::new(self.cmd.address, 128).expect("a /128");
            taken.push(("cmd.address".to_owned(), cmd));
        }
        for ar in &self.access_routers {
            let pool = ar.pool;
            if pool.prefix_len() > 64 {
                return Err(format!(
                    "access_router {}: pool {pool} is longer than /64: /64s are delegated from it",
                    ar.name
                ));
            }
            if pool != pool.trunc() {
                return Err(format!(
                    "access_router {}: pool {pool} has host bits set (did you mean {}?)",
                    ar.name,
                    pool.trunc()
                ));
            }
            if let Some((other, _)) = taken
                .iter()
                .find(|(_, net)| net.contains(&pool) || pool.contains(net))
            {
                return Err(format!(
                    "access_router {}: pool {pool} overlaps {other}",
                    ar.name
                ));
            }
            taken.push((format!("the pool of access_router {}", ar.name), pool));
            if ar.idle_release_s.is_some() && self.policy(ar) == Policy::Nonpersistent {
                return Err(format!(
                    "access_router {}: idle_release_s is for session-lasting and fixed pools \
                     (its policy is {})",
                    ar.name,
                    self.policy(ar).name()
                ));
            }
        }
        Ok(())
    }
}

/// The /64 of a link address.
pub fn link_net(addr: Ipv6Addr) -> Ipv6Net {
    Ipv6Net::new(addr, 64)
        .expect("64 is a valid length")
        .trunc()
}

/// The core's end of a link: `::1` of its /64.
pub fn gateway(net: Ipv6Net) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(net.network()) | 1)
}

fn is_global_unicast(addr: Ipv6Addr) -> bool {
    // 2000::/3, as the documentation prefix 2001:db8::/32 is.
    addr.segments()[0] & 0xe000 == 0x2000
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
        return Err(format!(
            "prefix = {prefix:?}: 1 to {MAX_PREFIX_LEN} characters are needed"
        ));
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(format!(
            "prefix = {prefix:?}: only ASCII letters, digits, '-' and '_' are allowed"
        ));
    }
    Ok(())
}

fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !valid {
        return Err(format!(
            "{kind} name {name:?}: 1 to {MAX_NAME_LEN} lowercase letters and digits, starting \
             with a letter (it names a namespace and interfaces)"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!(
            "{kind} name {name:?} is reserved for the rig's own nodes ({})",
            RESERVED_NAMES.join(", ")
        ));
    }
    Ok(())
}

/// The 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
