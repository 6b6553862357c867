//! Binding lookup: the /64 hash first, the LPM trie of shorter prefixes only on a miss.

use anchor_common::{BindingKey, BindingValue, Counter, LpmKey};
use aya_ebpf::maps::lpm_trie::Key;

use crate::{
    maps::{BINDINGS, SHORT_PREFIXES},
    stats::count,
};

#[inline(always)]
pub fn lookup(addr: &[u8; 16]) -> Option<BindingValue> {
    let key = BindingKey::from_addr(addr);
    // SAFETY: the value is copied out at once; userspace may replace it concurrently, which at
    // worst gives this packet the old or the new binding.
    if let Some(v) = unsafe { BINDINGS.get(key) } {
        return Some(*v);
    }
    let v = SHORT_PREFIXES.get(Key::new(64, LpmKey { data: key.prefix }))?;
    count(Counter::LpmHit, 0);
    Some(*v)
}
