//! Starting the datapath on an instance's pinned state: the hitless restart.
//!
//! [`Datapath::start`] always loads a new instance of the program (this build, this config's
//! globals) and then, interface by interface, either takes the pinned XDP link over, replacing
//! its program atomically (`BPF_LINK_UPDATE`: no packet sees a detached interface), or attaches
//! and pins a new link. The maps are the pinned ones, reused as they are or migrated into maps
//! of a new capacity ([`super::adopt`], [`super::migrate`]).

use std::path::Path;

use anchor_common::maps::DENSE;
use aya::programs::{
    links::{FdLink, PinnedLink},
    xdp::XdpLink,
};

use super::{
    adopt::{self, MapAction, Plan},
    loader::{AttachedInterface, Attachment, Datapath, InterfaceSpec, ifindex, remove_pin},
    migrate,
    pin::PinDir,
    pinned_object::{PinnedObject, inspect, program_name},
};
use crate::datapath::{
    dense_layout::DenseLayout,
    error::{AdoptError, DatapathError, PinError},
    params::{DatapathParams, LogLevel, PROGRAM_NAME, XdpMode},
};

/// How an interface came to run the new program.
enum Attached {
    TakenOver,
    New,
}

impl Datapath {
    /// Loads the program with the pinned state of `pins` and attaches it to `interfaces`:
    /// - maps: reused when pinned and as expected, migrated when only their capacity differs,
    ///   created and pinned when missing; any other difference stops with [`AdoptError`];
    /// - links: a pinned link of an interface is taken over (its program replaced atomically),
    ///   an interface without one gets a new pinned link, and pinned links of interfaces no
    ///   longer configured are removed, which detaches them;
    /// - interface roles: set from `interfaces`, the others removed.
    ///
    /// The program's aya-log output is loaded as by [`Self::load`].
    ///
    /// On error, what this call attached is detached again, links taken over keep running, and
    /// an instance that had no state before is left empty.
    pub fn start(
        params: &DatapathParams,
        pins: &PinDir,
        interfaces: &[InterfaceSpec],
    ) -> Result<Self, DatapathError> {
        Self::start_observed(params, pins, interfaces, &mut || {})
    }

    /// [`Self::start`], calling `before_switch` once the maps to migrate are copied and before
    /// any interface runs the new program: what the old program counts meanwhile is the
    /// migration's catch-up. For the tests of that catch-up.
    #[doc(hidden)]
    pub fn start_observed(
        params: &DatapathParams,
        pins: &PinDir,
        interfaces: &[InterfaceSpec],
        before_switch: &mut dyn FnMut(),
    ) -> Result<Self, DatapathError> {
        let log_level = if params.log {
            LogLevel::Trace
        } else {
            LogLevel::Off
        };
        // Refuse pins that are not ours before anything is created.
        for pinned in pins.links()? {
            anchor_link_ifindex(&pinned.path)?;
        }
        // What a migration that did not finish left: the pinned maps it was copied from are
        // still in place, so it starts over.
        for name in adopt::PINNED_MAPS {
            remove_pin(&pins.staged_map(name))?;
        }
        let layout = DenseLayout::new(&params.dense_pools);
        let pools: Vec<String> = layout.pools().map(|p| p.to_string()).collect();
        if !pools.is_empty() {
            tracing::info!(
                "dense table: {} slots for the pools {}",
                layout.slots(),
                pools.join(", ")
            );
        }
        for skipped in layout.skipped() {
            tracing::warn!(
                "pool {}: its bindings stay in the hash map: {}",
                skipped.prefix,
                skipped.reason
            );
        }
        let plan = adopt::plan(pins, params.max_bindings, &layout)?;
        let result = Self::start_planned(params, log_level, pins, interfaces, &plan, before_switch);
        if result.is_err()
            && let Err(error) = forget_failed_start(pins, &plan)
        {
            tracing::warn!("cannot remove the pins of the failed start: {error}");
        }
        result
    }

    fn start_planned(
        params: &DatapathParams,
        log_level: LogLevel,
        pins: &PinDir,
        interfaces: &[InterfaceSpec],
        plan: &Plan,
        before_switch: &mut dyn FnMut(),
    ) -> Result<Self, DatapathError> {
        let mut datapath = Self::load_inner(params, log_level, Some((pins, plan)))?;
        match datapath.adopt(pins, interfaces, plan, before_switch) {
            Ok(()) => Ok(datapath),
            Err(error) => {
                datapath.abandon_new_links();
                Err(error)
            }
        }
    }

