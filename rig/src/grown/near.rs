//! The anchor next to the correspondent (RFC 8818 section 4.2, Figure 6) of a grown rig with a
//! `[near_anchor]`: `anchor run` as a subscriber MAAR in the `near` namespace.
//!
//! - The CMD lists its locator in `subscribers`: on every change of a node's redirected
//!   prefixes it gets the update a previous MAAR gets (Serving MAAR, Anchored Prefixes), and a
//!   lifetime-0 update when a redirect ends.
//! - Its `[maar]` has `subscriber = true` and no pool: it serves no node, it only installs
//!   `Redirect { serving }` bindings for the prefixes the CMD names.
//! - XDP runs on both of its interfaces, `cn` (toward the correspondent) and `core`, both with
//!   role `core`: a redirect encapsulates whatever interface the packet came in on, so the
//!   correspondent's packets to a moved node's old prefix are tunnelled here, at their first
//!   router, straight to the serving MAAR. `access` would make its MAAR take the correspondent's
//!   Router Solicitations for a node's.
//! - Every access router's `[maar]` lists its locator in `correspondent_anchors`: their
//!   decapsulation accepts its tunnels to visiting prefixes as they accept the home anchor's.
//!
//! Signaling is insecure (no ESP), as everywhere in the rig.

use std::path::Path;

use crate::daemon::{Interface, Router};
use crate::grown::plan::{CN, CORE, NEAR};
use crate::grown::spec::Spec;

/// The near anchor's `[maar]` section, its state in `state_dir`.
pub fn maar_section(spec: &Spec, state_dir: &Path) -> String {
    format!(
        "\n[maar]\ncmd = \"{}\"\ninsecure_signaling = true\nsubscriber = true\nstate_dir = \"{}\"\n",
        spec.cmd.address,
        state_dir.display()
    )
}

/// The CMD's top-level `subscribers` line, when the spec has a near anchor.
pub fn cmd_subscribers(spec: &Spec) -> Option<String> {
    spec.near_anchor
        .as_ref()
        .map(|near| format!("subscribers = [\"{}\"]\n", near.locator))
}

/// An access router's `correspondent_anchors` line (inside its `[maar]`), when the spec has a
/// near anchor.
pub fn correspondent_anchors(spec: &Spec) -> Option<String> {
    spec.near_anchor
        .as_ref()
        .map(|near| format!("correspondent_anchors = [\"{}\"]\n", near.locator))
}

/// The near anchor's `anchor run` in namespace `ns`, when the spec has one: its two links in
/// native XDP mode, its pinned state named after its namespace.
pub fn router(spec: &Spec, ns: String) -> Option<Router> {
    let near = spec.near_anchor.as_ref()?;
    let interfaces = [CN, CORE]
        .into_iter()
        .map(|name| Interface {
            name,
            role: "core",
            xdp_mode: "native",
            source_validation: false,
        })
        .collect();
    Some(Router {
        name: NEAR,
        ns: ns.clone(),
        locator: near.locator.to_string().leak(),
        interfaces,
        instance: ns,
        max_bindings: None,
        detach_on_exit: false,
        log_format: None,
        metrics_listen: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grown::daemons::{cmd_config, maar_section as ar_section};

    const SAMPLE: &str = include_str!("../../topologies/near-cn.toml");

    fn spec(text: &str) -> Spec {
        Spec::parse(text, "test").expect("a valid spec")
    }

    #[test]
    fn the_cmd_lists_the_near_anchor_as_its_subscriber() {
        let spec = spec(SAMPLE);
        let config = cmd_config(&spec, Path::new("/s/cmd.json"));
        let top = config.split("\n[[maar]]").next().expect("the top level");
        assert_eq!(
            top,
            "address = \"2001:db8:cc::1\"\nstore = \"/s/cmd.json\"\ninsecure_signaling = true\n\
             subscribers = [\"2001:db8:cf::2\"]\n"
        );
        // Only once, and not as a MAAR.
        assert_eq!(config.matches("2001:db8:cf::2").count(), 1);
    }

    #[test]
    fn every_access_router_accepts_the_near_anchors_tunnels() {
        let spec = spec(SAMPLE);
        for ar in &spec.access_routers {
            let section = ar_section(&spec, ar, Path::new("/s"));
            assert!(
                section.contains("\ncorrespondent_anchors = [\"2001:db8:cf::2\"]\n"),
                "{}: {section}",
                ar.name
            );
            // Inside [maar], before the pools.
            let at = section.find("correspondent_anchors").expect("the line");
            assert!(at < section.find("[[maar.pool]]").expect("a pool"));
        }
    }

    #[test]
    fn the_near_anchor_is_a_subscriber_without_pools() {
        let spec = spec(SAMPLE);
        assert_eq!(
            maar_section(&spec, Path::new("/s/near-state")),
            "\n[maar]\ncmd = \"2001:db8:cc::1\"\ninsecure_signaling = true\nsubscriber = true\n\
             state_dir = \"/s/near-state\"\n"
        );
    }

    #[test]
    fn the_near_anchor_runs_xdp_on_both_links_with_the_core_role() {
        let near = router(&spec(SAMPLE), "ncn-near".to_owned()).expect("a near anchor");
        assert_eq!(near.name, NEAR);
        assert_eq!(near.instance, "ncn-near");
        assert_eq!(
            near.config(Path::new("/s/near.sock")),
            "locator = \"2001:db8:cf::2\"\napi_socket = \"/s/near.sock\"\ninstance = \"ncn-near\"\n\
             \n[[interface]]\nname = \"cn\"\nrole = \"core\"\nxdp_mode = \"native\"\n\
             \n[[interface]]\nname = \"core\"\nrole = \"core\"\nxdp_mode = \"native\"\n"
        );
        assert!(router(&spec(crate::grown::THREE_ARS), "x".to_owned()).is_none());
    }

    #[test]
    fn without_a_near_anchor_nothing_changes() {
        let spec = spec(crate::grown::THREE_ARS);
        assert_eq!(cmd_subscribers(&spec), None);
        assert_eq!(correspondent_anchors(&spec), None);
        assert!(!cmd_config(&spec, Path::new("/s/cmd.json")).contains("subscribers"));
        for ar in &spec.access_routers {
            assert!(!ar_section(&spec, ar, Path::new("/s")).contains("correspondent_anchors"));
        }
    }
}
