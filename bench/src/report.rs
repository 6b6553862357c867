//! The benchmark report: rows with their method, baseline and ratio, printed as a table and
//! written as JSON.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::{Context as _, Result};
use serde::Serialize;

/// Which way a target bounds a ratio.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtMost,
    AtLeast,
}

/// A target on a row's ratio (or, without a baseline, on its value).
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub bound: Bound,
    pub limit: f64,
    /// Whether the row meets it; `None` in quick mode, which judges nothing.
    pub met: Option<bool>,
}

impl Target {
    fn describe(&self) -> String {
        let op = match self.bound {
            Bound::AtMost => "<=",
            Bound::AtLeast => ">=",
        };
        let verdict = match self.met {
            Some(true) => " ok",
            Some(false) => " MISSED",
            None => "",
        };
        format!("{op} {}{verdict}", trim(self.limit))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub section: &'static str,
    pub name: String,
    /// `None` for a row that cannot be measured yet (see `note`).
    pub value: Option<f64>,
    pub unit: &'static str,
    /// Key into [`Report::methods`].
    pub method: &'static str,
    /// Name of the row this one is compared with.
    pub baseline: Option<String>,
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    pub note: Option<String>,
}

impl Row {
    pub fn new(
        section: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        Self {
            section,
            name: name.into(),
            value: Some(value),
            unit,
            method: "",
            baseline: None,
            ratio: None,
            target: None,
            note: None,
        }
    }

    /// A row that cannot be measured yet, with the reason.
    pub fn not_available(section: &'static str, name: impl Into<String>, note: &str) -> Self {
        Self {
            value: None,
            note: Some(note.to_owned()),
            ..Self::new(section, name, 0.0, "")
        }
    }

    pub fn method(mut self, key: &'static str) -> Self {
        self.method = key;
        self
    }

    /// Compares with `baseline` (its name and value): ratio = value / baseline value.
    pub fn against(mut self, name: impl Into<String>, baseline: f64) -> Self {
        self.baseline = Some(name.into());
        self.ratio = self.value.map(|v| v / baseline);
        self
    }

    /// Sets a target on the ratio (or the value when there is no baseline); judged unless
    /// `quick`.
    pub fn target(mut self, bound: Bound, limit: f64, quick: bool) -> Self {
        let subject = self.ratio.or(self.value);
        let met = match (quick, subject) {
            (false, Some(x)) => Some(match bound {
                Bound::AtMost => x <= limit,
                Bound::AtLeast => x >= limit,
            }),
            _ => None,
        };
        self.target = Some(Target { bound, limit, met });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub quick: bool,
    pub kernel: String,
    /// The kernel's config options that decide which comparators exist (`y`, `m`, `not set`).
    pub kernel_config: Vec<(String, String)>,
    pub possible_cpus: usize,
    /// How each method measures, by key.
    pub methods: BTreeMap<&'static str, String>,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn new(quick: bool) -> Self {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        Self {
            quick,
            kernel,
            kernel_config: anchor_rig::probe::kernel_config(anchor_rig::probe::KERNEL_OPTIONS),
            possible_cpus: aya::util::nr_cpus().unwrap_or(0),
            methods: BTreeMap::new(),
            rows: Vec::new(),
        }
    }

    pub fn method(&mut self, key: &'static str, text: impl Into<String>) {
        self.methods.insert(key, text.into());
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The table, then the methods it refers to.
    pub fn table(&self) -> String {
        let header = [
            "benchmark",
            "value",
            "baseline",
            "ratio",
            "target",
            "method",
        ];
        let mut lines: Vec<[String; 6]> = Vec::new();
        let mut sections: Vec<(usize, &str)> = Vec::new();
        for row in &self.rows {
            if sections.last().map(|(_, s)| *s) != Some(row.section) {
                sections.push((lines.len(), row.section));
            }
            let value = match row.value {
                Some(v) => format!("{} {}", trim(v), row.unit),
                None => row.note.clone().unwrap_or_default(),
            };
            lines.push([
                row.name.clone(),
                value,
                row.baseline.clone().unwrap_or_default(),
                row.ratio.map(|r| format!("{r:.2}x")).unwrap_or_default(),
                row.target
                    .as_ref()
                    .map(Target::describe)
                    .unwrap_or_default(),
                row.method.to_owned(),
            ]);
        }
        let mut widths = header.map(str::len);
        for line in &lines {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let format_line = |cells: &[String]| {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = w - cell.chars().count();
                if i == 1 || i == 3 {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
                out.push_str("  ");
            }
            out.trim_end().to_owned()
        };
        let mut out = String::new();
        let _ = writeln!(out, "{}", format_line(&header.map(str::to_owned)));
        let mut next = sections.iter().peekable();
        for (i, line) in lines.iter().enumerate() {
            if let Some((_, section)) = next.next_if(|(at, _)| *at == i) {
                let _ = writeln!(out, "-- {section}");
            }
            let _ = writeln!(out, "{}", format_line(line));
        }
        let _ = writeln!(out, "\nmethods:");
        for (key, text) in &self.methods {
            let _ = writeln!(out, "  {key}: {text}");
        }
        let notes: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.value.is_some() && r.note.is_some())
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\nnotes:");
            for row in notes {
                let _ = writeln!(out, "  {}: {}", row.name, row.note.as_deref().unwrap_or(""));
            }
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(self).context("cannot encode the report")?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A number with three significant digits, without trailing zeros.
fn trim(v: f64) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_target() {
        let row = Row::new("s", "x", 30.0, "ns")
            .against("floor", 20.0)
            .target(Bound::AtMost, 2.0, false);
        assert_eq!(row.ratio, Some(1.5));
        assert_eq!(row.target.as_ref().and_then(|t| t.met), Some(true));
        let quick = Row::new("s", "x", 30.0, "ns")
            .against("floor", 10.0)
            .target(Bound::AtMost, 2.0, true);
        assert_eq!(quick.target.and_then(|t| t.met), None);
        let missed =
            Row::new("s", "x", 1.0, "Mpps")
                .against("y", 2.0)
                .target(Bound::AtLeast, 0.8, false);
        assert_eq!(missed.target.and_then(|t| t.met), Some(false));
    }

    #[test]
    fn numbers_are_trimmed() {
        assert_eq!(trim(123.456), "123");
        assert_eq!(trim(12.34), "12.3");
        assert_eq!(trim(1.5), "1.5");
        assert_eq!(trim(2.0), "2");
    }

    #[test]
    fn table_lists_rows_sections_and_methods() {
        let mut report = Report::new(true);
        report.method("m1", "how");
        report.push(Row::new("one", "a", 1.0, "ns").method("m1"));
        report.push(Row::not_available("two", "b", "n/a: later"));
        let table = report.table();
        assert!(table.contains("-- one"));
        assert!(table.contains("-- two"));
        assert!(table.contains("n/a: later"));
        assert!(table.contains("m1: how"));
    }
}
