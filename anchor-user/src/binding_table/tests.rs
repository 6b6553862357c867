use super::*;
use crate::prefix::PrefixError;
use crate::testing::{FakeDatapath, FakeRoutes};

type Table = BindingTable<FakeDatapath, FakeRoutes>;

const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);

fn table(max: u32) -> Table {
    BindingTable::new(
        FakeDatapath::default(),
        FakeRoutes::default(),
        LOCATOR,
        max,
        [("acc0".to_owned(), 7)],
    )
}

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("prefix")
}

fn redirect() -> TableBindingKind {
    TableBindingKind::Redirect { serving: PEER }
}

fn visiting(dev: &str) -> TableBindingKind {
    TableBindingKind::Visiting {
        home: PEER,
        reverse_tunnel: true,
        dev: Some(dev.to_owned()),
        mac: None,
    }
}

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

fn visiting_mac(dev: &str) -> TableBindingKind {
    TableBindingKind::Visiting {
        home: PEER,
        reverse_tunnel: true,
        dev: Some(dev.to_owned()),
        mac: Some(MAC),
    }
}

#[tokio::test]
async fn add_and_remove() {
    let mut t = table(4);
    let b = t
        .add(net("2001:db8:1:1::9/64"), redirect())
        .await
        .expect("add");
    assert_eq!(b.prefix, net("2001:db8:1:1::/64"));
    assert_eq!(b.slot, 0);
    assert_eq!(t.datapath.reset, vec![0]);
    let value = t.datapath.entries[&b.prefix];
    assert_eq!(value.peer, PEER);
    assert_eq!(value.slot, 0);

    let v = t
        .add(net("2001:db8:2::/48"), visiting("acc0"))
        .await
        .expect("add");
    assert_eq!(v.slot, 1);
    assert!(t.datapath.entries[&v.prefix].reverse_tunnel);
    assert!(t.routes.routes.contains(&(v.prefix, 7)));

    t.remove(net("2001:db8:2::/48")).await.expect("remove");
    assert!(t.routes.routes.is_empty());
    assert!(!t.datapath.entries.contains_key(&v.prefix));
    // The freed slot is reused and reset again.
    let w = t
        .add(net("2001:db8:3::/64"), redirect())
        .await
        .expect("add");
    assert_eq!(w.slot, 1);
    assert_eq!(t.datapath.reset, vec![0, 1, 1]);
    assert_eq!(t.len(), 2);
}

#[tokio::test]
async fn duplicate_is_an_error_and_changes_nothing() {
    let mut t = table(4);
    t.add(net("2001:db8:1:1::/64"), redirect())
        .await
        .expect("add");
    let err = t
        .add(net("2001:db8:1:1::1/64"), redirect())
        .await
        .expect_err("dup");
    assert!(matches!(err, TableError::Duplicate { .. }));
    assert_eq!(
        err.to_string(),
        "binding for 2001:db8:1:1::/64 already exists"
    );
    assert_eq!(t.datapath.reset, vec![0]);
}

#[tokio::test]
async fn unknown_prefix_on_remove() {
    let mut t = table(4);
    let err = t
        .remove(net("2001:db8:1:1::/64"))
        .await
        .expect_err("unknown");
    assert!(matches!(err, TableError::Unknown { .. }));
}

#[tokio::test]
async fn too_long_prefix() {
    let mut t = table(4);
    let err = t
        .add(net("2001:db8:1:1::/80"), redirect())
        .await
        .expect_err("long");
    assert!(matches!(
        err,
        TableError::Prefix(PrefixError::TooLong { .. })
    ));
    assert!(t.datapath.reset.is_empty());
}

#[tokio::test]
async fn capacity_is_map_full() {
    let mut t = table(1);
    assert_eq!(t.room(), 1);
    t.add(net("2001:db8:1::/64"), redirect())
        .await
        .expect("add");
    assert_eq!(t.room(), 0, "the MAAR reads it to refuse updates with 130");
    let err = t
        .add(net("2001:db8:2::/64"), redirect())
        .await
        .expect_err("full");
    assert!(matches!(err, TableError::Full { max_bindings: 1 }));
    assert!(err.is_full());
}

#[tokio::test]
async fn map_full_from_the_datapath_releases_the_slot() {
    let mut t = table(4);
    t.datapath.capacity = Some(0);
    let err = t
        .add(net("2001:db8:1::/64"), redirect())
        .await
        .expect_err("full");
    assert!(err.is_full());
    t.datapath.capacity = None;
    let b = t
        .add(net("2001:db8:1::/64"), redirect())
        .await
        .expect("add");
    assert_eq!(b.slot, 0);
}

#[tokio::test]
async fn invalid_peers() {
    let mut t = table(4);
    for peer in [
        Ipv6Addr::UNSPECIFIED,
        Ipv6Addr::LOCALHOST,
        "ff02::1".parse().expect("a"),
        LOCATOR,
    ] {
        let err = t
            .add(
                net("2001:db8:1::/64"),
                TableBindingKind::Redirect { serving: peer },
            )
            .await
            .expect_err("peer");
        assert!(matches!(err, TableError::InvalidPeer { .. }), "{peer}");
    }
    assert!(t.is_empty());
}

