//! Router Solicitations and Advertisements (RFC 4861 sections 4.1 and 4.2) as the MAAR sends
//! and reads them on its access links: the bytes only, without I/O. The checksum field is left
//! 0: the kernel fills it in on raw ICMPv6 sockets (RFC 3542 section 3.1).

use ipnet::Ipv6Net;
use thiserror::Error;

pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;
const OPT_SOURCE_LINK_LAYER: u8 = 1;
const OPT_PREFIX_INFORMATION: u8 = 3;
const PIO_ON_LINK: u8 = 0x80;
const PIO_AUTONOMOUS: u8 = 0x40;
/// RFC 6275 section 7.2: the Prefix field holds a complete address of the sending router.
pub const PIO_ROUTER_ADDRESS: u8 = 0x20;
/// The hop limit of every Neighbor Discovery message (RFC 4861 section 6.1).
pub const ND_HOP_LIMIT: u8 = 255;
/// RFC 4861 section 6.2.1 AdvValidLifetime default (30 days).
pub const VALID_LIFETIME_S: u32 = 2_592_000;
/// RFC 4861 section 6.2.1 AdvPreferredLifetime default (7 days).
pub const PREFERRED_LIFETIME_S: u32 = 604_800;
/// The hop limit the RA asks hosts to use (AdvCurHopLimit).
const CUR_HOP_LIMIT: u8 = 64;

/// One Prefix Information option of an advertisement. A /128 is the router's own address
/// (client-based DMM: where a node's Binding Updates and tunnel go), sent with the R flag of
/// RFC 6275 section 7.2 and neither L nor A, so that hosts neither route nor configure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    pub prefix: Ipv6Net,
    /// Anchored elsewhere: preferred lifetime 0, so that the node keeps its sessions on it but
    /// starts new ones on the local prefix (RFC 8885 section 3, RFC 8818 section 4.2).
    pub deprecated: bool,
}

/// Whether an advertisement of `adverts` to `to` is sent: always to one node (an answer to its
/// solicitation), to a multicast group only with a prefix in it. An advertisement without a
/// prefix would stop the solicitations of a node that has just arrived (RFC 4861 section 6.3.7)
/// whose first solicitation this router missed (one sent as the link's carrier came up, before
/// the router's kernel had joined all-routers), and leave it without a prefix; unanswered, the
/// node solicits again and is attached.
pub fn worth_sending(to: std::net::Ipv6Addr, adverts: &[Advert]) -> bool {
    !to.is_multicast() || !adverts.is_empty()
}

/// A Router Advertisement: `router_lifetime_s` (0 to 9000), the sender's MAC for the Source
/// Link-Layer Address option, and one on-link, autonomous Prefix Information option per advert.
pub fn router_advertisement(router_lifetime_s: u16, mac: [u8; 6], adverts: &[Advert]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 8 + 32 * adverts.len());
    out.extend_from_slice(&[ROUTER_ADVERTISEMENT, 0, 0, 0, CUR_HOP_LIMIT, 0]);
    out.extend_from_slice(&router_lifetime_s.to_be_bytes());
    out.extend_from_slice(&[0; 8]); // reachable time, retrans timer: unspecified
    out.extend_from_slice(&[OPT_SOURCE_LINK_LAYER, 1]);
    out.extend_from_slice(&mac);
    for advert in adverts {
        let preferred = if advert.deprecated {
            0
        } else {
            PREFERRED_LIFETIME_S
        };
        // L (on-link) and A (autonomous); a /128 is the router's own address, R alone.
        let flags = if advert.prefix.prefix_len() == 128 {
            PIO_ROUTER_ADDRESS
        } else {
            PIO_ON_LINK | PIO_AUTONOMOUS
        };
        out.extend_from_slice(&[OPT_PREFIX_INFORMATION, 4, advert.prefix.prefix_len(), flags]);
        out.extend_from_slice(&VALID_LIFETIME_S.to_be_bytes());
        out.extend_from_slice(&preferred.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&advert.prefix.trunc().addr().octets());
    }
    out
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SolicitationError {
    #[error("{len} octets: shorter than a Router Solicitation (8)")]
    Short { len: usize },
    #[error("ICMPv6 type {kind} code {code} is not a Router Solicitation")]
    NotSolicitation { kind: u8, code: u8 },
    #[error("option at offset {offset}: length 0 or past the end")]
    BadOption { offset: usize },
    #[error("no Source Link-Layer Address option")]
    NoSourceLinkLayer,
}

