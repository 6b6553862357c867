//! The dense table across restarts: bindings of the pools move into it, between its slots and
//! back to the hash map as the configured pools change, and none is lost or counted twice.
//! Needs root and a bpffs at /sys/fs/bpf, as every privileged test run by `cargo xtask test`.

use std::{net::Ipv6Addr, path::Path};

use anchor_common::maps::{
    DENSE, POOLS, SETTING_DENSE, SETTING_L2_UNBOUND, SETTING_SHORT_PREFIXES,
};
use ipnet::Ipv6Net;

use super::{loader::Datapath, pin::PinDir};
use crate::datapath::{BindingSpec, DatapathError, DatapathParams, pin::DEFAULT_BPFFS};

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("prefix")
}

fn params(pools: &[&str]) -> DatapathParams {
    DatapathParams {
        locator: "2001:db8:ff::1".parse().expect("address"),
        tunnel_mtu: 1500,
        outer_hop_limit: 64,
        max_bindings: 16,
        dense_pools: pools.iter().map(|p| net(p)).collect(),
        log: false,
    }
}

fn sorted(dp: &Datapath) -> Vec<(Ipv6Net, BindingSpec)> {
    let mut bindings = dp.bindings().expect("list");
    bindings.sort_by_key(|(prefix, _)| *prefix);
    bindings
}

/// The dense slots in use and the /64s in the hash map.
fn places(dp: &Datapath) -> (Vec<u32>, usize) {
    let dense = dp.maps.dense_entries().expect("dense");
    let hashed = dp.maps.bindings.keys().count();
    (dense.into_iter().map(|(index, _)| index).collect(), hashed)
}

#[test]
fn privileged_bindings_follow_the_pools_across_restarts() {
    let p: Ipv6Addr = "2001:db8:ff::2".parse().expect("address");
    let q: Ipv6Addr = "2001:db8:ff::3".parse().expect("address");
    let a = net("2001:db8:1:5::/64");
    let b = net("2001:db8:2:1::/64");
    let instance = format!("unit-dense-{}", std::process::id());
    let pins = PinDir::open(Path::new(DEFAULT_BPFFS), &instance).expect("pin dir");

    let mut dp = Datapath::start(&params(&[]), &pins, &[]).expect("first start");
    dp.insert_binding(a, BindingSpec::redirect(p, 0))
        .expect("insert");
    dp.insert_binding(b, BindingSpec::redirect(q, 1))
        .expect("insert");
    dp.insert_binding(net("2001:db8:300::/40"), BindingSpec::visiting(q, true, 2))
        .expect("insert short");
    assert_eq!(places(&dp), (vec![], 2));
    // An L2 entry of a /64 neither in a pool nor bound: the program must look it up.
    let link = crate::datapath::AccessLink {
        ifindex: 7,
        mac: [2, 0, 0, 0, 0, 7],
        mtu: 1500,
    };
    dp.set_visiting_l2(net("2001:db8:8:8::/64"), [2, 0, 0, 0, 0, 1], &link)
        .expect("entry");
    let before = sorted(&dp);
    drop(dp);

    // (pools, dense slots of A and B, /64s left in the hash map)
    let steps: [(&[&str], Vec<u32>, usize); 4] = [
        (&["2001:db8:1::/48"], vec![5], 1),
        (
            &["2001:db8:2::/48", "2001:db8:1::/48"],
            vec![1, 65_536 + 5],
            0,
        ),
        (
            &["2001:db8:2::/48", "2001:db8:1::/48"],
            vec![1, 65_536 + 5],
            0,
        ),
        (&[], vec![], 2),
    ];
    for (pools, dense, hashed) in steps {
        let dp = Datapath::start(&params(pools), &pins, &[]).expect("restart");
        assert_eq!(sorted(&dp), before, "pools {pools:?}");
        assert_eq!(places(&dp), (dense, hashed), "pools {pools:?}");
        assert_eq!(
            (dp.peer_refs(0), dp.peer_refs(1)),
            (1, 2),
            "pools {pools:?}"
        );
        let bits = dp.maps.settings_in_map();
        assert_eq!(bits & SETTING_SHORT_PREFIXES, SETTING_SHORT_PREFIXES);
        assert_eq!(
            bits & SETTING_DENSE != 0,
            !pools.is_empty(),
            "pools {pools:?}"
        );
    }

    // Pins of a build without the dense table: created, and the pool's bindings moved in.
    std::fs::remove_file(pins.map(DENSE)).expect("remove the DENSE pin");
    std::fs::remove_file(pins.map(POOLS)).expect("remove the POOLS pin");
    let mut dp = Datapath::start(&params(&["2001:db8:1::/48"]), &pins, &[]).expect("restart");
    assert!(pins.map(DENSE).exists() && pins.map(POOLS).exists());
    assert_eq!(sorted(&dp), before);
    assert_eq!(places(&dp), (vec![5], 1));

    // Written, replaced and removed in place.
    dp.insert_binding(a, BindingSpec::redirect(q, 3))
        .expect("replace");
    assert_eq!(
        dp.get_binding(a).expect("get"),
        Some(BindingSpec::redirect(q, 3))
    );
    assert_eq!((dp.peer_refs(0), dp.peer_refs(1)), (0, 3));
    dp.remove_binding(a).expect("remove");
    assert!(matches!(
        dp.remove_binding(a),
        Err(DatapathError::BindingNotFound { .. })
    ));
    assert_eq!(dp.get_binding(a).expect("get"), None);
    assert_eq!(places(&dp), (vec![], 1));
    drop(dp);
    pins.remove().expect("remove the pins");
}

