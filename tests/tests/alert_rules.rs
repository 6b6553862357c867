//! The alerting rules of `packaging/prometheus/anchor-rules.yml`: `promtool check rules` accepts
//! them and `promtool test rules` runs their unit tests (`anchor-rules.test.yml`), which feed
//! each rule the series that must fire it and series that must not, and compare the alerts'
//! labels and annotations exactly. Unprivileged. Needs promtool (Debian's `prometheus`
//! package, installed by `cargo xtask setup`): without it the test fails with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use anchor_tests::support::require_tools;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/prometheus")
}

/// Runs promtool with `args` in the rules' directory; its output when it fails.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool {args:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {args:?} failed ({}):\n{text}",
        output.status
    );
    text
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    require_tools(&[&["promtool", "--version"]]);
    let checked = promtool(&["check", "rules", "anchor-rules.yml"]);
    assert!(checked.contains("SUCCESS: 7 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "anchor-rules.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}
