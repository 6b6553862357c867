//! The sources the MAAR's delegated routes allow on their access links.

use std::{collections::HashMap, net::Ipv6Addr};

use super::*;
use crate::testing::{FakeDatapath, FakeRoutes};

type Router = MaarRouter<FakeDatapath, FakeRoutes, FakeRoutes>;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn router() -> Router {
    let table = BindingTable::new(
        FakeDatapath::default(),
        FakeRoutes::default(),
        Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1),
        8,
        [("acc0".to_owned(), 7)],
    );
    MaarRouter::new(Arc::new(Mutex::new(table)), FakeRoutes::default())
}

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("prefix")
}

/// The entries of one of the fake datapath's maps, sorted.
async fn entries<K: Ord + Clone, V: Ord + Clone>(
    r: &Router,
    map: impl Fn(&FakeDatapath) -> &HashMap<K, V>,
) -> Vec<(K, V)> {
    let table = r.table.lock().await;
    let mut all: Vec<_> = map(table.datapath())
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    all.sort();
    all
}

async fn sources(r: &Router) -> Vec<((u32, Ipv6Net), Option<[u8; 6]>)> {
    entries(r, |dp| &dp.sources).await
}

#[tokio::test]
async fn a_delegated_route_allows_its_prefix_from_the_nodes_mac_until_removed() {
    let mut r = router();
    let p1 = net("2001:db8:1:1::/64");
    let p2 = net("2001:db8:1:2::/64");
    r.add_route(p1, "acc0", 7, Some(MAC)).await.expect("add");
    r.add_route(p2, "acc0", 7, None).await.expect("add");
    assert_eq!(sources(&r).await, [((7, p1), Some(MAC)), ((7, p2), None)]);
    // Again (a restarted MAAR): the route is there already, the source stays.
    assert!(matches!(
        r.add_route(p1, "acc0", 7, Some(MAC)).await,
        Err(RouteFailure::AlreadyDone(_))
    ));
    assert_eq!(sources(&r).await.len(), 2);
    r.remove_route(p1, "acc0", 7).await.expect("remove");
    assert_eq!(sources(&r).await, [((7, p2), None)]);
    assert_eq!(r.routes.routes.len(), 1);
}

#[tokio::test]
async fn a_failed_route_change_leaves_the_sources_as_they_were() {
    let mut r = router();
    let p = net("2001:db8:1:1::/64");
    r.routes.fail_add_connect = true;
    assert!(matches!(
        r.add_route(p, "acc0", 7, Some(MAC)).await,
        Err(RouteFailure::Failed(_))
    ));
    assert!(sources(&r).await.is_empty());
    r.routes.fail_add_connect = false;

    r.add_route(p, "acc0", 7, Some(MAC)).await.expect("add");
    r.routes.fail_del = true;
    assert!(matches!(
        r.remove_route(p, "acc0", 7).await,
        Err(RouteFailure::Failed(_))
    ));
    assert_eq!(sources(&r).await, [((7, p), Some(MAC))], "allowed again");
    r.routes.fail_del = false;

    r.table
        .lock()
        .await
        .datapath_mut()
        .fail
        .insert("remove_source");
    assert!(matches!(
        r.remove_route(p, "acc0", 7).await,
        Err(RouteFailure::Failed(MaarRouterError::Source { .. }))
    ));
    assert_eq!(r.routes.routes.len(), 1, "the route stays");
    r.table.lock().await.datapath_mut().fail.clear();
    r.remove_route(p, "acc0", 7).await.expect("remove");
    assert!(sources(&r).await.is_empty());
    assert!(r.routes.routes.is_empty());

    r.table.lock().await.datapath_mut().fail.insert("source");
    assert!(matches!(
        r.add_route(p, "acc0", 7, None).await,
        Err(RouteFailure::Failed(MaarRouterError::Source { .. }))
    ));
    assert!(r.routes.routes.is_empty(), "no route without its source");
}

async fn known(r: &MaarRouter<FakeDatapath, FakeRoutes, FakeRoutes>) -> Vec<(u32, [u8; 6])> {
    r.table
        .lock()
        .await
        .datapath()
        .known_macs
        .iter()
        .copied()
        .collect()
}

