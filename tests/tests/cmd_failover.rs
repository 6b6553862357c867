//! Three CMD instances (`anchor cmd`) on one three-member etcd cluster (Debian's `etcd-server`,
//! in the CMD's namespace), and two fake MAARs that send each PBU to every instance, as a MAAR
//! with a list of CMDs does when one does not answer:
//!
//! 1. nodes register: exactly one instance answers, the one `anchor cmd status` names;
//! 2. the leader is killed (SIGKILL) in the middle of a stream of moves: another instance takes
//!    over, every move is answered, by one instance each time;
//! 3. one etcd member is killed: the same leader answers every move;
//! 4. a second member is killed (quorum lost): no instance answers; both members start again
//!    (quorum restored): the move is answered;
//! 5. in etcd, every node has one record, served where its last move took it, with its two
//!    prefixes once each, and no update waits for its acknowledgement.
//!
//! The failover time (from the SIGKILL to the first PBA of the new leader) is printed.

use std::{
    net::Ipv6Addr,
    path::PathBuf,
    time::{Duration, Instant},
};

use anchor_cmd::{EtcdStore, MobilityStore as _};
use anchor_signal::{MnId, MobilityHeader, Pba, Status};
use anchor_tests::{
    cmd_net::{CMDS, CmdProcess, FakeMaar, M1, M2, Net, pbu_for},
    etcd::Etcd,
    scrape::http_get,
    support::{anchor_binary, in_netns, require_tools},
};

const NODES: u8 = 6;
/// The leader's lease: the default. It must outlast an etcd leader election (about a second
/// here) with a renewal or two lost, or the leader stands down when a member dies.
const LEASE_S: u64 = 3;
/// Instance `i`'s `/metrics` port is this plus `i`.
const METRICS_PORT: u16 = 9471;
/// How long a fake MAAR waits for a PBA before it sends its PBU again (with a fresh timestamp).
const ROUND: Duration = Duration::from_millis(400);

fn node(k: u8) -> MnId {
    MnId::Eui48([2, 0, 0, 0, 0x10, k])
}

/// Node `k`'s prefix at MAAR `m` (1 or 2).
fn prefix(m: u8, k: u8) -> String {
    format!("2001:db8:{m}:{k}::/64")
}

/// The two fake MAARs, their next sequence numbers, and what they saw.
struct Maars {
    m: [FakeMaar; 2],
    sequence: [u16; 2],
    /// Updates (PBUs from a CMD) acknowledged.
    updates: u32,
}

/// How one registration or move went.
struct Answer {
    pba: Pba,
    by: Ipv6Addr,
    /// PBUs sent (one round: to every instance).
    rounds: u32,
}

impl Maars {
    /// Sends node `k`'s PBU from MAAR `i` (0 or 1) to every instance, again each [`ROUND`]
    /// with a fresh timestamp, until a PBA answers it or `within` passes; meanwhile acknowledges
    /// every update either MAAR receives. Fails if two instances answer one round.
    fn signal(&mut self, i: usize, k: u8, within: Duration) -> Option<Answer> {
        let sequence = self.sequence[i];
        self.sequence[i] += 1;
        let local = prefix(u8::try_from(i + 1).expect("1 or 2"), k);
        let deadline = Instant::now() + within;
        let mut rounds = 0;
        while Instant::now() < deadline {
            let message = pbu_for(node(k), sequence, 300, Some(&local));
            for cmd in CMDS {
                self.m[i].send_to(cmd, &message);
            }
            rounds += 1;
            let mut answers = Vec::new();
            let round_end = Instant::now() + ROUND;
            while Instant::now() < round_end {
                for j in 0..2 {
                    let Some((message, from)) =
                        self.m[j].recv_from_within(Duration::from_millis(20))
                    else {
                        continue;
                    };
                    match message {
                        MobilityHeader::Pbu(update) => {
                            self.m[j].ack_to(from, &update);
                            self.updates += 1;
                        }
                        MobilityHeader::Pba(pba) if j == i && pba.sequence == sequence => {
                            answers.push((pba, from));
                        }
                        MobilityHeader::Pba(_) => {}
                    }
                }
            }
            let instances: Vec<Ipv6Addr> = answers.iter().map(|(_, from)| *from).collect();
            assert!(
                instances.windows(2).all(|w| w[0] == w[1]),
                "node {k}'s PBU {sequence} was answered by several instances: {instances:?}"
            );
            if let Some((pba, by)) = answers.into_iter().next() {
                return Some(Answer { pba, by, rounds });
            }
        }
        None
    }

