//! Where a binding lives in the maps: a /64 of one of this router's pools in the dense table
//! `DENSE`, any other /64 in the hash map `BINDINGS`, a shorter prefix in the trie
//! `SHORT_PREFIXES`, a visiting /64's L2 next hop in `VISITING_L2`; and back from a key
//! to its prefix.

use anchor_common::{BindingKey, LpmKey};
use aya::maps::lpm_trie::Key;
use ipnet::Ipv6Net;

use crate::{
    datapath::{dense_layout::DenseLayout, error::DatapathError},
    prefix::MAX_PREFIX_LEN,
};

/// The upper 64 bits of a prefix, network byte order.
pub(super) fn upper_bytes(prefix: Ipv6Net) -> [u8; 8] {
    BindingKey::from_addr(&prefix.trunc().network().octets()).prefix
}

/// The prefix of length `len` (<= 64) whose upper 64 bits are `upper`.
pub(super) fn prefix_of(upper: [u8; 8], len: u8) -> Ipv6Net {
    let mut octets = [0u8; 16];
    octets[..8].copy_from_slice(&upper);
    // `len` <= 64 < 128: always a valid length.
    Ipv6Net::new(octets.into(), len)
        .map(|net| net.trunc())
        .unwrap_or_default()
}

/// The `VISITING_L2` key of `prefix`, which must be a /64 (the program looks it up with the
/// /64 of the packet's destination).
pub(super) fn visiting_l2_key(prefix: Ipv6Net) -> Result<BindingKey, DatapathError> {
    if prefix.prefix_len() != MAX_PREFIX_LEN {
        return Err(DatapathError::NotA64 { prefix });
    }
    Ok(BindingKey {
        prefix: upper_bytes(prefix),
    })
}

/// Where a binding for `prefix` lives.
pub(super) enum Slot {
    /// The index in `DENSE`.
    Dense(u32),
    Hash(BindingKey),
    Trie(Key<LpmKey>),
}

pub(super) fn slot_of(prefix: Ipv6Net, layout: &DenseLayout) -> Result<Slot, DatapathError> {
    let len = prefix.prefix_len();
    if len > MAX_PREFIX_LEN {
        return Err(DatapathError::PrefixTooLong { prefix });
    }
    let data = upper_bytes(prefix);
    Ok(if let Some(index) = layout.index_of(prefix.trunc()) {
        Slot::Dense(index)
    } else if len == MAX_PREFIX_LEN {
        Slot::Hash(BindingKey { prefix: data })
    } else {
        Slot::Trie(Key::new(u32::from(len), LpmKey { data }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv6Net {
        s.parse().expect("prefix")
    }

    #[test]
    fn a_64_goes_to_the_hash_map_with_its_upper_bytes() {
        let Ok(Slot::Hash(key)) = slot_of(net("2001:db8:1:2::77/64"), &DenseLayout::default())
        else {
            panic!("expected a hash key")
        };
        assert_eq!(key.prefix, [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]);
    }

    #[test]
    fn a_64_of_a_pool_goes_to_the_dense_table() {
        let layout = DenseLayout::new(&[net("2001:db8:1::/48")]);
        assert!(matches!(
            slot_of(net("2001:db8:1:2::77/64"), &layout),
            Ok(Slot::Dense(2))
        ));
        assert!(matches!(
            slot_of(net("2001:db8:2:2::/64"), &layout),
            Ok(Slot::Hash(_))
        ));
        assert!(matches!(
            slot_of(net("2001:db8:1::/56"), &layout),
            Ok(Slot::Trie(_))
        ));
    }

    #[test]
    fn a_shorter_prefix_goes_to_the_trie_with_its_length() {
        let Ok(Slot::Trie(key)) = slot_of(net("2001:db8:ab00::/40"), &DenseLayout::default())
        else {
            panic!("expected a trie key")
        };
        assert_eq!(key.prefix_len(), 40);
        assert_eq!(key.data().data, [0x20, 0x01, 0x0d, 0xb8, 0xab, 0, 0, 0]);
    }

    #[test]
    fn keys_turn_back_into_prefixes() {
        assert_eq!(
            prefix_of([0x20, 0x01, 0x0d, 0xb8, 0xab, 0, 0, 0], 40),
            net("2001:db8:ab00::/40")
        );
        assert_eq!(
            prefix_of([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2], 64),
            net("2001:db8:1:2::/64")
        );
    }

    #[test]
    fn a_longer_prefix_is_an_error() {
        assert!(matches!(
            slot_of(net("2001:db8::/65"), &DenseLayout::default()),
            Err(DatapathError::PrefixTooLong { .. })
        ));
    }
}
