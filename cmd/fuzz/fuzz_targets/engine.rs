//! Fuzzes the CMD's engine where its state is: arbitrary sequences of registrations, moves,
//! de-registrations, idle releases, acknowledgements (of any status, to any sequence number) and
//! raw Mobility Headers, from configured MAARs and strangers, with clocks that jump and skew.
//! After every step:
//! - nothing panicked;
//! - no prefix is held by two nodes;
//! - every Previous MAAR option of an accepted PBA names a prefix the store records for that
//!   node, anchored at that MAAR;
//! - the updates in flight stay bounded, and each record's pending updates go to a configured
//!   MAAR;
//! - the store is readable (every record's key converts back to an MN-ID).

#![no_main]

use std::{
    collections::BTreeMap,
    net::Ipv6Addr,
    time::{Duration, Instant, UNIX_EPOCH},
};

use anchor_cmd::{Config, Engine, MemoryStore, MobilityStore};
use anchor_pmip::{MnKey, Now, Outgoing};
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};
use ipnet::Ipv6Net;
use libfuzzer_sys::fuzz_target;

const MAARS: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 0xdb8, 0xf3, 0, 0, 0, 0, 2),
];
const STRANGER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xee, 0, 0, 0, 0, 2);
const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
/// More updates in flight than this means the queue grows without bound: each of the few
/// nodes has at most one update per (anchor, prefix) in flight.
const MAX_IN_FLIGHT: usize = 64;


fn config() -> Config {
    Config::parse(
        r#"
        address = "2001:db8:c::1"
        store = "unused"
        [[maar]]
        address = "2001:db8:f1::2"
        prefixes = ["2001:db8:1::/48"]
        nonpersistent = ["2001:db8:1:8000::/49"]
        [[maar]]
        address = "2001:db8:f2::2"
        prefixes = ["2001:db8:2::/48"]
        fixed = ["2001:db8:2:8000::/49"]
        [[maar]]
        address = "2001:db8:f3::2"
        prefixes = ["2001:db8:3::/48"]
        "#,
    )
    .expect("the fuzz configuration")
}

/// Reads the input a byte at a time; zeros once it is used up.
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
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }
}

fn node(i: u8) -> MnId {
    match i % 4 {
        3 => MnId::Nai(format!("mn{}\n@x", i % 7)),
        n => MnId::Eui48([2, 0, 0, 0, 0, n]),
    }
}

/// A /64 of MAAR `m`'s pool, or (rarely) one outside every pool.
fn prefix(m: usize, k: u8) -> Ipv6Net {
    let high = if k % 16 == 15 { 0x9 } else { m as u16 + 1 };
    let sub = if k % 4 == 3 { 0x8000 | u16::from(k) } else { u16::from(k % 4) };
    Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, high, sub, 0, 0, 0, 0), 64).expect("/64")
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut engine = Engine::new(config(), MemoryStore::default());
    let mut now = Now {
        instant: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    };
    let mut sequences: Vec<(Ipv6Addr, u16)> = Vec::new();
    for _ in 0..64 {
        if input.0.is_empty() {
            break;
        }
        let mut out = Vec::new();
        let op = input.byte();
        let m = usize::from(input.byte() % 4);
        let from = MAARS.get(m).copied().unwrap_or(STRANGER);
        let mn = node(input.byte());
        // A timestamp near the CMD's clock, or far from it.
        let skew_ms = i64::from(input.byte() as i8) * 50;
        let stamp = Timestamp::from_system_time(if skew_ms >= 0 {
            now.wall + Duration::from_millis(skew_ms.unsigned_abs())
        } else {
            now.wall - Duration::from_millis(skew_ms.unsigned_abs())
        });
        let sequence = input.u16();
        let pbu = |lifetime: u16, extra: Vec<MobilityOption>| {
            let mut options = vec![MobilityOption::MnId(mn.clone()), MobilityOption::Timestamp(stamp)];
            options.extend(extra);
            MobilityHeader::Pbu(Pbu {
                sequence,
                flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
                lifetime: Lifetime(lifetime),
                options,
            })
        };
        let (sender, message) = match op % 7 {
            0 | 1 => {
                let k = input.byte();
                let local = prefix(m.min(2), k);
                (from, Some(pbu(150, vec![MobilityOption::LocalPrefix(local)])))
            }
            2 => (from, Some(pbu(0, Vec::new()))),
            3 => {
                let k = input.byte();
                let anchored = prefix(m.min(2), k);
                (from, Some(pbu(0, vec![MobilityOption::AnchoredPrefix(anchored)])))
            }
            4 => {
                // An acknowledgement of something the CMD sent, or of nothing.
                let pick = usize::from(input.byte());
                let (to, seq) = sequences
                    .get(pick % sequences.len().max(1))
                    .copied()
                    .unwrap_or((from, sequence));
                let status = [0, 128, 129, 130, 155, 156, 157][usize::from(input.byte() % 7)];
                let pba = MobilityHeader::Pba(Pba {
                    status: Status(status),
                    flags: PbaFlags::P | PbaFlags::D,
                    sequence: seq,
                    lifetime: Lifetime(150),
                    options: vec![MobilityOption::MnId(mn.clone())],
                });
                (to, Some(pba))
            }
            5 => {
                now = now.plus(Duration::from_millis(u64::from(input.u16()) * 10));
                let _ = engine.poll(now, &mut out);
                (from, None)
            }
            _ => {
                let len = usize::from(input.byte() % 64);
                let raw = input.bytes(len).to_vec();
                (from, MobilityHeader::decode(&raw, from, CMD).ok())
            }
        };
        if let Some(message) = message {
            let _ = engine.handle(now, sender, message, &mut out);
        }
        check_outgoing(&engine, &out, &mut sequences);
        check_state(&engine);
    }
});

