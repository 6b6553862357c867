//! Text that came from the network, made safe to write into a log line.
//!
//! A Network Access Identifier is free UTF-8 chosen by whoever sent the message. Written raw, a
//! newline in it starts a forged log line, a NUL truncates the line for some readers, and terminal
//! controls or bidirectional overrides change what an operator sees. [`Untrusted`] writes the
//! text so that one value stays on one line and reads back unambiguously:
//! - printable ASCII (space included) and letters and digits of other scripts as they are;
//! - `\` as `\\`, and newline, carriage return, tab and NUL as `\n`, `\r`, `\t`, `\0`;
//! - every other character (controls, format characters such as U+202E, marks, symbols outside
//!   ASCII) as `\u{hex}`.

use std::fmt;

/// Displays a string from the network escaped as the [module](self) describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                ' ' => f.write_char(' ')?,
                c if c.is_ascii_graphic() => f.write_char(c)?,
                c if !c.is_ascii() && c.is_alphanumeric() => f.write_char(c)?,
                c => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Untrusted;

    fn esc(s: &str) -> String {
        Untrusted(s).to_string()
    }

    #[test]
    fn ordinary_identifiers_are_unchanged() {
        for s in [
            "mn@example.net",
            "user.name+tag@sub.example.org",
            "José@exämple.jp",
            "端末@例え.jp",
        ] {
            assert_eq!(esc(s), s);
        }
    }

    #[test]
    fn line_breaks_and_controls_are_escaped() {
        // Expected strings written out by hand, one per class of character.
        assert_eq!(esc("a\nb"), r"a\nb");
        assert_eq!(esc("a\r\nb"), r"a\r\nb");
        assert_eq!(esc("a\0b"), r"a\0b");
        assert_eq!(esc("a\tb"), r"a\tb");
        assert_eq!(esc("\x1b[31mred"), r"\u{1b}[31mred");
        assert_eq!(esc("\x7f\u{85}"), r"\u{7f}\u{85}");
        // Line and paragraph separators, and a right-to-left override.
        assert_eq!(esc("\u{2028}\u{2029}\u{202e}"), r"\u{2028}\u{2029}\u{202e}");
        // A backslash is doubled, so that an escape cannot be forged by sending its text.
        assert_eq!(esc(r"a\nb"), r"a\\nb");
    }

    #[test]
    fn no_character_survives_that_breaks_a_line() {
        let all: String = (0..=0x3000u32).filter_map(char::from_u32).collect();
        let out = esc(&all);
        assert!(
            out.chars()
                .all(|c| !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}')),
            "{out:?}"
        );
        assert!(out.is_ascii() || out.chars().all(|c| c.is_ascii() || c.is_alphanumeric()));
    }
}
