//! The fixture tests' namespace ([`fixture_net`], the rig's [`FixtureNet`] shared by the test
//! process) and their addresses (`xdp_fixtures.rs`, `xdp_fuzz.rs`): the locator and the peers on
//! the namespace's core link, the correspondent behind its gateway, the mobile nodes of the bound
//! prefixes, and addresses no binding covers.

use std::net::Ipv6Addr;

use anchor_packet::{Udp6, encapsulate};
use anchor_rig::FixtureNet;
use anchor_user::datapath::{Datapath, DatapathParams};

use crate::flow_label::expected_label;

/// The fixture namespace, made on first use for the whole test process, entered by the calling
/// thread.
///
/// Panics with the reason when the namespace cannot be made: a privileged test never skips.
pub fn fixture_net() -> &'static FixtureNet {
    let net = FixtureNet::shared("anc-fx").unwrap_or_else(|e| panic!("fixture netns: {e:#}"));
    net.ns
        .enter_for_good()
        .unwrap_or_else(|e| panic!("fixture netns: {e:#}"));
    net
}

/// The router's locator, on the core link.
pub const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
/// Peers on the core link (neighbours with known MACs, but R7).
pub const R2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
pub const R3: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 3);
pub const R7: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 7);
/// A host that is no peer.
pub const STRANGER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xee, 0, 0, 0, 0, 0x66);
/// The correspondent, routed via the core link's gateway.
pub const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
/// Mobile nodes in the bound /64s 2001:db8:N:N::/64.
pub const MN1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 0x100);
pub const MN3: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 3, 0, 0, 0, 0x100);
pub const MN4: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 4, 4, 0, 0, 0, 0x100);
pub const MN7: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 0, 0, 0, 0x100);
/// Never tunnelled: a solicited-node multicast and a link-local address.
pub const SOLICITED_NODE: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
pub const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// In no binding.
pub const UNBOUND: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 9, 0, 0, 0, 1);
/// In the short (/56) prefix of the LPM trie.
pub const IN_SHORT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5600, 0x12, 0, 0, 0, 1);
/// The source MAC of the frames the fixtures send.
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];
pub const TUNNEL_MTU: u32 = 1500;

/// The outer hop limit the fixtures' datapaths are loaded with.
pub const OUTER_HL: u8 = 64;

/// A datapath with the fixtures' locator, tunnel MTU and outer hop limit, room for 16 bindings
/// and no pools, not attached.
///
/// Panics with the reason when the program cannot be loaded.
pub fn load_small_datapath() -> Datapath {
    Datapath::load(&DatapathParams {
        locator: LOCATOR,
        tunnel_mtu: TUNNEL_MTU,
        outer_hop_limit: OUTER_HL,
        max_bindings: 16,
        dense_pools: Vec::new(),
        log: false,
    })
    .unwrap_or_else(|e| panic!("load the XDP program: {e:#}"))
}

/// The IPv6 packet the router sends for the UDP packet `inner` redirected to `peer`: the inner
/// packet with its hop limit decremented, in an outer header from the locator whose flow label
/// hashes the inner addresses and (with `ports`) its ports, built independently of the program.
pub fn encapsulated(inner: &Udp6, peer: Ipv6Addr, ports: bool) -> Vec<u8> {
    let mut fwd = inner.clone();
    fwd.hop_limit -= 1;
    let (sport, dport) = if ports {
        (inner.sport, inner.dport)
    } else {
        (0, 0)
    };
    let label = expected_label(inner.src, inner.dst, 17, sport, dport);
    encapsulate(
        LOCATOR,
        peer,
        OUTER_HL,
        inner.traffic_class,
        label,
        &fwd.bytes(),
    )
}