    fn adopt(
        &mut self,
        pins: &PinDir,
        interfaces: &[InterfaceSpec],
        plan: &Plan,
        before_switch: &mut dyn FnMut(),
    ) -> Result<(), DatapathError> {
        let migrations = plan
            .recreated()
            .map(|name| migrate::copy(&mut self.maps, pins, name, plan))
            .collect::<Result<Vec<_>, _>>()?;
        // New pools, or pins without a dense table: the pinned bindings of the pools move in.
        let moved_to_dense = if plan.had_state && plan.action(DENSE) != MapAction::Reuse {
            self.maps.move_pool_bindings()?
        } else {
            Vec::new()
        };
        // Before the program sees a packet: which peer indices are in use, whether the trie of
        // short prefixes holds anything.
        self.maps.adopt_contents()?;
        before_switch();

        let (mut taken_over, mut new) = (0, 0);
        for spec in interfaces {
            match self.attach_pinned(pins, spec)? {
                Attached::TakenOver => taken_over += 1,
                Attached::New => new += 1,
            }
        }
        Self::remove_unconfigured_links(pins, interfaces)?;
        let configured: Vec<u32> = self.links.iter().map(|a| a.info.ifindex).collect();
        self.maps.retain_ifaces(&configured)?;

        if !migrations.is_empty() || !moved_to_dense.is_empty() {
            migrate::wait_for_running_programs();
            self.maps.remove_hash_entries(&moved_to_dense)?;
            migrate::fold(&mut self.maps, migrations)?;
            for name in plan.recreated() {
                let (from, to) = (pins.staged_map(name), pins.map(name));
                std::fs::rename(&from, &to).map_err(|source| PinError::Rename {
                    from,
                    to,
                    source,
                })?;
            }
        }
        tracing::info!(
            "state pinned in {}: {taken_over} link(s) taken over, {new} attached anew{}",
            pins.path().display(),
            if plan.recreated().next().is_some() {
                ", maps migrated to their new capacity"
            } else {
                ""
            }
        );
        Ok(())
    }

    /// Takes over the pinned link of `spec`, or attaches a new one and pins it.
    fn attach_pinned(
        &mut self,
        pins: &PinDir,
        spec: &InterfaceSpec,
    ) -> Result<Attached, DatapathError> {
        let ifindex = ifindex(&spec.name)?;
        if self.links.iter().any(|a| a.info.ifindex == ifindex) {
            return Err(DatapathError::AlreadyAttached {
                iface: spec.name.clone(),
            });
        }
        let other_mode = match spec.mode {
            XdpMode::Native => XdpMode::Skb,
            XdpMode::Skb => XdpMode::Native,
        };
        let other = pins.link(other_mode, &spec.name);
        if other.exists() {
            tracing::warn!(
                "xdp_mode of {} changed from {other_mode} to {}: detaching and attaching again \
                 (packets on {} meanwhile go to the kernel untouched)",
                spec.name,
                spec.mode,
                spec.name
            );
            detach_pinned(&other)?;
        }
        // The role goes in first so that the program sees it from the first packet.
        self.maps.set_iface(ifindex, spec.iface_value())?;
        self.add_tx_port_of(&spec.name, ifindex);
        let info = AttachedInterface {
            name: spec.name.clone(),
            ifindex,
            role: spec.role,
            mode: spec.mode,
        };
        let path = pins.link(spec.mode, &spec.name);
        if path.exists() {
            let pinned_ifindex = anchor_link_ifindex(&path)?;
            if pinned_ifindex == ifindex {
                let link = self.take_over(&path)?;
                self.links.push(Attachment {
                    info,
                    _link: link,
                    pin: Some(path),
                    adopted: true,
                });
                return Ok(Attached::TakenOver);
            }
            tracing::info!(
                "the link pinned at {} is attached to ifindex {pinned_ifindex}, not to {} \
                 (ifindex {ifindex}, recreated?): attaching anew",
                path.display(),
                spec.name
            );
            detach_pinned(&path)?;
        }
        let link = match self.attach_and_pin(spec, ifindex, &path) {
            Ok(link) => link,
            Err(error) => {
                if let Err(cleanup) = self.maps.remove_iface(ifindex) {
                    tracing::warn!(
                        "cannot remove the role of {} after a failed attach: {cleanup}",
                        spec.name
                    );
                }
                return Err(error);
            }
        };
        self.links.push(Attachment {
            info,
            _link: link,
            pin: Some(path),
            adopted: false,
        });
        Ok(Attached::New)
    }