    /// Acknowledges the updates that come within `time`.
    fn drain(&mut self, time: Duration) {
        let end = Instant::now() + time;
        while Instant::now() < end {
            for j in 0..2 {
                if let Some((MobilityHeader::Pbu(update), from)) =
                    self.m[j].recv_from_within(Duration::from_millis(20))
                {
                    self.m[j].ack_to(from, &update);
                    self.updates += 1;
                }
            }
        }
    }
}

fn accepted(answer: Option<Answer>, what: &str) -> Answer {
    let answer = answer.unwrap_or_else(|| panic!("{what}: no instance answered"));
    assert_eq!(
        answer.pba.status,
        Status::ACCEPTED,
        "{what}: {:?}",
        answer.pba
    );
    answer
}

/// The value of the series `name` (role `cmd`) on instance `i`'s `/metrics`.
fn metric(net: &Net, i: usize, name: &str) -> u64 {
    let address = format!(
        "127.0.0.1:{}",
        METRICS_PORT + u16::try_from(i).expect("0..3")
    );
    let (code, _, body) = in_netns(&net.ns("c"), || http_get(&address, "/metrics", None));
    assert_eq!(code, 200, "{body}");
    let series = format!("{name}{{role=\"cmd\"}} ");
    body.lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} on instance {i}: {body}"))
}

