//! A real Prometheus server (Debian's `prometheus`) in a namespace of a test's rig, loading
//! `packaging/prometheus/anchor-rules.yml` unchanged, and its HTTP API.

use std::{
    fs::File,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anchor_rig::{Proc, cmd};
use serde_json::Value;

use crate::{
    scrape::{http_get, try_http_get},
    support::in_netns,
};

/// Prometheus's own HTTP address, on 127.0.0.1 in its namespace.
pub const PROMETHEUS_PORT: u16 = 9090;
/// How long Prometheus gets to start, and to show what a test waits for.
pub const DEADLINE: Duration = Duration::from_mins(1);
/// The rules of `anchor-rules.yml`, in file order.
pub const RULES: [&str; 7] = [
    "AnchorDaemonDown",
    "AnchorBindingMapNearlyFull",
    "AnchorSpoofedTunnelPackets",
    "AnchorNextHopsFallBackToFib",
    "AnchorPbuRejections",
    "AnchorSignalingUnanswered",
    "AnchorCmdUnreachable",
];

pub fn rules_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/prometheus/anchor-rules.yml")
}

/// A running Prometheus, stopped on drop.
pub struct Prometheus {
    ns: String,
    _proc: Proc,
}

impl Prometheus {
    /// Starts `prometheus` in `ns` with the alert rules, scraping and evaluating every second,
    /// its storage in `dir`; `scrape_configs` is the YAML list under `scrape_configs:` (each
    /// item indented by two spaces). Waits until it is ready.
    pub fn start(ns: &str, dir: &Path, scrape_configs: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - '{}'\nscrape_configs:\n{scrape_configs}",
                rules_file().display()
            ),
        )
        .expect("write prometheus.yml");
        let log_path = dir.join("prometheus.log");
        let log = File::create(&log_path).expect("create prometheus.log");
        let mut command = cmd::in_netns(ns, "prometheus");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let mut proc = Proc::spawn("prometheus", &mut command).unwrap_or_else(|e| panic!("{e:#}"));
        let address = format!("127.0.0.1:{PROMETHEUS_PORT}");
        let deadline = Instant::now() + DEADLINE;
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        loop {
            if let Some(status) = proc.try_wait().unwrap_or_else(|e| panic!("{e:#}")) {
                panic!("prometheus exited ({status}); its log:\n{}", log());
            }
            let ready = in_netns(ns, || try_http_get(&address, "/-/ready", None))
                .is_ok_and(|(status, _, _)| status == 200);
            if ready {
                return Prometheus {
                    ns: ns.to_owned(),
                    _proc: proc,
                };
            }
            assert!(
                Instant::now() < deadline,
                "prometheus was not ready after {DEADLINE:?}; its log:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A GET of the API, as JSON with status "success".
    pub fn api(&self, path: &str) -> Value {
        let address = format!("127.0.0.1:{PROMETHEUS_PORT}");
        let (status, _, body) = in_netns(&self.ns, || http_get(&address, path, None));
        assert_eq!(
            status, 200,
            "Prometheus answered {status} to {path}: {body}"
        );
        let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(answer["status"], "success", "{path}: {body}");
        answer
    }

    /// The loaded rules and their health, polled until every one of [`RULES`] has been
    /// evaluated (or [`DEADLINE`] passes).
    pub fn poll_rules(&self) -> Vec<(String, String)> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let answer = self.api("/api/v1/rules");
            let rules: Vec<(String, String)> = answer["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .map(|r| {
                    (
                        r["name"].as_str().unwrap_or_default().to_owned(),
                        r["health"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            if rules.len() == RULES.len() && rules.iter().all(|(_, health)| health != "unknown")
                || Instant::now() >= deadline
            {
                return rules;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The state and labels of alert `name`, polled until it is in `state` (or [`DEADLINE`]
    /// passes: then as last seen, if at all).
    pub fn poll_alert(&self, name: &str, state: &str) -> Option<(String, Value)> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let answer = self.api("/api/v1/alerts");
            let alert = answer["data"]["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["labels"]["alertname"] == name)
                .map(|a| {
                    (
                        a["state"].as_str().unwrap_or_default().to_owned(),
                        a["labels"].clone(),
                    )
                });
            if alert.as_ref().is_some_and(|(s, _)| s == state) || Instant::now() >= deadline {
                return alert;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Asks for `query` until `done` holds for its value or [`DEADLINE`] passes; returns the
    /// last value seen (`None` if the query never had a result).
    pub fn poll_until(&self, query: &str, done: impl Fn(u64) -> bool) -> Option<u64> {
        let deadline = Instant::now() + DEADLINE;
        let mut last = None;
        while Instant::now() < deadline {
            last = self.instant_query(query).or(last);
            if last.is_some_and(&done) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        last
    }

    /// The value of an instant query with one result (an integer).
    pub fn instant_query(&self, query: &str) -> Option<u64> {
        let answer = self.api(&format!("/api/v1/query?query={}", percent_encode(query)));
        let result = answer["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{query} has several series: {answer}");
        let value = result.first()?["value"][1].as_str()?;
        Some(
            value
                .parse()
                .unwrap_or_else(|e| panic!("{query}: value {value:?} is not an integer: {e}")),
        )
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