/// The MAC in the Source Link-Layer Address option of a Router Solicitation (an ICMPv6 message
/// as a raw ICMPv6 socket delivers it), checked as RFC 4861 section 6.1.1 asks.
pub fn solicitation_source_mac(icmp: &[u8]) -> Result<[u8; 6], SolicitationError> {
    if icmp.len() < 8 {
        return Err(SolicitationError::Short { len: icmp.len() });
    }
    if icmp[0] != ROUTER_SOLICITATION || icmp[1] != 0 {
        return Err(SolicitationError::NotSolicitation {
            kind: icmp[0],
            code: icmp[1],
        });
    }
    let mut offset = 8;
    let mut mac = None;
    while offset < icmp.len() {
        let len = icmp
            .get(offset + 1)
            .map_or(0, |&units| usize::from(units) * 8);
        let option = icmp
            .get(offset..offset + len)
            .filter(|o| !o.is_empty())
            .ok_or(SolicitationError::BadOption { offset })?;
        if option[0] == OPT_SOURCE_LINK_LAYER && len == 8 && mac.is_none() {
            let mut bytes = [0; 6];
            bytes.copy_from_slice(&option[2..8]);
            mac = Some(bytes);
        }
        offset += len;
    }
    mac.ok_or(SolicitationError::NoSourceLinkLayer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];

    #[test]
    fn no_advertisement_to_all_nodes_without_a_prefix() {
        let all_nodes: std::net::Ipv6Addr = "ff02::1".parse().expect("address");
        let node: std::net::Ipv6Addr = "fe80::ff:fe00:a".parse().expect("address");
        let one = [Advert {
            prefix: "2001:db8:1::/64".parse().expect("prefix"),
            deprecated: false,
        }];
        assert!(
            !worth_sending(all_nodes, &[]),
            "nothing to advertise to all nodes"
        );
        assert!(worth_sending(all_nodes, &one));
        assert!(
            worth_sending(node, &[]),
            "an answer to a solicitation always goes out"
        );
        assert!(worth_sending(node, &one));
    }

    #[test]
    fn router_address_is_an_r_flag_option() {
        let adverts = [Advert {
            prefix: "2001:db8:f1::2/128".parse().unwrap(),
            deprecated: false,
        }];
        let bytes = router_advertisement(1800, MAC, &adverts);
        let expected: Vec<u8> = [
            // prefix information: /128, R alone, valid 2592000, preferred 604800
            &[3, 4, 128, 0x20, 0x00, 0x27, 0x8d, 0x00][..],
            &[0x00, 0x09, 0x3a, 0x80, 0, 0, 0, 0],
            &[
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0xf1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
            ],
        ]
        .concat();
        assert_eq!(bytes[24..], expected[..]);
    }

    #[test]
    fn advertisement_bytes() {
        let adverts = [
            Advert {
                prefix: "2001:db8:a2::/64".parse().unwrap(),
                deprecated: false,
            },
            Advert {
                prefix: "2001:db8:a1::/64".parse().unwrap(),
                deprecated: true,
            },
        ];
        let expected: Vec<u8> = [
            // type 134, code 0, checksum 0 (the kernel's), hop limit 64, flags 0, lifetime 1800
            &[134, 0, 0, 0, 64, 0, 0x07, 0x08][..],
            &[0, 0, 0, 0, 0, 0, 0, 0],
            // source link-layer address
            &[1, 1, 0x02, 0, 0, 0, 0, 0x0a],
            // prefix information: /64, L+A, valid 2592000, preferred 604800
            &[3, 4, 64, 0xc0, 0x00, 0x27, 0x8d, 0x00],
            &[0x00, 0x09, 0x3a, 0x80, 0, 0, 0, 0],
            &[
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0xa2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            // the deprecated one: preferred 0, valid kept
            &[3, 4, 64, 0xc0, 0x00, 0x27, 0x8d, 0x00],
            &[0, 0, 0, 0, 0, 0, 0, 0],
            &[
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ]
        .concat();
        assert_eq!(router_advertisement(1800, MAC, &adverts), expected);
        assert_eq!(router_advertisement(0, MAC, &[]).len(), 24);
    }

    #[test]
    fn solicitations() {
        let with_slla = [133, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 0x0a];
        assert_eq!(solicitation_source_mac(&with_slla), Ok(MAC));
        // An unknown option before it is skipped.
        let mut skipped = vec![133, 0, 0, 0, 0, 0, 0, 0, 14, 1, 9, 9, 9, 9, 9, 9];
        skipped.extend_from_slice(&with_slla[8..]);
        assert_eq!(solicitation_source_mac(&skipped), Ok(MAC));
        assert_eq!(
            solicitation_source_mac(&with_slla[..8]),
            Err(SolicitationError::NoSourceLinkLayer)
        );
        assert_eq!(
            solicitation_source_mac(&with_slla[..7]),
            Err(SolicitationError::Short { len: 7 })
        );
        assert_eq!(
            solicitation_source_mac(&with_slla[..12]),
            Err(SolicitationError::BadOption { offset: 8 })
        );
        let mut zero = with_slla;
        zero[9] = 0;
        assert_eq!(
            solicitation_source_mac(&zero),
            Err(SolicitationError::BadOption { offset: 8 })
        );
        let mut code = with_slla;
        code[1] = 1;
        assert_eq!(
            solicitation_source_mac(&code),
            Err(SolicitationError::NotSolicitation { kind: 133, code: 1 })
        );
    }
}
