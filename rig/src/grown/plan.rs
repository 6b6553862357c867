//! What a [`Spec`] becomes, worked out before anything is built: the nodes with their roles, the
//! veth pairs with their ends' names and addresses, the static routes (the core's pool routes
//! only without `[bgp]`). No commands run here.
//!
//! ```text
//!   cn ---- [near] ---- core ---- ar1 ---- mn1 (one link per access router, down at first)
//!                        |  \---- ar2 ----/
//!                      [cmd] \--- ar3 ---/
//! ```
//!
//! An interface is named after the node at its other end (`core`, `cn`, `ar2`, `mn1`), so that
//! `ip -n PREFIXmn1 link set ar2 up` reads as what it does.

use std::net::Ipv6Addr;

use crate::grown::spec::{Attachment, CmdPlacement, Dmm, Mac, Spec, gateway, link_net};

/// The correspondent's node name.
pub const CN: &str = "cn";
/// The core router's node name.
pub const CORE: &str = "core";
/// The CMD's node name, when it has a namespace of its own.
pub const CMD: &str = "cmd";
/// The anchor next to the correspondent.
pub const NEAR: &str = "near";
/// The access switch of a roaming topology ([`Attachment::Roam`]).
pub const AIR: &str = "air";

/// The bridge of access router `ar` in [`AIR`].
pub fn bridge(ar: &str) -> String {
    format!("br-{ar}")
}

/// What runs in a node's namespace, and so how it is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A host with a static default route (the correspondent, the CMD's own namespace).
    Host,
    /// Kernel forwarding only (the core).
    Router,
    /// An access router: forwarding, and `anchor run` with XDP on its interfaces.
    AccessRouter,
    /// The anchor next to the correspondent: forwarding, and `anchor run` as a subscriber MAAR
    /// with XDP on its interfaces (see [`crate::grown::near`]).
    NearAnchor,
    /// A kernel-SLAAC host: forwarding off, Router Advertisements accepted on every link.
    MobileNode,
    /// The access switch: bridges only, no IPv6 forwarding.
    Switch,
}

impl Role {
    /// Whether an anchor daemon attaches XDP to the node's interfaces.
    pub fn runs_anchor(self) -> bool {
        matches!(self, Role::AccessRouter | Role::NearAnchor)
    }
}

/// One node: its name (its namespace's suffix) and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    pub name: String,
    pub role: Role,
}

/// One end of a veth pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    pub node: String,
    pub dev: String,
    /// Its address, on the link's /64.
    pub addr: Option<Ipv6Addr>,
    /// A MAC of its own (a mobile node's, its MN-ID).
    pub mac: Option<Mac>,
    /// Whether it comes up with the topology (a mobile node's links wait for
    /// [`Grown::attach`](crate::grown::Grown::attach)).
    pub up: bool,
    /// An anchor's end (an access router's, the near anchor's), or a mobile node's with
    /// client-based DMM: its daemon attaches XDP. Every
    /// other end gets GRO and a
    /// pass-only XDP program, so that the routers' XDP_REDIRECT and XDP_TX into it work (as in
    /// [`crate::topology`]).
    pub xdp_router: bool,
    /// The bridge it is a port of, in its node.
    pub master: Option<String>,
}

/// A static route: `ip -n PREFIXnode -6 route add ARGS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePlan {
    pub node: String,
    pub args: Vec<String>,
}

/// Everything to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub nodes: Vec<NodePlan>,
    pub links: Vec<(End, End)>,
    /// Addresses on a node's loopback (the CMD's /128 in the core).
    pub loopback: Vec<(String, Ipv6Addr)>,
    pub routes: Vec<RoutePlan>,
    /// Bridges (node, name), made before the links.
    pub bridges: Vec<(String, String)>,
}

