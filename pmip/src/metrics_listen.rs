//! `metrics_listen`, as the CMD reads it: `IP:PORT` (an IPv6 address in brackets), or `""` for
//! no metrics.

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer, de::Error as _};

/// The CMD's default `metrics_listen`: localhost only, the port after `anchor run`'s 9469.
pub const DEFAULT_CMD_METRICS_LISTEN: &str = "127.0.0.1:9470";

/// The default, parsed.
pub fn default_cmd_metrics_listen() -> Option<SocketAddr> {
    DEFAULT_CMD_METRICS_LISTEN.parse().ok()
}

/// Reads `metrics_listen`: `None` for `""`.
pub fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(D::Error::custom)
}

fn parse(text: &str) -> Result<Option<SocketAddr>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        format!(
            "invalid metrics_listen {text:?}: expected IP:PORT (e.g. \
             \"{DEFAULT_CMD_METRICS_LISTEN}\" or \"[::1]:9470\"), or \"\" to serve no metrics"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_nothing_or_an_error() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(
            parse("[::1]:9470"),
            Ok(Some("[::1]:9470".parse().expect("addr")))
        );
        assert_eq!(
            parse("localhost"),
            Err(
                "invalid metrics_listen \"localhost\": expected IP:PORT (e.g. \
                 \"127.0.0.1:9470\" or \"[::1]:9470\"), or \"\" to serve no metrics"
                    .to_owned()
            )
        );
        assert_eq!(
            default_cmd_metrics_listen(),
            Some("127.0.0.1:9470".parse().expect("addr"))
        );
    }
}
