//! The CMD (`anchor cmd`) in a network namespace of its own and two fake MAARs in two others,
//! exchanging real PBU/PBA over raw Mobility Header sockets: registration, a move with the
//! Previous MAAR option and the update to the previous MAAR (retransmitted until acknowledged),
//! a CMD restart that keeps the bindings, an unauthorized update, de-registration; the refusal
//! to start without IPsec ESP policies for the signaling, and the start with the policies of
//! manual keys or of strongSwan's charon loaded with `packaging/strongswan/cmd-swanctl.conf`.
//!
//! Layout (documentation addresses, inside the namespaces only):
//! - `<p>c`: the CMD, 2001:db8:c::1/128 on lo; `c1` 2001:db8:f1::1/64, `c2` 2001:db8:f2::1/64.
//! - `<p>m1`: MAAR 1, `m1` 2001:db8:f1::2/64, route to 2001:db8:c::/64 via the CMD; may anchor
//!   2001:db8:1::/48.
//! - `<p>m2`: MAAR 2, the same with f2 and 2001:db8:2::/48.

use std::{path::Path, time::Duration};

use anchor_cmd::{EtcdStore, MobilityStore as _};
use anchor_rig::{
    charon::{CHARON, Charon},
    cmd::{self, Run as _},
};
use anchor_signal::{Lifetime, MnId, MobilityHeader, MobilityOption, PbuFlags, Status};
use anchor_tests::{
    cmd_net::{CMD, CmdProcess, M1, M2, Net, pbu_for, previous_maars},
    etcd::Etcd,
    hostile::{LogFormat, check_log, hostile_mn_id},
    support::{anchor_binary, in_netns, require_tools},
};

const MN: MnId = MnId::Eui48([2, 0, 0, 0, 0, 0x0a]);
const P1: &str = "2001:db8:1:1::/64";
const P2: &str = "2001:db8:2:1::/64";

fn pbu(sequence: u16, lifetime: u16, local: Option<&str>) -> MobilityHeader {
    pbu_for(MN, sequence, lifetime, local)
}

#[test]
fn cmd_signals_with_two_maars_and_keeps_bindings_across_a_restart() {
    require_tools(&[&["ip", "-V"], &["nsenter", "--version"]]);
    let anchor = anchor_binary();
    assert!(anchor.is_file());
    let net = Net::build("s");
    let config = net.config(true);
    signal_with_two_maars(&net, &config);
    let store = std::fs::read_to_string(net.dir.join("cmd.json")).expect("the store");
    assert_eq!(store.trim(), "[]", "the de-registered node should be gone");
}

/// The same on the etcd store: a one-member etcd in the CMD's namespace, the node's record
/// there across the CMD's restart and gone after its de-registration.
#[test]
fn cmd_on_etcd_signals_as_on_its_file_store() {
    require_tools(&[
        &["ip", "-V"],
        &["nsenter", "--version"],
        &["etcd", "--version"],
    ]);
    let net = Net::build("e");
    let etcd = Etcd::start(&net.dir, Some(&net.ns("c")));
    let config = net.config_with(true, &etcd.url("anchor/cmd"));
    signal_with_two_maars(&net, &config);
    let records = in_netns(&net.ns("c"), || {
        let store =
            EtcdStore::open(etcd.location("anchor/cmd"), None).unwrap_or_else(|e| panic!("{e}"));
        store.records().len()
    });
    assert_eq!(
        records, 0,
        "the de-registered node should be gone from etcd"
    );
}