#[tokio::test]
async fn a_node_is_known_on_its_link_while_a_route_toward_it_is_there() {
    const OTHER: [u8; 6] = [2, 0, 0, 0, 0, 0x77];
    let mut r = router();
    let p1 = net("2001:db8:1:1::/64");
    let p2 = net("2001:db8:1:2::/64");
    let p3 = net("2001:db8:1:3::/64");
    r.add_route(p1, "acc0", 7, Some(MAC)).await.expect("add");
    r.add_route(p2, "acc0", 7, Some(MAC)).await.expect("add");
    r.add_route(p3, "acc0", 7, None).await.expect("add");
    assert_eq!(known(&r).await, [(7, MAC)]);
    // A restarted MAAR adds its routes again: the node is known again.
    r.table.lock().await.datapath_mut().known_macs.clear();
    assert!(matches!(
        r.add_route(p1, "acc0", 7, Some(MAC)).await,
        Err(RouteFailure::AlreadyDone(_))
    ));
    assert_eq!(known(&r).await, [(7, MAC)]);
    r.remove_route(p1, "acc0", 7).await.expect("remove");
    assert_eq!(known(&r).await, [(7, MAC)], "p2 is still routed to it");
    r.add_route(net("2001:db8:1:4::/64"), "acc0", 7, Some(OTHER))
        .await
        .expect("add");
    r.remove_route(p2, "acc0", 7).await.expect("remove");
    assert_eq!(known(&r).await, [(7, OTHER)]);
    // A failed route leaves the node unknown.
    r.routes.fail_add_connect = true;
    assert!(matches!(
        r.add_route(p1, "acc0", 7, Some(MAC)).await,
        Err(RouteFailure::Failed(_))
    ));
    assert_eq!(known(&r).await, [(7, OTHER)]);
}

async fn l2(r: &Router) -> Vec<(Ipv6Net, ([u8; 6], String, u32))> {
    entries(r, |dp| &dp.l2).await
}

#[tokio::test]
async fn a_delegated_route_sends_native_packets_to_the_nodes_mac_until_removed() {
    let mut r = router();
    let p1 = net("2001:db8:1:1::/64");
    let p2 = net("2001:db8:1:2::/64");
    r.add_route(p1, "acc0", 7, Some(MAC)).await.expect("add");
    // No MAC (an MN-ID that is not one): the kernel's Neighbour Discovery.
    r.add_route(p2, "acc0", 7, None).await.expect("add");
    assert_eq!(l2(&r).await, [(p1, (MAC, "acc0".to_owned(), 7))]);
    // A restarted MAAR finds the route there: the entry is written again.
    r.table.lock().await.datapath_mut().l2.clear();
    assert!(matches!(
        r.add_route(p1, "acc0", 7, Some(MAC)).await,
        Err(RouteFailure::AlreadyDone(_))
    ));
    assert_eq!(l2(&r).await, [(p1, (MAC, "acc0".to_owned(), 7))]);
    r.remove_route(p1, "acc0", 7).await.expect("remove");
    assert!(l2(&r).await.is_empty(), "the node is gone from here");
}

#[tokio::test]
async fn detaching_leaves_the_l2_next_hop_of_a_visiting_binding() {
    let r = router();
    let p = net("2001:db8:1:1::/64");
    let home = Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2);
    let visiting = TableBindingKind::Visiting {
        home,
        reverse_tunnel: false,
        dev: Some("acc0".to_owned()),
        mac: Some(MAC),
    };
    r.table
        .lock()
        .await
        .add(p, visiting)
        .await
        .expect("visiting binding");
    r.table.lock().await.detach_l2(p).expect("detach");
    assert_eq!(
        l2(&r).await,
        [(p, (MAC, "acc0".to_owned(), 7))],
        "the binding's own entry stays"
    );
    r.table.lock().await.remove(p).await.expect("remove");
    assert!(l2(&r).await.is_empty(), "and goes with it");
}
