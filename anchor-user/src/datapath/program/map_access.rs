//! The map methods of [`Datapath`]: each hands over to its `ProgramMaps`, where the map access
//! lives (`crate::datapath::maps`).

use std::net::Ipv6Addr;

use anchor_common::{BindingStats, Counter, CounterValue, IfaceValue, NextHop};
use ipnet::Ipv6Net;

use super::loader::Datapath;
use crate::{
    datapath::{
        error::DatapathError,
        maps::{AccessLink, AccessSource, BindingSpec, FirstFrames},
    },
    routing::nexthop::NextHopCache,
};

impl Datapath {
    /// Makes `anchors` the anchors near correspondents (RFC 8818 Figure 6) whose tunnels to
    /// visiting /64s are decapsulated like those of the /64's home anchor.
    pub fn set_cn_anchors(&mut self, anchors: &[Ipv6Addr]) -> Result<(), DatapathError> {
        self.maps.set_cn_anchors(anchors)
    }

    /// The anchors near correspondents whose tunnels are accepted.
    pub fn cn_anchors(&self) -> Result<Vec<Ipv6Addr>, DatapathError> {
        self.maps.cn_anchors()
    }

    /// Inserts or replaces the binding for `prefix`: a /64 goes to the hash map, a shorter
    /// prefix to the LPM trie, a longer one is an error. Host bits are ignored. The peer gets
    /// a `PEERS` index (shared with the other bindings of that peer).
    pub fn insert_binding(
        &mut self,
        prefix: Ipv6Net,
        spec: BindingSpec,
    ) -> Result<(), DatapathError> {
        self.maps.insert_binding(prefix, spec)
    }

