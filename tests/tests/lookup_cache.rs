//! The program's per-CPU lookup caches (`anchor_common::cache`), privileged, with
//! BPF_PROG_TEST_RUN: a cached answer is used (shown by changing a map behind the datapath's
//! back, which the cache does not see), and every change made through the datapath moves the
//! generation so that the next frame sees it. Expected frames are built with `anchor-packet`,
//! never by the code under test.

use std::net::Ipv6Addr;

use anchor_common::{
    BindingKey, Counter, NextHop,
    cache::{BINDING_CACHE_SETS, BINDING_CACHE_WAYS, cache_slot},
};
use anchor_packet::{Udp6, encapsulate, ethernet};
use anchor_rig::fixture_net::{ACCESS_MAC, CORE_MAC};
use anchor_tests::{
    fixture::{
        CN, LOCATOR, MN1, MN3, PEER_MAC, R2, R3, encapsulated, fixture_net, load_small_datapath,
    },
    xdp::{XDP_PASS, XDP_REDIRECT, action_name, assert_frame, counters, run, stay_on_this_cpu},
};
use anchor_user::datapath::{AccessLink, BindingSpec, Datapath};
use aya::maps::{HashMap, Map, MapData, MapInfo};
use ipnet::Ipv6Net;

const MN1_NET: &str = "2001:db8:1:1::/64";
const MN3_NET: &str = "2001:db8:3:3::/64";
/// The node's MAC in its first and second `VISITING_L2` entry; neither is the one the fixture
/// network's neighbour table has for MN3, which the FIB path would write.
const NODE_MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa1];
const NODE_MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb2];

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("prefix")
}

/// The program's hash map `name`, opened by id, as `BindingKey -> V`.
fn program_hash<V: aya::Pod>(dp: &Datapath, name: &str) -> HashMap<MapData, BindingKey, V> {
    let ids = dp
        .program()
        .info()
        .expect("program info")
        .map_ids()
        .expect("map ids")
        .unwrap_or_default();
    let id = ids
        .into_iter()
        .find(|&id| {
            MapInfo::from_id(id)
                .ok()
                .is_some_and(|info| info.name_as_str() == Some(name))
        })
        .unwrap_or_else(|| panic!("the program has no map {name}"));
    let data = MapData::from_id(id).expect("open the map");
    Map::from_map_data(data)
        .expect("a map")
        .try_into()
        .expect("a hash map of /64 keys")
}

/// Removes the `BINDINGS` entry of `prefix` straight from the map, which the datapath (and so
/// the generation of the caches) does not see.
fn remove_behind_the_datapaths_back(dp: &Datapath, prefix: &str) {
    program_hash::<anchor_common::BindingValue>(dp, "BINDINGS")
        .remove(&key(prefix))
        .expect("remove the entry directly");
}

fn key(prefix: &str) -> BindingKey {
    BindingKey::from_addr(&net(prefix).network().octets())
}

/// What one frame did: its verdict, the IPv6 packet that left (from byte 14), and how many
/// packets the program counted as encapsulated.
struct Sent {
    action: u32,
    packet: Vec<u8>,
    encapsulated: u64,
}

/// Sends `inner` to the program on the core port.
fn send(dp: &Datapath, core: u32, inner: &Udp6) -> Sent {
    let before = counters(dp);
    let out = run(dp, &ethernet(CORE_MAC, PEER_MAC, &inner.bytes()), core);
    let after = counters(dp);
    Sent {
        action: out.action,
        packet: out.frame[14..].to_vec(),
        encapsulated: after[Counter::Encap.name()] - before[Counter::Encap.name()],
    }
}

/// `sent` is `inner` encapsulated toward `peer` (the exact packet), counted once.
fn assert_encapsulated(what: &str, sent: &Sent, inner: &Udp6, peer: Ipv6Addr) {
    assert_ne!(
        action_name(sent.action),
        action_name(XDP_PASS),
        "{what}: should be encapsulated"
    );
    assert_frame(what, &sent.packet, &encapsulated(inner, peer, true));
    assert_eq!(sent.encapsulated, 1, "{what}: encapsulated count");
}

/// `sent` is `inner` passed untouched, nothing encapsulated.
fn assert_passed(what: &str, sent: &Sent, inner: &Udp6) {
    assert_eq!(
        action_name(sent.action),
        action_name(XDP_PASS),
        "{what}: should be passed"
    );
    assert_eq!(
        (&sent.packet, sent.encapsulated),
        (&inner.bytes(), 0),
        "{what}"
    );
}

