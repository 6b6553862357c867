//! The L2 next hops of this router's own /64s while their node is attached here, for a caller
//! that keeps their routes itself (a MAAR's delegated and relocated prefixes): the program sends
//! native packets to such a /64 straight to the node's MAC (`VISITING_L2`, counted in
//! `attached_l2`), with no FIB lookup and no Neighbour Discovery. The kernel's route stays the
//! way for what the program leaves to the kernel (VLAN, too big, hop limit 1).

use ipnet::Ipv6Net;

use super::{BindingTable, DatapathPort, has_l2_key};
use crate::{datapath::DatapathError, routing::Routes};

impl<D: DatapathPort, R: Routes> BindingTable<D, R> {
    /// Writes the L2 next hop of the /64 `prefix`: its node `mac` behind the access interface
    /// `dev` (index `ifindex`). Nothing for a shorter prefix (the map is keyed by /64).
    pub fn attach_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        dev: &str,
        ifindex: u32,
    ) -> Result<(), DatapathError> {
        if !has_l2_key(prefix) {
            return Ok(());
        }
        self.datapath.set_visiting_l2(prefix, mac, dev, ifindex)
    }

    /// Removes the L2 next hop of the /64 `prefix`, unless a binding of the table holds it (a
    /// visiting binding's, which goes with that binding); nothing when there is none.
    pub fn detach_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        let prefix = prefix.trunc();
        if !has_l2_key(prefix)
            || self
                .bindings
                .get(&prefix)
                .is_some_and(|binding| binding.kind.mac().is_some())
        {
            return Ok(());
        }
        self.datapath.remove_visiting_l2(prefix)
    }
}
