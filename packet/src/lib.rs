//! Frames for the tests and the benchmarks, built with etherparse, independently of the code
//! under test: IPv6/UDP packets with extension headers, IPv6-in-IPv6 encapsulation, ICMPv6 Packet
//! Too Big, Ethernet frames with or without an 802.1Q tag, and an IPv4/UDP frame.

use std::net::Ipv6Addr;

use etherparse::{
    EtherType, Ethernet2Header, Icmpv6Header, Icmpv6Type, IpNumber, Ipv4Header, Ipv6FlowLabel,
    Ipv6Header, Ipv6RawExtHeader, SingleVlanHeader, UdpHeader, VlanId, VlanPcp,
};

/// An IPv6 extension header to put in front of the upper layer.
#[derive(Clone, Copy, Debug)]
pub enum Ext {
    HopByHop,
    Routing,
    DestOpts,
    /// A fragment header (M flag set) with this offset in 8-byte units; ports only at offset 0.
    Fragment(u16),
}

impl Ext {
    fn number(self) -> IpNumber {
        match self {
            Ext::HopByHop => IpNumber::IPV6_HEADER_HOP_BY_HOP,
            Ext::Routing => IpNumber::IPV6_ROUTE_HEADER,
            Ext::DestOpts => IpNumber::IPV6_DESTINATION_OPTIONS,
            Ext::Fragment(_) => IpNumber::IPV6_FRAGMENTATION_HEADER,
        }
    }

    fn bytes(self, next: IpNumber) -> Vec<u8> {
        match self {
            // Written by hand from RFC 8200 section 4.5: etherparse 0.16 places the M flag and
            // the low offset bits in the wrong bits of byte 3.
            Ext::Fragment(off) => {
                let off_m = (off << 3) | 1;
                let mut h = vec![next.0, 0];
                h.extend(off_m.to_be_bytes());
                h.extend(0x1234_5678u32.to_be_bytes());
                h
            }
            // A PadN option filling 6 bytes; routing type 0 with segments left 0 for Routing.
            Ext::Routing => Ipv6RawExtHeader::new_raw(next, &[0, 0, 0, 0, 0, 0])
                .expect("valid length")
                .to_bytes()
                .to_vec(),
            _ => Ipv6RawExtHeader::new_raw(next, &[1, 4, 0, 0, 0, 0])
                .expect("valid length")
                .to_bytes()
                .to_vec(),
        }
    }
}

/// Description of an IPv6/UDP packet.
#[derive(Clone, Debug)]
pub struct Udp6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub exts: Vec<Ext>,
    pub sport: u16,
    pub dport: u16,
    pub payload_len: usize,
}

impl Udp6 {
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        Self {
            src,
            dst,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            exts: Vec::new(),
            sport: 40000,
            dport: 5001,
            payload_len: 32,
        }
    }

    /// The whole IPv6 packet (header, extension headers, UDP, payload).
    pub fn bytes(&self) -> Vec<u8> {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a filler pattern: the low byte is the point"
        )]
        let payload: Vec<u8> = (0..self.payload_len).map(|i| (i * 7 + 3) as u8).collect();
        let mut ext_bytes = Vec::new();
        for (i, e) in self.exts.iter().enumerate() {
            let next = self.exts.get(i + 1).map_or(IpNumber::UDP, |n| n.number());
            ext_bytes.extend(e.bytes(next));
        }
        let first = self.exts.first().map_or(IpNumber::UDP, |e| e.number());
        let mut ip = Ipv6Header {
            traffic_class: self.traffic_class,
            flow_label: Ipv6FlowLabel::try_new(self.flow_label).expect("20 bits"),
            payload_length: 0,
            next_header: IpNumber::UDP,
            hop_limit: self.hop_limit,
            source: self.src.octets(),
            destination: self.dst.octets(),
        };
        let udp = UdpHeader::with_ipv6_checksum(self.sport, self.dport, &ip, &payload)
            .expect("payload fits");
        ip.next_header = first;
        ip.payload_length =
            u16::try_from(ext_bytes.len() + UdpHeader::LEN + payload.len()).expect("payload fits");
        let mut out = ip.to_bytes().to_vec();
        out.extend(ext_bytes);
        out.extend(udp.to_bytes());
        out.extend(payload);
        out
    }
}

/// `inner` behind an outer IPv6 header (next header 41).
pub fn encapsulate(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    traffic_class: u8,
    flow_label: u32,
    inner: &[u8],
) -> Vec<u8> {
    let outer = Ipv6Header {
        traffic_class,
        flow_label: Ipv6FlowLabel::try_new(flow_label).expect("20 bits"),
        payload_length: u16::try_from(inner.len()).expect("inner packet fits"),
        next_header: IpNumber::IPV6,
        hop_limit,
        source: src.octets(),
        destination: dst.octets(),
    };
    let mut out = outer.to_bytes().to_vec();
    out.extend_from_slice(inner);
    out
}

/// An ICMPv6 Packet Too Big quoting the start of `invoking` so that the packet is 1280 bytes.
pub fn packet_too_big(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    mtu: u32,
    invoking: &[u8],
) -> Vec<u8> {
    let quote = &invoking[..invoking.len().min(1280 - 48)];
    let icmp = Icmpv6Header::with_checksum(
        Icmpv6Type::PacketTooBig { mtu },
        src.octets(),
        dst.octets(),
        quote,
    )
    .expect("fits");
    let ip = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: u16::try_from(8 + quote.len()).expect("quote fits"),
        next_header: IpNumber::IPV6_ICMP,
        hop_limit,
        source: src.octets(),
        destination: dst.octets(),
    };
    let mut out = ip.to_bytes().to_vec();
    out.extend(icmp.to_bytes());
    out.extend_from_slice(quote);
    out
}

/// An Ethernet frame carrying IPv6.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut out = Ethernet2Header {
        source: src,
        destination: dst,
        ether_type: EtherType::IPV6,
    }
    .to_bytes()
    .to_vec();
    out.extend_from_slice(ip);
    out
}

/// An Ethernet frame with one 802.1Q tag carrying IPv6.
pub fn ethernet_vlan(dst: [u8; 6], src: [u8; 6], vid: u16, ip: &[u8]) -> Vec<u8> {
    let mut out = Ethernet2Header {
        source: src,
        destination: dst,
        ether_type: EtherType::VLAN_TAGGED_FRAME,
    }
    .to_bytes()
    .to_vec();
    out.extend(
        SingleVlanHeader {
            pcp: VlanPcp::ZERO,
            drop_eligible_indicator: false,
            vlan_id: VlanId::try_new(vid).expect("12 bits"),
            ether_type: EtherType::IPV6,
        }
        .to_bytes(),
    );
    out.extend_from_slice(ip);
    out
}

/// An Ethernet frame carrying IPv4/UDP.
pub fn ipv4_udp_frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let payload = [0xabu8; 16];
    let ip = Ipv4Header::new(
        u16::try_from(UdpHeader::LEN + payload.len()).expect("16 octets"),
        64,
        IpNumber::UDP,
        [192, 0, 2, 1],
        [198, 51, 100, 1],
    )
    .expect("valid");
    let udp = UdpHeader::with_ipv4_checksum(1000, 2000, &ip, &payload).expect("fits");
    let mut out = Ethernet2Header {
        source: src,
        destination: dst,
        ether_type: EtherType::IPV4,
    }
    .to_bytes()
    .to_vec();
    out.extend(ip.to_bytes());
    out.extend(udp.to_bytes());
    out.extend(payload);
    out
}