/// `SETTING_L2_UNBOUND` is set exactly while `VISITING_L2` has an entry for a /64 that is
/// neither in a pool nor bound as a /64, across bindings and entries coming and going.
#[test]
fn privileged_the_l2_bit_follows_the_unbound_entries() {
    use crate::datapath::AccessLink;

    let link = AccessLink {
        ifindex: 7,
        mac: [2, 0, 0, 0, 0, 7],
        mtu: 1500,
    };
    let mac = [2, 0, 0, 0, 0, 1];
    let peer: Ipv6Addr = "2001:db8:ff::2".parse().expect("address");
    let mut dp = Datapath::load(&params(&["2001:db8:1::/48"])).expect("load");
    let bit = |dp: &Datapath| dp.maps.settings_in_map() & SETTING_L2_UNBOUND != 0;
    let pooled = net("2001:db8:1:9::/64");
    let visiting = net("2001:db8:4:4::/64");
    let relocated = net("2001:db8:8:8::/64");

    dp.set_visiting_l2(pooled, mac, &link).expect("pooled");
    assert!(!bit(&dp), "a /64 of a pool");
    dp.insert_binding(visiting, BindingSpec::visiting(peer, true, 0))
        .expect("bind");
    dp.set_visiting_l2(visiting, mac, &link).expect("visiting");
    assert!(!bit(&dp), "a bound /64");
    dp.set_visiting_l2(relocated, mac, &link)
        .expect("relocated");
    assert!(bit(&dp), "a /64 neither in a pool nor bound");
    dp.remove_binding(visiting).expect("unbind");
    assert!(bit(&dp));
    dp.remove_visiting_l2(relocated).expect("remove");
    assert!(bit(&dp), "the visiting /64's entry is unbound now");
    dp.insert_binding(visiting, BindingSpec::visiting(peer, true, 0))
        .expect("bind again");
    assert!(!bit(&dp));
    dp.insert_binding(relocated, BindingSpec::visiting(peer, true, 1))
        .expect("bind");
    dp.set_visiting_l2(relocated, mac, &link)
        .expect("relocated");
    dp.remove_binding(relocated).expect("unbind");
    assert!(bit(&dp), "its binding went, its entry stays");
    dp.remove_visiting_l2(relocated).expect("remove");
    assert!(!bit(&dp));
}
