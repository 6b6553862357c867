//! BGP on a grown rig (`[bgp]`): the BIRD 2 configurations of the core and of each access
//! router, worked out before anything runs ([`crate::grown::bird`] runs them).
//!
//! ```text
//!   core (AS asn) ---- eBGP ---- ar1 (AS asn+1): its pool, and the MAAR's /64s
//!                \---- eBGP ---- ar2 (AS asn+2)
//! ```
//!
//! An access router announces its pool (a static route, `unreachable` in its own kernel, so
//! that a /64 it no longer routes does not bounce back to the core) and every route its MAAR
//! added: the daemon's routes carry the routing protocol number [`RTPROT_ANCHOR`], and BIRD's
//! kernel protocol learns those alone (`learn`, `import where krt_source = 250`). That number is
//! the only coupling: the daemon never edits BIRD's files and BIRD never edits the daemon's
//! routes. A node's /64 is then announced by the router that routes it onto its access link: by
//! its own anchor, and after an anchor relocation (RFC 8818 section 4.3) by the new anchor, whose
//! /64 wins over the old anchor's pool at the core by longest prefix match. The core imports
//! everything and installs it in its kernel; it announces nothing.
//!
//! The sessions are short-timed for a lab: the first connection after 1 s, a retry after 2 s.
//! `packaging/bird/` has the same configuration for real routers, commented.

use std::net::Ipv4Addr;

use crate::grown::spec::{AccessRouter, Bgp, Spec, gateway, link_net};

/// The routing protocol number of the routes the daemon adds (`anchor-user`'s `RTPROT_ANCHOR`;
/// the rig does not depend on `anchor-user`, the scenario test checks that the two agree).
pub const RTPROT_ANCHOR: u8 = 250;

/// The access router's BGP session's name in its BIRD, and the name of the kernel protocol that
/// learns the MAAR's routes.
pub const CORE_SESSION: &str = "core";
pub const LEARNED: &str = "anchor_routes";
/// The static protocol of an access router's pool.
pub const POOL: &str = "pool";

/// The core's session to access router `ar` (a protocol name of its own, so that no router
/// name collides with a BIRD keyword).
pub fn session(ar: &str) -> String {
    format!("peer_{ar}")
}

/// The access router of a core session's name.
pub fn session_router(session: &str) -> Option<&str> {
    session.strip_prefix("peer_")
}

/// The AS number of access router `index` (0-based, in the order of the spec).
pub fn router_asn(bgp: &Bgp, index: usize) -> u32 {
    // The spec's check keeps every router's number in the private range.
    bgp.asn
        .saturating_add(1)
        .saturating_add(u32::try_from(index).unwrap_or(u32::MAX))
}

/// BIRD needs a 32-bit router ID even where no IPv4 address exists: 10.255.0.0 + N, the core
/// N = 0, access router `index` N = index + 1.
fn router_id(n: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0aff_0000_u32 + u32::try_from(n).unwrap_or(0xffff))
}

/// The lines every BIRD of the rig starts with: its router ID, logs on standard error (the rig
/// writes them to a file), and the device protocol (BIRD must know the interfaces to accept
/// a route onto one).
fn preamble(n: usize) -> String {
    format!(
        "router id {};\nlog stderr all;\n\nprotocol device {{\n  scan time 10;\n}}\n",
        router_id(n)
    )
}

/// The timers of every session of the rig.
const LAB_TIMERS: &str =
    "  connect delay time 1;\n  connect retry time 2;\n  error wait time 1, 2;\n";

/// The core's BIRD: one eBGP session per access router, everything learned installed in the
/// kernel (protocol `bird`), nothing announced.
#[expect(
    clippy::format_push_string,
    reason = "a configuration file written once per start: each part reads as in the file"
)]
pub fn core_config(spec: &Spec, bgp: &Bgp) -> String {
    let mut text = preamble(0);
    text.push_str(
        "\n# The routes learned by BGP go into the kernel, which forwards.\nprotocol kernel {\n  \
         ipv6 {\n    import none;\n    export all;\n  };\n}\n",
    );
    for (index, ar) in spec.access_routers.iter().enumerate() {
        let net = link_net(ar.locator);
        text.push_str(&format!(
            "\nprotocol bgp {} {{\n  local {} as {};\n  neighbor {} as {};\n{LAB_TIMERS}  ipv6 \
             {{\n    import all;\n    export none;\n  }};\n}}\n",
            session(&ar.name),
            gateway(net),
            bgp.asn,
            ar.locator,
            router_asn(bgp, index),
        ));
    }
    text
}

