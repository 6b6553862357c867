//! One router identity on every access link (RFC 5213 section 6.8, RFC 6543; the MAAR's
//! `shared_access_identity`): at start, every access interface gets the shared MAC address and
//! the shared link-local address as its only link-local one, so that the kernel's Neighbour
//! Discovery, the source of the MAAR's Router Advertisements (the kernel picks the interface's
//! link-local address) and the MAC the XDP program writes as the source of the frames it sends
//! to nodes (read from the interface when a binding is installed) all agree with it.
//!
//! Per interface, in this order:
//! 1. `accept_dad = 0`: the address is usable at once after every carrier up (each access link
//!    has one router; the identity is the same on other links, never on this one twice);
//!    `addr_gen_mode = 1`: the kernel adds no link-local address of its own after a carrier
//!    change; `keep_addr_on_down = 1`: the address survives the interface going down;
//! 2. the MAC address;
//! 3. the link-local address, `nodad`;
//! 4. every other link-local address of the interface is deleted.
//!
//! A failure stops the start with the interface and the step; the interfaces done before keep
//! their new identity, which is what a restart would give them again.

use std::{io, net::Ipv6Addr};

use anchor_maar::identity::{AccessIdentity, format_mac};
use futures::TryStreamExt as _;
use netlink_packet_route::{
    AddressFamily,
    address::{AddressAttribute, AddressHeaderFlag, AddressMessage},
};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("cannot open a netlink socket")]
    Connect(#[source] io::Error),
    #[error("access interface {dev}: cannot set {key}")]
    Sysctl {
        dev: String,
        key: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("access interface {dev}: cannot set the MAC address {mac}")]
    Mac {
        dev: String,
        mac: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("access interface {dev}: cannot add the link-local address {address}")]
    AddAddress {
        dev: String,
        address: Ipv6Addr,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("access interface {dev}: cannot list its addresses")]
    ListAddresses {
        dev: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("access interface {dev}: cannot delete the link-local address {address}")]
    DeleteAddress {
        dev: String,
        address: Ipv6Addr,
        #[source]
        source: Box<rtnetlink::Error>,
    },
}

/// The per-interface IPv6 settings the identity needs, with their values.
const SETTINGS: [(&str, &str); 3] = [
    ("accept_dad", "0"),
    ("addr_gen_mode", "1"),
    ("keep_addr_on_down", "1"),
];

/// `EEXIST`, as netlink reports it for an address that is there already.
const EEXIST: i32 = 17;

/// Gives every interface of `access` (name, index) `identity`. Must run inside a tokio
/// runtime.
pub async fn apply(
    access: &[(String, u32)],
    identity: AccessIdentity,
) -> Result<(), IdentityError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(IdentityError::Connect)?;
    let connection = tokio::spawn(connection);
    let result = apply_with(&handle, access, identity).await;
    connection.abort();
    result
}

async fn apply_with(
    handle: &rtnetlink::Handle,
    access: &[(String, u32)],
    identity: AccessIdentity,
) -> Result<(), IdentityError> {
    for (dev, ifindex) in access {
        for (key, value) in SETTINGS {
            let path = format!("/proc/sys/net/ipv6/conf/{dev}/{key}");
            std::fs::write(&path, value).map_err(|source| IdentityError::Sysctl {
                dev: dev.clone(),
                key,
                source,
            })?;
        }
        handle
            .link()
            .set(*ifindex)
            .address(identity.mac.to_vec())
            .execute()
            .await
            .map_err(|source| IdentityError::Mac {
                dev: dev.clone(),
                mac: format_mac(identity.mac),
                source: Box::new(source),
            })?;
        let mut add = handle
            .address()
            .add(*ifindex, identity.link_local.into(), 64);
        add.message_mut()
            .header
            .flags
            .push(AddressHeaderFlag::Nodad);
        match add.execute().await {
            Ok(()) => {}
            Err(rtnetlink::Error::NetlinkError(message)) if message.raw_code() == -EEXIST => {}
            Err(source) => {
                return Err(IdentityError::AddAddress {
                    dev: dev.clone(),
                    address: identity.link_local,
                    source: Box::new(source),
                });
            }
        }
        for (address, message) in other_link_locals(handle, dev, *ifindex, identity).await? {
            handle
                .address()
                .del(message)
                .execute()
                .await
                .map_err(|source| IdentityError::DeleteAddress {
                    dev: dev.clone(),
                    address,
                    source: Box::new(source),
                })?;
        }
        tracing::info!(
            "access interface {dev}: shared identity {} {}",
            format_mac(identity.mac),
            identity.link_local
        );
    }
    Ok(())
}

/// The link-local addresses of interface `ifindex` other than the identity's.
async fn other_link_locals(
    handle: &rtnetlink::Handle,
    dev: &str,
    ifindex: u32,
    identity: AccessIdentity,
) -> Result<Vec<(Ipv6Addr, AddressMessage)>, IdentityError> {
    let list_error = |source| IdentityError::ListAddresses {
        dev: dev.to_owned(),
        source: Box::new(source),
    };
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(ifindex)
        .execute();
    let mut others = Vec::new();
    while let Some(message) = stream.try_next().await.map_err(list_error)? {
        if message.header.family != AddressFamily::Inet6 {
            continue;
        }
        let address = message
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                AddressAttribute::Address(std::net::IpAddr::V6(address)) => Some(*address),
                _ => None,
            });
        if let Some(address) = address
            && is_link_local(address)
            && address != identity.link_local
        {
            others.push((address, message));
        }
    }
    Ok(others)
}

fn is_link_local(address: Ipv6Addr) -> bool {
    address.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::is_link_local;

    #[test]
    fn link_local_is_fe80_slash_10() {
        for yes in ["fe80::1", "fe80::200:5eff:fe00:5213", "febf::1"] {
            assert!(is_link_local(yes.parse().unwrap()), "{yes}");
        }
        for no in ["fec0::1", "2001:db8::1", "ff02::1", "::1"] {
            assert!(!is_link_local(no.parse().unwrap()), "{no}");
        }
    }
}
