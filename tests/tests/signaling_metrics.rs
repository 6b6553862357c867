//! The signaling metrics of the CMD and the MAARs, scraped from the daemons' endpoints on the
//! grown rig of `rig/topologies/three-ars.toml` (privileged): the CMD in the core's namespace
//! serves `/metrics` on its default `metrics_listen` (127.0.0.1:9470 there), each MAAR on
//! `anchor run`'s (127.0.0.1:9469 in its namespace).
//!
//! The node attaches at AR1 and moves to AR2 (`session-lasting` pools, no idle release). Then:
//! - `promtool check metrics` accepts each endpoint's exposition as it is;
//! - the gauges are exactly the state: the CMD records one node with a local and a redirected
//!   prefix and no update outstanding, AR2 serves the node (registered), AR1 anchors its old
//!   prefix, AR3 holds nothing;
//! - the message counts of both ends agree, for a lossless rig: every PBU and PBA the CMD sent
//!   was received by a MAAR and the other way round, by type and status; nothing was rejected,
//!   dropped or given up; AR1 sent Router Advertisements.
//!
//! The daemons publish their metrics once per loop turn (at most a second late), so the values
//! are polled until they settle or a deadline passes; the assertions are on the values.

use std::collections::BTreeMap;

use anchor_rig::grown::{
    Spec, THREE_ARS,
    plan::{CMD, CORE},
    spec::{CmdPlacement, Policy},
};
use anchor_tests::{
    grown::{GrownScenario, wait_until_right},
    scenario::DEADLINE,
    scrape::{http_get, promtool_check_metrics},
    support::{in_netns, require_tools},
};

const MN: &str = "mn1";
const MAAR_METRICS: &str = "127.0.0.1:9469";
const CMD_METRICS: &str = "127.0.0.1:9470";
const ARS: [&str; 3] = ["ar1", "ar2", "ar3"];

