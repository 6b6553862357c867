//! The start-up check that the kernel protects the signaling: for each peer (each MAAR of the
//! CMD; the CMD of a MAAR), the XFRM policies must require ESP for Mobility Header traffic
//! (protocol 135) from this node to the peer (direction out) and from the peer to this node
//! (direction in). Read over XFRM netlink (a policy dump), not from `ip xfrm` output.
//!
//! A direction is protected when, among the policies whose selector can match Mobility Header
//! packets between the two addresses, ordered by priority (lower first), every one up to and
//! including the first that matches all of them allows the traffic only through a mandatory ESP
//! template. A policy that bypasses or blocks part of the traffic first fails the check.

use std::{io, net::Ipv6Addr};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_XFRM};
use thiserror::Error;

use anchor_signal::checksum::IPPROTO_MH;

const XFRM_MSG_NEWPOLICY: u16 = 19;
const XFRM_MSG_GETPOLICY: u16 = 21;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const XFRMA_TMPL: u16 = 5;
const AF_INET6: u16 = 10;
const IPPROTO_ESP: u8 = 50;
/// sizeof(struct xfrm_userpolicy_info).
const POLICY_INFO_LEN: usize = 168;
/// sizeof(struct xfrm_user_tmpl).
const TMPL_LEN: usize = 64;

/// Direction of a policy (`XFRM_POLICY_IN`, `XFRM_POLICY_OUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
    Forward,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Forward => "fwd",
        })
    }
}

/// The parts of a kernel XFRM policy the check reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub direction: Direction,
    pub family: u16,
    pub src: Ipv6Addr,
    pub src_len: u8,
    pub dst: Ipv6Addr,
    pub dst_len: u8,
    /// 0: any protocol.
    pub proto: u8,
    /// For the Mobility Header the selector's source port holds the MH type; a mask other than 0
    /// limits the policy to some types.
    pub type_mask: u16,
    pub ifindex: i32,
    pub priority: u32,
    /// `XFRM_POLICY_ALLOW` (0) or `XFRM_POLICY_BLOCK` (1).
    pub allow: bool,
    pub templates: Vec<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub proto: u8,
    pub optional: bool,
}

#[derive(Debug, Error)]
pub enum XfrmError {
    #[error("cannot read the XFRM policies over netlink: {0}")]
    Netlink(#[source] io::Error),
    #[error("the kernel refused the XFRM policy dump: error {errno}")]
    Refused { errno: i32 },
    #[error(
        "no XFRM policy requires ESP for Mobility Header traffic {direction} between this \
         node {local} and its peer {peer} (set up IPsec, or insecure_signaling = true in a lab)"
    )]
    Unprotected {
        /// This node: the CMD, or a MAAR.
        local: Ipv6Addr,
        /// The signaling peer: a MAAR of the CMD, or a MAAR's CMD.
        peer: Ipv6Addr,
        direction: Direction,
    },
}

/// Checks that ESP is required both ways between `local` and every one of `peers`.
pub fn check_esp_for_mh(local: Ipv6Addr, peers: &[Ipv6Addr]) -> Result<(), XfrmError> {
    let policies = dump_policies()?;
    check_policies(&policies, local, peers)
}

/// The decision, on a given policy list.
pub fn check_policies(
    policies: &[Policy],
    local: Ipv6Addr,
    peers: &[Ipv6Addr],
) -> Result<(), XfrmError> {
    for &peer in peers {
        for (direction, src, dst) in [(Direction::Out, local, peer), (Direction::In, peer, local)] {
            if !protected(policies, direction, src, dst) {
                return Err(XfrmError::Unprotected {
                    local,
                    peer,
                    direction,
                });
            }
        }
    }
    Ok(())
}

fn protected(policies: &[Policy], direction: Direction, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    let mut candidates: Vec<&Policy> = policies
        .iter()
        .filter(|p| p.direction == direction && p.may_match(src, dst))
        .collect();
    candidates.sort_by_key(|p| p.priority);
    for policy in candidates {
        if !policy.requires_esp() {
            return false;
        }
        if policy.matches_all() {
            return true;
        }
    }
    false
}

fn covers(net: Ipv6Addr, len: u8, addr: Ipv6Addr) -> bool {
    let len = u32::from(len.min(128));
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(net) & mask == u128::from(addr) & mask
}

impl Policy {
    /// Whether some Mobility Header packet from `src` to `dst` can match the selector.
    fn may_match(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        (self.family == AF_INET6 || self.family == 0)
            && covers(self.src, self.src_len, src)
            && covers(self.dst, self.dst_len, dst)
            && (self.proto == 0 || self.proto == IPPROTO_MH)
    }

    /// Whether every such packet matches: no limit on the MH type or interface.
    fn matches_all(&self) -> bool {
        self.type_mask == 0 && self.ifindex == 0
    }

    fn requires_esp(&self) -> bool {
        self.allow
            && self
                .templates
                .iter()
                .any(|t| t.proto == IPPROTO_ESP && !t.optional)
    }
}