/// Accepted PBAs name only recorded prefixes in their Previous MAAR options: anchored at that
/// MAAR, or, for a prefix relocated to the serving MAAR (a Home Network Prefix option in the
/// same PBA), anchored at the PBA's recipient, the old anchor bridging the convergence. Updates
/// sent are remembered for the acknowledgements of later steps.
fn check_outgoing(engine: &Engine<MemoryStore>, out: &[Outgoing], sent: &mut Vec<(Ipv6Addr, u16)>) {
    for o in out {
        match &o.message {
            MobilityHeader::Pba(pba) if pba.status == Status::ACCEPTED => {
                let mn = pba.options.iter().find_map(|opt| match opt {
                    MobilityOption::MnId(id) => Some(MnKey::from(id)),
                    _ => None,
                });
                let relocated: Vec<Ipv6Net> = pba
                    .options
                    .iter()
                    .filter_map(|opt| match opt {
                        MobilityOption::HomeNetworkPrefix(prefix) => Some(*prefix),
                        _ => None,
                    })
                    .collect();
                for opt in &pba.options {
                    if let MobilityOption::PreviousMaar { maar, prefix } = opt {
                        let record = mn
                            .as_ref()
                            .and_then(|k| engine.store().get(k))
                            .expect("a Previous MAAR option for a node the store does not hold");
                        let anchor = if relocated.contains(prefix) { o.to } else { *maar };
                        assert!(
                            record
                                .prefixes
                                .iter()
                                .any(|p| p.prefix == *prefix && p.anchor == anchor),
                            "Previous MAAR {maar} for {prefix}, not in the record {record:?}"
                        );
                    }
                }
            }
            MobilityHeader::Pbu(pbu) => {
                sent.push((o.to, pbu.sequence));
                if sent.len() > 32 {
                    sent.remove(0);
                }
            }
            MobilityHeader::Pba(_) => {}
        }
    }
}

fn check_state(engine: &Engine<MemoryStore>) {
    let records = engine.store().records();
    let mut holders: BTreeMap<Ipv6Net, &MnKey> = BTreeMap::new();
    for record in &records {
        let _readable = record.mn.to_mn_id();
        for p in &record.prefixes {
            if let Some(other) = holders.insert(p.prefix, &record.mn) {
                assert_eq!(
                    other, &record.mn,
                    "{} is held by two nodes",
                    p.prefix
                );
            }
        }
        for update in &record.pending {
            assert!(MAARS.contains(&update.to), "an update pending to {}", update.to);
        }
    }
    // Overlapping prefixes of different nodes (a /64 inside another's shorter prefix) too.
    let all: Vec<(&Ipv6Net, &&MnKey)> = holders.iter().collect();
    for (i, (a, ka)) in all.iter().enumerate() {
        for (b, kb) in &all[i + 1..] {
            if ka != kb {
                assert!(
                    !a.contains(*b) && !b.contains(*a),
                    "{a} and {b} overlap between two nodes"
                );
            }
        }
    }
    assert!(
        engine.in_flight() <= MAX_IN_FLIGHT,
        "{} updates in flight",
        engine.in_flight()
    );
}
