//! The nodes known on the access interfaces (`KNOWN_MACS`), for a caller that keeps their
//! routes itself (a MAAR's delegated prefixes): a known node's frames are not reported as
//! first frames.

use super::{BindingTable, DatapathPort};
use crate::{datapath::DatapathError, routing::Routes};

impl<D: DatapathPort, R: Routes> BindingTable<D, R> {
    /// Knows the node `mac` on the access interface `ifindex`.
    pub fn know_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        self.datapath.set_known_mac(ifindex, mac)
    }

    /// Forgets the node `mac` on the access interface `ifindex`; nothing when it was not known.
    pub fn forget_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        self.datapath.remove_known_mac(ifindex, mac)
    }
}