/// Registration at MAAR 1, a move to MAAR 2 with its update to MAAR 1, a restart of the CMD
/// (the records survive), a replay and a foreign prefix refused, a de-registration.
fn signal_with_two_maars(net: &Net, config: &Path) {
    let mut cmd = CmdProcess::spawn(net, config, 1);
    cmd.wait_listening();
    assert!(
        cmd.log().contains("insecure_signaling = true"),
        "the CMD should warn that signaling is unprotected: {}",
        cmd.log()
    );
    let m1 = net.maar("m1", M1);
    let m2 = net.maar("m2", M2);

    // 1. The node attaches at MAAR 1.
    m1.send(&pbu(1, 150, Some(P1)));
    let pba = m1.recv_pba();
    assert_eq!((pba.status, pba.sequence), (Status::ACCEPTED, 1), "{pba:?}");
    assert!(previous_maars(&pba).is_empty(), "{pba:?}");

    // 2. It moves to MAAR 2: the PBA names MAAR 1 for P1, and MAAR 1 gets the Serving MAAR.
    let moved = pbu(1, 150, Some(P2));
    m2.send(&moved);
    let pba = m2.recv_pba();
    assert_eq!(pba.status, Status::ACCEPTED, "{pba:?}");
    assert_eq!(previous_maars(&pba), vec![(M1, P1.to_owned())]);
    let update = m1.recv_pbu();
    assert!(
        update
            .flags
            .contains(PbuFlags::A | PbuFlags::P | PbuFlags::D)
    );
    assert!(
        update.options.contains(&MobilityOption::ServingMaar(M2)),
        "{update:?}"
    );
    assert!(
        update
            .options
            .contains(&MobilityOption::AnchoredPrefix(P1.parse().unwrap())),
        "{update:?}"
    );
    // Not acknowledged: it comes again (after INITIAL_BINDACK_TIMEOUT), the same update.
    let again = m1.recv_pbu();
    assert_eq!(again, update);
    m1.ack(&again);
    // Acknowledged: the next retransmission (due 2 s after the first) never comes.
    assert_eq!(m1.recv_within(Duration::from_secs(3)), None);

    // 3. Restart: the bindings and the last timestamp survive.
    assert_eq!(cmd.terminate(), Some(0), "{}", cmd.log());
    let mut cmd = CmdProcess::spawn(net, config, 2);
    cmd.wait_listening();
    assert!(cmd.log().contains("1 binding(s)"), "{}", cmd.log());
    // The replayed move is refused: its timestamp is not later than the accepted one.
    m2.send(&moved);
    let pba = m2.recv_pba();
    assert_eq!(
        pba.status,
        Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
        "{pba:?}"
    );
    // A refresh from MAAR 2 still lists P1 at MAAR 1, and sends MAAR 1 nothing new.
    m2.send(&pbu(2, 150, Some(P2)));
    let pba = m2.recv_pba();
    assert_eq!(pba.status, Status::ACCEPTED, "{pba:?}");
    assert_eq!(previous_maars(&pba), vec![(M1, P1.to_owned())]);

    // 4. MAAR 2 may not anchor MAAR 1's prefixes.
    m2.send(&pbu(3, 150, Some("2001:db8:1:9::/64")));
    let pba = m2.recv_pba();
    assert_eq!(
        pba.status,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        "{pba:?}"
    );

    // 5. De-registration: MAAR 1 is told to remove the redirect.
    m2.send(&pbu(4, 0, None));
    let pba = m2.recv_pba();
    assert_eq!(
        (pba.status, pba.lifetime),
        (Status::ACCEPTED, Lifetime(0)),
        "{pba:?}"
    );
    let removal = m1.recv_pbu();
    assert_eq!(removal.lifetime, Lifetime(0), "{removal:?}");
    m1.ack(&removal);
    assert_eq!(m1.recv_within(Duration::from_millis(1500)), None);

    assert_eq!(cmd.terminate(), Some(0), "{}", cmd.log());
    let log = cmd.log();
    assert!(log.contains("2 rejected"), "{log}");
}

#[test]
fn cmd_refuses_to_start_without_esp_for_the_signaling() {
    require_tools(&[&["ip", "-V"], &["nsenter", "--version"]]);
    let net = Net::build("x");
    let config = net.config(false);
    let mut cmd = CmdProcess::spawn(&net, &config, 1);
    assert_eq!(cmd.wait_exit(), Some(1), "{}", cmd.log());
    let log = cmd.log();
    assert!(
        log.contains("no XFRM policy requires ESP") && log.contains(&M1.to_string()),
        "the refusal should name the unprotected MAAR: {log}"
    );

    // With ESP required both ways for both MAARs (manual transport-mode policies), it starts.
    let c = net.ns("c");
    for maar in [M1, M2] {
        for (dir, src, dst) in [("out", CMD, maar), ("in", maar, CMD)] {
            cmd::new("ip")
                .args(["-n", &c, "xfrm", "policy", "add"])
                .args(["src", &format!("{src}/128"), "dst", &format!("{dst}/128")])
                .args(["proto", "135", "dir", dir])
                .args(["tmpl", "proto", "esp", "mode", "transport"])
                .run_quiet()
                .unwrap_or_else(|e| panic!("cannot add the XFRM policy: {e:#}"));
        }
    }
    let mut cmd = CmdProcess::spawn(&net, &config, 2);
    cmd.wait_listening();
    assert!(cmd.log().contains("IPsec ESP is required"), "{}", cmd.log());
    assert_unprotected_pbu_dropped(&net, &mut cmd);
}

