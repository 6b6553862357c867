use super::*;

const SAMPLE: &str = include_str!("../../topologies/three-ars.toml");

fn invalid(text: &str) -> String {
    let err = Spec::parse(text, "t.toml").expect_err("the spec should be refused");
    let message = err.to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

#[test]
fn the_sample_parses_with_its_defaults() {
    let spec = Spec::parse(SAMPLE, "sample").expect("the sample is valid");
    assert_eq!(spec.prefix, "ant-");
    assert_eq!(spec.cmd.placement, CmdPlacement::Core);
    assert!(spec.near_anchor.is_none());
    assert_eq!(spec.access_routers.len(), 3);
    let ar2 = spec.access_router("ar2").expect("ar2");
    assert_eq!(ar2.pool, "2001:db8:a2::/48".parse::<Ipv6Net>().unwrap());
    assert_eq!(spec.policy(ar2), Policy::SessionLasting);
    assert_eq!(spec.idle_release_s(ar2), None);
    assert_eq!(spec.maar.ra_interval_s, 2);
    assert_eq!(spec.maar.attachment, Attachment::Solicitation);
    let mn = spec.mobile_node("mn1").expect("mn1");
    assert_eq!(mn.mac.to_string(), "02:00:00:00:00:0a");
    assert_eq!(mn.start_at.as_deref(), Some("ar1"));
}

#[test]
fn slaac_addresses_are_modified_eui64() {
    let mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
    let p: Ipv6Net = "2001:db8:a1::/64".parse().unwrap();
    assert_eq!(
        mac.slaac_address(p),
        "2001:db8:a1::ff:fe00:a".parse::<Ipv6Addr>().unwrap()
    );
    let mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    let p: Ipv6Net = "2001:db8:a2:7::/64".parse().unwrap();
    assert_eq!(
        mac.slaac_address(p),
        "2001:db8:a2:7:5054:ff:fe12:3456"
            .parse::<Ipv6Addr>()
            .unwrap()
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let text = SAMPLE.replace(
        "pool = \"2001:db8:a2::/48\"",
        "pool = \"2001:db8:a2::/480\"",
    );
    let message = invalid(&text);
    let line = text
        .lines()
        .position(|l| l.contains("/480"))
        .expect("the line")
        + 1;
    assert!(message.starts_with(&format!("t.toml:{line}:")), "{message}");
    let message = invalid(&SAMPLE.replace("ra_interval_s = 2", "ra_interval = 2"));
    assert!(message.contains("unknown field `ra_interval`"), "{message}");
}

#[test]
fn rules_are_checked_with_one_line_each() {
    let cases: &[(&str, &str, &str)] = &[
        ("name = \"ar2\"", "name = \"ar1\"", "\"ar1\" is used twice"),
        ("name = \"ar3\"", "name = \"core\"", "reserved"),
        ("name = \"ar3\"", "name = \"AR3\"", "lowercase"),
        (
            "name = \"mn1\"",
            "name = \"averyveryverylongname\"",
            "1 to 15",
        ),
        (
            "2001:db8:a3::/48",
            "2001:db8:a2:1::/64",
            "overlaps the pool of access_router ar2",
        ),
        (
            "2001:db8:a3::/48",
            "2001:db8:f1::/56",
            "overlaps access_router ar1: locator",
        ),
        ("2001:db8:a3::/48", "2001:db8:a3::/96", "longer than /64"),
        ("2001:db8:a3::/48", "2001:db8:a3::1/48", "host bits"),
        (
            "locator = \"2001:db8:f2::2\"",
            "locator = \"2001:db8:f1::3\"",
            "same /64",
        ),
        (
            "locator = \"2001:db8:f2::2\"",
            "locator = \"2001:db8:f2::1\"",
            "::1 and ::0",
        ),
        (
            "locator = \"2001:db8:f2::2\"",
            "locator = \"fe80::2\"",
            "not a global unicast",
        ),
        (
            "2001:db8:cc::1",
            "2001:db8:c::9",
            "inside the /64 of correspondent.address",
        ),
        (
            "start_at = \"ar1\"",
            "start_at = \"ar9\"",
            "names no access_router",
        ),
        ("02:00:00:00:00:0a", "03:00:00:00:00:0a", "not unicast"),
        ("02:00:00:00:00:0a", "02:00:00:00:0a", "not a MAC address"),
        (
            "prefix = \"ant-\"",
            "prefix = \"a/b\"",
            "only ASCII letters",
        ),
        ("ra_interval_s = 2", "ra_interval_s = 0", "at least 1"),
    ];
    for (from, to, expected) in cases {
        assert!(SAMPLE.contains(from), "the sample has no {from}");
        let message = invalid(&SAMPLE.replacen(from, to, 1));
        assert!(
            message.starts_with("t.toml:") && message.contains(expected),
            "{from} -> {to}: expected {expected:?} in {message:?}"
        );
    }
}

#[test]
fn idle_release_is_for_session_lasting_and_fixed_pools() {
    let text = SAMPLE.replace(
        "pool = \"2001:db8:a2::/48\"",
        "pool = \"2001:db8:a2::/48\"\npolicy = \"nonpersistent\"\nidle_release_s = 5",
    );
    assert!(invalid(&text).contains("session-lasting and fixed pools"));
    let text = SAMPLE.replace("# idle_release_s = 600", "idle_release_s = 7");
    let text = text
        .replace(
            "pool = \"2001:db8:a2::/48\"",
            "pool = \"2001:db8:a2::/48\"\npolicy = \"nonpersistent\"",
        )
        .replace(
            "pool = \"2001:db8:a3::/48\"",
            "pool = \"2001:db8:a3::/48\"\npolicy = \"fixed\"\nidle_release_s = 3",
        );
    let spec = Spec::parse(&text, "t").expect("valid");
    assert_eq!(spec.idle_release_s(&spec.access_routers[0]), Some(7));
    assert_eq!(spec.idle_release_s(&spec.access_routers[1]), None);
    // A fixed pool's: the end of a relocation's bridge.
    assert_eq!(spec.idle_release_s(&spec.access_routers[2]), Some(3));
}

#[test]
fn bgp_takes_private_as_numbers_for_the_core_and_every_router() {
    let spec = Spec::parse(SAMPLE, "t").expect("valid");
    assert!(spec.bgp.is_none(), "static routes unless [bgp]");
    let with = |section: &str| format!("{SAMPLE}\n{section}\n");
    let spec = Spec::parse(&with("[bgp]"), "t").expect("valid");
    assert_eq!(spec.bgp.map(|b| b.asn), Some(64512));
    let spec = Spec::parse(&with("[bgp]\nasn = 65531"), "t").expect("valid");
    assert_eq!(spec.bgp.map(|b| b.asn), Some(65531));
    // Three access routers: 65532 to 65535, and 65535 is not private.
    let message = invalid(&with("[bgp]\nasn = 65532"));
    assert!(message.contains("65532 to 65535"), "{message}");
    assert!(invalid(&with("[bgp]\nasn = 65000000")).contains("must be private"));
    assert!(invalid(&with("[bgp]\nasn = 100")).contains("must be private"));
    assert!(invalid(&with("[bgp]\nas = 64512")).contains("unknown field"));
}

#[test]
fn a_topology_needs_routers_and_nodes() {
    let no_nodes: String = SAMPLE
        .split("[[mobile_node]]")
        .next()
        .expect("text")
        .to_owned();
    assert!(invalid(&no_nodes).contains("no [[mobile_node]]"));
}

#[test]
fn the_near_cn_sample_has_a_near_anchor_and_two_access_routers() {
    let spec = Spec::parse(crate::grown::NEAR_CN, "near-cn").expect("the sample is valid");
    assert_eq!(spec.prefix, "anc-");
    let near = spec.near_anchor.as_ref().expect("a near anchor");
    assert_eq!(near.locator, "2001:db8:cf::2".parse::<Ipv6Addr>().unwrap());
    let names: Vec<&str> = spec
        .access_routers
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["ar1", "ar2"]);
    assert_eq!(spec.policy(&spec.access_routers[0]), Policy::SessionLasting);
}

#[test]
fn the_near_anchors_locator_is_a_link_of_its_own() {
    let text = crate::grown::NEAR_CN.replace(
        "locator = \"2001:db8:cf::2\"",
        "locator = \"2001:db8:f1::9\"",
    );
    assert!(
        invalid(&text)
            .contains("locator = 2001:db8:f1::2 is in the same /64 as near_anchor.locator")
    );
    let text = crate::grown::NEAR_CN.replace("2001:db8:a2::/48", "2001:db8:cf::/48");
    assert!(invalid(&text).contains("overlaps near_anchor.locator"));
}

#[test]
fn the_client_sample_runs_no_cmd_and_its_node_runs_the_client_program() {
    let spec = Spec::parse(
        crate::grown::THREE_ARS_CLIENT,
        "rig/topologies/three-ars-client.toml",
    )
    .expect("the client sample is valid");
    assert_eq!(spec.maar.dmm, Dmm::Client);
    let section = crate::grown::daemons::maar_section(
        &spec,
        spec.access_router("ar1").expect("ar1"),
        std::path::Path::new("/tmp/state"),
    );
    assert!(section.contains("client_bindings = true\n"), "{section}");
    assert!(!section.contains("cmd ="), "no CMD: {section}");
    let plan = crate::grown::Plan::new(&spec);
    assert!(
        plan.ends()
            .filter(|e| e.node == "mn1")
            .all(|e| e.xdp_router),
        "the node's ends carry the client's XDP program, not the rig's pass program"
    );
    // The roaming switch and the routing daemons do not go with it.
    let roam = SAMPLE.replace(
        "attachment = \"solicitation\"",
        "attachment = \"roam\"\ndmm = \"client\"",
    );
    assert!(invalid(&roam).contains("dmm = \"client\""));
}
