//! [`DatapathPort`]: what the binding table needs from the datapath, and its implementation by
//! [`Datapath`].

use anchor_common::{BindingStats, Counter, CounterValue};
use ipnet::Ipv6Net;

use crate::datapath::{AccessLink, BindingSpec, Datapath, DatapathError};

/// What the table needs from the datapath. Implemented by [`Datapath`]; tests use a fake.
pub trait DatapathPort {
    fn insert_binding(&mut self, prefix: Ipv6Net, spec: BindingSpec) -> Result<(), DatapathError>;
    fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError>;
    fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError>;
    fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError>;
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError>;
    /// Turns the program's packet debugging (its log records on drops) on or off.
    fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError>;
    /// Writes the L2 next hop of the visiting /64 `prefix`: its node's `mac` behind the access
    /// interface `dev` (index `ifindex`), whose own MAC and MTU the implementation reads.
    fn set_visiting_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        dev: &str,
        ifindex: u32,
    ) -> Result<(), DatapathError>;
    /// Removes the L2 next hop of the visiting /64 `prefix`; nothing when there is none.
    fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError>;
    /// Allows the /64 `prefix` as a source on the access interface `ifindex`, from any
    /// Ethernet source or only from `mac` (`ACCESS_SOURCES`).
    fn set_access_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
        mac: Option<[u8; 6]>,
    ) -> Result<(), DatapathError>;
    /// No longer allows the /64 `prefix` on `ifindex`; nothing when it was not.
    fn remove_access_source(&mut self, ifindex: u32, prefix: Ipv6Net) -> Result<(), DatapathError>;
    /// Knows the node `mac` on the access interface `ifindex` (`KNOWN_MACS`): its frames there
    /// are not reported as first frames.
    fn set_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError>;
    /// Forgets the node `mac` on `ifindex`; nothing when it was not known.
    fn remove_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError>;
}

impl DatapathPort for Datapath {
    fn insert_binding(&mut self, prefix: Ipv6Net, spec: BindingSpec) -> Result<(), DatapathError> {
        Datapath::insert_binding(self, prefix, spec)
    }
    fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        Datapath::remove_binding(self, prefix)
    }
    fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError> {
        Datapath::reset_binding_stats(self, slot)
    }
    fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError> {
        Datapath::binding_stats(self, slot)
    }
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        Datapath::counters(self)
    }
    fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError> {
        Datapath::set_packet_debug(self, on)
    }
    fn set_visiting_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        dev: &str,
        ifindex: u32,
    ) -> Result<(), DatapathError> {
        let link = AccessLink::query(dev, ifindex)?;
        Datapath::set_visiting_l2(self, prefix, mac, &link)
    }
    fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        Datapath::remove_visiting_l2(self, prefix)
    }
    fn set_access_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
        mac: Option<[u8; 6]>,
    ) -> Result<(), DatapathError> {
        Datapath::set_access_source(self, ifindex, prefix, mac)
    }
    fn remove_access_source(&mut self, ifindex: u32, prefix: Ipv6Net) -> Result<(), DatapathError> {
        Datapath::remove_access_source(self, ifindex, prefix)
    }
    fn set_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        Datapath::set_known_mac(self, ifindex, mac)
    }
    fn remove_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        Datapath::remove_known_mac(self, ifindex, mac)
    }
}