#[tokio::test]
async fn dev_must_be_an_access_interface() {
    let mut t = table(4);
    let err = t
        .add(net("2001:db8:1::/64"), visiting("core0"))
        .await
        .expect_err("dev");
    assert!(matches!(err, TableError::NotAccessInterface { .. }));
    assert!(t.datapath.reset.is_empty());
}

#[tokio::test]
async fn failed_reset_or_insert_leaves_nothing() {
    let mut t = table(4);
    t.datapath.fail.insert("reset");
    t.add(net("2001:db8:1::/64"), redirect())
        .await
        .expect_err("reset");
    t.datapath.fail.clear();
    t.datapath.fail.insert("insert");
    t.add(net("2001:db8:1::/64"), redirect())
        .await
        .expect_err("insert");
    t.datapath.fail.clear();
    assert!(t.is_empty());
    assert!(t.datapath.entries.is_empty());
    let b = t
        .add(net("2001:db8:1::/64"), redirect())
        .await
        .expect("add");
    assert_eq!(b.slot, 0, "slots were released");
}

#[tokio::test]
async fn failed_route_rolls_back_the_map_entry() {
    let mut t = table(4);
    t.routes.fail_add = true;
    let err = t
        .add(net("2001:db8:1::/64"), visiting("acc0"))
        .await
        .expect_err("route");
    assert!(matches!(err, TableError::Route(RouteError::Exists { .. })));
    assert!(t.datapath.entries.is_empty());
    assert!(t.is_empty());
    t.routes.fail_add = false;
    let b = t
        .add(net("2001:db8:1::/64"), visiting("acc0"))
        .await
        .expect("add");
    assert_eq!(b.slot, 0);
}

#[tokio::test]
async fn failed_rollback_keeps_the_slot_reserved() {
    let mut t = table(2);
    t.routes.fail_add = true;
    t.datapath.fail.insert("remove");
    t.add(net("2001:db8:1::/64"), visiting("acc0"))
        .await
        .expect_err("route");
    t.routes.fail_add = false;
    t.datapath.fail.clear();
    let b = t
        .add(net("2001:db8:2::/64"), redirect())
        .await
        .expect("add");
    assert_eq!(b.slot, 1, "slot 0 is still referenced by the stale entry");
}

#[tokio::test]
async fn failed_route_delete_keeps_the_binding() {
    let mut t = table(4);
    t.add(net("2001:db8:1::/64"), visiting("acc0"))
        .await
        .expect("add");
    t.routes.fail_del = true;
    t.remove(net("2001:db8:1::/64"))
        .await
        .expect_err("route del");
    assert_eq!(t.len(), 1);
    assert_eq!(t.datapath.entries.len(), 1);
}

#[tokio::test]
async fn failed_map_delete_restores_the_route() {
    let mut t = table(4);
    t.add(net("2001:db8:1::/64"), visiting("acc0"))
        .await
        .expect("add");
    t.datapath.fail.insert("remove");
    let err = t.remove(net("2001:db8:1::/64")).await.expect_err("map del");
    assert!(matches!(err, TableError::Datapath { .. }));
    assert_eq!(t.len(), 1);
    assert_eq!(t.routes.routes.len(), 1, "route restored");
}

#[tokio::test]
async fn adopts_pinned_entries_with_their_slots_and_routes() {
    let entries = [
        (net("2001:db8:1::/64"), BindingSpec::redirect(PEER, 3)),
        (net("2001:db8:2::/48"), BindingSpec::visiting(PEER, true, 0)),
        (
            net("2001:db8:3::/64"),
            BindingSpec::visiting(PEER, false, 5),
        ),
    ];
    // A route to acc0 for the /48, and one to an interface that is not ours for the other.
    let dev_routes = [(net("2001:db8:2::/48"), 7), (net("2001:db8:3::/64"), 99)];
    let mut t = Table::adopt(
        FakeDatapath::default(),
        FakeRoutes::default(),
        LOCATOR,
        8,
        [("acc0".to_owned(), 7)],
        entries,
        &dev_routes,
        &[],
    )
    .expect("adopt");
    assert_eq!(t.len(), 3);
    assert_eq!(
        t.get(net("2001:db8:1::/64")).expect("redirect").kind,
        redirect()
    );
    assert_eq!(
        t.get(net("2001:db8:2::/48")).expect("visiting").kind,
        visiting("acc0")
    );
    assert_eq!(
        t.get(net("2001:db8:3::/64")).expect("visiting").kind,
        TableBindingKind::Visiting {
            home: PEER,
            reverse_tunnel: false,
            dev: None,
            mac: None,
        }
    );
    // Free slots are handed out lowest first, then the ones after the highest.
    let mut slots = Vec::new();
    for n in 0..5 {
        let prefix = format!("2001:db8:{}::/64", 10 + n).parse().expect("prefix");
        slots.push(t.add(prefix, redirect()).await.expect("add").slot);
    }
    assert_eq!(slots, [1, 2, 4, 6, 7]);
    assert!(t.add(net("2001:db8:99::/64"), redirect()).await.is_err());
    // The adopted route is removed with its binding.
    t.routes.routes.insert((net("2001:db8:2::/48"), 7));
    t.remove(net("2001:db8:2::/48")).await.expect("remove");
    assert!(t.routes.routes.is_empty());
}

