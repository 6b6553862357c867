//! How the daemons write their log lines, as their configurations name it.

use serde::Deserialize;

/// How the daemons (`anchor run` and `anchor cmd`) write their log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-01-01T00:00:00.000000Z  INFO anchor: attached to eth0 (native)`.
    #[default]
    Text,
    /// `{"timestamp":"...","level":"INFO","message":"attached to eth0 (native)","target":"anchor"}`.
    Json,
}
