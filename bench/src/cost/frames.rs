//! The frames of sections 1 and 2, as they arrive on the fixture namespace's links.

use std::net::Ipv6Addr;

use anchor_packet::{Udp6, encapsulate, ethernet};
use anchor_rig::fixture_net::{CORE_MAC, LOCATOR};

/// Serving router of the redirected prefixes: a neighbour on the fixture namespace's core link.
pub const SERVING: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
/// Home router of the visiting prefixes: a neighbour on the core link.
pub const HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 3);
/// A correspondent node, reached through the core link's gateway.
pub const CORRESPONDENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
/// The source MAC of the frames.
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

fn frame(ip: &[u8]) -> Vec<u8> {
    ethernet(CORE_MAC, PEER_MAC, ip)
}

pub fn udp_to(dst: Ipv6Addr) -> Vec<u8> {
    frame(&Udp6::new(CORRESPONDENT, dst).bytes())
}

pub fn tunnelled(inner_dst: Ipv6Addr) -> Vec<u8> {
    let inner = Udp6::new(CORRESPONDENT, inner_dst).bytes();
    frame(&encapsulate(HOME, LOCATOR, 60, 0, 0x777, &inner))
}

pub fn uplink(src: Ipv6Addr) -> Vec<u8> {
    frame(&Udp6::new(src, CORRESPONDENT).bytes())
}

/// A packet whose encapsulation would exceed the 1500-byte tunnel MTU by one byte.
pub fn too_big(dst: Ipv6Addr) -> Vec<u8> {
    let mut p = Udp6::new(CORRESPONDENT, dst);
    p.payload_len = 1500 - 40 - 48 + 1;
    frame(&p.bytes())
}
