//! Reading what the user gives: key text or `-`, files, public keys, times and ids.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use tessera_keys::{Fingerprint, LicenseId, PublicKey, UnixTime};

use crate::exit::{Exit, Failure, Result, ResultExt};

/// The most a licence key text may hold, as an argument or on stdin: real keys are a few hundred
/// characters; the rest is room for the line breaks and indentation of a pasted one.
const MAX_KEY_TEXT: usize = 64 * 1024;

/// The most a revocation list, public key file or id file may hold.
const MAX_FILE_INPUT: u64 = 64 * 1024 * 1024;

/// A product, tier or feature as given on the command line: a number or a catalogue name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ref {
    /// All digits: an id, index or bit.
    Number(u64),
    /// Anything else: a name to look up in the catalogue.
    Name(String),
}

impl FromStr for Ref {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Ref, String> {
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse()
                .map(Ref::Number)
                .map_err(|_| format!("`{text}` is too large"))
        } else {
            Ok(Ref::Name(text.to_owned()))
        }
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Number(number) => write!(f, "{number}"),
            Ref::Name(name) => write!(f, "`{name}`"),
        }
    }
}

/// Parses a time: `YYYY-MM-DD` (00:00 UTC), RFC 3339, or unix seconds.
pub(crate) fn parse_time(text: &str) -> std::result::Result<UnixTime, String> {
    let text = text.trim();
    let seconds = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>()
            .map_err(|_| format!("`{text}` is too large"))?
    } else if is_plain_date(text) {
        // jiff would also read a date out of a date and time; only a bare date means midnight UTC.
        let date = text
            .parse::<jiff::civil::Date>()
            .map_err(|err| format!("`{text}` is not a date: {err}"))?;
        jiff::tz::Offset::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|err| err.to_string())?
            .as_second()
    } else {
        text.parse::<jiff::Timestamp>()
            .map_err(|_| {
                format!(
                    "`{text}` is not a date: use YYYY-MM-DD, RFC 3339 (2027-01-31T12:00:00Z) \
                     or unix seconds"
                )
            })?
            .as_second()
    };
    u64::try_from(seconds)
        .map(UnixTime)
        .map_err(|_| format!("`{text}` is before 1970"))
}

/// `YYYY-MM-DD` in shape (the digits are checked when parsed).
fn is_plain_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// Parses a licence id: 16 hex digits.
pub(crate) fn parse_license_id(text: &str) -> std::result::Result<LicenseId, String> {
    LicenseId::from_hex(text.trim())
        .ok_or_else(|| format!("`{text}` is not a licence id (16 hex digits)"))
}

/// Parses a machine fingerprint: 64 hex digits.
pub(crate) fn parse_fingerprint(text: &str) -> std::result::Result<Fingerprint, String> {
    Fingerprint::from_hex(text.trim())
        .ok_or_else(|| "is not a machine fingerprint (64 hex digits)".to_owned())
}

/// The text of a machine certificate given as text (`tsm1_...`) or as a file holding it.
pub(crate) fn certificate_text(arg: &str) -> Result<String> {
    let trimmed = arg.trim();
    if trimmed.starts_with("tsm") {
        if trimmed.len() > MAX_KEY_TEXT {
            return Err(Failure::msg(
                Exit::CertificateRefused,
                "malformed machine certificate: longer than any certificate",
            ));
        }
        return Ok(trimmed.to_owned());
    }
    if trimmed.is_empty() {
        return Err(Failure::msg(Exit::Usage, "--machine-certificate is empty"));
    }
    file_text(
        Path::new(arg),
        "machine certificate",
        Exit::CertificateRefused,
    )
}

/// The text of a licence key given as an argument, or read from stdin for `-`; either way at most
/// [`MAX_KEY_TEXT`] bytes, or it is malformed.
///
/// An empty argument is left for the decoder to call malformed; empty stdin is an unreadable input.
pub(crate) fn key_text(arg: &str) -> Result<String> {
    if arg != "-" {
        check_key_length(arg.len())?;
        return Ok(arg.to_owned());
    }
    // One byte past the bound tells a key that is too long, whatever follows it.
    let bytes = read_at_most(std::io::stdin().lock(), MAX_KEY_TEXT as u64 + 1)
        .exit_context(Exit::Input, || {
            "cannot read licence key from standard input"
        })?;
    check_key_length(bytes.len())?;
    stdin_text(bytes, "licence key", Exit::Malformed)
}

/// Refuses a licence key text longer than [`MAX_KEY_TEXT`] bytes, argument or stdin alike.
fn check_key_length(len: usize) -> Result {
    if len > MAX_KEY_TEXT {
        return Err(Failure::msg(
            Exit::Malformed,
            format!(
                "malformed licence key: longer than {MAX_KEY_TEXT} bytes, which no licence key is, \
                 line breaks and indentation included"
            ),
        ));
    }
    Ok(())
}

/// The text of a file, or of stdin for `-`, which must not be empty.
pub(crate) fn source_text(arg: &str, what: &str, not_text: Exit) -> Result<String> {
    if arg == "-" {
        read_stdin(what, MAX_FILE_INPUT, not_text)
    } else {
        file_text(Path::new(arg), what, not_text)
    }
}

/// The text of a file, which must not be empty. Content that is not UTF-8 exits with `not_text`.
pub(crate) fn file_text(path: &Path, what: &str, not_text: Exit) -> Result<String> {
    let file = std::fs::File::open(path).exit_context(Exit::Input, || {
        format!("cannot read {what} {}", path.display())
    })?;
    let bytes = read_limited(file, MAX_FILE_INPUT).exit_context(Exit::Input, || {
        format!("cannot read {what} {}", path.display())
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::msg(
            not_text,
            format!("{what} {} is not text (UTF-8)", path.display()),
        )
    })?;
    if text.trim().is_empty() {
        return Err(Failure::msg(
            Exit::Input,
            format!("{what} {} is empty", path.display()),
        ));
    }
    Ok(text)
}

