//! Writing results: JSON, or aligned `label: value` lines for people.

use std::io::Write;

use serde::Serialize;
use tessera_keys::{FeatureSet, ProductSpec, PublicKey, UnixTime};

use crate::escape::escaped;
use crate::exit::Result;

/// Writes `text` to stdout. Errors (a closed pipe included) are returned, never panicked on.
pub(crate) fn print(text: &str) -> Result {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Writes `value` as one line of JSON.
pub(crate) fn print_json(value: &impl Serialize) -> Result {
    let mut line = serde_json::to_string(value)?;
    line.push('\n');
    print(&line)
}

/// Lines of `label: value`, values aligned. The head and every value are shown escaped
/// ([`Escaped`](crate::escape::Escaped)), so no value can break its line or rewrite the others.
#[derive(Debug)]
pub(crate) struct Report {
    head: String,
    rows: Vec<(&'static str, String)>,
}

impl Report {
    /// A report whose first line is `head`.
    pub(crate) fn new(head: impl Into<String>) -> Report {
        Report {
            head: escaped(&head.into()),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, label: &'static str, value: impl Into<String>) -> &mut Report {
        self.rows.push((label, escaped(&value.into())));
        self
    }

    pub(crate) fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.len() + 1)
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        text.push_str(&self.head);
        text.push('\n');
        for (label, value) in &self.rows {
            text.push_str(&format!("  {:<width$} {value}\n", format!("{label}:")));
        }
        text
    }
}

/// `1 (acme-editor)`, or `1` when the catalogue does not list the product.
pub(crate) fn product_label(id: u32, spec: Option<&ProductSpec>) -> String {
    match spec.filter(|spec| spec.id == id) {
        Some(spec) => format!("{id} ({})", spec.name),
        None => id.to_string(),
    }
}

/// `1 (pro)`, or `1`.
pub(crate) fn tier_label(index: u8, spec: Option<&ProductSpec>) -> String {
    match spec.and_then(|spec| spec.tier_name(index)) {
        Some(name) => format!("{index} ({name})"),
        None => index.to_string(),
    }
}

/// `export, sync`, with `bit N` for bits the catalogue does not name; `none` for the empty set.
pub(crate) fn features_label(features: FeatureSet, spec: Option<&ProductSpec>) -> String {
    let names: Vec<String> = features
        .iter()
        .map(|bit| match spec.and_then(|spec| spec.feature_name(bit)) {
            Some(name) => name.to_owned(),
            None => format!("bit {bit}"),
        })
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// `3 days`, `1 day`, `less than a day`.
pub(crate) fn days_label(seconds: u64) -> String {
    match seconds / 86_400 {
        0 => "less than a day".to_owned(),
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}

/// A time as RFC 3339, UTC.
pub(crate) fn time_label(time: UnixTime) -> String {
    time.to_string()
}

/// The human output of `keygen` and `pubkey`: the public key text, then a snippet to paste.
pub(crate) fn public_key_text(key: &PublicKey) -> String {
    format!(
        "Public key: {key}\n\nPaste into your app (tessera-verifier):\n{}\n",
        rust_snippet(key)
    )
}

/// `const ISSUER: PublicKey = PublicKey::new(1, [0x.., ...]);`, formatted as rustfmt would.
pub(crate) fn rust_snippet(key: &PublicKey) -> String {
    let rows: Vec<String> = key
        .bytes
        .chunks(8)
        .map(|row| {
            let bytes: Vec<String> = row.iter().map(|byte| format!("0x{byte:02x}")).collect();
            format!("        {},", bytes.join(", "))
        })
        .collect();
    format!(
        "const ISSUER: PublicKey = PublicKey::new(\n    {},\n    [\n{}\n    ],\n);",
        key.id,
        rows.join("\n")
    )
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(days_label(86_399), "less than a day");
        assert_eq!(days_label(86_400), "1 day");
        assert_eq!(days_label(3 * 86_400 + 5), "3 days");
        assert_eq!(features_label(FeatureSet(0), None), "none");
        assert_eq!(features_label(FeatureSet(0b101), None), "bit 0, bit 2");
        let report = Report::new("head").row("a", "1").row("long", "2").render();
        assert_eq!(report, "head\n  a:    1\n  long: 2\n");
        let report = Report::new("licence\r")
            .row("licensee", "\u{1b}[2K\rsignature: valid\n")
            .render();
        assert_eq!(
            report,
            "licence\\r\n  licensee: \\u{1b}[2K\\rsignature: valid\\n\n"
        );
    }

    #[test]
    fn snippet_is_valid_rust_shape() {
        let snippet = rust_snippet(&PublicKey::new(7, [0xab; 32]));
        assert!(snippet.starts_with("const ISSUER: PublicKey = PublicKey::new(\n    7,\n"));
        assert_eq!(snippet.matches("0xab").count(), 32);
        assert!(snippet.ends_with("    ],\n);"));
    }
}