#[test]
fn a_cached_binding_is_used_until_the_datapath_changes_a_map() {
    let net_fixture = fixture_net();
    stay_on_this_cpu();
    let core = net_fixture.core_ifindex;
    let mut dp = load_small_datapath();
    dp.set_iface_role(core, anchor_common::IfaceRole::Core)
        .expect("core role");
    let to_mn1 = Udp6::new(CN, MN1);

    // Nothing bound: passed, and "none" is cached.
    assert_passed("unbound", &send(&dp, core, &to_mn1), &to_mn1);

    // Bound through the datapath: the generation moved, the next frame sees the binding.
    dp.insert_binding(net(MN1_NET), BindingSpec::redirect(R3, 1))
        .expect("insert the binding");
    assert_encapsulated("to R3", &send(&dp, core, &to_mn1), &to_mn1, R3);

    // Removed behind the datapath's back: the cached binding still answers.
    remove_behind_the_datapaths_back(&dp, MN1_NET);
    assert_encapsulated(
        "cached, to R3 (the cached binding answers while the generation stays)",
        &send(&dp, core, &to_mn1),
        &to_mn1,
        R3,
    );

    // Forgotten: the map is asked again, and it has nothing.
    dp.forget_cached_lookups().expect("forget");
    assert_passed("forgotten", &send(&dp, core, &to_mn1), &to_mn1);

    // Every change through the datapath is seen by the next frame: a new peer, another one,
    // then none.
    for peer in [R2, R3] {
        dp.insert_binding(net(MN1_NET), BindingSpec::redirect(peer, 1))
            .expect("bind");
        assert_encapsulated(
            &format!("to {peer}"),
            &send(&dp, core, &to_mn1),
            &to_mn1,
            peer,
        );
    }
    dp.remove_binding(net(MN1_NET)).expect("unbind");
    assert_passed("unbound again", &send(&dp, core, &to_mn1), &to_mn1);

    // With the caches off, every frame asks the maps: a change behind the datapath's back is
    // seen by the next frame.
    dp.set_lookup_caching(false).expect("caches off");
    dp.insert_binding(net(MN1_NET), BindingSpec::redirect(R2, 1))
        .expect("bind");
    assert_encapsulated("uncached, to R2", &send(&dp, core, &to_mn1), &to_mn1, R2);
    remove_behind_the_datapaths_back(&dp, MN1_NET);
    assert_passed(
        "with the caches off the removal should be seen at once",
        &send(&dp, core, &to_mn1),
        &to_mn1,
    );
}

#[test]
fn a_cached_node_entry_is_used_until_the_datapath_changes_a_map() {
    let net_fixture = fixture_net();
    stay_on_this_cpu();
    let (core, access) = (net_fixture.core_ifindex, net_fixture.access_ifindex);
    let mut dp = load_small_datapath();
    dp.set_iface_role(core, anchor_common::IfaceRole::Core)
        .expect("core role");
    dp.set_iface_role(access, anchor_common::IfaceRole::Access)
        .expect("access role");
    dp.insert_binding(net(MN3_NET), BindingSpec::visiting(R3, true, 3))
        .expect("visiting binding");
    let link = AccessLink {
        ifindex: access,
        mac: ACCESS_MAC,
        mtu: 1500,
    };
    let to_mn3 = Udp6::new(CN, MN3);
    let tunnelled = ethernet(
        CORE_MAC,
        PEER_MAC,
        &encapsulate(R3, LOCATOR, 60, 0, 0x777, &to_mn3.bytes()),
    );
    let mut forwarded = to_mn3.clone();
    forwarded.hop_limit -= 1;
    // Sends the tunnelled frame; returns the frame that left and whether it went by the
    // node's entry (`visiting_l2`).
    let send = |dp: &Datapath| {
        let before = counters(dp);
        let out = run(dp, &tunnelled, core);
        let after = counters(dp);
        assert_eq!(action_name(out.action), action_name(XDP_REDIRECT));
        let by_entry = after[Counter::VisitingL2.name()] - before[Counter::VisitingL2.name()];
        (out.frame, by_entry)
    };
    let to_node = |mac: [u8; 6]| ethernet(mac, ACCESS_MAC, &forwarded.bytes());

    dp.set_visiting_l2(net(MN3_NET), NODE_MAC_A, &link)
        .expect("node entry");
    let (frame, by_entry) = send(&dp);
    assert_frame("to the node's first MAC", &frame, &to_node(NODE_MAC_A));
    assert_eq!(by_entry, 1);

    dp.set_visiting_l2(net(MN3_NET), NODE_MAC_B, &link)
        .expect("node entry changed");
    let (frame, by_entry) = send(&dp);
    assert_frame("to the node's new MAC", &frame, &to_node(NODE_MAC_B));
    assert_eq!(by_entry, 1);

    // Removed behind the datapath's back: the cached entry still answers.
    program_hash::<NextHop>(&dp, "VISITING_L2")
        .remove(&key(MN3_NET))
        .expect("remove the entry directly");
    let (frame, by_entry) = send(&dp);
    assert_frame(
        "cached, to the node's new MAC",
        &frame,
        &to_node(NODE_MAC_B),
    );
    assert_eq!(by_entry, 1);

    // Forgotten: no entry, so the FIB path, which writes the neighbour's MAC.
    dp.forget_cached_lookups().expect("forget");
    let (frame, by_entry) = send(&dp);
    assert_eq!(by_entry, 0, "no entry: the FIB path");
    assert_ne!(
        frame[..6],
        NODE_MAC_B,
        "the FIB's neighbour, not the cached MAC"
    );
    assert_eq!(frame[14..], forwarded.bytes());
}