fn read_stdin(what: &str, limit: u64, not_text: Exit) -> Result<String> {
    let bytes = read_limited(std::io::stdin().lock(), limit).exit_context(Exit::Input, || {
        format!("cannot read {what} from standard input")
    })?;
    stdin_text(bytes, what, not_text)
}

/// What was read from stdin as text, which must not be empty. Content that is not UTF-8 exits with
/// `not_text`.
fn stdin_text(bytes: Vec<u8>, what: &str, not_text: Exit) -> Result<String> {
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::msg(
            not_text,
            format!("{what} on standard input is not text (UTF-8)"),
        )
    })?;
    if text.trim().is_empty() {
        return Err(Failure::msg(
            Exit::Input,
            format!("standard input is empty: expected a {what}"),
        ));
    }
    Ok(text)
}

/// Reads at most `limit` bytes, failing if there are more, so a wrong file cannot exhaust memory.
fn read_limited(reader: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let bytes = read_at_most(reader, limit + 1)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// The first `limit` bytes (or fewer, if that is all there is); the rest is left unread.
fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Public keys given as text (`tspk1_...`) or as files holding them. A key given twice (in two
/// files, or in a file and as text) counts once.
pub(crate) fn public_keys(args: &[String]) -> Result<Vec<PublicKey>> {
    let mut keys: Vec<PublicKey> = Vec::new();
    for arg in args {
        for key in public_keys_of(arg)? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// A verifier trusting `keys` (the parsed `--public-key` arguments).
pub(crate) fn verifier(keys: &[PublicKey]) -> Result<tessera_verifier::Verifier<'static>> {
    tessera_verifier::Verifier::new(keys).map_err(|err| {
        Failure::msg(
            Exit::Usage,
            format!("cannot use the given --public-key: {err}"),
        )
    })
}

/// The key one `--public-key` gives as text, or every key in the file it names.
fn public_keys_of(arg: &str) -> Result<Vec<PublicKey>> {
    let trimmed = arg.trim();
    if trimmed.is_empty() {
        return Err(Failure::msg(Exit::Usage, "--public-key is empty"));
    }
    if trimmed.starts_with("tspk") {
        let key = PublicKey::from_text(trimmed).map_err(|err| {
            Failure::msg(
                Exit::Usage,
                format!("invalid --public-key `{}`: {err}", shorten(trimmed)),
            )
        })?;
        return Ok(vec![key]);
    }
    let path = Path::new(arg);
    let text = file_text(path, "public key file", Exit::Input)?;
    // Every key text in the file, whatever holds it: one key per line, `tessera pubkey` output (text
    // or JSON), or the JSON of the issuer's `GET /v1/keys`, which lists every key it trusts (after a
    // rotation, older licences need the older keys).
    let tokens: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|token| token.starts_with("tspk"))
        .collect();
    if tokens.is_empty() {
        let hint = if text.contains(tessera_keys::SIGNING_KEY_PREFIX) {
            format!(
                "; it is a signing key file: pass its public key (`tessera pubkey {}`)",
                path.display()
            )
        } else {
            String::new()
        };
        return Err(Failure::msg(
            Exit::Input,
            format!(
                "public key file {} holds no public key (tspk1_...){hint}",
                path.display()
            ),
        ));
    }
    tokens
        .into_iter()
        .map(|token| {
            PublicKey::from_text(token).map_err(|err| {
                Failure::msg(
                    Exit::Input,
                    format!(
                        "invalid public key `{}` in {}: {err}",
                        shorten(token),
                        path.display()
                    ),
                )
            })
        })
        .collect()
}

/// The start of a long argument, for error messages.
fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let start: String = chars.by_ref().take(24).collect();
    if chars.next().is_some() {
        format!("{start}...")
    } else {
        start
    }
}

/// Licence ids from a file: one per line, `#` starts a comment, blank lines are ignored.
pub(crate) fn license_ids_file(path: &Path) -> Result<Vec<LicenseId>> {
    let text = file_text(path, "licence id file", Exit::Input)?;
    let mut ids = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let id = parse_license_id(line).map_err(|why| {
            Failure::msg(
                Exit::Input,
                format!("{} line {}: {why}", path.display(), number + 1),
            )
        })?;
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("2027-01-31"), Ok(UnixTime(1_801_353_600)));
        assert_eq!(
            parse_time("2027-01-31T00:00:00Z"),
            Ok(UnixTime(1_801_353_600))
        );
        assert_eq!(
            parse_time("2027-01-31T02:00:00+02:00"),
            Ok(UnixTime(1_801_353_600))
        );
        assert_eq!(parse_time("1801353600"), Ok(UnixTime(1_801_353_600)));
        assert!(parse_time("1969-12-31")
            .unwrap_err()
            .contains("before 1970"));
        for bad in [
            "",
            "tomorrow",
            "2027-13-01",
            "2027-01-31T00:00:00",
            "2027-01-31T15:00",
            "2027-02-30",
            "-5",
            "1e9",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_refs() {
        assert_eq!("12".parse(), Ok(Ref::Number(12)));
        assert_eq!("pro".parse(), Ok(Ref::Name("pro".to_owned())));
        assert_eq!("1a".parse(), Ok(Ref::Name("1a".to_owned())));
        assert!("".parse::<Ref>().is_err());
        assert!("99999999999999999999999".parse::<Ref>().is_err());
    }

    #[test]
    fn shortens() {
        assert_eq!(shorten("short"), "short");
        assert_eq!(shorten(&"x".repeat(30)), format!("{}...", "x".repeat(24)));
    }
}