/// A PBU whose NAI carries a newline and a forged log line, control characters and escapes is
/// logged on one line, escaped, in text and in JSON: refused from a sender that is not a MAAR
/// (154), accepted from MAAR 1, and de-registered.
#[test]
fn cmd_logs_a_hostile_nai_escaped_on_one_line() {
    require_tools(&[&["ip", "-V"], &["nsenter", "--version"]]);
    for (tag, format, name) in [
        ("it", LogFormat::Text, "text"),
        ("ij", LogFormat::Json, "json"),
    ] {
        let net = Net::build(tag);
        // Only MAAR 1 is configured: MAAR 2's address is any host that reaches the CMD.
        let config = net.dir.join("cmd.toml");
        std::fs::write(
            &config,
            format!(
                "address = \"{CMD}\"\nstore = \"{}\"\ninsecure_signaling = true\n\
                 log_format = \"{name}\"\n\
                 [[maar]]\naddress = \"{M1}\"\nprefixes = [\"2001:db8:1::/48\"]\n",
                net.dir.join("cmd.json").display()
            ),
        )
        .expect("write the config");
        let mut cmd = CmdProcess::spawn(&net, &config, 1);
        cmd.wait_listening();
        let stranger = net.maar("m2", M2);
        stranger.send(&pbu_for(hostile_mn_id(), 1, 150, Some(P2)));
        let pba = stranger.recv_pba();
        assert_eq!(
            pba.status,
            Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
            "{pba:?}"
        );
        let m1 = net.maar("m1", M1);
        m1.send(&pbu_for(hostile_mn_id(), 1, 150, Some(P1)));
        assert_eq!(m1.recv_pba().status, Status::ACCEPTED);
        m1.send(&pbu_for(hostile_mn_id(), 2, 0, None));
        assert_eq!(m1.recv_pba().status, Status::ACCEPTED);
        assert_eq!(cmd.terminate(), Some(0), "{}", cmd.log());
        let mentions = check_log(&cmd.log(), format);
        // The refusal, the registration and the de-registration.
        assert_eq!(mentions.len(), 3, "{format:?}: {mentions:#?}");
    }
}

