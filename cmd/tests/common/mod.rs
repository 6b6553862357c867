//! What the CMD engine's tests share: the configuration, a fake clock and message helpers.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant, UNIX_EPOCH},
};

use anchor_cmd::{Config, Engine, MemoryStore, MobilityStore};
use anchor_pmip::{Now, Outgoing};
use anchor_signal::{
    HandoffIndicator, Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags,
    Status, Timestamp,
};
use ipnet::Ipv6Net;

pub const M1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);
pub const M2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf2, 0, 0, 0, 0, 2);
pub const M3: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf3, 0, 0, 0, 0, 2);
pub const STRANGER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xee, 0, 0, 0, 0, 2);
pub const MN: MnId = MnId::Eui48([2, 0, 0, 0, 0, 0x0a]);

pub fn config() -> Config {
    Config::parse(
        r#"
        address = "2001:db8:c::1"
        store = "unused"
        [[maar]]
        address = "2001:db8:f1::2"
        prefixes = ["2001:db8:1::/48"]
        [[maar]]
        address = "2001:db8:f2::2"
        prefixes = ["2001:db8:2::/48"]
        [[maar]]
        address = "2001:db8:f3::2"
        prefixes = ["2001:db8:3::/48"]
        "#,
    )
    .expect("test config")
}

pub fn net(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}

/// The engine and a fake clock that starts at a fixed wall time.
pub struct Rig {
    pub engine: Engine<MemoryStore>,
    pub now: Now,
}

impl Rig {
    pub fn new() -> Self {
        Self::with(config())
    }

    pub fn with(config: Config) -> Self {
        Self {
            engine: Engine::new(config, MemoryStore::default()),
            now: Now {
                instant: Instant::now(),
                wall: UNIX_EPOCH + Duration::from_hours(500_000),
            },
        }
    }

    pub fn advance(&mut self, d: Duration) -> Vec<Outgoing> {
        self.now = self.now.plus(d);
        let mut out = Vec::new();
        self.engine.poll(self.now, &mut out).expect("poll");
        out
    }

    pub fn stamp(&self) -> Timestamp {
        Timestamp::from_system_time(self.now.wall)
    }

    pub fn send(&mut self, from: Ipv6Addr, message: MobilityHeader) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.engine
            .handle(self.now, from, message, &mut out)
            .expect("handle");
        out
    }

    /// A registration PBU from `maar` for `local`, timestamped now.
    pub fn register(&mut self, maar: Ipv6Addr, sequence: u16, local: &str) -> Vec<Outgoing> {
        let pbu = pbu(
            sequence,
            Lifetime(150),
            self.stamp(),
            &[MobilityOption::LocalPrefix(net(local))],
        );
        self.send(maar, pbu)
    }
}

pub fn pbu(
    sequence: u16,
    lifetime: Lifetime,
    stamp: Timestamp,
    extra: &[MobilityOption],
) -> MobilityHeader {
    let mut options = vec![MobilityOption::MnId(MN), MobilityOption::Timestamp(stamp)];
    options.extend_from_slice(extra);
    MobilityHeader::Pbu(Pbu {
        sequence,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime,
        options,
    })
}

pub fn pba_of(out: &Outgoing) -> &Pba {
    match &out.message {
        MobilityHeader::Pba(pba) => pba,
        other @ MobilityHeader::Pbu(_) => panic!("expected a PBA, got {other:?}"),
    }
}

pub fn pbu_of(out: &Outgoing) -> &Pbu {
    match &out.message {
        MobilityHeader::Pbu(pbu) => pbu,
        other @ MobilityHeader::Pba(_) => panic!("expected a PBU, got {other:?}"),
    }
}

pub fn previous_maars(pba: &Pba) -> Vec<(Ipv6Addr, Ipv6Net)> {
    pba.options
        .iter()
        .filter_map(|o| match o {
            MobilityOption::PreviousMaar { maar, prefix } => Some((*maar, *prefix)),
            _ => None,
        })
        .collect()
}

/// The only message in `out`: a PBA to `to` with `status`.
pub fn expect_status(out: &[Outgoing], to: Ipv6Addr, status: Status) -> Pba {
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, to);
    let pba = pba_of(&out[0]).clone();
    assert_eq!(pba.status, status, "{pba:?}");
    pba
}

/// The updates the store's record of the node waits for: (to, serving, anchored).
pub fn pending(engine: &Engine<MemoryStore>) -> Vec<(Ipv6Addr, Ipv6Addr, Vec<Ipv6Net>)> {
    engine
        .store()
        .records()
        .iter()
        .flat_map(|r| r.pending.iter())
        .map(|p| (p.to, p.serving, p.anchored.clone()))
        .collect()
}

/// The ack of `update` from the MAAR it went to.
pub fn ack_of(update: &Outgoing) -> MobilityHeader {
    MobilityHeader::Pba(Pba {
        status: Status::ACCEPTED,
        flags: PbaFlags::P | PbaFlags::D,
        sequence: pbu_of(update).sequence,
        lifetime: pbu_of(update).lifetime,
        options: vec![MobilityOption::MnId(MN)],
    })
}

/// A registration PBU from `maar` for `local` with a Handoff Indicator option.
pub fn register_with_handoff(
    rig: &mut Rig,
    maar: Ipv6Addr,
    sequence: u16,
    local: &str,
    handoff: HandoffIndicator,
) -> Vec<Outgoing> {
    let pbu = pbu(
        sequence,
        Lifetime(150),
        rig.stamp(),
        &[
            MobilityOption::LocalPrefix(net(local)),
            MobilityOption::HandoffIndicator(handoff),
        ],
    );
    rig.send(maar, pbu)
}