impl Plan {
    /// The plan of a checked spec.
    pub fn new(spec: &Spec) -> Plan {
        let mut plan = Plan {
            nodes: Vec::new(),
            links: Vec::new(),
            loopback: Vec::new(),
            routes: Vec::new(),
            bridges: Vec::new(),
        };
        plan.node(CN, Role::Host);
        let cn_net = link_net(spec.correspondent.address);
        // The correspondent's side: through the near anchor when there is one.
        match &spec.near_anchor {
            Some(near) => {
                plan.node(NEAR, Role::NearAnchor);
                plan.link(CN, NEAR, spec.correspondent.address);
                plan.link(NEAR, CORE, near.locator);
                plan.route(
                    CORE,
                    &[&cn_net.to_string(), "via", &near.locator.to_string()],
                );
                plan.default_route(NEAR, near.locator);
            }
            None => plan.link(CN, CORE, spec.correspondent.address),
        }
        plan.default_route(CN, spec.correspondent.address);
        plan.node(CORE, Role::Router);
        match spec.cmd.placement {
            CmdPlacement::Core => plan.loopback.push((CORE.to_owned(), spec.cmd.address)),
            CmdPlacement::Own => {
                plan.node(CMD, Role::Host);
                plan.link(CMD, CORE, spec.cmd.address);
                plan.default_route(CMD, spec.cmd.address);
            }
        }
        for ar in &spec.access_routers {
            plan.node(&ar.name, Role::AccessRouter);
            plan.link(&ar.name, CORE, ar.locator);
            plan.default_route(&ar.name, ar.locator);
            // With BGP the core learns the pools (and the MAARs' /64s) from the routers.
            if spec.bgp.is_none() {
                plan.route(
                    CORE,
                    &[&ar.pool.to_string(), "via", &ar.locator.to_string()],
                );
            }
        }
        if spec.maar.attachment == Attachment::Roam {
            plan.roaming(spec);
            return plan;
        }
        for mn in &spec.mobile_nodes {
            plan.node(&mn.name, Role::MobileNode);
            for ar in &spec.access_routers {
                plan.links.push((
                    End {
                        node: mn.name.clone(),
                        dev: ar.name.clone(),
                        addr: None,
                        mac: Some(mn.mac),
                        up: false,
                        // With client-based DMM the node's own program (`anchor client`).
                        xdp_router: spec.maar.dmm == Dmm::Client,
                        master: None,
                    },
                    End {
                        node: ar.name.clone(),
                        dev: mn.name.clone(),
                        addr: None,
                        mac: None,
                        up: true,
                        xdp_router: true,
                        master: None,
                    },
                ));
            }
        }
        plan
    }

    /// The role of node `name`.
    pub fn role(&self, name: &str) -> Option<Role> {
        self.nodes.iter().find(|n| n.name == name).map(|n| n.role)
    }

    /// Every end, both sides of every link.
    pub fn ends(&self) -> impl Iterator<Item = &End> {
        self.links.iter().flat_map(|(a, b)| [a, b])
    }

    fn node(&mut self, name: &str, role: Role) {
        self.nodes.push(NodePlan {
            name: name.to_owned(),
            role,
        });
    }

    /// A link whose `outer` end has `addr` and whose `inner` end (toward the core) has `::1` of
    /// its /64.
    fn link(&mut self, outer: &str, inner: &str, addr: Ipv6Addr) {
        let xdp = |node: &str| self.role(node).is_some_and(Role::runs_anchor);
        let (outer_xdp, inner_xdp) = (xdp(outer), xdp(inner));
        self.links.push((
            End {
                node: outer.to_owned(),
                dev: inner.to_owned(),
                addr: Some(addr),
                mac: None,
                up: true,
                xdp_router: outer_xdp,
                master: None,
            },
            End {
                node: inner.to_owned(),
                dev: outer.to_owned(),
                addr: Some(gateway(link_net(addr))),
                mac: None,
                up: true,
                xdp_router: inner_xdp,
                master: None,
            },
        ));
    }

    /// The access side of a roaming topology: the switch [`AIR`] with a bridge per access
    /// router, each router's one access interface (`air`) a port of its bridge, and each node's
    /// one interface (`air`, its MAC) a port of no bridge until it attaches.
    fn roaming(&mut self, spec: &Spec) {
        self.node(AIR, Role::Switch);
        for ar in &spec.access_routers {
            self.bridges.push((AIR.to_owned(), bridge(&ar.name)));
            self.links.push((
                End {
                    node: ar.name.clone(),
                    dev: AIR.to_owned(),
                    addr: None,
                    mac: None,
                    up: true,
                    xdp_router: true,
                    master: None,
                },
                End {
                    node: AIR.to_owned(),
                    dev: ar.name.clone(),
                    addr: None,
                    mac: None,
                    up: true,
                    xdp_router: false,
                    master: Some(bridge(&ar.name)),
                },
            ));
        }
        for mn in &spec.mobile_nodes {
            self.node(&mn.name, Role::MobileNode);
            self.links.push((
                End {
                    node: mn.name.clone(),
                    dev: AIR.to_owned(),
                    addr: None,
                    mac: Some(mn.mac),
                    up: false,
                    xdp_router: false,
                    master: None,
                },
                End {
                    node: AIR.to_owned(),
                    dev: mn.name.clone(),
                    addr: None,
                    mac: None,
                    up: true,
                    xdp_router: false,
                    master: None,
                },
            ));
        }
    }

    /// `default via ::1` of `addr`'s /64.
    fn default_route(&mut self, node: &str, addr: Ipv6Addr) {
        let via = gateway(link_net(addr)).to_string();
        self.route(node, &["default", "via", &via]);
    }

