//! Fakes of the datapath and of the routing table, for unit tests without BPF or netlink.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
};

use anchor_common::{BindingStats, Counter, CounterValue};
use ipnet::Ipv6Net;

use crate::{
    binding_table::DatapathPort,
    datapath::{BindingSpec, DatapathError},
    routing::{RouteError, Routes},
};

/// Records map contents; fails the operations named in `fail`.
#[derive(Default)]
pub(crate) struct FakeDatapath {
    pub(crate) entries: HashMap<Ipv6Net, BindingSpec>,
    pub(crate) reset: Vec<u32>,
    pub(crate) fail: HashSet<&'static str>,
    pub(crate) capacity: Option<usize>,
    pub(crate) packet_debug: bool,
    /// `VISITING_L2`: prefix -> (node's MAC, dev, ifindex).
    pub(crate) l2: HashMap<Ipv6Net, ([u8; 6], String, u32)>,
    /// `ACCESS_SOURCES`: (ifindex, /64) -> node's MAC, if any.
    pub(crate) sources: HashMap<(u32, Ipv6Net), Option<[u8; 6]>>,
    /// `KNOWN_MACS`: (ifindex, MAC).
    pub(crate) known_macs: std::collections::BTreeSet<(u32, [u8; 6])>,
}

impl DatapathPort for FakeDatapath {
    fn insert_binding(&mut self, prefix: Ipv6Net, value: BindingSpec) -> Result<(), DatapathError> {
        if self.fail.contains("insert") {
            return Err(DatapathError::InvalidInterfaceName {
                iface: "injected".into(),
            });
        }
        if self.capacity.is_some_and(|c| self.entries.len() >= c) {
            return Err(DatapathError::MapFull { name: "BINDINGS" });
        }
        self.entries.insert(prefix, value);
        Ok(())
    }
    fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        if self.fail.contains("remove") {
            return Err(DatapathError::InvalidInterfaceName {
                iface: "injected".into(),
            });
        }
        self.entries
            .remove(&prefix)
            .map(drop)
            .ok_or(DatapathError::BindingNotFound {
                prefix,
                name: "BINDINGS",
            })
    }
    fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError> {
        if self.fail.contains("reset") {
            return Err(DatapathError::SlotOutOfRange {
                slot,
                max_bindings: 0,
            });
        }
        self.reset.push(slot);
        Ok(())
    }
    fn binding_stats(&self, _slot: u32) -> Result<BindingStats, DatapathError> {
        Ok(BindingStats::default())
    }
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        Ok(Counter::ALL
            .iter()
            .map(|&c| (c, CounterValue::default()))
            .collect())
    }
    fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError> {
        self.packet_debug = on;
        Ok(())
    }
    fn set_visiting_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        dev: &str,
        ifindex: u32,
    ) -> Result<(), DatapathError> {
        if self.fail.contains("l2") {
            return Err(DatapathError::MapFull {
                name: "VISITING_L2",
            });
        }
        self.l2.insert(prefix, (mac, dev.to_owned(), ifindex));
        Ok(())
    }
    fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        self.l2.remove(&prefix);
        Ok(())
    }
    fn set_access_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
        mac: Option<[u8; 6]>,
    ) -> Result<(), DatapathError> {
        if self.fail.contains("source") {
            return Err(DatapathError::MapFull {
                name: "ACCESS_SOURCES",
            });
        }
        self.sources.insert((ifindex, prefix), mac);
        Ok(())
    }
    fn remove_access_source(&mut self, ifindex: u32, prefix: Ipv6Net) -> Result<(), DatapathError> {
        if self.fail.contains("remove_source") {
            return Err(DatapathError::MapFull {
                name: "ACCESS_SOURCES",
            });
        }
        self.sources.remove(&(ifindex, prefix));
        Ok(())
    }
    fn set_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        if self.fail.contains("known_mac") {
            return Err(DatapathError::MapFull { name: "KNOWN_MACS" });
        }
        self.known_macs.insert((ifindex, mac));
        Ok(())
    }
    fn remove_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        self.known_macs.remove(&(ifindex, mac));
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct FakeRoutes {
    pub(crate) routes: HashSet<(Ipv6Net, u32)>,
    /// Adding fails as if the route were there already.
    pub(crate) fail_add: bool,
    /// Adding fails as if netlink were unreachable.
    pub(crate) fail_add_connect: bool,
    pub(crate) fail_del: bool,
}

impl Routes for FakeRoutes {
    fn add_route(
        &mut self,
        prefix: Ipv6Net,
        _dev: &str,
        ifindex: u32,
    ) -> impl Future<Output = Result<(), RouteError>> + Send {
        let result = if self.fail_add_connect {
            Err(RouteError::Connect(std::io::Error::other("injected")))
        } else if self.fail_add || !self.routes.insert((prefix, ifindex)) {
            Err(RouteError::Exists { prefix })
        } else {
            Ok(())
        };
        async move { result }
    }
    fn del_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> impl Future<Output = Result<(), RouteError>> + Send {
        let result = if self.fail_del {
            Err(RouteError::Connect(std::io::Error::other("injected")))
        } else if self.routes.remove(&(prefix, ifindex)) {
            Ok(())
        } else {
            Err(RouteError::NotFound {
                prefix,
                dev: dev.to_owned(),
            })
        };
        async move { result }
    }
}
