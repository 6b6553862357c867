//! `--compare OLD.json`: every row of this run against the row of the same name in an earlier
//! report (`bench/results.json` of an earlier commit, or `bench/results-previous.json`, the run
//! published before the current one). Rows are compared by their ratio to their baseline when
//! both runs have one (the machines are shared and noisy; a ratio to a baseline of the same run
//! travels between runs), else by their value; a row whose baseline is another row than before
//! (a kernel without seg6 compares with plain forwarding instead) by its value, since its ratios
//! measure different things. A row that got more than [`LOSS_LIMIT`] worse is flagged.

use std::{collections::HashMap, fmt::Write as _, path::Path};

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::report::{Bound, Report, Row};

/// The loss that flags a row: 10 %.
pub const LOSS_LIMIT: f64 = 0.10;

/// Which way is better for a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// Which way is better: the target's bound when the row has one, else its unit (times and
/// memory: lower; rates: higher).
pub fn direction(unit: &str, bound: Option<Bound>) -> Better {
    let lower = match bound {
        Some(Bound::AtMost) => true,
        Some(Bound::AtLeast) => false,
        None => matches!(unit, "ns" | "us" | "ms" | "s" | "MiB" | "runs"),
    };
    if lower { Better::Lower } else { Better::Higher }
}

/// One row of the earlier report.
#[derive(Clone, Debug, PartialEq)]
struct EarlierRow {
    value: Option<f64>,
    ratio: Option<f64>,
    baseline: Option<String>,
}

/// The rows of an earlier report, by name.
#[derive(Debug)]
pub struct Earlier {
    path: String,
    rows: HashMap<String, EarlierRow>,
}

impl Earlier {
    /// Reads the report at `path` (read before this run writes its own, which may be the same
    /// file).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }

    fn parse(path: &str, text: &str) -> Result<Self> {
        let json: Value =
            serde_json::from_str(text).with_context(|| format!("{path} is not a report"))?;
        let rows = json
            .get("rows")
            .and_then(Value::as_array)
            .with_context(|| format!("{path} has no rows"))?
            .iter()
            .filter_map(|row| {
                let name = row.get("name")?.as_str()?.to_owned();
                let value = row.get("value").and_then(Value::as_f64);
                let ratio = row.get("ratio").and_then(Value::as_f64);
                let baseline = row
                    .get("baseline")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Some((
                    name,
                    EarlierRow {
                        value,
                        ratio,
                        baseline,
                    },
                ))
            })
            .collect();
        Ok(Self {
            path: path.to_owned(),
            rows,
        })
    }
}

/// A row of this run beside the earlier one.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub name: String,
    /// `ratio` or `value`.
    pub compared: &'static str,
    pub earlier: f64,
    pub now: f64,
    /// How much worse (positive) or better (negative), as a share of the earlier figure.
    pub loss: f64,
}

impl Change {
    pub fn flagged(&self) -> bool {
        self.loss > LOSS_LIMIT
    }
}

/// Every row of `report` that `earlier` has too, with a figure in both.
pub fn changes(report: &Report, earlier: &Earlier) -> Vec<Change> {
    report
        .rows
        .iter()
        .filter_map(|row| change(row, earlier.rows.get(&row.name)?))
        .collect()
}

fn change(row: &Row, earlier: &EarlierRow) -> Option<Change> {
    let (compared, before, now) = match (earlier.ratio, row.ratio) {
        (Some(before), Some(now))
            if earlier.baseline.is_none() || earlier.baseline == row.baseline =>
        {
            ("ratio", before, now)
        }
        _ => ("value", earlier.value?, row.value?),
    };
    if before == 0.0 {
        return None;
    }
    let better = direction(row.unit, row.target.as_ref().map(|t| t.bound));
    let loss = match better {
        Better::Lower => now / before - 1.0,
        Better::Higher => 1.0 - now / before,
    };
    Some(Change {
        name: row.name.clone(),
        compared,
        earlier: before,
        now,
        loss,
    })
}