    /// Replaces the program of the link pinned at `path` with ours, atomically.
    fn take_over(&mut self, path: &Path) -> Result<XdpLink, DatapathError> {
        let open_error = |source| AdoptError::OpenLink {
            path: path.to_owned(),
            source,
        };
        let pinned = PinnedLink::from_pin(path).map_err(open_error)?;
        let link = XdpLink::try_from(FdLink::from(pinned)).map_err(open_error)?;
        let take_over_error = |source| AdoptError::TakeOverLink {
            path: path.to_owned(),
            source,
        };
        let program = self.program_mut()?;
        let id = program.attach_to_link(link).map_err(take_over_error)?;
        Ok(program.take_link(id).map_err(take_over_error)?)
    }

    fn attach_and_pin(
        &mut self,
        spec: &InterfaceSpec,
        ifindex: u32,
        path: &Path,
    ) -> Result<XdpLink, DatapathError> {
        let attach_error = |source| DatapathError::Attach {
            iface: spec.name.clone(),
            mode: spec.mode,
            source,
        };
        let program = self.program_mut()?;
        let id = program
            .attach_to_if_index(ifindex, spec.mode.into())
            .map_err(attach_error)?;
        let link = program.take_link(id).map_err(attach_error)?;
        // A netlink attachment (kernels without XDP links) is detached when `link` drops here.
        let link = FdLink::try_from(link).map_err(|_| AdoptError::NotPinnable {
            iface: spec.name.clone(),
        })?;
        let pinned = link.pin(path).map_err(|source| PinError::Pin {
            what: format!("the XDP link of {}", spec.name),
            path: path.to_owned(),
            source,
        })?;
        XdpLink::try_from(FdLink::from(pinned)).map_err(|source| {
            AdoptError::OpenLink {
                path: path.to_owned(),
                source,
            }
            .into()
        })
    }

    /// Unpins the links of interfaces that are no longer configured, which detaches them.
    fn remove_unconfigured_links(
        pins: &PinDir,
        interfaces: &[InterfaceSpec],
    ) -> Result<(), DatapathError> {
        for pinned in pins.links()? {
            let configured = interfaces
                .iter()
                .any(|spec| spec.name == pinned.iface && spec.mode == pinned.mode);
            if !configured {
                tracing::info!(
                    "{} is no longer configured: detaching from it",
                    pinned.iface
                );
                detach_pinned(&pinned.path)?;
            }
        }
        Ok(())
    }

    /// After a failed start: unpins the links this start created, so that they detach when
    /// the datapath is dropped. Links taken over keep running the new program.
    fn abandon_new_links(&mut self) {
        for attachment in self.links.iter().filter(|a| !a.adopted) {
            if let Some(pin) = &attachment.pin
                && let Err(error) = remove_pin(pin)
            {
                tracing::warn!("{error}");
            }
        }
    }
}

/// Unpins the link pinned at `path` and detaches it now. (Removing the pin alone detaches it
/// a little later, from a kernel work queue, which would race with a new attachment.)
fn detach_pinned(path: &Path) -> Result<(), DatapathError> {
    let pinned = PinnedLink::from_pin(path).map_err(|source| AdoptError::OpenLink {
        path: path.to_owned(),
        source,
    })?;
    // The last reference goes with this descriptor: closing it detaches synchronously.
    let link = pinned.unpin().map_err(|source| PinError::Remove {
        path: path.to_owned(),
        source,
    })?;
    drop(link);
    Ok(())
}

