//! A binding map without room gives the control plane a clear answer: on the grown rig of
//! `rig/topologies/three-ars.toml` with a second node, AR1's daemon has `max_bindings = 1`.
//!
//! 1. Both nodes attach at AR1 and get their /64s.
//! 2. The first moves to AR2: AR1 redirects its prefix, which fills its map.
//! 3. The second moves to AR2: AR1 has no room for the redirect its update needs, refuses it
//!    with PBA status 130 (its log says so, and it installs nothing), and the CMD logs the
//!    refusal.
//! 4. The first node's redirect keeps working: a UDP stream to its old address arrives.

use std::time::{Duration, Instant};

use anchor_rig::{
    grown::{
        Spec, THREE_ARS,
        plan::CN,
        spec::{Mac, MobileNode, Policy},
    },
    udp_stream::UdpStream,
};
use anchor_tests::{
    grown::{GrownScenario, wait_until_right},
    scenario::DEADLINE,
};

const PORT: u16 = 7096;

#[test]
fn a_full_binding_map_refuses_the_update_with_130_and_keeps_its_bindings() {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(600);
    spec.access_routers[0].max_bindings = Some(1);
    spec.mobile_nodes.push(MobileNode {
        name: "mn2".to_owned(),
        mac: Mac::try_from("02:00:00:00:00:0b".to_owned()).expect("a MAC"),
        start_at: None,
    });
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let sc = GrownScenario::start("fm", &spec);

    // 1. Both at AR1: the first node gets AR1's first /64, the second the next one.
    let first = sc.first_prefix("ar1");
    let mut addresses = Vec::new();
    for mn in ["mn1", "mn2"] {
        sc.grown
            .attach(mn, "ar1")
            .unwrap_or_else(|e| panic!("{e:#}"));
        let prefix = match mn {
            "mn1" => first,
            _ => ipnet::Ipv6Net::new(
                std::net::Ipv6Addr::from(u128::from(first.network()) + (1 << 64)),
                64,
            )
            .expect("a /64"),
        };
        let address = sc.slaac(mn, prefix);
        sc.wait_for_address(mn, "ar1", address, true);
        addresses.push((mn, prefix, address));
    }

    // 2. The first node moves: AR1's one binding is its redirect.
    let (_, p1, a1) = addresses[0];
    sc.grown
        .move_node("mn1", "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let ar2 = sc.locator("ar2").to_string();
    wait_until_right("AR1 redirecting the first node's prefix", DEADLINE, || {
        let redirect = sc.binding("ar1", p1);
        let right = redirect
            .as_ref()
            .is_some_and(|b| b["kind"] == "redirect" && b["peer"] == ar2.as_str());
        (!right).then(|| format!("AR1: {redirect:?}"))
    });

    // 3. The second node moves: no room at AR1.
    let (_, p2, _) = addresses[1];
    sc.grown
        .move_node("mn2", "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_until_right("AR1 refusing the update with 130", DEADLINE, || {
        let log = std::fs::read_to_string(sc.router("ar1").log_path()).unwrap_or_default();
        (!log.contains("with status 130: no room for its bindings"))
            .then(|| "no refusal in AR1's log yet".to_owned())
    });
    wait_until_right("the CMD logging the refusal", DEADLINE, || {
        (!sc.cmd_log().contains("with status 130"))
            .then(|| "no refusal in the CMD's log yet".to_owned())
    });
    let bindings = sc.bindings("ar1");
    assert_eq!(
        bindings.len(),
        1,
        "AR1 keeps exactly its one binding, for {p1}, and installs none for {p2}: {bindings:?}"
    );
    assert_eq!(bindings[0]["prefix"], p1.to_string());

    // 4. The first node's redirect still carries its traffic.
    let stream = UdpStream::start(
        &sc.grown.ns(CN),
        spec.correspondent.address,
        &sc.grown.ns("mn1"),
        a1,
        PORT,
        Duration::from_millis(5),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    stream
        .wait_for(Instant::now(), 100, DEADLINE)
        .unwrap_or_else(|e| panic!("the first node's stream through AR1's redirect: {e:#}"));
    drop(stream);
    sc.stop();
}
