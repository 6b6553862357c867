//! What a Router Advertisement (RFC 4861 section 4.2) tells the node: the prefixes it may
//! configure addresses from (Prefix Information options with the A flag) and the address of the
//! router that anchors them (a Prefix Information option with the R flag of RFC 6275 section
//! 7.2, which carries a complete address of the router). Parsed from the ICMPv6 message as a raw
//! socket delivers it; anything malformed is an error, never a panic.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use thiserror::Error;

const ROUTER_ADVERTISEMENT: u8 = 134;
/// The ICMPv6 header and the RA's fixed fields.
const FIXED: usize = 16;
const OPT_PREFIX_INFORMATION: u8 = 3;
const PIO_LEN: usize = 32;
const FLAG_AUTONOMOUS: u8 = 0x40;
const FLAG_ROUTER_ADDRESS: u8 = 0x20;

/// The parts of an advertisement that client-based DMM needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterAdvert {
    /// The prefixes of SLAAC (A flag) with a valid lifetime, truncated to their length.
    pub prefixes: Vec<Ipv6Net>,
    /// The router's own address, from the first option with the R flag.
    pub router_address: Option<Ipv6Addr>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RaError {
    #[error("{len} octets: shorter than a Router Advertisement ({FIXED})")]
    Short { len: usize },
    #[error("ICMPv6 type {kind} code {code} is not a Router Advertisement")]
    NotAdvertisement { kind: u8, code: u8 },
    #[error("option at offset {offset}: length 0 or past the end")]
    BadOption { offset: usize },
    #[error("prefix information at offset {offset}: prefix length {len} is over 128")]
    BadPrefixLength { offset: usize, len: u8 },
}

impl RouterAdvert {
    pub fn parse(icmp: &[u8]) -> Result<RouterAdvert, RaError> {
        if icmp.len() < FIXED {
            return Err(RaError::Short { len: icmp.len() });
        }
        if icmp[0] != ROUTER_ADVERTISEMENT || icmp[1] != 0 {
            return Err(RaError::NotAdvertisement {
                kind: icmp[0],
                code: icmp[1],
            });
        }
        let mut advert = RouterAdvert {
            prefixes: Vec::new(),
            router_address: None,
        };
        let mut offset = FIXED;
        while offset < icmp.len() {
            let rest = &icmp[offset..];
            let len = rest.get(1).map_or(0, |units| usize::from(*units) * 8);
            if len == 0 || len > rest.len() {
                return Err(RaError::BadOption { offset });
            }
            if rest[0] == OPT_PREFIX_INFORMATION && len == PIO_LEN {
                advert.prefix_information(offset, &rest[..PIO_LEN])?;
            }
            offset += len;
        }
        Ok(advert)
    }

    fn prefix_information(&mut self, offset: usize, option: &[u8]) -> Result<(), RaError> {
        let (prefix_len, flags) = (option[2], option[3]);
        if prefix_len > 128 {
            return Err(RaError::BadPrefixLength {
                offset,
                len: prefix_len,
            });
        }
        let valid = u32::from_be_bytes([option[4], option[5], option[6], option[7]]);
        let mut address = [0u8; 16];
        address.copy_from_slice(&option[16..32]);
        let address = Ipv6Addr::from(address);
        if flags & FLAG_ROUTER_ADDRESS != 0 && self.router_address.is_none() {
            self.router_address = Some(address);
        }
        if flags & FLAG_AUTONOMOUS != 0
            && valid > 0
            && let Ok(prefix) = Ipv6Net::new(address, prefix_len)
        {
            self.prefixes.push(prefix.trunc());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pio(len: u8, flags: u8, valid: u32, address: &str) -> Vec<u8> {
        let mut option = vec![3, 4, len, flags];
        option.extend_from_slice(&valid.to_be_bytes());
        option.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        option.extend_from_slice(&address.parse::<Ipv6Addr>().unwrap().octets());
        option
    }

    fn ra(options: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        // A source link-layer address option first, as routers send it.
        bytes.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 1]);
        for option in options {
            bytes.extend_from_slice(option);
        }
        bytes
    }

    #[test]
    fn prefixes_and_the_router_address() {
        let bytes = ra(&[
            pio(64, 0xc0, 100, "2001:db8:a1:1::"),
            // Not autonomous: not a SLAAC prefix.
            pio(64, 0x80, 100, "2001:db8:a1:2::"),
            // Valid lifetime 0: withdrawn.
            pio(64, 0xc0, 0, "2001:db8:a1:3::"),
            pio(128, 0x20, 100, "2001:db8:f1::2"),
            pio(128, 0x20, 100, "2001:db8:f1::3"),
        ]);
        assert_eq!(
            RouterAdvert::parse(&bytes),
            Ok(RouterAdvert {
                prefixes: vec!["2001:db8:a1:1::/64".parse().unwrap()],
                router_address: Some("2001:db8:f1::2".parse().unwrap()),
            })
        );
        let plain = ra(&[pio(64, 0xc0, 100, "2001:db8:a1:1::")]);
        assert_eq!(RouterAdvert::parse(&plain).unwrap().router_address, None);
    }

    #[test]
    fn malformed_advertisements_are_errors() {
        assert_eq!(
            RouterAdvert::parse(&[134, 0, 0]),
            Err(RaError::Short { len: 3 })
        );
        let mut solicitation = ra(&[]);
        solicitation[0] = 133;
        assert_eq!(
            RouterAdvert::parse(&solicitation),
            Err(RaError::NotAdvertisement { kind: 133, code: 0 })
        );
        let mut zero = ra(&[]);
        zero.extend_from_slice(&[3, 0, 0, 0]);
        assert_eq!(
            RouterAdvert::parse(&zero),
            Err(RaError::BadOption { offset: 24 })
        );
        let mut truncated = ra(&[pio(64, 0xc0, 100, "2001:db8::")]);
        truncated.truncate(truncated.len() - 1);
        assert_eq!(
            RouterAdvert::parse(&truncated),
            Err(RaError::BadOption { offset: 24 })
        );
        let long = ra(&[pio(129, 0xc0, 100, "2001:db8::")]);
        assert_eq!(
            RouterAdvert::parse(&long),
            Err(RaError::BadPrefixLength {
                offset: 24,
                len: 129
            })
        );
        // Every prefix of input, at every length: an answer, never a panic.
        let full = ra(&[pio(64, 0xc0, 100, "2001:db8::"), pio(128, 0x20, 1, "::1")]);
        for end in 0..full.len() {
            let _ = RouterAdvert::parse(&full[..end]);
        }
    }
}