/// After a failed start: removes what it pinned (the maps it created, the staged maps), or
/// everything when the instance had no state before.
fn forget_failed_start(pins: &PinDir, plan: &Plan) -> Result<(), PinError> {
    if !plan.had_state {
        return pins.clear();
    }
    for (name, _, action) in &plan.maps {
        match action {
            MapAction::Create => remove_pin(&pins.map(name))?,
            MapAction::Recreate => remove_pin(&pins.staged_map(name))?,
            MapAction::Reuse => {}
        }
    }
    Ok(())
}

/// The interface of the anchor XDP link pinned at `path` (0 once that interface is gone);
/// anything else pinned there is an error.
fn anchor_link_ifindex(path: &Path) -> Result<u32, AdoptError> {
    let object = inspect(path).map_err(|source| AdoptError::InspectPin {
        path: path.to_owned(),
        source,
    })?;
    match object {
        PinnedObject::XdpLink {
            ifindex,
            program_id,
        } => {
            let name = program_name(program_id).unwrap_or_default();
            if name == PROGRAM_NAME {
                Ok(ifindex)
            } else {
                Err(AdoptError::ForeignProgram {
                    path: path.to_owned(),
                    name,
                    id: program_id,
                })
            }
        }
        other => Err(AdoptError::ForeignPin {
            path: path.to_owned(),
            found: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::{net::Ipv6Addr, path::Path};

    // A redirect binding outside the pools (there are none here) sets SETTING_HASHED_REDIRECT.
    use anchor_common::maps::{SETTING_HASHED_REDIRECT, SETTING_SHORT_PREFIXES};
    use ipnet::Ipv6Net;

    use super::*;
    use crate::datapath::{BindingSpec, pin::DEFAULT_BPFFS};

    fn net(s: &str) -> Ipv6Net {
        s.parse().expect("prefix")
    }

    fn params(max_bindings: u32) -> DatapathParams {
        DatapathParams {
            locator: "2001:db8:ff::1".parse().expect("address"),
            tunnel_mtu: 1500,
            outer_hop_limit: 64,
            max_bindings,
            dense_pools: Vec::new(),
            log: false,
        }
    }

    /// Needs root and a bpffs at /sys/fs/bpf, as every privileged test run by
    /// `cargo xtask test`. Adoption (maps reused, then migrated to another capacity) rebuilds
    /// the peer references and the short-prefix bit from the pinned maps.
    #[test]
    fn privileged_adoption_rebuilds_peers_and_settings() {
        let p: Ipv6Addr = "2001:db8:ff::2".parse().expect("address");
        let q: Ipv6Addr = "2001:db8:ff::3".parse().expect("address");
        let r: Ipv6Addr = "2001:db8:ff::4".parse().expect("address");
        let instance = format!("unit-peers-{}", std::process::id());
        let pins = PinDir::open(Path::new(DEFAULT_BPFFS), &instance).expect("pin dir");
        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("first start");
        assert_eq!(dp.maps.settings_in_map(), 0);
        dp.insert_binding(net("2001:db8:1::/64"), BindingSpec::redirect(p, 0))
            .expect("insert");
        dp.insert_binding(net("2001:db8:2::/64"), BindingSpec::redirect(p, 1))
            .expect("insert");
        dp.insert_binding(net("2001:db8:300::/40"), BindingSpec::visiting(q, true, 2))
            .expect("insert short");
        assert_eq!(
            dp.maps.settings_in_map(),
            SETTING_SHORT_PREFIXES | SETTING_HASHED_REDIRECT
        );
        let mut before = dp.bindings().expect("list");
        before.sort_by_key(|(prefix, _)| *prefix);
        drop(dp);

        for max_bindings in [8, 16] {
            let mut dp = Datapath::start(&params(max_bindings), &pins, &[]).expect("restart");
            let mut after = dp.bindings().expect("list");
            after.sort_by_key(|(prefix, _)| *prefix);
            assert_eq!(after, before, "max_bindings = {max_bindings}");
            assert_eq!((dp.peer_refs(0), dp.peer_refs(1)), (2, 1));
            assert_eq!(
                dp.maps.settings_in_map(),
                SETTING_SHORT_PREFIXES | SETTING_HASHED_REDIRECT
            );
            // A new binding of a known peer shares its index; a new peer gets a fresh one.
            dp.insert_binding(net("2001:db8:4::/64"), BindingSpec::redirect(p, 3))
                .expect("insert");
            dp.insert_binding(net("2001:db8:5::/64"), BindingSpec::redirect(r, 4))
                .expect("insert");
            assert_eq!((dp.peer_refs(0), dp.peer_refs(2)), (3, 1));
            dp.remove_binding(net("2001:db8:4::/64")).expect("remove");
            dp.remove_binding(net("2001:db8:5::/64")).expect("remove");
        }
        let mut dp = Datapath::start(&params(16), &pins, &[]).expect("restart");
        dp.remove_binding(net("2001:db8:300::/40"))
            .expect("remove short");
        assert_eq!(dp.peer_refs(1), 0);
        assert_eq!(dp.maps.settings_in_map(), SETTING_HASHED_REDIRECT);
        drop(dp);
        let dp = Datapath::start(&params(16), &pins, &[]).expect("restart");
        assert_eq!(dp.maps.settings_in_map(), SETTING_HASHED_REDIRECT);
        assert_eq!(dp.peer_refs(0), 2);
        drop(dp);
        pins.remove().expect("remove the pins");
    }

    /// Pins of a build without the next-hop cache: `NEXTHOPS` is created and pinned, the
    /// bindings stay, and the peers in use start with invalid entries (the FIB path).
    #[test]
    fn privileged_pins_without_nexthops_get_the_map_created() {
        use anchor_common::{NextHop, maps::NEXTHOPS};

        let p: Ipv6Addr = "2001:db8:ff::2".parse().expect("address");
        let instance = format!("unit-nexthops-{}", std::process::id());
        let pins = PinDir::open(Path::new(DEFAULT_BPFFS), &instance).expect("pin dir");
        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("first start");
        dp.insert_binding(net("2001:db8:1::/64"), BindingSpec::redirect(p, 0))
            .expect("insert");
        drop(dp);
        std::fs::remove_file(pins.map(NEXTHOPS)).expect("remove the NEXTHOPS pin");

        let dp = Datapath::start(&params(8), &pins, &[]).expect("restart without NEXTHOPS");
        assert!(pins.map(NEXTHOPS).exists(), "NEXTHOPS pinned again");
        assert_eq!(dp.bindings().expect("list").len(), 1);
        assert_eq!(dp.peer_index(p), Some(0));
        assert_eq!(dp.next_hop(0).expect("entry"), NextHop::INVALID);
        drop(dp);
        pins.remove().expect("remove the pins");
    }

    /// Pins of a build without the visiting nodes' L2 next hops: `VISITING_L2` is created and
    /// pinned (empty: decapsulated packets ask the FIB), the bindings stay, and its entries
    /// survive the next restart.
    #[test]
    fn privileged_pins_without_visiting_l2_get_the_map_created() {
        use anchor_common::maps::VISITING_L2;

        use crate::datapath::AccessLink;

        let home: Ipv6Addr = "2001:db8:ff::2".parse().expect("address");
        let prefix = net("2001:db8:1::/64");
        let instance = format!("unit-visiting-l2-{}", std::process::id());
        let pins = PinDir::open(Path::new(DEFAULT_BPFFS), &instance).expect("pin dir");
        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("first start");
        dp.insert_binding(prefix, BindingSpec::visiting(home, false, 0))
            .expect("insert");
        drop(dp);
        std::fs::remove_file(pins.map(VISITING_L2)).expect("remove the VISITING_L2 pin");

        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("restart without it");
        assert!(pins.map(VISITING_L2).exists(), "VISITING_L2 pinned again");
        assert_eq!(dp.bindings().expect("list").len(), 1);
        assert!(dp.visiting_l2().expect("list").is_empty());
        let link = AccessLink {
            ifindex: 7,
            mac: [2, 0, 0, 0, 0, 0xee],
            mtu: 1500,
        };
        dp.set_visiting_l2(prefix, [2, 0, 0, 0, 0, 1], &link)
            .expect("write");
        assert!(matches!(
            dp.set_visiting_l2(net("2001:db8:100::/56"), [2, 0, 0, 0, 0, 1], &link),
            Err(DatapathError::NotA64 { .. })
        ));
        drop(dp);

        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("restart");
        let entries = dp.visiting_l2().expect("list");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, prefix);
        assert_eq!(
            entries[0].1,
            anchor_common::NextHop::valid([2, 0, 0, 0, 0, 1], link.mac, 7, 1500)
        );
        dp.remove_visiting_l2(prefix).expect("remove");
        dp.remove_visiting_l2(prefix)
            .expect("removing again is no error");
        assert!(dp.visiting_l2().expect("list").is_empty());
        drop(dp);
        pins.remove().expect("remove the pins");
    }
    /// Pins of a build without source validation: `ACCESS_SOURCES` is created and pinned
    /// (empty), the bindings stay, and its entries survive the next restart. The
    /// `SETTING_SOURCE_VALIDATION` bit follows the interfaces with source validation, and
    /// `SETTING_ACCESS` the access interfaces.
    #[test]
    fn privileged_pins_without_access_sources_get_the_map_created() {
        use anchor_common::{
            IfaceRole, IfaceValue,
            maps::{ACCESS_SOURCES, SETTING_ACCESS, SETTING_SOURCE_VALIDATION},
        };

        use crate::datapath::AccessSource;

        let prefix = net("2001:db8:1::/64");
        let instance = format!("unit-access-sources-{}", std::process::id());
        let pins = PinDir::open(Path::new(DEFAULT_BPFFS), &instance).expect("pin dir");
        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("first start");
        dp.insert_binding(
            prefix,
            BindingSpec::redirect("2001:db8:ff::2".parse().expect("peer"), 0),
        )
        .expect("insert");
        drop(dp);
        std::fs::remove_file(pins.map(ACCESS_SOURCES)).expect("remove the ACCESS_SOURCES pin");

        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("restart without it");
        assert!(
            pins.map(ACCESS_SOURCES).exists(),
            "ACCESS_SOURCES pinned again"
        );
        assert_eq!(dp.bindings().expect("list").len(), 1);
        assert!(dp.access_sources().expect("list").is_empty());
        dp.set_access_source(7, prefix, Some([2, 0, 0, 0, 0, 1]))
            .expect("write");
        assert!(matches!(
            dp.set_access_source(7, net("2001:db8:100::/56"), None),
            Err(DatapathError::AccessSourceNotA64 { .. })
        ));
        drop(dp);

        let mut dp = Datapath::start(&params(8), &pins, &[]).expect("restart");
        assert_eq!(
            dp.access_sources().expect("list"),
            [AccessSource {
                ifindex: 7,
                prefix,
                mac: Some([2, 0, 0, 0, 0, 1]),
            }]
        );
        dp.remove_access_source(7, prefix).expect("remove");
        dp.remove_access_source(7, prefix)
            .expect("removing again is no error");
        assert!(dp.access_sources().expect("list").is_empty());

        // The SETTINGS bits follow the interfaces: source validation, and access interfaces.
        assert_eq!(dp.maps.settings_in_map(), SETTING_HASHED_REDIRECT);
        dp.set_iface(1, IfaceValue::access_validated())
            .expect("validated");
        dp.set_iface(2, IfaceValue::access_validated())
            .expect("validated");
        let both = SETTING_SOURCE_VALIDATION | SETTING_ACCESS;
        assert_eq!(dp.maps.settings_in_map(), both | SETTING_HASHED_REDIRECT);
        dp.set_iface_role(1, IfaceRole::Access)
            .expect("not validated");
        assert_eq!(dp.maps.settings_in_map(), both | SETTING_HASHED_REDIRECT);
        dp.maps.remove_iface(2).expect("remove");
        assert_eq!(
            dp.maps.settings_in_map(),
            SETTING_ACCESS | SETTING_HASHED_REDIRECT
        );
        dp.set_iface_role(1, IfaceRole::Core).expect("core");
        assert_eq!(
            dp.maps.settings_in_map(),
            SETTING_HASHED_REDIRECT,
            "no access interface left"
        );
        dp.set_iface(2, IfaceValue::access_validated())
            .expect("validated");
        dp.insert_binding(
            net("2001:db8:300::/40"),
            BindingSpec::redirect("2001:db8:ff::2".parse().expect("peer"), 1),
        )
        .expect("insert short");
        assert_eq!(
            dp.maps.settings_in_map(),
            both | SETTING_SHORT_PREFIXES | SETTING_HASHED_REDIRECT
        );
        drop(dp);
        pins.remove().expect("remove the pins");
    }
}