    /// Removes the binding for `prefix`; [`DatapathError::BindingNotFound`] when there is none.
    pub fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        self.maps.remove_binding(prefix)
    }

    /// The binding stored for exactly `prefix` (no longest-prefix match), if any.
    pub fn get_binding(&self, prefix: Ipv6Net) -> Result<Option<BindingSpec>, DatapathError> {
        self.maps.get_binding(prefix)
    }

    /// Every binding in the maps (/64s from the hash map, shorter prefixes from the trie), as
    /// a daemon adopting pinned maps finds them.
    pub fn bindings(&self) -> Result<Vec<(Ipv6Net, BindingSpec)>, DatapathError> {
        self.maps.bindings()
    }

    /// The `PEERS` index of `peer`, reserved for as long as this datapath lives: for a bulk
    /// writer that fills the binding maps itself (the benchmark's `BPF_MAP_UPDATE_BATCH`).
    pub fn reserve_peer(&mut self, peer: Ipv6Addr) -> Result<u16, DatapathError> {
        self.maps.reserve_peer(peer)
    }

    /// The `PEERS` index of `peer`, while a binding uses it.
    pub fn peer_index(&self, peer: Ipv6Addr) -> Option<u16> {
        self.maps.peer_index(peer)
    }

    /// The number of bindings using the `PEERS` index `index` (0 when it is free).
    pub fn peer_refs(&self, index: u16) -> u32 {
        self.maps.peer_refs(index)
    }

    /// The next-hop cache for a resolver ([`NextHopResolver`]): a descriptor of its own on
    /// `NEXTHOPS` and the peers in use, updated as bindings come and go.
    ///
    /// [`NextHopResolver`]: crate::routing::NextHopResolver
    pub fn next_hop_cache(&self) -> Result<NextHopCache, DatapathError> {
        self.maps.next_hop_cache()
    }

    /// Puts the interface with index `ifindex` (in the calling thread's namespace) in
    /// `TX_PORTS`, so that the program redirects to it through its device map (attaching to
    /// an interface and the next-hop resolver do this themselves; tests put interfaces of their
    /// own).
    pub fn add_tx_port(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.maps.add_tx_port(ifindex)
    }

    /// The interfaces in `TX_PORTS`.
    pub fn tx_ports(&self) -> Result<Vec<u32>, DatapathError> {
        self.maps.tx_ports()
    }

    /// The `NEXTHOPS` entry of the `PEERS` index `index`.
    pub fn next_hop(&self, index: u16) -> Result<NextHop, DatapathError> {
        self.maps.next_hop(index)
    }

    /// Writes the `NEXTHOPS` entry of the `PEERS` index `index` (the daemon leaves this to its
    /// [`NextHopResolver`]; tests write entries of their own).
    ///
    /// [`NextHopResolver`]: crate::routing::NextHopResolver
    pub fn set_next_hop(&mut self, index: u16, entry: NextHop) -> Result<(), DatapathError> {
        self.maps.set_next_hop(index, entry)
    }

    /// Writes the L2 next hop of the visiting /64 `prefix` (`VISITING_L2`): decapsulated
    /// packets to it leave by `link` straight to `mac`, its node's MAC address.
    pub fn set_visiting_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        link: &AccessLink,
    ) -> Result<(), DatapathError> {
        self.maps.set_visiting_l2(prefix, mac, link)
    }

    /// Writes the `VISITING_L2` entry of the /64 `prefix` as it is (the daemon writes valid
    /// entries with [`Self::set_visiting_l2`]; tests write entries of their own).
    pub fn set_visiting_l2_entry(
        &mut self,
        prefix: Ipv6Net,
        entry: NextHop,
    ) -> Result<(), DatapathError> {
        self.maps.set_visiting_l2_entry(prefix, entry)
    }

    /// Removes the L2 next hop of the visiting /64 `prefix`, if there is one.
    pub fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        self.maps.remove_visiting_l2(prefix)
    }

    /// Every entry of `VISITING_L2`, as a daemon adopting pinned maps finds them.
    pub fn visiting_l2(&self) -> Result<Vec<(Ipv6Net, NextHop)>, DatapathError> {
        self.maps.visiting_l2()
    }

    /// Allows the /64 `prefix` as a source on the access interface `ifindex` (`ACCESS_SOURCES`):
    /// from any Ethernet source, or only from `mac`.
    pub fn set_access_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
        mac: Option<[u8; 6]>,
    ) -> Result<(), DatapathError> {
        self.maps.set_access_source(ifindex, prefix, mac)
    }

    /// No longer allows the /64 `prefix` on the interface `ifindex`; nothing when it was not.
    pub fn remove_access_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
    ) -> Result<(), DatapathError> {
        self.maps.remove_access_source(ifindex, prefix)
    }

    /// Every entry of `ACCESS_SOURCES`, ordered by interface and prefix.
    pub fn access_sources(&self) -> Result<Vec<AccessSource>, DatapathError> {
        self.maps.access_sources()
    }

    /// Knows the node `mac` on the access interface `ifindex` (`KNOWN_MACS`): its frames there
    /// are no longer reported as first frames.
    pub fn set_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        self.maps.set_known_mac(ifindex, mac)
    }

    /// Forgets the node `mac` on the interface `ifindex`; nothing when it was not known.
    pub fn remove_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        self.maps.remove_known_mac(ifindex, mac)
    }

    /// Every entry of `KNOWN_MACS` as (ifindex, MAC), ordered.
    pub fn known_macs(&self) -> Result<Vec<(u32, [u8; 6])>, DatapathError> {
        self.maps.known_macs()
    }

    /// The program's first-frame reports (`FIRST_FRAMES`), for one reader: `None` once taken.
    pub fn take_first_frames(&mut self) -> Option<FirstFrames> {
        self.maps.take_first_frames()
    }

    /// Writes the `IFACES` entry of `ifindex` as it is, flags included, without attaching to it
    /// (tests run the program with `BPF_PROG_TEST_RUN` on `lo`, ifindex 1).
    pub fn set_iface(&mut self, ifindex: u32, value: IfaceValue) -> Result<(), DatapathError> {
        self.maps.set_iface(ifindex, value)
    }

    /// Makes the program look every /64 up again (its per-CPU lookup caches forgotten): for a
    /// caller that wrote `BINDINGS`, `SHORT_PREFIXES` or `VISITING_L2` other than through this
    /// type (a benchmark's batched updates). This type's own writes do it themselves.
    pub fn forget_cached_lookups(&mut self) -> Result<(), DatapathError> {
        self.maps.lookups_changed()
    }

    /// Turns the program's per-CPU lookup caches on (the default) or off: off, every frame
    /// looks its /64s up in the maps (a benchmark measures both).
    pub fn set_lookup_caching(&mut self, on: bool) -> Result<(), DatapathError> {
        self.maps.set_lookup_caching(on)
    }

    /// Every global counter, in [`Counter::ALL`] order, summed over the CPUs.
    pub fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        self.maps.counters()
    }

    /// The statistics of one binding slot, summed over the CPUs.
    pub fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError> {
        self.maps.binding_stats(slot)
    }

    /// Zeroes a binding slot on every CPU (before the slot is given to a new binding).
    pub fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError> {
        self.maps.reset_binding_stats(slot)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use anchor_common::BindingStats;
    use ipnet::Ipv6Net;

    use crate::datapath::DatapathError;

    fn net(s: &str) -> Ipv6Net {
        s.parse().expect("prefix")
    }

    #[test]
    fn privileged_map_round_trip() {
        use anchor_common::Counter;

        use crate::datapath::{BindingSpec, Datapath, DatapathParams};

        let params = DatapathParams {
            locator: "2001:db8:ff::1".parse().expect("address"),
            tunnel_mtu: 1500,
            outer_hop_limit: 64,
            max_bindings: 2,
            dense_pools: Vec::new(),
            log: false,
        };
        let mut dp = Datapath::load(&params).expect("load");
        let peer: Ipv6Addr = "2001:db8:ff::2".parse().expect("address");
        let other: Ipv6Addr = "2001:db8:ff::3".parse().expect("address");
        let v = BindingSpec::redirect(peer, 1);
        dp.insert_binding(net("2001:db8:1::/64"), v)
            .expect("insert");
        dp.insert_binding(net("2001:db8:2::/64"), v)
            .expect("insert");
        assert!(matches!(
            dp.insert_binding(net("2001:db8:3::/64"), v),
            Err(DatapathError::MapFull { name: "BINDINGS" })
        ));
        // One PEERS index for the peer, counted by its two bindings (not by the failed one).
        assert_eq!(dp.peer_refs(0), 2);
        assert_eq!(
            dp.get_binding(net("2001:db8:1::/64")).expect("get"),
            Some(v)
        );
        dp.insert_binding(net("2001:db8:100::/48"), v)
            .expect("insert short");
        assert_eq!(
            dp.get_binding(net("2001:db8:100::/48")).expect("get"),
            Some(v)
        );
        let mut listed = dp.bindings().expect("list");
        listed.sort_by_key(|(prefix, _)| *prefix);
        assert_eq!(
            listed,
            vec![
                (net("2001:db8:1::/64"), v),
                (net("2001:db8:2::/64"), v),
                (net("2001:db8:100::/48"), v),
            ]
        );
        // Replacing a binding moves its reference to the new peer.
        let moved = BindingSpec::visiting(other, true, 1);
        dp.insert_binding(net("2001:db8:2::/64"), moved)
            .expect("replace");
        assert_eq!((dp.peer_refs(0), dp.peer_refs(1)), (2, 1));
        assert_eq!(
            dp.get_binding(net("2001:db8:2::/64")).expect("get"),
            Some(moved)
        );
        dp.remove_binding(net("2001:db8:100::/48"))
            .expect("remove short");
        assert!(matches!(
            dp.remove_binding(net("2001:db8:100::/48")),
            Err(DatapathError::BindingNotFound { .. })
        ));
        dp.remove_binding(net("2001:db8:1::/64")).expect("remove");
        assert_eq!(dp.get_binding(net("2001:db8:1::/64")).expect("get"), None);
        // The last binding of a peer frees its index.
        assert_eq!((dp.peer_refs(0), dp.peer_refs(1)), (0, 1));
        dp.reset_binding_stats(1).expect("reset");
        assert_eq!(dp.binding_stats(1).expect("stats"), BindingStats::default());
        assert!(matches!(
            dp.binding_stats(2),
            Err(DatapathError::SlotOutOfRange { .. })
        ));
        let counters = dp.counters().expect("counters");
        assert_eq!(counters.len(), Counter::ALL.len());
        assert!(
            counters
                .iter()
                .zip(Counter::ALL)
                .all(|((c, _), all)| c == all)
        );
        dp.set_iface_role(1, anchor_common::IfaceRole::Core)
            .expect("role");
        assert!(matches!(
            dp.attach(
                "nosuch0",
                anchor_common::IfaceRole::Core,
                crate::datapath::XdpMode::Skb
            ),
            Err(DatapathError::UnknownInterface { .. })
        ));
    }
}