/// One more /64 of 2001:db8:1::/48 than a set has ways, whose answers share one set of the binding cache (the
/// program's hash of the /64's upper 64 bits as loaded from the packet: little-endian here).
fn one_set() -> Vec<Ipv6Net> {
    let mut by_set: std::collections::HashMap<u32, Vec<Ipv6Net>> = std::collections::HashMap::new();
    for n in 0..=u16::MAX {
        let prefix =
            Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 1, n, 0, 0, 0, 0), 64).expect("a /64");
        let octets = prefix.network().octets();
        let key = u64::from_le_bytes(octets[..8].try_into().expect("8 bytes"));
        let members = by_set
            .entry(cache_slot(key, BINDING_CACHE_SETS))
            .or_default();
        members.push(prefix);
        if members.len() == BINDING_CACHE_WAYS + 1 {
            return members.clone();
        }
    }
    panic!(
        "no {} /64s of 2001:db8:1::/48 share a set",
        BINDING_CACHE_WAYS + 1
    );
}

#[test]
fn a_full_set_of_answers_stays_cached_together() {
    let net_fixture = fixture_net();
    stay_on_this_cpu();
    let core = net_fixture.core_ifindex;
    let mut dp = load_small_datapath();
    dp.set_iface_role(core, anchor_common::IfaceRole::Core)
        .expect("core role");
    let prefixes = one_set();
    let to = |prefix: &Ipv6Net| {
        let mut dst = prefix.network().octets();
        dst[15] = 1;
        Udp6::new(CN, Ipv6Addr::from(dst))
    };
    for prefix in &prefixes {
        dp.insert_binding(*prefix, BindingSpec::redirect(R3, 1))
            .expect("bind");
    }
    // As many /64s of one set as it has ways looked up, each answer cached in a way of its own.
    let (cached, last) = prefixes.split_at(BINDING_CACHE_WAYS);
    for prefix in cached {
        let inner = to(prefix);
        assert_encapsulated(
            &format!("{prefix} to R3"),
            &send(&dp, core, &inner),
            &inner,
            R3,
        );
    }
    // All removed behind the datapath's back: the cached answers still encapsulate, the last
    // /64, never looked up, is asked of the map, which has nothing.
    let mut bindings = program_hash::<anchor_common::BindingValue>(&dp, "BINDINGS");
    for prefix in &prefixes {
        bindings
            .remove(&BindingKey::from_addr(&prefix.network().octets()))
            .expect("remove the entry directly");
    }
    for prefix in cached {
        let inner = to(prefix);
        assert_encapsulated(
            &format!("{prefix}, cached (its answer stays beside the others of its set)"),
            &send(&dp, core, &inner),
            &inner,
            R3,
        );
    }
    let inner = to(&last[0]);
    assert_passed("the last of the set", &send(&dp, core, &inner), &inner);
}
