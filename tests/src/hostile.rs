//! Hostile signaling for the log-injection tests: an NAI that tries to forge a log line, its
//! escaped form written out by hand, a raw Mobility Header socket inside a namespace, and the
//! check that a daemon's log kept one event on one line.

use std::{net::Ipv6Addr, time::Duration};

use anchor_pmip::transport::MhSocket;
use anchor_signal::MnId;

use crate::support::in_netns;

/// An NAI with a newline followed by a whole forged log line, a carriage return, a NUL, a
/// terminal control sequence, a right-to-left override and the text of an escape.
pub const HOSTILE_NAI: &str =
    "mn\n2026-12-04T00:00:00.000000Z  INFO anchor: FORGED\r\0\x1b[2K\u{202e}\\n@example.net";

/// How [`HOSTILE_NAI`] must appear in a log message: typed out here, independently of the
/// escaping code.
pub const HOSTILE_NAI_ESCAPED: &str =
    r"mn\n2026-12-04T00:00:00.000000Z  INFO anchor: FORGED\r\0\u{1b}[2K\u{202e}\\n@example.net";

/// The marker that appears in a log only through [`HOSTILE_NAI`].
const MARKER: &str = "FORGED";

pub fn hostile_mn_id() -> MnId {
    MnId::Nai(HOSTILE_NAI.to_owned())
}

/// A raw Mobility Header socket bound to `addr` in namespace `ns`, reading with a 100 ms timeout.
pub fn mh_socket_in(ns: &str, addr: Ipv6Addr) -> MhSocket {
    let socket = in_netns(ns, || {
        MhSocket::bind(addr).unwrap_or_else(|e| panic!("{ns}: {e}"))
    });
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    socket
}

/// The format a daemon's log was written in: the daemons' own setting.
pub use anchor_pmip::LogFormat;

/// Checks that `log` holds only whole events, one a line, none forged by [`HOSTILE_NAI`], and
/// returns the messages that mention it (each with the escaped form).
///
/// - No line holds a control character (the file is not a terminal: no colours are written).
/// - Text: every line starts with the subscriber's timestamp and a level, and the forged
///   timestamp never starts a line.
/// - JSON: every line is one JSON object with a `message`.
pub fn check_log(log: &str, format: LogFormat) -> Vec<String> {
    let mut mentions = Vec::new();
    for line in log.lines().filter(|l| !l.is_empty()) {
        assert!(
            !line.chars().any(char::is_control),
            "a raw control character reached the log: {line:?}"
        );
        let message = match format {
            LogFormat::Text => {
                assert!(
                    starts_with_timestamp(line) && !line.starts_with("2026-12-04T00:00:00.000000Z"),
                    "a log line that is not a whole event: {line:?}\n{log}"
                );
                line.to_owned()
            }
            LogFormat::Json => {
                let event: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON event ({e}): {line:?}"));
                event["message"]
                    .as_str()
                    .unwrap_or_else(|| panic!("an event without a message: {line}"))
                    .to_owned()
            }
        };
        if message.contains(MARKER) {
            assert!(
                message.contains(HOSTILE_NAI_ESCAPED),
                "the NAI should appear escaped as {HOSTILE_NAI_ESCAPED:?}: {message:?}"
            );
            mentions.push(message);
        }
    }
    mentions
}

/// `2026-12-04T14:02:26.123456Z` at the start of `line`.
fn starts_with_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 27
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && b[26] == b'Z'
}