    fn route(&mut self, node: &str, args: &[&str]) {
        self.routes.push(RoutePlan {
            node: node.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../topologies/three-ars.toml");

    fn plan(text: &str) -> Plan {
        Plan::new(&Spec::parse(text, "test").expect("a valid spec"))
    }

    #[test]
    fn the_sample_has_a_core_three_access_routers_and_a_node_with_three_links() {
        let plan = plan(SAMPLE);
        let names: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["cn", "core", "ar1", "ar2", "ar3", "mn1"]);
        assert_eq!(plan.role("ar2"), Some(Role::AccessRouter));
        assert_eq!(plan.role("mn1"), Some(Role::MobileNode));
        let mn_links: Vec<(&str, &str)> = plan
            .links
            .iter()
            .filter(|(a, _)| a.node == "mn1")
            .map(|(a, b)| (a.dev.as_str(), b.node.as_str()))
            .collect();
        assert_eq!(mn_links, [("ar1", "ar1"), ("ar2", "ar2"), ("ar3", "ar3")]);
        assert!(
            plan.ends()
                .filter(|e| e.node == "mn1")
                .all(|e| !e.up && e.mac.is_some() && !e.xdp_router)
        );
        // The access routers' ends run XDP; the core's do not.
        let (ar, core) = plan
            .links
            .iter()
            .find(|(a, _)| a.node == "ar2")
            .expect("ar2's core link");
        assert!(ar.xdp_router && !core.xdp_router);
        assert_eq!(ar.addr, Some("2001:db8:f2::2".parse().unwrap()));
        assert_eq!(core.addr, Some("2001:db8:f2::1".parse().unwrap()));
        assert_eq!((ar.dev.as_str(), core.dev.as_str()), ("core", "ar2"));
    }

    #[test]
    fn the_core_routes_each_pool_to_its_router_and_holds_the_cmd() {
        let plan = plan(SAMPLE);
        let core: Vec<String> = plan
            .routes
            .iter()
            .filter(|r| r.node == "core")
            .map(|r| r.args.join(" "))
            .collect();
        assert_eq!(
            core,
            [
                "2001:db8:a1::/48 via 2001:db8:f1::2",
                "2001:db8:a2::/48 via 2001:db8:f2::2",
                "2001:db8:a3::/48 via 2001:db8:f3::2",
            ]
        );
        assert_eq!(
            plan.loopback,
            [("core".to_owned(), "2001:db8:cc::1".parse().unwrap())]
        );
        let defaults: Vec<String> = plan
            .routes
            .iter()
            .filter(|r| r.args[0] == "default")
            .map(|r| format!("{} {}", r.node, r.args.join(" ")))
            .collect();
        assert_eq!(
            defaults,
            [
                "cn default via 2001:db8:c::1",
                "ar1 default via 2001:db8:f1::1",
                "ar2 default via 2001:db8:f2::1",
                "ar3 default via 2001:db8:f3::1",
            ]
        );
    }

    #[test]
    fn a_near_anchor_sits_between_the_correspondent_and_the_core() {
        let text = SAMPLE.replace(
            "# [near_anchor]\n# locator = \"2001:db8:cf::2\"",
            "[near_anchor]\nlocator = \"2001:db8:cf::2\"",
        );
        let plan = plan(&text);
        assert_eq!(plan.role("near"), Some(Role::NearAnchor));
        let pairs: Vec<(&str, &str, &str, &str)> = plan
            .links
            .iter()
            .map(|(a, b)| {
                (
                    a.node.as_str(),
                    a.dev.as_str(),
                    b.node.as_str(),
                    b.dev.as_str(),
                )
            })
            .take(2)
            .collect();
        assert_eq!(
            pairs,
            [
                ("cn", "near", "near", "cn"),
                ("near", "core", "core", "near")
            ]
        );
        // The near anchor's daemon attaches XDP to both of its ends; the correspondent's and
        // the core's ends get the pass-only program.
        let xdp: Vec<(&str, &str, bool)> = plan
            .links
            .iter()
            .take(2)
            .flat_map(|(a, b)| [a, b])
            .map(|e| (e.node.as_str(), e.dev.as_str(), e.xdp_router))
            .collect();
        assert_eq!(
            xdp,
            [
                ("cn", "near", false),
                ("near", "cn", true),
                ("near", "core", true),
                ("core", "near", false),
            ]
        );
        assert!(
            plan.routes
                .iter()
                .any(|r| r.node == "near" && r.args.join(" ") == "default via 2001:db8:cf::1")
        );
        assert!(
            plan.routes
                .iter()
                .any(|r| r.node == "core"
                    && r.args.join(" ") == "2001:db8:c::/64 via 2001:db8:cf::2")
        );
    }

    #[test]
    fn a_cmd_of_its_own_gets_a_namespace_and_a_link() {
        let text = SAMPLE
            .replace("placement = \"core\"", "placement = \"own\"")
            .replace("2001:db8:cc::1", "2001:db8:cc::2");
        let plan = plan(&text);
        assert_eq!(plan.role("cmd"), Some(Role::Host));
        assert!(plan.loopback.is_empty());
        assert!(
            plan.links
                .iter()
                .any(|(a, b)| a.node == "cmd" && b.node == "core" && b.dev == "cmd")
        );
    }
}
