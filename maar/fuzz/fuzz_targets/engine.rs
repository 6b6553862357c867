//! Fuzzes the MAAR's engine where its state is: arbitrary sequences of attachments and
//! detachments (on access and other interfaces), answers from the CMD (any status, any sequence
//! number, Previous MAAR options for any prefix), updates from the CMD and from strangers (Serving
//! MAAR, Anchored Prefix options for any prefix, any lifetime, skewed timestamps), the nodes'
//! own Binding Updates (client-based DMM: any prefix, any care-of address), traffic
//! samples, clock jumps, and a restart through the saved state. After every step:
//! - nothing panicked;
//! - no prefix is delegated to two nodes, and none is both served here and anchored for a node
//!   served elsewhere;
//! - every prefix held comes from the pool;
//! - the saved state survives JSON and restores into an engine that holds the same prefixes.

#![no_main]

use std::{
    collections::BTreeSet,
    net::Ipv6Addr,
    time::{Duration, Instant, UNIX_EPOCH},
};

use anchor_maar::{MaarConfig, MaarEngine, Policy, PoolConfig};
use anchor_pmip::Now;
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};
use ipnet::Ipv6Net;
use libfuzzer_sys::fuzz_target;

const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);
const OTHERS: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 0xdb8, 0xee, 0, 0, 0, 0, 2),
    LOCATOR,
];
const POOL: &str = "2001:db8:1::/60";

fn config() -> MaarConfig {
    MaarConfig {
        cmd: vec![CMD],
        address: None,
        insecure_signaling: true,
        reverse_tunnel: true,
        lifetime_s: 40,
        initial_bindack_timeout_ms: 1_000,
        max_bindack_timeout_ms: 4_000,
        timestamp_window_ms: 300,
        ra_interval_s: 600,
        report_interval_s: 60,
        state_dir: None,
        pools: vec![
            PoolConfig {
                prefix: POOL.parse().expect("pool"),
                policy: Policy::SessionLasting,
                idle_release_s: Some(5),
            },
            PoolConfig {
                prefix: "2001:db8:1:10::/60".parse().expect("pool"),
                policy: Policy::Nonpersistent,
                idle_release_s: None,
            },
        ],
        point_to_point: Vec::new(),
        subscriber: false,
        correspondent_anchors: Vec::new(),
        shared_access_identity: false,
        attach_on_first_frame: false,
        client_bindings: true,
        access_mac: None,
        access_link_local: None,
    }
}

fn engine() -> MaarEngine {
    MaarEngine::new(&config(), LOCATOR, vec!["acc".to_owned(), "acc2".to_owned()])
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
}

fn node(i: u8) -> MnId {
    match i % 4 {
        3 => MnId::Nai(format!("mn{}\r\n@x", i % 5)),
        n => MnId::Eui48([2, 0, 0, 0, 0, n]),
    }
}

