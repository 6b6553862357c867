//! The CMD's etcd store against a real etcd (Debian's `etcd-server`, installed by `cargo xtask
//! setup`): a one-member cluster on loopback, started and stopped by the test, with its data in
//! a directory of its own. Unprivileged.
//!
//! - What one store writes, a second store opened on the same prefix reads, and a record put
//!   again or removed is seen so.
//! - Fencing by revision: when a second writer has changed a node's record, the first writer's
//!   change to it is refused ([`StoreError::Conflict`]) and the record stays the second's.
//! - etcd gone: a write fails within the store's timeout, and the store's records are unchanged.
//!
//! Needs the `etcd` binary; without it the test fails with the reason.

use std::{net::Ipv6Addr, time::Instant};

use anchor_cmd::{
    EtcdStore, MnRecord, MobilityStore as _, PrefixAnchor, StoreError, etcd_store::TIMEOUT,
};
use anchor_pmip::{MnKey, Policy};
use anchor_rig::WorkDir;
use anchor_tests::{etcd::Etcd, support::require_tools};

const AR1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);
const AR2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2);

fn record(id: u8, serving: Ipv6Addr, prefixes: &[&str]) -> MnRecord {
    MnRecord {
        mn: MnKey {
            subtype: 4,
            id: vec![2, 0, 0, 0, 0, id],
        },
        serving,
        prefixes: prefixes
            .iter()
            .map(|p| PrefixAnchor {
                prefix: p.parse().expect("prefix"),
                anchor: AR1,
                policy: Policy::SessionLasting,
                origin: None,
            })
            .collect(),
        lifetime_s: 150,
        expires_unix_s: 4_000_000_000,
        last_timestamp: u64::from(id),
        pending: Vec::new(),
    }
}

#[test]
fn the_etcd_store_shares_records_fences_stale_writers_and_fails_without_etcd() {
    require_tools(&[&["etcd", "--version"]]);
    let dir = WorkDir::create("anchor-cmd-etcd").unwrap_or_else(|e| panic!("{e:#}"));
    let etcd = Etcd::start(dir.path(), None);
    let location = etcd.location("anchor/cmd");

    // One writer, then a second store reading what it wrote.
    let mut a = EtcdStore::open(location.clone(), None).unwrap_or_else(|e| panic!("{e}"));
    assert!(a.records().is_empty(), "a new prefix holds nothing");
    let one = record(1, AR1, &["2001:db8:a1:1::/64"]);
    let two = record(2, AR2, &["2001:db8:a1:2::/64"]);
    a.put(one.clone()).expect("put one");
    a.put(two.clone()).expect("put two");
    let moved = MnRecord {
        serving: AR2,
        ..one.clone()
    };
    a.put(moved.clone()).expect("put one again");
    let mut b = EtcdStore::open(location.clone(), None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.records(), vec![&moved, &two]);
    // Another prefix is another domain.
    let other = EtcdStore::open(etcd.location("other"), None).unwrap_or_else(|e| panic!("{e}"));
    assert!(other.records().is_empty());

    // B changes node 2; A, which has not seen that change, is refused and changes nothing.
    let by_b = MnRecord {
        lifetime_s: 300,
        ..two.clone()
    };
    b.put(by_b.clone()).expect("B's change");
    let stale = MnRecord {
        serving: AR1,
        ..two.clone()
    };
    let refused = a.put(stale).expect_err("A's change to a record B changed");
    assert!(
        matches!(refused, StoreError::Conflict { ref key } if key.ends_with("/4/020000000002")),
        "{refused}"
    );
    let c = EtcdStore::open(location.clone(), None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.records(), vec![&moved, &by_b], "B's change stands");
    assert_eq!(
        a.records(),
        vec![&moved, &by_b],
        "A's view took B's change with the refusal"
    );
    // A stale removal is refused the same way.
    b.put(two.clone()).expect("B's second change");
    assert!(matches!(
        a.remove(&two.mn)
            .expect_err("A's removal of a record B changed"),
        StoreError::Conflict { .. }
    ));
    // A node A alone changes is still A's to change, and to remove.
    b.remove(&two.mn).expect("B removes node 2");
    a.remove(&moved.mn).expect("A removes node 1");
    let d = EtcdStore::open(location.clone(), None).unwrap_or_else(|e| panic!("{e}"));
    assert!(d.records().is_empty(), "{:?}", d.records());

    // etcd gone: the write fails within the timeout, and the store keeps what it had.
    a.put(one.clone()).expect("put one");
    let before: Vec<MnRecord> = a.records().into_iter().cloned().collect();
    drop(etcd);
    let start = Instant::now();
    let error = a.put(moved).expect_err("no etcd");
    println!(
        "without etcd the write failed after {:?} (timeout {TIMEOUT:?}): {error}",
        start.elapsed()
    );
    assert!(matches!(error, StoreError::Etcd { .. }), "{error}");
    assert_eq!(
        a.records().into_iter().cloned().collect::<Vec<_>>(),
        before,
        "nothing half-applied"
    );
    assert!(
        EtcdStore::open(location, None).is_err(),
        "opening without etcd should fail"
    );
}
