//! The periodic report of the signaling counts, shared by the CMD and the MAAR: one line every
//! `report_interval_s`, at warning level with the insecure-signaling warning repeated when the
//! signaling runs without IPsec ESP (`insecure_signaling = true`), else at info level.

use std::{collections::BTreeMap, time::Duration};

/// The default `report_interval_s`.
pub const DEFAULT_INTERVAL_S: u64 = 60;

/// The rejections by status for a report line: ` (status 1x154, 2x155)`, or nothing.
pub fn by_status(rejected: &BTreeMap<u8, u64>) -> String {
    if rejected.is_empty() {
        return String::new();
    }
    let by_status: Vec<String> = rejected
        .iter()
        .map(|(status, n)| format!("{n}x{status}"))
        .collect();
    format!(" (status {})", by_status.join(", "))
}

/// One report line and how loud it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Logged as a warning (insecure signaling), else as information.
    pub warn: bool,
    pub text: String,
}

impl Report {
    /// The report of `role` ("CMD", "MAAR") with its `counts` summary.
    pub fn new(role: &str, counts: &str, insecure: bool) -> Report {
        if insecure {
            Report {
                warn: true,
                text: format!(
                    "{role} signaling counts: {counts}; insecure_signaling = true: these \
                     messages were not checked for IPsec ESP protection (lab use only)"
                ),
            }
        } else {
            Report {
                warn: false,
                text: format!("{role} signaling counts: {counts}"),
            }
        }
    }

    pub fn log(&self) {
        if self.warn {
            tracing::warn!("{}", self.text);
        } else {
            tracing::info!("{}", self.text);
        }
    }
}

/// The timer of the reports: every `interval`, the first one an interval after the start (the
/// start already logs the security state).
pub fn ticker(interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insecure_report_warns_and_repeats_the_warning() {
        let report = Report::new("CMD", "3 accepted, 1 rejected", true);
        assert!(report.warn);
        assert_eq!(
            report.text,
            "CMD signaling counts: 3 accepted, 1 rejected; insecure_signaling = true: these \
             messages were not checked for IPsec ESP protection (lab use only)"
        );
    }

    #[test]
    fn a_protected_report_is_information_without_the_warning() {
        let report = Report::new("MAAR", "0 accepted", false);
        assert_eq!(
            report,
            Report {
                warn: false,
                text: "MAAR signaling counts: 0 accepted".to_owned()
            }
        );
    }
}
