//! Section 1, the lookup caches off: the same paths with every lookup made in the maps (the
//! program's per-CPU caches of its lookups answer the cached rows, as they do for a flow's
//! packets after its first), each set against the cached row.

use anchor_common::IfaceRole;
use anchor_rig::{FixtureNet, fixture_net::ACCESS_MAC};
use anchor_user::datapath::{AccessLink, BindingSpec, Datapath};
use anyhow::Result;

use super::{
    XDP_PASS, XDP_REDIRECT, XDP_TX, as_attached,
    frames::{HOME, SERVING, tunnelled, udp_to, uplink},
    load_datapath, net64,
    timing::{Case, Costs},
};
use crate::{
    bindings::address,
    nexthops,
    report::{Report, Row},
};

/// The /64s the cached cases use.
pub struct Keys {
    pub redirected: anchor_common::BindingKey,
    pub visiting: anchor_common::BindingKey,
    pub unbound: anchor_common::BindingKey,
    pub visiting_l2: anchor_common::BindingKey,
}

/// The anchor with one binding of each kind (`keys`), on the fixture's core and access links:
/// a redirect, a visiting binding, and a second visiting /64 whose node's MAC the serving router
/// knows, as a MAAR writes it for every node attached to it (its decapsulated packets leave
/// without a FIB lookup); the peers' next hops cached, as the daemon does.
pub fn level1(net: &FixtureNet, keys: &Keys, node_mac: [u8; 6]) -> Result<Datapath> {
    let mut dp = load_datapath()?;
    as_attached(&mut dp, net.core_ifindex, IfaceRole::Core)?;
    as_attached(&mut dp, net.access_ifindex, IfaceRole::Access)?;
    dp.insert_binding(net64(keys.redirected)?, BindingSpec::redirect(SERVING, 0))?;
    dp.insert_binding(net64(keys.visiting)?, BindingSpec::visiting(HOME, true, 1))?;
    dp.insert_binding(
        net64(keys.visiting_l2)?,
        BindingSpec::visiting(HOME, true, 3),
    )?;
    dp.set_visiting_l2(
        net64(keys.visiting_l2)?,
        node_mac,
        &AccessLink {
            ifindex: net.access_ifindex,
            mac: ACCESS_MAC,
            mtu: 1500,
        },
    )?;
    nexthops::resolve(&dp)?;
    Ok(dp)
}

/// [`level1`] with its lookup caches off.
pub fn datapath(net: &FixtureNet, keys: &Keys, node_mac: [u8; 6]) -> Result<Datapath> {
    let mut dp = level1(net, keys, node_mac)?;
    dp.set_lookup_caching(false)?;
    Ok(dp)
}

/// The cases: (the cached case's name, this case).
pub fn cases<'a>(
    dp: &'a Datapath,
    net: &FixtureNet,
    keys: &Keys,
    decap_l2: &'static str,
) -> Vec<(&'static str, Case<'a>)> {
    let case = |name: &'static str, frames, ingress, action| {
        (
            name,
            Case {
                name: format!("{name}, lookup caches off"),
                program: dp.program(),
                frames,
                ingress,
                action,
            },
        )
    };
    vec![
        case(
            "pass-through, no binding",
            vec![udp_to(address(keys.unbound, 1))],
            net.core_ifindex,
            XDP_PASS,
        ),
        case(
            "encap hit",
            vec![udp_to(address(keys.redirected, 0x100))],
            net.core_ifindex,
            XDP_TX,
        ),
        case(
            "reverse encap",
            vec![uplink(address(keys.visiting, 0x100))],
            net.access_ifindex,
            XDP_REDIRECT,
        ),
        case(
            decap_l2,
            vec![tunnelled(address(keys.visiting_l2, 0x100))],
            net.core_ifindex,
            XDP_REDIRECT,
        ),
    ]
}

/// One row per case, set against its cached row.
pub fn report(
    report: &mut Report,
    section: &'static str,
    names: &[&str],
    costs: &Costs,
) -> Result<()> {
    for cached in names {
        let name = format!("{cached}, lookup caches off");
        report.push(
            Row::new(section, &name, costs.get(&name)?, "ns")
                .method("single-runs")
                .against(*cached, costs.get(cached)?)
                .note(
                    "the same path with the program's per-CPU lookup caches off (every lookup \
                     in the maps, as a flow's first packet, or one whose cache slot another \
                     /64 took): the cached row is the steady state of a flow",
                ),
        );
    }
    Ok(())
}