fn dump_policies() -> Result<Vec<Policy>, XfrmError> {
    let mut socket = Socket::new(NETLINK_XFRM).map_err(XfrmError::Netlink)?;
    socket.bind_auto().map_err(XfrmError::Netlink)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(XfrmError::Netlink)?;
    // nlmsghdr, then a zeroed xfrm_userpolicy_info: the dump ignores it.
    let len = 16 + POLICY_INFO_LEN;
    let mut request = Vec::with_capacity(len);
    request.extend(
        u32::try_from(len)
            .expect("a constant of a few dozen octets")
            .to_ne_bytes(),
    );
    request.extend(XFRM_MSG_GETPOLICY.to_ne_bytes());
    request.extend((NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend(1u32.to_ne_bytes());
    request.extend(0u32.to_ne_bytes());
    request.resize(len, 0);
    socket.send(&request, 0).map_err(XfrmError::Netlink)?;
    let mut policies = Vec::new();
    loop {
        let (buf, _) = socket.recv_from_full().map_err(XfrmError::Netlink)?;
        if buf.is_empty() {
            return Ok(policies);
        }
        let mut rest = buf.as_slice();
        while rest.len() >= 16 {
            let msg_len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            if msg_len < 16 || msg_len > rest.len() {
                return Err(XfrmError::Netlink(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "netlink message length {msg_len} with {} octets left",
                        rest.len()
                    ),
                )));
            }
            let body = &rest[16..msg_len];
            match kind {
                NLMSG_DONE => return Ok(policies),
                NLMSG_ERROR => {
                    let errno = body
                        .first_chunk::<4>()
                        .map_or(0, |b| i32::from_ne_bytes(*b));
                    if errno != 0 {
                        return Err(XfrmError::Refused { errno: -errno });
                    }
                }
                XFRM_MSG_NEWPOLICY => {
                    if let Some(policy) = parse_policy(body) {
                        policies.push(policy);
                    }
                }
                _ => {}
            }
            rest = &rest[msg_len.next_multiple_of(4).min(rest.len())..];
        }
    }
}

fn addr(bytes: &[u8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[..16]);
    Ipv6Addr::from(octets)
}

/// struct xfrm_userpolicy_info, then attributes.
fn parse_policy(body: &[u8]) -> Option<Policy> {
    if body.len() < POLICY_INFO_LEN {
        return None;
    }
    let u16_at = |o: usize| u16::from_ne_bytes([body[o], body[o + 1]]);
    let u32_at = |o: usize| u32::from_ne_bytes([body[o], body[o + 1], body[o + 2], body[o + 3]]);
    let direction = match body[160] {
        0 => Direction::In,
        1 => Direction::Out,
        _ => Direction::Forward,
    };
    let mut policy = Policy {
        direction,
        dst: addr(&body[0..16]),
        src: addr(&body[16..32]),
        type_mask: u16_at(38),
        family: u16_at(40),
        dst_len: body[42],
        src_len: body[43],
        proto: body[44],
        ifindex: i32::from_ne_bytes([body[48], body[49], body[50], body[51]]),
        priority: u32_at(152),
        allow: body[161] == 0,
        templates: Vec::new(),
    };
    let mut attrs = &body[POLICY_INFO_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            break;
        }
        if kind == XFRMA_TMPL {
            for tmpl in attrs[4..len].chunks_exact(TMPL_LEN) {
                policy.templates.push(Template {
                    proto: tmpl[20],
                    optional: tmpl[50] != 0,
                });
            }
        }
        attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
    }
    Some(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
    const MAAR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);

    fn policy(direction: Direction, src: Ipv6Addr, dst: Ipv6Addr, esp: bool) -> Policy {
        Policy {
            direction,
            family: AF_INET6,
            src,
            src_len: 128,
            dst,
            dst_len: 128,
            proto: IPPROTO_MH,
            type_mask: 0,
            ifindex: 0,
            priority: 100,
            allow: true,
            templates: if esp {
                vec![Template {
                    proto: IPPROTO_ESP,
                    optional: false,
                }]
            } else {
                Vec::new()
            },
        }
    }

    fn both(esp: bool) -> Vec<Policy> {
        vec![
            policy(Direction::Out, CMD, MAAR, esp),
            policy(Direction::In, MAAR, CMD, esp),
        ]
    }

    #[test]
    fn esp_both_ways_passes() {
        check_policies(&both(true), CMD, &[MAAR]).expect("protected");
    }

    #[test]
    fn a_missing_direction_fails_naming_it() {
        let only_out = vec![policy(Direction::Out, CMD, MAAR, true)];
        assert!(matches!(
            check_policies(&only_out, CMD, &[MAAR]),
            Err(XfrmError::Unprotected {
                direction: Direction::In,
                ..
            })
        ));
        assert!(check_policies(&[], CMD, &[MAAR]).is_err());
    }

    #[test]
    fn optional_esp_or_a_higher_priority_bypass_fails() {
        let mut optional = both(true);
        optional[0].templates[0].optional = true;
        assert!(check_policies(&optional, CMD, &[MAAR]).is_err());

        let mut bypass = both(true);
        let mut hole = policy(Direction::Out, CMD, MAAR, false);
        hole.priority = 1;
        hole.type_mask = 0xffff;
        bypass.push(hole);
        assert!(check_policies(&bypass, CMD, &[MAAR]).is_err());
    }

    #[test]
    fn a_wider_selector_for_any_protocol_counts() {
        let mut wide = both(true);
        for p in &mut wide {
            p.proto = 0;
            p.src_len = 0;
            p.dst_len = 0;
        }
        check_policies(&wide, CMD, &[MAAR]).expect("protected");
        // A selector for another protocol does not.
        let mut udp = both(true);
        for p in &mut udp {
            p.proto = 17;
        }
        assert!(check_policies(&udp, CMD, &[MAAR]).is_err());
    }
}