#[test]
fn adoption_refuses_bad_slots() {
    let adopt = |entries: Vec<(Ipv6Net, BindingSpec)>| {
        Table::adopt(
            FakeDatapath::default(),
            FakeRoutes::default(),
            LOCATOR,
            4,
            [],
            entries,
            &[],
            &[],
        )
    };
    let err = adopt(vec![(
        net("2001:db8:1::/64"),
        BindingSpec::redirect(PEER, 4),
    )])
    .err()
    .expect("slot too high");
    assert!(err.to_string().contains("slot 4 is not below"), "{err}");
    let err = adopt(vec![
        (net("2001:db8:1::/64"), BindingSpec::redirect(PEER, 1)),
        (net("2001:db8:2::/64"), BindingSpec::redirect(PEER, 1)),
    ])
    .err()
    .expect("shared slot");
    assert!(err.to_string().contains("used by another binding"), "{err}");
}

#[tokio::test]
async fn a_visiting_64_with_dev_and_mac_gets_its_l2_next_hop_until_removed() {
    let mut t = table(4);
    let b = t
        .add(net("2001:db8:1::/64"), visiting_mac("acc0"))
        .await
        .expect("add");
    assert_eq!(t.datapath.l2[&b.prefix], (MAC, "acc0".to_owned(), 7));
    // A shorter prefix, or no MAC: no entry.
    t.add(net("2001:db8:2::/56"), visiting_mac("acc0"))
        .await
        .expect("add");
    t.add(net("2001:db8:3::/64"), visiting("acc0"))
        .await
        .expect("add");
    assert_eq!(t.datapath.l2.len(), 1);
    t.remove(net("2001:db8:1::/64")).await.expect("remove");
    assert!(t.datapath.l2.is_empty());
}

#[tokio::test]
async fn a_failed_l2_write_or_route_leaves_nothing() {
    let mut t = table(4);
    t.datapath.fail.insert("l2");
    let err = t
        .add(net("2001:db8:1::/64"), visiting_mac("acc0"))
        .await
        .expect_err("l2");
    assert!(matches!(err, TableError::Datapath { .. }));
    assert!(t.is_empty() && t.datapath.entries.is_empty());
    t.datapath.fail.clear();
    t.routes.fail_add = true;
    t.add(net("2001:db8:1::/64"), visiting_mac("acc0"))
        .await
        .expect_err("route");
    assert!(t.datapath.entries.is_empty());
    assert!(t.datapath.l2.is_empty(), "the L2 next hop is rolled back");
    t.routes.fail_add = false;
    let b = t
        .add(net("2001:db8:1::/64"), visiting_mac("acc0"))
        .await
        .expect("add");
    assert_eq!(b.slot, 0);
}

#[test]
fn adoption_keeps_the_l2_next_hops_of_routed_bindings_and_drops_the_others() {
    let entries = [
        (net("2001:db8:1::/64"), BindingSpec::visiting(PEER, true, 0)),
        (net("2001:db8:2::/64"), BindingSpec::visiting(PEER, true, 1)),
    ];
    // Only the first has its route still; a third entry has no binding at all.
    let dev_routes = [(net("2001:db8:1::/64"), 7)];
    let l2 = [
        (net("2001:db8:1::/64"), MAC),
        (net("2001:db8:2::/64"), MAC),
        (net("2001:db8:9::/64"), MAC),
    ];
    let mut datapath = FakeDatapath::default();
    for (prefix, mac) in l2 {
        datapath.l2.insert(prefix, (mac, "old".to_owned(), 1));
    }
    let t = Table::adopt(
        datapath,
        FakeRoutes::default(),
        LOCATOR,
        8,
        [("acc0".to_owned(), 7)],
        entries,
        &dev_routes,
        &l2,
    )
    .expect("adopt");
    assert_eq!(
        t.get(net("2001:db8:1::/64")).expect("routed").kind,
        visiting_mac("acc0")
    );
    assert!(matches!(
        t.get(net("2001:db8:2::/64")).expect("unrouted").kind,
        TableBindingKind::Visiting {
            dev: None,
            mac: None,
            ..
        }
    ));
    // Written again for the interface as it is now; the others removed.
    assert_eq!(
        t.datapath.l2.iter().collect::<Vec<_>>(),
        [(&net("2001:db8:1::/64"), &(MAC, "acc0".to_owned(), 7))]
    );
}

#[tokio::test]
async fn remove_routes_at_shutdown() {
    let mut t = table(4);
    t.add(net("2001:db8:1::/64"), visiting("acc0"))
        .await
        .expect("add");
    t.add(net("2001:db8:2::/64"), visiting("acc0"))
        .await
        .expect("add");
    assert!(t.remove_routes().await.is_empty());
    assert!(t.routes.routes.is_empty());
}