/// `anchor cmd status --config CONFIG` in the CMD's namespace: its output.
fn status(net: &Net, config: &PathBuf) -> String {
    let output = anchor_rig::cmd::in_netns_only(&net.ns("c"), anchor_binary())
        .args(["cmd", "status", "--config"])
        .arg(config)
        .output()
        .expect("run anchor cmd status");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one story: registration, leader killed, member killed, quorum lost and restored"
)]
fn cmd_instances_on_a_three_member_etcd_fail_over_with_nothing_lost() {
    require_tools(&[
        &["ip", "-V"],
        &["nsenter", "--version"],
        &["etcd", "--version"],
    ]);
    let net = Net::build("l");
    let mut etcd = Etcd::cluster(&net.dir, Some(&net.ns("c")), 3);
    let url = etcd.url("anchor/cmd");
    let configs: Vec<PathBuf> = (0..3)
        .map(|i| {
            net.instance_config(
                &format!("cmd-{}", i + 1),
                CMDS[i],
                &url,
                &format!(
                    "insecure_signaling = true\ninstance = \"cmd-{}\"\nleader_lease_s = {LEASE_S}\n\
                     initial_bindack_timeout_ms = 500\nmetrics_listen = \"127.0.0.1:{}\"\n",
                    i + 1,
                    usize::from(METRICS_PORT) + i
                ),
            )
        })
        .collect();
    let mut cmds: Vec<CmdProcess> = configs
        .iter()
        .enumerate()
        .map(|(i, config)| CmdProcess::spawn_named(&net, config, &format!("cmd-{}", i + 1)))
        .collect();
    for cmd in &mut cmds {
        cmd.wait_started();
    }
    let mut maars = Maars {
        m: [net.maar("m1", M1), net.maar("m2", M2)],
        sequence: [1, 1],
        updates: 0,
    };
    let logs = |cmds: &[CmdProcess]| {
        cmds.iter()
            .map(CmdProcess::log)
            .collect::<Vec<_>>()
            .join("\n----\n")
    };

    // 1. Every node registers at MAAR 1; one instance answers them all.
    let first = accepted(
        maars.signal(0, 1, Duration::from_secs(15)),
        "registration 1",
    );
    let leader = first.by;
    for k in 2..=NODES {
        let answer = accepted(maars.signal(0, k, Duration::from_secs(5)), "registration");
        assert_eq!(answer.by, leader, "{}", logs(&cmds));
    }
    let index = CMDS.iter().position(|c| *c == leader).expect("a CMD");
    let shown = status(&net, &configs[0]);
    assert!(
        shown.contains(&format!("leader: cmd-{}", index + 1))
            && shown.contains(&format!("{NODES} node(s)")),
        "{shown}"
    );

    // 2. Moves to MAAR 2; the leader is killed with the fourth in flight.
    for k in 1..=3 {
        let answer = accepted(maars.signal(1, k, Duration::from_secs(5)), "move");
        assert_eq!(answer.by, leader);
    }
    let killed = Instant::now();
    cmds[index].child.kill().expect("SIGKILL the leader");
    let _ = cmds[index].child.wait();
    let takeover = accepted(
        maars.signal(1, 4, Duration::from_secs(20)),
        "move across the failover",
    );
    let failover = killed.elapsed();
    let new_leader = takeover.by;
    assert_ne!(new_leader, leader, "{}", logs(&cmds));
    println!(
        "failover: the first PBA of the new leader {new_leader} came {} ms after the leader's \
         SIGKILL ({} rounds of {} ms, lease {LEASE_S} s)",
        failover.as_millis(),
        takeover.rounds,
        ROUND.as_millis()
    );
    for k in 5..=NODES {
        let answer = accepted(maars.signal(1, k, Duration::from_secs(5)), "move");
        assert_eq!(answer.by, new_leader);
    }
    let new_index = CMDS.iter().position(|c| *c == new_leader).expect("a CMD");
    assert!(
        cmds[new_index]
            .log()
            .contains("leader: answering as the CMD"),
        "{}",
        cmds[new_index].log()
    );
    let standby = (0..3)
        .find(|i| *i != index && *i != new_index)
        .expect("a third");
    assert_eq!(metric(&net, new_index, "anchor_cmd_leader"), 1);
    assert_eq!(
        metric(&net, new_index, "anchor_cmd_leadership_terms_total"),
        1
    );
    assert_eq!(metric(&net, standby, "anchor_cmd_leader"), 0);
    assert!(metric(&net, standby, "anchor_cmd_standby_dropped_total") > 0);

    // 3. One etcd member killed: the same leader answers every move back to MAAR 1, without
    //    standing down once.
    etcd.kill(0);
    for k in 1..=NODES {
        let answer = accepted(
            maars.signal(0, k, Duration::from_secs(10)),
            "move, one member down",
        );
        assert_eq!(answer.by, new_leader, "{}", logs(&cmds));
    }
    assert_eq!(
        (
            metric(&net, new_index, "anchor_cmd_leadership_lost_total"),
            metric(&net, new_index, "anchor_cmd_leadership_terms_total")
        ),
        (0, 1),
        "the leader stood down with one member down: {}",
        cmds[new_index].log()
    );

    // 4. Quorum lost: nobody answers node 1's move to MAAR 2; quorum back: it is answered.
    etcd.kill(1);
    let unanswered = maars.signal(1, 1, Duration::from_secs(4 * LEASE_S));
    assert!(
        unanswered.is_none(),
        "an instance answered without an etcd quorum: {:?}",
        unanswered.map(|a| (a.by, a.pba))
    );
    assert!(
        cmds[new_index].log().contains("standing down"),
        "{}",
        cmds[new_index].log()
    );
    assert_eq!(metric(&net, new_index, "anchor_cmd_leader"), 0);
    assert!(metric(&net, new_index, "anchor_cmd_leadership_lost_total") >= 1);
    assert!(metric(&net, new_index, "anchor_cmd_store_unavailable_total") >= 1);
    etcd.restart(0);
    etcd.restart(1);
    let back = accepted(
        maars.signal(1, 1, Duration::from_secs(30)),
        "move after quorum",
    );
    println!(
        "quorum restored: {} answered after {} rounds",
        back.by, back.rounds
    );
    maars.drain(Duration::from_secs(3));

    // 5. In etcd: one record per node, where its last move took it, each prefix once, no update
    //    waiting.
    let location = etcd.location("anchor/cmd");
    let records = in_netns(&net.ns("c"), || {
        EtcdStore::open(location, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .records()
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    });
    assert_eq!(records.len(), usize::from(NODES), "{records:#?}");
    for k in 1..=NODES {
        let record = records
            .iter()
            .find(|r| r.mn.to_mn_id() == node(k))
            .unwrap_or_else(|| panic!("node {k} lost: {records:#?}"));
        let serving = if k == 1 { M2 } else { M1 };
        assert_eq!(record.serving, serving, "node {k}: {record:#?}");
        let mut prefixes: Vec<(String, Ipv6Addr)> = record
            .prefixes
            .iter()
            .map(|p| (p.prefix.to_string(), p.anchor))
            .collect();
        prefixes.sort();
        assert_eq!(
            prefixes,
            vec![(prefix(1, k), M1), (prefix(2, k), M2)],
            "node {k}: {record:#?}"
        );
        assert!(record.pending.is_empty(), "node {k}: {record:#?}");
    }
    assert!(
        maars.updates > 0,
        "the moves sent updates to the previous MAARs"
    );
}