/// The samples of a Prometheus text exposition: series (name and labels, as written) to value.
fn samples(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn scrape(ns: &str, address: &str) -> String {
    let (status, _, body) = in_netns(ns, || http_get(address, "/metrics", None));
    assert_eq!(status, 200, "GET http://{address}/metrics in {ns}: {body}");
    body
}

fn value(samples: &BTreeMap<String, u64>, series: &str) -> u64 {
    samples.get(series).copied().unwrap_or_else(|| {
        panic!("no series {series} in:\n{samples:#?}");
    })
}

fn messages(role: &str, direction: &str, kind: &str, status: Option<u8>) -> String {
    let status = status.map_or(String::new(), |s| format!(",status=\"{s}\""));
    format!(
        "anchor_signaling_messages_total{{role=\"{role}\",direction=\"{direction}\",type=\"{kind}\"{status}}}"
    )
}

fn prefixes(role: &str, policy: &str, phase: &str) -> String {
    format!("anchor_signaling_prefixes{{role=\"{role}\",policy=\"{policy}\",phase=\"{phase}\"}}")
}

fn nodes(role: &str, phase: &str) -> String {
    format!("anchor_signaling_nodes{{role=\"{role}\",phase=\"{phase}\"}}")
}

/// Every series with a non-zero value whose name starts with `prefix`.
fn nonzero<'a>(samples: &'a BTreeMap<String, u64>, prefix: &str) -> Vec<(&'a str, u64)> {
    samples
        .iter()
        .filter(|(series, n)| series.starts_with(prefix) && **n > 0)
        .map(|(series, n)| (series.as_str(), *n))
        .collect()
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: the move, then each endpoint's checks in turn"
)]
fn the_cmd_and_the_maars_show_their_signaling_on_metrics() {
    require_tools(&[&["promtool", "--version"]]);
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(0);
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let sc = GrownScenario::start("sm", &spec);
    let cmd_ns = sc.grown.ns(match spec.cmd.placement {
        CmdPlacement::Core => CORE,
        CmdPlacement::Own => CMD,
    });
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    sc.wait_for_address(MN, "ar1", sc.slaac(MN, p1), true);
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p2 = sc.first_prefix("ar2");
    sc.wait_for_address(MN, "ar2", sc.slaac(MN, p2), true);

    // Settled: the CMD has its acknowledgement, both ends count the same messages.
    let scrape_all = || {
        let cmd = scrape(&cmd_ns, CMD_METRICS);
        let maars = ARS.map(|ar| scrape(&sc.grown.ns(ar), MAAR_METRICS));
        (cmd, maars)
    };
    let mut last = scrape_all();
    wait_until_right("settled signaling metrics", DEADLINE, || {
        last = scrape_all();
        let cmd = samples(&last.0);
        let maars = last.1.each_ref().map(|text| samples(text));
        let sum = |series: &str| maars.iter().map(|m| value(m, series)).sum::<u64>();
        let pairs = [
            (
                value(&cmd, &messages("cmd", "received", "pbu", None)),
                sum(&messages("maar", "sent", "pbu", None)),
            ),
            (
                value(&cmd, &messages("cmd", "sent", "pbu", None)),
                sum(&messages("maar", "received", "pbu", None)),
            ),
            (
                value(&cmd, &messages("cmd", "sent", "pba", Some(0))),
                sum(&messages("maar", "received", "pba", Some(0))),
            ),
            (
                value(&cmd, &messages("cmd", "received", "pba", Some(0))),
                sum(&messages("maar", "sent", "pba", Some(0))),
            ),
        ];
        let outstanding = value(&cmd, "anchor_signaling_updates_outstanding{role=\"cmd\"}");
        let redirected = value(&cmd, &prefixes("cmd", "session-lasting", "redirected"));
        (pairs.iter().any(|(a, b)| a != b) || outstanding != 0 || redirected != 1).then(|| {
            format!("CMD/MAARs {pairs:?}, outstanding {outstanding}, redirected {redirected}")
        })
    });
    let (cmd_text, maar_texts) = last;

    promtool_check_metrics(&cmd_text, sc.dir.path());
    for text in &maar_texts {
        promtool_check_metrics(text, sc.dir.path());
    }

    let cmd = samples(&cmd_text);
    assert_eq!(value(&cmd, &nodes("cmd", "registered")), 1, "{cmd_text}");
    assert_eq!(
        nonzero(&cmd, "anchor_signaling_prefixes"),
        vec![
            (prefixes("cmd", "session-lasting", "local").as_str(), 1),
            (prefixes("cmd", "session-lasting", "redirected").as_str(), 1),
        ],
        "{cmd_text}"
    );
    // Two registrations at least (AR1's, AR2's) and the update to AR1, all accepted.
    assert!(
        value(&cmd, &messages("cmd", "received", "pbu", None)) >= 2,
        "{cmd_text}"
    );
    assert!(
        value(&cmd, &messages("cmd", "sent", "pbu", None)) >= 1,
        "{cmd_text}"
    );
    for counter in ["dropped", "given_up"] {
        assert_eq!(
            value(
                &cmd,
                &format!("anchor_signaling_{counter}_total{{role=\"cmd\"}}")
            ),
            0,
            "{cmd_text}"
        );
    }
    assert!(
        !cmd.keys()
            .any(|series| series.contains("type=\"pba\"") && !series.ends_with("status=\"0\"}")),
        "no PBA with a rejection: {cmd_text}"
    );

    let [ar1, ar2, ar3] = maar_texts.each_ref().map(|text| samples(text));
    assert_eq!(
        nonzero(&ar1, "anchor_signaling_prefixes"),
        vec![(prefixes("maar", "session-lasting", "anchored").as_str(), 1)],
        "AR1:\n{}",
        maar_texts[0]
    );
    assert_eq!(
        nonzero(&ar1, "anchor_signaling_nodes"),
        vec![],
        "AR1:\n{}",
        maar_texts[0]
    );
    assert!(
        value(&ar1, "anchor_router_advertisements_total{role=\"maar\"}") >= 1,
        "AR1 advertised P1:\n{}",
        maar_texts[0]
    );
    assert_eq!(
        value(&ar1, "anchor_idle_releases_total{role=\"maar\"}"),
        0,
        "{}",
        maar_texts[0]
    );
    assert_eq!(
        nonzero(&ar2, "anchor_signaling_prefixes"),
        vec![(prefixes("maar", "session-lasting", "served").as_str(), 1)],
        "AR2:\n{}",
        maar_texts[1]
    );
    assert_eq!(
        nonzero(&ar2, "anchor_signaling_nodes"),
        vec![(nodes("maar", "registered").as_str(), 1)],
        "AR2:\n{}",
        maar_texts[1]
    );
    assert_eq!(
        nonzero(&ar3, "anchor_signaling_"),
        vec![],
        "AR3 never signaled:\n{}",
        maar_texts[2]
    );
    // The latencies: one registration at AR1 and one at AR2 (their attachments), every PBU each
    // MAAR sent answered, the CMD's updates answered, and its store written at least for the
    // two registrations.
    let count = |samples: &BTreeMap<String, u64>, name: &str, role: &str| {
        value(samples, &format!("{name}_seconds_count{{role=\"{role}\"}}"))
    };
    for (name, maar, text) in [("AR1", &ar1, &maar_texts[0]), ("AR2", &ar2, &maar_texts[1])] {
        assert_eq!(
            count(maar, "anchor_attachment_to_binding", "maar"),
            1,
            "{name}:\n{text}"
        );
        assert_eq!(
            count(maar, "anchor_signaling_pbu_to_pba", "maar"),
            value(maar, &messages("maar", "sent", "pbu", None))
                - value(
                    maar,
                    "anchor_signaling_retransmissions_total{role=\"maar\"}"
                ),
            "{name}: every PBU answered:\n{text}"
        );
    }
    assert_eq!(count(&ar3, "anchor_attachment_to_binding", "maar"), 0);
    assert_eq!(
        count(&cmd, "anchor_signaling_pbu_to_pba", "cmd"),
        value(&cmd, &messages("cmd", "sent", "pbu", None))
            - value(&cmd, "anchor_signaling_retransmissions_total{role=\"cmd\"}"),
        "every update answered: {cmd_text}"
    );
    assert!(count(&cmd, "anchor_store_write", "cmd") >= 2, "{cmd_text}");
    // The MAAR role's families come with the fast path's, on the same endpoint.
    assert!(
        maar_texts[0].contains("anchor_bindings{kind=\"redirect\"} 1"),
        "{}",
        maar_texts[0]
    );
    sc.stop();
}