/// A /64 of the pools, of another MAAR's, or a short prefix.
fn prefix(k: u8) -> Ipv6Net {
    match k % 8 {
        7 => "2001:db8:1::/48".parse().expect("prefix"),
        6 => Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 2, u16::from(k), 0, 0, 0, 0), 64)
            .expect("/64"),
        n => Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 1, u16::from(n) * 9, 0, 0, 0, 0), 64)
            .expect("/64"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut m = engine();
    let mut now = Now {
        instant: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    };
    let mut sent: Vec<u16> = Vec::new();
    for _ in 0..64 {
        if input.0.is_empty() {
            break;
        }
        let (mut out, mut actions) = (Vec::new(), Vec::new());
        let op = input.byte();
        let mn = node(input.byte());
        let skew_ms = i64::from(input.byte() as i8) * 50;
        let stamp = Timestamp::from_system_time(if skew_ms >= 0 {
            now.wall + Duration::from_millis(skew_ms.unsigned_abs())
        } else {
            now.wall - Duration::from_millis(skew_ms.unsigned_abs())
        });
        match op % 8 {
            0 => {
                let dev = ["acc", "acc2", "eth0"][usize::from(input.byte() % 3)];
                let _ = m.attach(now, mn.clone(), dev, &mut out);
            }
            1 => {
                let _ = m.detach(now, &mn, &mut out);
            }
            2 => {
                // The CMD's (or a stranger's) answer to an update.
                let from = if input.byte() % 4 == 0 { OTHERS[0] } else { CMD };
                let pick = usize::from(input.byte());
                let sequence = sent
                    .get(pick % sent.len().max(1))
                    .copied()
                    .unwrap_or_else(|| input.u16());
                let status = [0, 0, 129, 130, 155, 156, 157][usize::from(input.byte() % 7)];
                let mut options = vec![MobilityOption::MnId(mn.clone())];
                for _ in 0..input.byte() % 3 {
                    let maar = OTHERS[usize::from(input.byte() % 3)];
                    options.push(MobilityOption::PreviousMaar {
                        maar,
                        prefix: prefix(input.byte()),
                    });
                }
                let pba = MobilityHeader::Pba(Pba {
                    status: Status(status),
                    flags: PbaFlags::P | PbaFlags::D,
                    sequence,
                    lifetime: Lifetime(u16::from(input.byte())),
                    options,
                });
                m.handle(now, from, pba, &mut out, &mut actions);
            }
            3 => {
                // An update from the CMD (or a stranger): the node is served elsewhere, or a
                // release.
                let from = if input.byte() % 4 == 0 { OTHERS[1] } else { CMD };
                let serving = OTHERS[usize::from(input.byte() % 3)];
                let mut options = vec![
                    MobilityOption::MnId(mn.clone()),
                    MobilityOption::Timestamp(stamp),
                    MobilityOption::ServingMaar(serving),
                ];
                for _ in 0..1 + input.byte() % 2 {
                    options.push(MobilityOption::AnchoredPrefix(prefix(input.byte())));
                }
                let lifetime = if input.byte() % 3 == 0 { 0 } else { 150 };
                // A node's own Binding Update (client-based DMM): no P flag, its prefix as a
                // Home Network Prefix option, a care-of address anywhere (in a prefix too).
                let client = input.byte() % 3 == 0;
                let (from, flags) = if client {
                    let care_of = match input.byte() % 3 {
                        0 => prefix(input.byte()).addr(),
                        _ => serving,
                    };
                    options = vec![
                        MobilityOption::MnId(mn.clone()),
                        MobilityOption::Timestamp(stamp),
                        MobilityOption::HomeNetworkPrefix(prefix(input.byte())),
                        MobilityOption::AlternateCareOfAddress(care_of),
                    ];
                    (care_of, PbuFlags::A | PbuFlags::H)
                } else {
                    (from, PbuFlags::A | PbuFlags::P | PbuFlags::D)
                };
                let pbu = MobilityHeader::Pbu(Pbu {
                    sequence: input.u16(),
                    flags,
                    lifetime: Lifetime(lifetime),
                    options,
                });
                m.handle(now, from, pbu, &mut out, &mut actions);
            }
            4 => {
                let watched = m.idle_watched();
                if let Some(p) = watched.get(usize::from(input.byte()) % watched.len().max(1)) {
                    m.observe_traffic(now, *p, u64::from(input.u16()));
                }
            }
            5 | 6 => {
                now = now.plus(Duration::from_millis(u64::from(input.u16()) * 10));
                m.poll(now, &mut out, &mut actions);
            }
            _ => {
                // A restart: the saved state, through JSON, into a new engine.
                let saved = m.snapshot();
                let json = serde_json::to_string(&saved).expect("the state serializes");
                let back = serde_json::from_str(&json).expect("the saved state reads back");
                let before = held(&m, now);
                m = engine();
                m.restore(now, back, &mut out, &mut actions);
                // A node that came back and is not registered again is saved as anchored:
                // the prefixes held, served or anchored, are what must survive.
                assert_eq!(held(&m, now), before, "prefixes lost in a restart");
            }
        }
        for o in &out {
            if let MobilityHeader::Pbu(pbu) = &o.message {
                sent.push(pbu.sequence);
                if sent.len() > 32 {
                    sent.remove(0);
                }
            }
        }
        check(&m, now);
    }
});

/// Every prefix this MAAR holds for a node, served here or anchored for one served elsewhere.
fn held(m: &MaarEngine, now: Now) -> BTreeSet<Ipv6Net> {
    let list = m.list(now.instant);
    list.served
        .iter()
        .map(|(_, s)| s.prefix)
        .chain(list.anchored.iter().map(|a| a.prefix))
        .collect()
}

fn check(m: &MaarEngine, now: Now) {
    let list = m.list(now.instant);
    let pool: Ipv6Net = "2001:db8:1::/59".parse().expect("both pools");
    let mut delegated = BTreeSet::new();
    for (mn, served) in &list.served {
        assert!(
            delegated.insert(served.prefix),
            "{} delegated twice (again to {mn})",
            served.prefix
        );
        assert!(pool.contains(&served.prefix), "{} is not from the pool", served.prefix);
    }
    for anchored in &list.anchored {
        assert!(
            delegated.insert(anchored.prefix),
            "{} is both served here and anchored for a node served elsewhere",
            anchored.prefix
        );
        assert!(pool.contains(&anchored.prefix), "{} is not from the pool", anchored.prefix);
    }
}
