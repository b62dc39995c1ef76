//! Untrusted text made safe to print on a terminal.
//!
//! A licence key's licensee, an e-mail address from Stripe, a reservation's reference or a server's
//! error message can hold anything. Printed raw, ESC sequences, carriage returns or bidi overrides
//! could rewrite what a support person reads ("signature: invalid" made to look "valid"), so human
//! output shows every such character as a visible escape instead. JSON output needs none of this:
//! its strings are already escaped.

use std::fmt;

/// `text` as it is safe to show on a terminal, on one line: every control character (C0, DEL, C1),
/// bidi control and line or paragraph separator is written as an escape: `\n`, `\r`, `\t`, or
/// `\u{1b}`-style hex.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Runs of safe text are written whole; only the characters between them are escaped.
        let mut rest = self.0;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            f.write_str(&rest[..at])?;
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                other => write!(f, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// [`Escaped`] as a `String`.
pub(crate) fn escaped(text: &str) -> String {
    Escaped(text).to_string()
}

/// Characters that move the cursor, change the terminal's state, break the line, or reorder the
/// text around them when shown.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Arabic letter mark, left-to-right and right-to-left marks.
            '\u{061c}' | '\u{200e}' | '\u{200f}'
            // Line and paragraph separators.
            | '\u{2028}' | '\u{2029}'
            // Embeddings, overrides and their pop; isolates and their pop.
            | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_become_visible_escapes() {
        assert_eq!(escaped("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(escaped("Zoë, Δ, 東京, 👩‍💻"), "Zoë, Δ, 東京, 👩‍💻");
        assert_eq!(
            escaped("x\u{1b}[2K\rsignature: valid\u{7}"),
            "x\\u{1b}[2K\\rsignature: valid\\u{7}"
        );
        assert_eq!(escaped("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(
            escaped("\u{0}\u{7f}\u{9b}\u{85}"),
            "\\u{0}\\u{7f}\\u{9b}\\u{85}"
        );
        assert_eq!(
            escaped("\u{202e}evil\u{202c}\u{2066}\u{2069}\u{200f}\u{2028}"),
            "\\u{202e}evil\\u{202c}\\u{2066}\\u{2069}\\u{200f}\\u{2028}"
        );
        assert_eq!(format!("[{}]", Escaped("\u{1b}")), "[\\u{1b}]");
    }
}
