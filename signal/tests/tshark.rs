//! An independent decoder reads what we write: tshark (Wireshark 4.0) decodes our PBU and PBA,
//! wrapped in IPv6 (Next Header 135) and Ethernet in a pcap file, to the field values we put in,
//! with no warning, error or malformed packet.
//!
//! Wireshark 4.0 does not know the RFC 8885 options (65-70): it lists their types as unknown
//! options (a "not dissected" note, below warning level), so their contents are checked by
//! `fixed_bytes.rs` instead. It has no verdict field for the Mobility Header checksum either:
//! the checksum it shows is compared with ours, whose arithmetic `fixed_bytes.rs` checks.
//! Needs tshark (`cargo xtask setup` installs it).

mod common;

use std::net::Ipv6Addr;
use std::path::Path;
use std::process::Command;

use anchor_rig::WorkDir;
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status,
};
use common::{CMD, MAAR};

/// Ethernet + IPv6 (Next Header 135, hop limit 64) around `mh`.
fn frame(src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd];
    f.extend([0x60, 0, 0, 0]);
    f.extend(u16::try_from(mh.len()).unwrap().to_be_bytes());
    f.extend([135, 64]);
    f.extend(src.octets());
    f.extend(dst.octets());
    f.extend_from_slice(mh);
    f
}

/// A classic pcap file (microsecond timestamps, Ethernet link type) holding `frames`.
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut file = Vec::new();
    // Magic, version 2.4, GMT offset 0, accuracy 0, snap length, LINKTYPE_ETHERNET.
    file.extend(0xa1b2_c3d4_u32.to_le_bytes());
    file.extend(2_u16.to_le_bytes());
    file.extend(4_u16.to_le_bytes());
    file.extend(0_i32.to_le_bytes());
    file.extend(0_u32.to_le_bytes());
    file.extend(65535_u32.to_le_bytes());
    file.extend(1_u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).unwrap();
        file.extend((1_700_000_000 + u32::try_from(i).unwrap()).to_le_bytes());
        file.extend(0_u32.to_le_bytes());
        file.extend(len.to_le_bytes());
        file.extend(len.to_le_bytes());
        file.extend_from_slice(f);
    }
    std::fs::write(path, file).unwrap();
}

