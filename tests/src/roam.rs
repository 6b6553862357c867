//! The roaming scenario's common part (`roam.rs`, `roam_first_frame.rs`): the grown rig of
//! `rig/topologies/three-ars.toml` with `attachment = "roam"` and the shared router identity,
//! the node attached at AR1, and a UDP stream each way at 200 datagrams/s.

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_rig::{
    grown::{
        Spec, THREE_ARS,
        plan::CN,
        spec::{Attachment, Policy},
    },
    udp_stream::UdpStream,
};
use ipnet::Ipv6Net;

use crate::{grown::GrownScenario, scenario::DEADLINE};

/// The roaming node.
pub const MN: &str = "mn1";
/// One datagram every 5 ms.
pub const PACE: Duration = Duration::from_millis(5);

/// The roaming topology: `session-lasting` pools whose redirects outlast the test, RFC 6543's
/// shared identity, and attachment on the first frame when `first_frame`.
pub fn roam_spec(first_frame: bool) -> Spec {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(600);
    spec.maar.attachment = Attachment::Roam;
    spec.maar.shared_identity = true;
    spec.maar.first_frame = first_frame;
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    spec
}

/// Attaches the node at AR1 (its solicitation) and waits for its preferred P1 address.
pub fn attach_at_ar1(sc: &GrownScenario) -> (Ipv6Net, Ipv6Addr) {
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let address = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", address, true);
    (p1, address)
}

/// A UDP stream from the correspondent to `address` (on `down_port`) and one back (on
/// `up_port`), both flowing.
pub fn streams_each_way(
    sc: &GrownScenario,
    address: Ipv6Addr,
    down_port: u16,
    up_port: u16,
) -> (UdpStream, UdpStream) {
    let cn = sc.spec().correspondent.address;
    let (mn_ns, cn_ns) = (sc.grown.ns(MN), sc.grown.ns(CN));
    let down = UdpStream::start(&cn_ns, cn, &mn_ns, address, down_port, PACE)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let up = UdpStream::start(&mn_ns, address, &cn_ns, cn, up_port, PACE)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let flowing = Instant::now();
    for (name, stream) in [("down", &down), ("up", &up)] {
        stream
            .wait_for(flowing, 50, DEADLINE)
            .unwrap_or_else(|e| panic!("UDP {name} before the roam: {e:#}"));
    }
    (down, up)
}