/// A burst of 2,000 malformed Mobility Headers gives a handful of warnings, not one each, and
/// the CMD still answers the next valid PBU.
#[test]
fn cmd_logs_a_flood_of_malformed_messages_rate_limited() {
    require_tools(&[&["ip", "-V"], &["nsenter", "--version"]]);
    let net = Net::build("f");
    let config = net.config(true);
    let mut cmd = CmdProcess::spawn(&net, &config, 1);
    cmd.wait_listening();
    let m1 = net.maar("m1", M1);
    // A Mobility Header with Payload Proto 0 (it must be 59) and a wrong checksum.
    let junk = [0u8, 1, 5, 0, 0xde, 0xad, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for _ in 0..2000 {
        m1.socket.send(CMD, &junk).expect("send junk to the CMD");
    }
    m1.send(&pbu(1, 150, Some(P1)));
    assert_eq!(m1.recv_pba().status, Status::ACCEPTED);
    assert_eq!(cmd.terminate(), Some(0), "{}", cmd.log());
    let log = cmd.log();
    let lines = log.matches("dropped a Mobility Header from").count();
    assert_eq!(
        lines, 5,
        "one warning per malformed message is a flood:\n{log}"
    );
}

#[test]
fn cmd_starts_with_the_policies_of_the_packaged_strongswan_config() {
    require_tools(&[
        &["ip", "-V"],
        &["nsenter", "--version"],
        &["unshare", "--version"],
        &["swanctl", "--help"],
        &[CHARON, "--version"],
    ]);
    let net = Net::build("s");
    let config = net.config(false);
    let c = net.ns("c");
    let charon = start_charon(&net, "c");
    let swanctl =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/strongswan/cmd-swanctl.conf");
    load(&charon, &swanctl);
    // `start_action = trap`: the policies are in before any IKE exchange.
    let policies = cmd::new("ip")
        .args(["-n", &c, "xfrm", "policy"])
        .read_stdout()
        .unwrap_or_else(|e| panic!("{e:#}"));
    for maar in [M1, M2] {
        for (src, dst) in [(CMD, maar), (maar, CMD)] {
            assert!(
                policies.contains(&format!(
                    "src {src}/128 dst {dst}/128 proto mobility-header"
                )),
                "strongSwan should have installed the policy {src} -> {dst}:\n{policies}"
            );
        }
    }
    assert!(policies.contains("proto esp reqid"), "{policies}");

    let mut cmd = CmdProcess::spawn(&net, &config, 1);
    cmd.wait_listening();
    assert!(cmd.log().contains("IPsec ESP is required"), "{}", cmd.log());
    assert_unprotected_pbu_dropped(&net, &mut cmd);

    // MAAR 1 with the packaged `maar-swanctl.conf`: its policies, and IKEv2 with the CMD's
    // charon (pre-shared keys, AES-GCM, ECP-384) up to an established IKE SA. The ESP child SA
    // itself needs ESP in the kernel (CONFIG_INET6_ESP), which is not asserted here.
    let maar = start_charon(&net, "m1");
    load(
        &maar,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/strongswan/maar-swanctl.conf"),
    );
    let policies = cmd::new("ip")
        .args(["-n", &net.ns("m1"), "xfrm", "policy"])
        .read_stdout()
        .unwrap_or_else(|e| panic!("{e:#}"));
    for (src, dst) in [(M1, CMD), (CMD, M1)] {
        assert!(
            policies.contains(&format!(
                "src {src}/128 dst {dst}/128 proto mobility-header"
            )),
            "strongSwan should have installed the policy {src} -> {dst} at MAAR 1:\n{policies}"
        );
    }
    // Fails when the kernel cannot install the ESP child SA; the IKE SA stays.
    let _ = maar
        .swanctl(&[
            "--initiate",
            "--child",
            "mobility-header",
            "--timeout",
            "10",
        ])
        .output();
    let sas = maar
        .swanctl(&["--list-sas"])
        .read_stdout()
        .unwrap_or_else(|e| panic!("swanctl --list-sas: {e:#}"));
    assert!(
        sas.contains("ESTABLISHED, IKEv2") && sas.contains("cmd.example.net"),
        "MAAR 1 and the CMD should have an IKEv2 SA:\n{sas}"
    );
    drop((maar, charon));
}

/// Starts charon (see [`Charon`]) in `net`'s namespace `name`, its files in the test's directory.
fn start_charon(net: &Net, name: &str) -> Charon {
    Charon::start(&net.ns(name), &net.dir, name)
        .unwrap_or_else(|e| panic!("cannot start charon in {name}: {e:#}"))
}

/// `swanctl --load-all` of `file`.
fn load(charon: &Charon, file: &Path) {
    charon
        .swanctl(&["--load-all", "--file", &file.display().to_string()])
        .run_quiet()
        .unwrap_or_else(|e| panic!("swanctl cannot load {}: {e:#}", file.display()));
}

/// An unprotected PBU from a configured MAAR's address (its namespace has no policy, so it goes
/// out in the clear) is dropped by the CMD's kernel for its inbound policy: no answer, nothing
/// counted or stored, and the kernel counts a template mismatch. Stops `cmd`.
fn assert_unprotected_pbu_dropped(net: &Net, cmd: &mut CmdProcess) {
    let c = net.ns("c");
    let mismatches = || xfrm_stat(&c, "XfrmInTmplMismatch");
    let before = mismatches();
    let m1 = net.maar("m1", M1);
    m1.send(&pbu(1, 150, Some(P1)));
    assert!(
        m1.recv_within(Duration::from_secs(1)).is_none(),
        "the CMD answered an unprotected PBU"
    );
    assert!(
        mismatches() > before,
        "the CMD's kernel should have dropped the unprotected PBU for its ESP policy"
    );
    assert_eq!(cmd.terminate(), Some(0), "{}", cmd.log());
    let log = cmd.log();
    assert!(log.contains("stopping: 0 accepted, 0 rejected"), "{log}");
    let store = std::fs::read_to_string(net.dir.join("cmd.json")).unwrap_or_default();
    assert!(
        store.trim().is_empty() || store.trim() == "[]",
        "an unprotected PBU stored a binding: {store}"
    );
}

/// A counter of the kernel's XFRM statistics (`/proc/net/xfrm_stat`) in namespace `ns`.
fn xfrm_stat(ns: &str, name: &str) -> u64 {
    let text = cmd::in_netns(ns, "cat")
        .arg("/proc/net/xfrm_stat")
        .read_stdout()
        .unwrap_or_else(|e| {
            panic!("the kernel has no XFRM statistics (CONFIG_XFRM_STATISTICS): {e:#}")
        });
    text.lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(name)).then(|| words.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} in /proc/net/xfrm_stat:\n{text}"))
}