/// Access router `index`'s BIRD: its pool (static, unreachable in its kernel), the MAAR's
/// routes learned from the kernel, and both announced to the core.
#[expect(
    clippy::format_push_string,
    reason = "a configuration file written once per start: each part reads as in the file"
)]
pub fn access_config(bgp: &Bgp, index: usize, ar: &AccessRouter) -> String {
    let mut text = preamble(index + 1);
    text.push_str(&format!(
        "
# The MAAR's routes (`PREFIX dev ACCESS_IFACE proto {RTPROT_ANCHOR}`): learned, not written
# back. The pool's unreachable route goes into the kernel.
protocol kernel {LEARNED} {{
  ipv6 {{
    import where krt_source = {RTPROT_ANCHOR};
    export where proto = \"{POOL}\";
  }};
  learn;
  scan time 10;
}}

protocol static {POOL} {{
  ipv6;
  route {pool} unreachable;
}}

protocol bgp {CORE_SESSION} {{
  local {locator} as {asn};
  neighbor {core} as {core_asn};
{LAB_TIMERS}  ipv6 {{
    import none;
    export where proto = \"{POOL}\" || proto = \"{LEARNED}\";
  }};
}}
",
        pool = ar.pool,
        locator = ar.locator,
        asn = router_asn(bgp, index),
        core = gateway(link_net(ar.locator)),
        core_asn = bgp.asn,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grown::Plan;

    const SAMPLE: &str = include_str!("../../topologies/three-ars-bgp.toml");

    fn spec() -> Spec {
        Spec::parse(SAMPLE, "three-ars-bgp.toml").expect("the sample is valid")
    }

    #[test]
    fn the_core_has_a_session_to_every_router_and_announces_nothing() {
        let spec = spec();
        let bgp = spec.bgp.clone().expect("[bgp]");
        let text = core_config(&spec, &bgp);
        assert!(text.starts_with("router id 10.255.0.0;\n"), "{text}");
        for (ar, core, asn) in [
            ("ar1", "2001:db8:f1::1", 64513),
            ("ar2", "2001:db8:f2::1", 64514),
            ("ar3", "2001:db8:f3::1", 64515),
        ] {
            let block = format!(
                "protocol bgp peer_{ar} {{\n  local {core} as 64512;\n  neighbor {} as {asn};\n",
                core.replace("::1", "::2")
            );
            assert!(text.contains(&block), "{block} in\n{text}");
        }
        assert_eq!(text.matches("export none;").count(), 3);
        assert_eq!(session_router(&session("ar2")), Some("ar2"));
    }

    #[test]
    fn a_router_learns_the_daemons_routes_and_announces_them_with_its_pool() {
        let spec = spec();
        let bgp = spec.bgp.clone().expect("[bgp]");
        let text = access_config(&bgp, 1, &spec.access_routers[1]);
        assert!(text.starts_with("router id 10.255.0.2;\n"), "{text}");
        for line in [
            "    import where krt_source = 250;\n",
            "  learn;\n",
            "  route 2001:db8:a2::/48 unreachable;\n",
            "  local 2001:db8:f2::2 as 64514;\n",
            "  neighbor 2001:db8:f2::1 as 64512;\n",
            "    export where proto = \"pool\" || proto = \"anchor_routes\";\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }

    #[test]
    fn with_bgp_the_core_has_no_static_pool_routes() {
        let plan = Plan::new(&spec());
        let core: Vec<String> = plan
            .routes
            .iter()
            .filter(|r| r.node == "core")
            .map(|r| r.args.join(" "))
            .collect();
        assert!(core.is_empty(), "{core:?}");
        // The routers still reach the core by their default route.
        assert!(
            plan.routes
                .iter()
                .any(|r| r.node == "ar1" && r.args.join(" ") == "default via 2001:db8:f1::1")
        );
    }
}
