//! The sources a visiting binding allows on its access interface (`access_source.rs`).

use super::*;
use crate::testing::{FakeDatapath, FakeRoutes};

type Table = BindingTable<FakeDatapath, FakeRoutes>;

const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

fn table() -> Table {
    BindingTable::new(
        FakeDatapath::default(),
        FakeRoutes::default(),
        LOCATOR,
        8,
        [("acc0".to_owned(), 7)],
    )
}

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("prefix")
}

fn visiting(dev: Option<&str>, mac: Option<[u8; 6]>) -> TableBindingKind {
    TableBindingKind::Visiting {
        home: PEER,
        reverse_tunnel: true,
        dev: dev.map(str::to_owned),
        mac,
    }
}

#[tokio::test]
async fn a_routed_visiting_64_is_a_source_of_its_interface_until_removed() {
    let mut t = table();
    t.add(net("2001:db8:1::/64"), visiting(Some("acc0"), Some(MAC)))
        .await
        .expect("with MAC");
    t.add(net("2001:db8:2::/64"), visiting(Some("acc0"), None))
        .await
        .expect("without MAC");
    // Not routed here, or shorter than /64: no entry.
    t.add(net("2001:db8:3::/64"), visiting(None, None))
        .await
        .expect("no dev");
    t.add(net("2001:db8:4::/56"), visiting(Some("acc0"), Some(MAC)))
        .await
        .expect("a /56");
    t.add(
        net("2001:db8:5::/64"),
        TableBindingKind::Redirect { serving: PEER },
    )
    .await
    .expect("redirect");
    let mut sources: Vec<_> = t.datapath.sources.clone().into_iter().collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            ((7, net("2001:db8:1::/64")), Some(MAC)),
            ((7, net("2001:db8:2::/64")), None)
        ]
    );
    t.remove(net("2001:db8:1::/64")).await.expect("remove");
    t.remove(net("2001:db8:4::/56")).await.expect("remove");
    assert_eq!(
        t.datapath.sources.keys().collect::<Vec<_>>(),
        [&(7, net("2001:db8:2::/64"))]
    );
}

#[tokio::test]
async fn a_failed_source_write_insert_or_route_leaves_nothing() {
    let mut t = table();
    let prefix = net("2001:db8:1::/64");
    t.datapath.fail.insert("source");
    let err = t
        .add(prefix, visiting(Some("acc0"), Some(MAC)))
        .await
        .expect_err("source");
    assert!(matches!(err, TableError::Datapath { .. }));
    assert!(t.is_empty() && t.datapath.entries.is_empty() && t.datapath.l2.is_empty());
    assert!(t.routes.routes.is_empty());
    t.datapath.fail.clear();

    t.datapath.fail.insert("insert");
    t.add(prefix, visiting(Some("acc0"), Some(MAC)))
        .await
        .expect_err("insert");
    assert!(t.datapath.sources.is_empty(), "the source is rolled back");
    t.datapath.fail.clear();

    t.routes.fail_add = true;
    t.add(prefix, visiting(Some("acc0"), Some(MAC)))
        .await
        .expect_err("route");
    assert!(t.datapath.sources.is_empty(), "the source is rolled back");
    assert!(t.is_empty() && t.datapath.entries.is_empty());
}

#[tokio::test]
async fn a_failed_removal_keeps_the_source() {
    let mut t = table();
    let prefix = net("2001:db8:1::/64");
    t.add(prefix, visiting(Some("acc0"), Some(MAC)))
        .await
        .expect("add");
    let key = (7, prefix);

    // The source removal fails: nothing changes.
    t.datapath.fail.insert("remove_source");
    t.remove(prefix).await.expect_err("source removal");
    assert_eq!(t.len(), 1);
    assert_eq!(t.routes.routes.len(), 1);
    assert_eq!(t.datapath.sources[&key], Some(MAC));
    t.datapath.fail.clear();

    // The route removal fails: the source is restored.
    t.routes.fail_del = true;
    t.remove(prefix).await.expect_err("route del");
    assert_eq!(t.datapath.sources[&key], Some(MAC));
    t.routes.fail_del = false;

    // The map removal fails: the route and the source are restored.
    t.datapath.fail.insert("remove");
    t.remove(prefix).await.expect_err("map del");
    assert_eq!(t.len(), 1);
    assert_eq!(t.routes.routes.len(), 1);
    assert_eq!(t.datapath.sources[&key], Some(MAC));
    t.datapath.fail.clear();

    t.remove(prefix).await.expect("remove");
    assert!(t.datapath.sources.is_empty());
}

#[test]
fn adoption_writes_the_sources_of_routed_bindings_again() {
    let entries = [
        (net("2001:db8:1::/64"), BindingSpec::visiting(PEER, true, 0)),
        (net("2001:db8:2::/64"), BindingSpec::visiting(PEER, true, 1)),
    ];
    let dev_routes = [(net("2001:db8:1::/64"), 7)];
    let l2 = [(net("2001:db8:1::/64"), MAC)];
    let t = Table::adopt(
        FakeDatapath::default(),
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
        t.datapath.sources.iter().collect::<Vec<_>>(),
        [(&(7, net("2001:db8:1::/64")), &Some(MAC))]
    );
}
