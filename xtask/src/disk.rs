//! Free disk space where the build writes, reported around `cargo xtask test`: a build that fills
//! the disk fails deep inside rustc, and the figures say how close a run came.

use std::{path::Path, process::Command};

/// Bytes free to this user on the file system holding `path` (`df`, from coreutils), or `None`
/// when `df` cannot tell.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let output = Command::new("df")
        .args(["--block-size=1", "--output=avail"])
        .arg(path)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_avail(&String::from_utf8_lossy(&output.stdout))
}

/// The number on the line after `df`'s header.
fn parse_avail(text: &str) -> Option<u64> {
    text.lines().nth(1)?.trim().parse().ok()
}

/// `12.3 GiB`, or `unknown`.
pub fn describe(bytes: Option<u64>) -> String {
    #[expect(
        clippy::cast_precision_loss,
        reason = "a figure for people, to one decimal"
    )]
    bytes.map_or_else(
        || "unknown".to_string(),
        |b| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)),
    )
}

#[cfg(test)]
mod tests {
    use super::{describe, parse_avail};

    #[test]
    fn reads_the_figure_under_the_header() {
        assert_eq!(parse_avail("   Avail\n48318382080\n"), Some(48_318_382_080));
        assert_eq!(parse_avail("   Avail\n"), None);
        assert_eq!(parse_avail("Avail\nlots\n"), None);
    }

    #[test]
    fn describes_in_gib() {
        assert_eq!(describe(Some(3 << 29)), "1.5 GiB");
        assert_eq!(describe(None), "unknown");
    }
}
