//! Binding prefixes: parsed and checked the same way by the client and by the daemon.

use ipnet::Ipv6Net;
use thiserror::Error;

/// The longest prefix a binding may cover: bindings are per /64 (or shorter, mobile network
/// prefixes).
pub const MAX_PREFIX_LEN: u8 = 64;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PrefixError {
    #[error(
        "invalid prefix '{input}': no prefix length (write ADDRESS/LEN, for example 2001:db8:1:1::/64)"
    )]
    MissingLength { input: String },
    #[error("invalid prefix '{input}'")]
    Syntax {
        input: String,
        #[source]
        source: ipnet::AddrParseError,
    },
    #[error(
        "prefix {prefix} is longer than /{MAX_PREFIX_LEN}: a binding covers a /64 or a shorter prefix"
    )]
    TooLong { prefix: Ipv6Net },
}

/// Parses `ADDRESS/LEN`, checks the length and clears the host bits
/// (`2001:db8:1:1::5/64` becomes `2001:db8:1:1::/64`).
pub fn parse_binding_prefix(input: &str) -> Result<Ipv6Net, PrefixError> {
    let trimmed = input.trim();
    if !trimmed.contains('/') {
        return Err(PrefixError::MissingLength {
            input: input.to_owned(),
        });
    }
    let prefix: Ipv6Net = trimmed.parse().map_err(|source| PrefixError::Syntax {
        input: input.to_owned(),
        source,
    })?;
    check_binding_prefix(prefix)
}

/// Checks the length of an already parsed prefix and clears its host bits.
pub fn check_binding_prefix(prefix: Ipv6Net) -> Result<Ipv6Net, PrefixError> {
    if prefix.prefix_len() > MAX_PREFIX_LEN {
        return Err(PrefixError::TooLong { prefix });
    }
    Ok(prefix.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        let p = parse_binding_prefix("2001:db8:1:1::5/64").expect("valid");
        assert_eq!(p.to_string(), "2001:db8:1:1::/64");
        let p = parse_binding_prefix(" 2001:db8:100::/48 ").expect("valid");
        assert_eq!(p.to_string(), "2001:db8:100::/48");
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            parse_binding_prefix("x/64"),
            Err(PrefixError::Syntax { .. })
        ));
        assert!(matches!(
            parse_binding_prefix("10.0.0.0/8"),
            Err(PrefixError::Syntax { .. })
        ));
        assert!(matches!(
            parse_binding_prefix("2001:db8::/129"),
            Err(PrefixError::Syntax { .. })
        ));
        assert!(matches!(
            parse_binding_prefix("2001:db8::1"),
            Err(PrefixError::MissingLength { .. })
        ));
        assert!(matches!(
            parse_binding_prefix(""),
            Err(PrefixError::MissingLength { .. })
        ));
    }

    #[test]
    fn rejects_longer_than_64() {
        let err = parse_binding_prefix("2001:db8:1:1::/65").expect_err("too long");
        assert!(matches!(err, PrefixError::TooLong { .. }));
        assert_eq!(
            err.to_string(),
            "prefix 2001:db8:1:1::/65 is longer than /64: a binding covers a /64 or a shorter prefix"
        );
    }

    #[test]
    fn invalid_message_names_the_input() {
        let err = parse_binding_prefix("nope/64").expect_err("invalid");
        assert_eq!(err.to_string(), "invalid prefix 'nope/64'");
    }
}
