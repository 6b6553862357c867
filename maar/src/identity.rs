//! One router identity on every access link (RFC 5213 section 6.8, RFC 6543): every access
//! interface of every MAAR of the domain has the same link-layer address and the same
//! link-local address, so that a node that moves keeps its default router and the neighbour
//! entry of that router: its uplink packets need no Router or Neighbour Discovery after a move.
//!
//! ```toml
//! [maar]
//! shared_access_identity = true                   # off by default
//! access_mac = "00:00:5e:00:52:13"                # RFC 6543's, by default
//! access_link_local = "fe80::200:5eff:fe00:5213"  # RFC 6543's, by default
//! ```
//!
//! RFC 6543 reserves the MAC address `00-00-5E-00-52-13` for this, and so the link-local
//! address with its modified EUI-64 interface identifier, `fe80::200:5eff:fe00:5213`. The
//! daemon applies the identity to its access interfaces at start (in `anchor-user`); the MAAR
//! only reads it from the configuration.

use std::net::Ipv6Addr;

use serde::{Deserialize, Deserializer, de::Error as _};
use thiserror::Error;

/// RFC 6543's MAC address for the link-layer address shared by mobile access gateways.
pub const RFC6543_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x52, 0x13];
/// The link-local address of [`RFC6543_MAC`]: its modified EUI-64 interface identifier.
pub const RFC6543_LINK_LOCAL: Ipv6Addr =
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0x200, 0x5eff, 0xfe00, 0x5213);

/// The identity every access interface takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessIdentity {
    pub mac: [u8; 6],
    pub link_local: Ipv6Addr,
}

impl Default for AccessIdentity {
    fn default() -> Self {
        Self {
            mac: RFC6543_MAC,
            link_local: RFC6543_LINK_LOCAL,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("maar.{key}: needs shared_access_identity = true")]
    WithoutSharedIdentity { key: &'static str },
    #[error("maar.access_link_local: {address} is not a link-local unicast address (fe80::/64)")]
    NotLinkLocal { address: Ipv6Addr },
    #[error("maar.access_mac: {mac} is not a unicast MAC address")]
    NotUnicast { mac: String },
}

/// The identity's keys of `[maar]`, checked together.
pub fn resolve(
    shared: bool,
    mac: Option<[u8; 6]>,
    link_local: Option<Ipv6Addr>,
) -> Result<Option<AccessIdentity>, IdentityError> {
    if !shared {
        if mac.is_some() {
            return Err(IdentityError::WithoutSharedIdentity { key: "access_mac" });
        }
        if link_local.is_some() {
            return Err(IdentityError::WithoutSharedIdentity {
                key: "access_link_local",
            });
        }
        return Ok(None);
    }
    let identity = AccessIdentity {
        mac: mac.unwrap_or(RFC6543_MAC),
        link_local: link_local.unwrap_or(RFC6543_LINK_LOCAL),
    };
    let segments = identity.link_local.segments();
    if segments[..4] != [0xfe80, 0, 0, 0] || segments[4..] == [0, 0, 0, 0] {
        return Err(IdentityError::NotLinkLocal {
            address: identity.link_local,
        });
    }
    if identity.mac[0] & 1 != 0 || identity.mac == [0; 6] {
        return Err(IdentityError::NotUnicast {
            mac: format_mac(identity.mac),
        });
    }
    Ok(Some(identity))
}

/// `00:00:5e:00:52:13`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|octet| format!("{octet:02x}")).join(":")
}

/// A MAC address written `00:00:5e:00:52:13` (or with `-`).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for octet in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Serde: an optional MAC address string.
pub fn optional_mac<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<[u8; 6]>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_mac(&text).map(Some).ok_or_else(|| {
        D::Error::custom(format!(
            "{text:?} is not a MAC address such as 00:00:5e:00:52:13"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A), computed here
    /// independently of the constant.
    fn eui64_link_local(mac: [u8; 6]) -> Ipv6Addr {
        let iid = [
            mac[0] ^ 0x02,
            mac[1],
            mac[2],
            0xff,
            0xfe,
            mac[3],
            mac[4],
            mac[5],
        ];
        let mut octets = [0u8; 16];
        octets[..2].copy_from_slice(&[0xfe, 0x80]);
        octets[8..].copy_from_slice(&iid);
        Ipv6Addr::from(octets)
    }

    #[test]
    fn rfc6543_link_local_is_the_eui64_of_its_mac() {
        assert_eq!(RFC6543_LINK_LOCAL, eui64_link_local(RFC6543_MAC));
        assert_eq!(RFC6543_LINK_LOCAL.to_string(), "fe80::200:5eff:fe00:5213");
        assert_eq!(format_mac(RFC6543_MAC), "00:00:5e:00:52:13");
    }

    #[test]
    fn off_by_default_rfc6543_when_on_and_checked() {
        assert_eq!(resolve(false, None, None), Ok(None));
        assert_eq!(
            resolve(true, None, None),
            Ok(Some(AccessIdentity::default()))
        );
        let mac = [0x02, 0, 0, 0, 0, 0x99];
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        assert_eq!(
            resolve(true, Some(mac), Some(ll)),
            Ok(Some(AccessIdentity {
                mac,
                link_local: ll
            }))
        );
        assert_eq!(
            resolve(false, Some(mac), None),
            Err(IdentityError::WithoutSharedIdentity { key: "access_mac" })
        );
        assert_eq!(
            resolve(false, None, Some(ll)),
            Err(IdentityError::WithoutSharedIdentity {
                key: "access_link_local"
            })
        );
        for bad in ["2001:db8::1", "fe80:1::1", "fe80::"] {
            let address: Ipv6Addr = bad.parse().unwrap();
            assert_eq!(
                resolve(true, None, Some(address)),
                Err(IdentityError::NotLinkLocal { address }),
                "{bad}"
            );
        }
        assert_eq!(
            resolve(true, Some([0x01, 0, 0x5e, 0, 0, 1]), None),
            Err(IdentityError::NotUnicast {
                mac: "01:00:5e:00:00:01".to_owned()
            })
        );
        assert_eq!(
            resolve(true, Some([0; 6]), None),
            Err(IdentityError::NotUnicast {
                mac: "00:00:00:00:00:00".to_owned()
            })
        );
    }

    #[test]
    fn parses_macs() {
        assert_eq!(parse_mac("00:00:5e:00:52:13"), Some(RFC6543_MAC));
        assert_eq!(parse_mac("00-00-5E-00-52-13"), Some(RFC6543_MAC));
        for bad in [
            "",
            "00:00:5e:00:52",
            "00:00:5e:00:52:13:00",
            "0:0:5e:0:52:13",
            "zz:00:5e:00:52:13",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