/// The comparison as a table, the flagged rows marked, and a closing line.
pub fn table(changes: &[Change], earlier: &Earlier) -> String {
    let width = changes.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!("compared with {}:\n", earlier.path);
    for c in changes {
        let _ = writeln!(
            out,
            "{:width$}  {:>5}  {:>10.3} -> {:>10.3}  {:>+6.1}% {}",
            c.name,
            c.compared,
            c.earlier,
            c.now,
            -c.loss * 100.0,
            if c.flagged() {
                " LOST MORE THAN 10 %"
            } else {
                ""
            }
        );
    }
    let flagged = changes.iter().filter(|c| c.flagged()).count();
    let _ = writeln!(
        out,
        "{} rows compared, {flagged} lost more than 10 % (+: better, -: worse)",
        changes.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Row;

    const SECTION: &str = "test";

    fn earlier() -> Earlier {
        Earlier::parse(
            "old.json",
            r#"{"rows": [
                {"name": "encap hit", "value": 90.0, "unit": "ns", "ratio": 3.0},
                {"name": "anchor, 126 B", "value": 3.0, "unit": "Mpps", "ratio": 0.80,
                 "baseline": "bare"},
                {"name": "anchor vs kernel", "value": 3.0, "unit": "Mpps", "ratio": 3.6,
                 "baseline": "seg6"},
                {"name": "memory", "value": 150.0, "unit": "MiB", "ratio": null},
                {"name": "gone", "value": 1.0, "unit": "ns", "ratio": null}
            ]}"#,
        )
        .expect("a report")
    }

    #[test]
    fn ratios_are_compared_in_the_direction_of_each_row_and_losses_flagged() {
        let mut report = Report::new(false);
        // Cost: a ratio 20 % higher is 20 % worse.
        report.push(Row::new(SECTION, "encap hit", 80.0, "ns").against("floor", 80.0 / 3.6));
        // Rate with an at-least target: a ratio 5 % lower is 5 % worse, not flagged.
        report.push(
            Row::new(SECTION, "anchor, 126 B", 2.0, "Mpps")
                .against("bare", 2.0 / 0.76)
                .target(Bound::AtLeast, 0.85, false),
        );
        // Another baseline than before: the value (3.0 -> 3.3 Mpps, 10 % better), not the
        // ratio (3.6 -> 2.9).
        report
            .push(Row::new(SECTION, "anchor vs kernel", 3.3, "Mpps").against("kernel", 3.3 / 2.9));
        // No ratio: the value, lower is better for memory.
        report.push(Row::new(SECTION, "memory", 120.0, "MiB"));
        // Not in the earlier report: not compared.
        report.push(Row::new(SECTION, "new row", 1.0, "ns"));
        let changes = changes(&report, &earlier());
        let got: Vec<(&str, &str, bool)> = changes
            .iter()
            .map(|c| (c.name.as_str(), c.compared, c.flagged()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("encap hit", "ratio", true),
                ("anchor, 126 B", "ratio", false),
                ("anchor vs kernel", "value", false),
                ("memory", "value", false),
            ]
        );
        assert!((changes[0].loss - 0.2).abs() < 1e-9, "{changes:?}");
        assert!((changes[1].loss - 0.05).abs() < 1e-9, "{changes:?}");
        assert!((changes[2].loss + 0.1).abs() < 1e-9, "{changes:?}");
        assert!((changes[3].loss + 0.2).abs() < 1e-9, "{changes:?}");
        let text = table(&changes, &earlier());
        assert!(
            text.contains("encap hit") && text.contains("LOST MORE THAN 10 %"),
            "{text}"
        );
        assert!(text.ends_with("4 rows compared, 1 lost more than 10 % (+: better, -: worse)\n"));
    }

    #[test]
    fn a_file_that_is_not_a_report_is_one_error() {
        assert!(Earlier::parse("x", "[]").is_err());
        assert!(Earlier::parse("x", "not json").is_err());
    }

    #[test]
    fn the_direction_follows_the_target_then_the_unit() {
        assert_eq!(direction("Mpps", Some(Bound::AtMost)), Better::Lower);
        assert_eq!(direction("ns", Some(Bound::AtLeast)), Better::Higher);
        assert_eq!(direction("ms", None), Better::Lower);
        assert_eq!(direction("/s", None), Better::Higher);
    }
}