/// Runs `tshark -n -r FILE ARGS` in UTC; panics with the reason when it cannot.
fn tshark(file: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(file)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark ({e}): install it with `cargo xtask setup`"));
    assert!(
        out.status.success(),
        "`tshark -r {} {}` failed ({}): {}",
        file.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The fields of each frame, one map per frame: field name to tshark's text (occurrences
/// joined with commas; empty when the field is absent).
fn fields(file: &Path, names: &[&str]) -> Vec<Vec<(String, String)>> {
    let mut args = vec!["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"];
    for name in names {
        args.extend(["-e", name]);
    }
    tshark(file, &args)
        .lines()
        .map(|line| {
            let values: Vec<&str> = line.split('\t').collect();
            assert_eq!(values.len(), names.len(), "odd tshark line {line:?}");
            names
                .iter()
                .zip(values)
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn get<'a>(frame: &'a [(String, String)], name: &str) -> &'a str {
    &frame.iter().find(|(n, _)| n == name).unwrap().1
}

const FIELDS: &[&str] = &[
    "frame.protocols",
    "mip6.proto",
    "mip6.hlen",
    "mip6.mhtype",
    "mip6.csum",
    "mip6.bu.seqnr",
    "mip6.bu.a_flag",
    "mip6.bu.h_flag",
    "mip6.bu.p_flag",
    "mip6.bu.lifetime",
    "mip6.ba.status",
    "mip6.ba.k_flag",
    "mip6.ba.p_flag",
    "mip6.ba.seqnr",
    "mip6.ba.lifetime",
    "mip6.mnid.subtype",
    "mip6.mnid.identifier",
    "mip6.nemo.mnp.pfl",
    "mip6.nemo.mnp.mnp",
    "mip6.hi",
    "mip6.att",
    "mip6.mnlli.lli",
    "mip6.lila_lla",
    "mip6.acoa.acoa",
    "mip6.timestamp_tmp",
    "mip6.mobility_opt",
];

/// No expert info of warning severity or worse, no malformed packet in `file`.
fn assert_tshark_does_not_complain(file: &Path) {
    // -V makes tshark build the whole tree: some warnings (a string's stray characters) are
    // only added then.
    let problems = tshark(
        file,
        &[
            "-V",
            "-Y",
            "_ws.expert.severity >= 0x00600000 || _ws.malformed",
        ],
    );
    assert!(problems.trim().is_empty(), "tshark complains:\n{problems}");
    for frame in fields(
        file,
        &[
            "frame.number",
            "_ws.expert.severity",
            "_ws.expert.message",
            "_ws.malformed",
        ],
    ) {
        let severities = get(&frame, "_ws.expert.severity");
        for s in severities.split(',').filter(|s| !s.is_empty()) {
            assert!(
                s.parse::<u32>().unwrap() < 0x0060_0000,
                "frame {}: {}",
                get(&frame, "frame.number"),
                get(&frame, "_ws.expert.message")
            );
        }
        assert_eq!(get(&frame, "_ws.malformed"), "");
    }
}

/// Options tshark decodes the same way in the PBU and the PBA (common::every_option).
fn check_every_option(f: &[(String, String)]) {
    assert_eq!(get(f, "mip6.mnid.subtype"), "5");
    // Wireshark 4.0 shows every MN-ID as a string: the MAC's octets as they are.
    assert_eq!(
        get(f, "mip6.mnid.identifier"),
        String::from_utf8_lossy(&common::MAC)
    );
    assert_eq!(get(f, "mip6.nemo.mnp.pfl"), "64");
    assert_eq!(get(f, "mip6.nemo.mnp.mnp"), "2001:db8:1:1::");
    assert_eq!(get(f, "mip6.hi"), "1");
    assert_eq!(get(f, "mip6.att"), "3");
    assert_eq!(get(f, "mip6.mnlli.lli"), "021122334455");
    assert_eq!(get(f, "mip6.lila_lla"), "fe80::1");
    assert_eq!(get(f, "mip6.acoa.acoa"), common::CARE_OF.to_string());
    assert_eq!(
        get(f, "mip6.timestamp_tmp"),
        "Nov 14, 2023 22:13:20.500000000 UTC"
    );
    // Unknown to Wireshark 4.0: the RFC 8885 options and our unknown 200.
    assert_eq!(get(f, "mip6.mobility_opt"), "65,66,67,68,69,70,200");
}

#[test]
fn tshark_decodes_our_pbu_and_pba_without_complaint() {
    let pbu = common::pbu_with_every_option();
    let pba = common::pba_with_every_option();
    // A rejection with an NAI, and a de-registration with no options.
    let reject = MobilityHeader::Pba(Pba {
        status: Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        flags: PbaFlags::P,
        sequence: 65535,
        lifetime: Lifetime(0),
        options: vec![MobilityOption::MnId(MnId::Nai("mn1@example.net".into()))],
    });
    let dereg = MobilityHeader::Pbu(Pbu {
        sequence: 2,
        flags: PbuFlags::A | PbuFlags::P,
        lifetime: Lifetime::DEREGISTRATION,
        options: vec![],
    });
    let messages = [
        (&pbu, MAAR, CMD),
        (&pba, CMD, MAAR),
        (&reject, CMD, MAAR),
        (&dereg, MAAR, CMD),
    ];
    let wires: Vec<Vec<u8>> = messages
        .iter()
        .map(|(m, src, dst)| m.encode(*src, *dst).unwrap())
        .collect();
    let dir = WorkDir::create("anc-sig-tshark").unwrap();
    let file = dir.path().join("pmip.pcap");
    let frames: Vec<Vec<u8>> = messages
        .iter()
        .zip(&wires)
        .map(|((_, src, dst), wire)| frame(*src, *dst, wire))
        .collect();
    write_pcap(&file, &frames);

    assert_tshark_does_not_complain(&file);

    let decoded = fields(&file, FIELDS);
    assert_eq!(decoded.len(), 4, "{decoded:?}");
    let csum = |wire: &[u8]| format!("{:#06x}", u16::from_be_bytes([wire[4], wire[5]]));
    let hlen = |wire: &[u8]| (wire.len() / 8 - 1).to_string();

    let f = &decoded[0];
    assert_eq!(get(f, "frame.protocols"), "eth:ethertype:ipv6:mipv6");
    assert_eq!(get(f, "mip6.proto"), "59");
    assert_eq!(get(f, "mip6.hlen"), hlen(&wires[0]));
    assert_eq!(get(f, "mip6.mhtype"), "5");
    assert_eq!(get(f, "mip6.csum"), csum(&wires[0]));
    assert_eq!(get(f, "mip6.bu.seqnr"), "4660");
    assert_eq!(get(f, "mip6.bu.a_flag"), "1");
    assert_eq!(get(f, "mip6.bu.h_flag"), "0");
    assert_eq!(get(f, "mip6.bu.p_flag"), "1");
    assert_eq!(get(f, "mip6.bu.lifetime"), "150");
    check_every_option(f);

    let f = &decoded[1];
    assert_eq!(get(f, "frame.protocols"), "eth:ethertype:ipv6:mipv6");
    assert_eq!(get(f, "mip6.hlen"), hlen(&wires[1]));
    assert_eq!(get(f, "mip6.mhtype"), "6");
    assert_eq!(get(f, "mip6.csum"), csum(&wires[1]));
    assert_eq!(get(f, "mip6.ba.status"), "0");
    assert_eq!(get(f, "mip6.ba.k_flag"), "0");
    assert_eq!(get(f, "mip6.ba.p_flag"), "1");
    assert_eq!(get(f, "mip6.ba.seqnr"), "4660");
    assert_eq!(get(f, "mip6.ba.lifetime"), "150");
    check_every_option(f);

    let f = &decoded[2];
    assert_eq!(get(f, "mip6.mhtype"), "6");
    assert_eq!(get(f, "mip6.csum"), csum(&wires[2]));
    assert_eq!(get(f, "mip6.ba.status"), "155");
    assert_eq!(get(f, "mip6.ba.seqnr"), "65535");
    assert_eq!(get(f, "mip6.ba.lifetime"), "0");
    assert_eq!(get(f, "mip6.mnid.subtype"), "1");
    assert_eq!(get(f, "mip6.mnid.identifier"), "mn1@example.net");
    assert_eq!(get(f, "mip6.mobility_opt"), "");

    let f = &decoded[3];
    assert_eq!(get(f, "mip6.mhtype"), "5");
    assert_eq!(get(f, "mip6.hlen"), "1");
    assert_eq!(get(f, "mip6.csum"), csum(&wires[3]));
    assert_eq!(get(f, "mip6.bu.seqnr"), "2");
    assert_eq!(get(f, "mip6.bu.lifetime"), "0");
    assert_eq!(get(f, "mip6.mnid.subtype"), "");
}
