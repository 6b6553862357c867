//! The MAAR role of RFC 8885 in `anchor run` (the `[maar]` section): prefixes delegated from
//! pools to attached mobile nodes, registered with the CMD over PBU/PBA, and the bindings the
//! CMD's updates call for.
//!
//! - [`config`]: the `[maar]` section.
//! - [`pool`]: /64 delegation.
//! - [`engine`]: the protocol logic without I/O.
//! - [`persist`]: the engine's state across restarts, in a file.
//! - [`service`]: the socket, the timer, the API handle, applying routes and bindings.
//! - [`upkeep`]: the service's traffic sampling for idle release, state restore and saving.
//! - [`link`]: point-to-point access links, attached on carrier up.
//! - [`ra`]: Router Solicitation and Advertisement bytes.
//! - [`ndp`]: the raw ICMPv6 socket of an access interface (solicitations in, advertisements
//!   out).
//!
//! The Mobility Header socket, the retransmission back-off and the XFRM ESP check are shared
//! with the CMD ([`anchor_pmip`]).

pub mod config;
pub mod engine;
pub mod link;
pub mod ndp;
pub mod persist;
pub mod pool;
pub mod ra;
pub mod service;
pub mod upkeep;

pub use config::{MaarConfig, Policy, PoolConfig};
pub use engine::{Action, MaarEngine, MaarError};
pub use service::{Maar, MaarHandle, StartError, check_security};

/// The EUI-48 MN-ID of a MAC address written `02:00:00:00:00:01` (or with `-`).
pub fn mn_id_from_mac(text: &str) -> Option<anchor_signal::MnId> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for octet in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    parts
        .next()
        .is_none()
        .then_some(anchor_signal::MnId::Eui48(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mn_id_from_a_mac_address() {
        assert_eq!(
            mn_id_from_mac("02:00:00:00:00:0a"),
            Some(anchor_signal::MnId::Eui48([2, 0, 0, 0, 0, 0x0a]))
        );
        assert_eq!(
            mn_id_from_mac("02-00-00-00-00-0A"),
            Some(anchor_signal::MnId::Eui48([2, 0, 0, 0, 0, 0x0a]))
        );
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:0a:0b",
            "2:0:0:0:0:a",
            "zz:00:00:00:00:00",
        ] {
            assert_eq!(mn_id_from_mac(bad), None, "{bad}");
        }
    }
}
