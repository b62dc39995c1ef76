//! The text form: a versioned prefix, then unpadded base64url.
//!
//! Licences and revocation lists get pasted from e-mails and web pages, so decoding them skips ASCII
//! whitespace anywhere (line breaks included); key texts (`tspk1_`, `tssk1_`) are one line that programs
//! write and read, so only whitespace around them is skipped. Decoding works in chunks of at most 128
//! characters, which needs no copy of the whole input.

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::error::{DecodeError, Malformed};

/// Where a text form lets ASCII whitespace (space, tab, line feed, form feed, carriage return) appear.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whitespace {
    /// Anywhere, even inside the prefix: a licence wrapped by a mail client at any column still reads.
    Anywhere,
    /// Nowhere: the caller has trimmed it from around the text, and inside it is an error.
    Nowhere,
}

impl Whitespace {
    fn skips(self, byte: u8) -> bool {
        self == Whitespace::Anywhere && byte.is_ascii_whitespace()
    }
}

/// Splits `<family><version>_` off the front of `text`.
///
/// With [`Whitespace::Anywhere`], whitespace is skipped here too, not only in the base64url body, so
/// that a licence wrapped at any column (even inside its prefix) still reads. The version is written in
/// decimal without leading zeros, so that every text has exactly one form.
///
/// A text of the right family but another version is [`DecodeError::UnsupportedVersion`], so that an
/// app that meets a newer key can say "update the app" instead of "this is garbage".
pub(crate) fn strip_prefix<'t>(
    text: &'t str,
    whitespace: Whitespace,
    family: &str,
    version: u8,
    expected: &'static str,
) -> Result<&'t str, DecodeError> {
    let wrong_prefix = DecodeError::Malformed(Malformed::WrongPrefix { expected });
    let mut significant = text
        .bytes()
        .enumerate()
        .filter(|(_, byte)| !whitespace.skips(*byte))
        .peekable();
    if significant.peek().is_none() {
        return Err(Malformed::Empty.into());
    }
    for wanted in family.bytes() {
        if significant.next().map(|(_, byte)| byte) != Some(wanted) {
            return Err(wrong_prefix);
        }
    }
    let (mut found, mut digits) = (0u16, 0);
    loop {
        match significant.next() {
            // At most three digits, and no leading zero.
            Some((_, digit @ b'0'..=b'9')) if digits < 3 && !(digits == 1 && found == 0) => {
                found = found * 10 + u16::from(digit - b'0');
                digits += 1;
            }
            Some((at, b'_')) if digits > 0 => {
                let found = u8::try_from(found).map_err(|_| wrong_prefix)?;
                if found != version {
                    return Err(DecodeError::UnsupportedVersion { found });
                }
                return Ok(&text[at + 1..]);
            }
            _ => return Err(wrong_prefix),
        }
    }
}

/// Decodes a key text, `<family>1_<key id>_<base64url of 32 bytes>` (public and signing keys), into
/// `bytes`; returns the key id.
///
/// ASCII whitespace around the text is ignored; inside it, it is refused like any other character
/// outside the text's alphabet. The id is decimal without leading zeros, so each key has one text.
pub(crate) fn decode_key_text(
    text: &str,
    family: &str,
    expected: &'static str,
    bytes: &mut [u8; 32],
) -> Result<u32, DecodeError> {
    let body = strip_prefix(text.trim_ascii(), Whitespace::Nowhere, family, 1, expected)?;
    let bad_id = Malformed::InvalidField { field: "key_id" };
    let (id, key) = body.split_once('_').ok_or(bad_id)?;
    let canonical = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    if !canonical {
        return Err(bad_id.into());
    }
    let id = id.parse().map_err(|_| bad_id)?;
    if decode_base64(key, Whitespace::Nowhere, bytes)?.len() != 32 {
        return Err(Malformed::Truncated.into());
    }
    Ok(id)
}

/// In the text form the prefix has already announced a supported version, so a payload whose version
/// byte disagrees is damaged, not newer: saying "update the app" for garbage would mislead.
pub(crate) fn prefix_decides_version(err: DecodeError) -> DecodeError {
    match err {
        DecodeError::UnsupportedVersion { .. } => {
            Malformed::InvalidField { field: "version" }.into()
        }
        other => other,
    }
}

/// Decodes unpadded base64url into `out`, skipping `whitespace`; returns the bytes written.
pub(crate) fn decode_base64<'o>(
    text: &str,
    whitespace: Whitespace,
    out: &'o mut [u8],
) -> Result<&'o mut [u8], Malformed> {
    // Chunks are a multiple of 4 characters, so only the last one can be partial. Larger chunks mean
    // fewer calls into base64ct: 128 characters make decoding a key ~4x cheaper than 4 would.
    let mut chunk = [0u8; 128];
    let mut chunk_len = 0;
    let mut written = 0;
    for byte in text.bytes().filter(|byte| !whitespace.skips(*byte)) {
        chunk[chunk_len] = byte;
        chunk_len += 1;
        if chunk_len == chunk.len() {
            written += decode_chunk(&chunk, &mut out[written..])?;
            chunk_len = 0;
        }
    }
    if chunk_len > 0 {
        written += decode_chunk(&chunk[..chunk_len], &mut out[written..])?;
    }
    if written == 0 {
        return Err(Malformed::Empty);
    }
    Ok(&mut out[..written])
}

fn decode_chunk(chunk: &[u8], out: &mut [u8]) -> Result<usize, Malformed> {
    // base64ct rejects a lone trailing character and non-zero unused bits, so every key has exactly
    // one text form and no bit of the text can be flipped unnoticed.
    let needed = chunk.len() * 3 / 4;
    let Some(out) = out.get_mut(..needed) else {
        return Err(first_failing_group(chunk, out));
    };
    Base64UrlUnpadded::decode(chunk, out)
        .map(|decoded| decoded.len())
        .map_err(|_| Malformed::Base64)
}

/// The error of the first group of 4 characters in `chunk` that does not fit `out` (`TooLong`) or does
/// not decode (`Base64`), as FORMAT.md section 6 defines it: a bad character before the overflow is
/// `Base64` whatever the size of the chunks this decoder happens to gather. Only for a chunk that does
/// not fit, so off the path of every valid text.
fn first_failing_group(chunk: &[u8], out: &mut [u8]) -> Malformed {
    let mut written = 0;
    for group in chunk.chunks(4) {
        let needed = group.len() * 3 / 4;
        let Some(room) = out.get_mut(written..written + needed) else {
            return Malformed::TooLong;
        };
        if Base64UrlUnpadded::decode(group, room).is_err() {
            return Malformed::Base64;
        }
        written += needed;
    }
    Malformed::TooLong
}

/// Decodes base64url `body`, skipping whitespace anywhere, into `buf` behind a copy of `domain`, so
/// that the signed message (domain tag, then payload) is one contiguous slice; returns the length of tag
/// and payload together.
pub(crate) fn decode_tagged(body: &str, domain: &[u8], buf: &mut [u8]) -> Result<usize, Malformed> {
    if buf.len() < domain.len() {
        return Err(Malformed::TooLong);
    }
    let (tag, payload) = buf.split_at_mut(domain.len());
    let len = decode_base64(body, Whitespace::Anywhere, payload)?.len();
    tag.copy_from_slice(domain);
    Ok(domain.len() + len)
}

/// Writes `prefix` and the base64url of `bytes` into `out`; returns the text.
pub(crate) fn encode_into<'o>(
    prefix: &str,
    bytes: &[u8],
    out: &'o mut [u8],
) -> Result<&'o str, crate::EncodeError> {
    let body_len = Base64UrlUnpadded::encoded_len(bytes);
    let out = out
        .get_mut(..prefix.len() + body_len)
        .ok_or(crate::EncodeError::BufferTooSmall)?;
    let (head, body) = out.split_at_mut(prefix.len());
    head.copy_from_slice(prefix.as_bytes());
    Base64UrlUnpadded::encode(bytes, body).map_err(|_| crate::EncodeError::BufferTooSmall)?;
    core::str::from_utf8(out).map_err(|_| crate::EncodeError::BufferTooSmall)
}

/// The prefix and the base64url of `bytes`, as a `String`.
#[cfg(feature = "alloc")]
pub(crate) fn encode_string(prefix: &str, bytes: &[u8]) -> alloc::string::String {
    let mut text = alloc::string::String::from(prefix);
    text.push_str(&Base64UrlUnpadded::encode_string(bytes));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_prefix_anywhere<'t>(
        text: &'t str,
        family: &str,
        version: u8,
        expected: &'static str,
    ) -> Result<&'t str, DecodeError> {
        strip_prefix(text, Whitespace::Anywhere, family, version, expected)
    }

    fn decode_base64_anywhere<'o>(
        text: &str,
        out: &'o mut [u8],
    ) -> Result<&'o mut [u8], Malformed> {
        decode_base64(text, Whitespace::Anywhere, out)
    }

    #[test]
    fn prefix_versions() {
        assert_eq!(
            strip_prefix_anywhere("  ts1_abc", "ts", 1, "ts1_"),
            Ok("abc")
        );
        assert_eq!(
            strip_prefix_anywhere("ts2_abc", "ts", 1, "ts1_"),
            Err(DecodeError::UnsupportedVersion { found: 2 })
        );
        assert_eq!(
            strip_prefix_anywhere("t s\n1 _abc", "ts", 1, "ts1_"),
            Ok("abc")
        );
        for bad in [
            "tx1_abc",
            "ts_abc",
            "ts1abc",
            "ts999_a",
            "ts01_abc",
            "ts1000_a",
            "\u{a0}ts1_a",
        ] {
            assert_eq!(
                strip_prefix_anywhere(bad, "ts", 1, "ts1_"),
                Err(DecodeError::Malformed(Malformed::WrongPrefix {
                    expected: "ts1_"
                })),
                "{bad}"
            );
        }
        assert_eq!(
            strip_prefix_anywhere(" \n", "ts", 1, "ts1_"),
            Err(Malformed::Empty.into())
        );
    }

    #[test]
    fn base64_skips_whitespace_and_rejects_noncanonical() {
        let mut out = [0u8; 8];
        assert_eq!(
            decode_base64_anywhere("AQ ID\nBA", &mut out).unwrap(),
            [1, 2, 3, 4]
        );
        // "AR" carries the same byte as "AQ" in its used bits but sets an unused one.
        assert_eq!(
            decode_base64_anywhere("AQIDBAR", &mut out),
            Err(Malformed::Base64)
        );
        assert_eq!(
            decode_base64_anywhere("AQIDB", &mut out),
            Err(Malformed::Base64)
        );
        assert_eq!(
            decode_base64_anywhere("AQ+D", &mut out),
            Err(Malformed::Base64)
        );
        assert_eq!(
            decode_base64_anywhere("AAAAAAAAAAAAAAAA", &mut out),
            Err(Malformed::TooLong)
        );
        // A bad character before the overflow is reported first, as decoding group by group would.
        assert_eq!(
            decode_base64_anywhere("AAAA+AAAAAAAAAAA", &mut out),
            Err(Malformed::Base64)
        );
        assert_eq!(
            decode_base64_anywhere("AAAAAAAAAAA+AAAA", &mut out),
            Err(Malformed::TooLong)
        );
    }

    #[test]
    fn key_texts_allow_whitespace_only_around_them() {
        let mut bytes = [0u8; 32];
        let body = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
        let decode =
            |text: &str, bytes: &mut [u8; 32]| decode_key_text(text, "tspk", "tspk1_", bytes);
        assert_eq!(
            decode(&std::format!(" \t\r\n tspk1_7_{body} \r\n"), &mut bytes),
            Ok(7)
        );
        assert_eq!(bytes[..3], [1, 2, 3]);
        for (inside, error) in [
            (
                std::format!("tspk1 _7_{body}"),
                Malformed::WrongPrefix { expected: "tspk1_" },
            ),
            (
                std::format!("tspk1_7 _{body}"),
                Malformed::InvalidField { field: "key_id" },
            ),
            (
                std::format!("tspk1_7_{}\n{}", &body[..20], &body[20..]),
                Malformed::Base64,
            ),
        ] {
            assert_eq!(decode(&inside, &mut bytes), Err(error.into()), "{inside:?}");
        }
        // Only ASCII whitespace is whitespace: a non-breaking space is not trimmed.
        assert_eq!(
            decode(&std::format!("\u{a0}tspk1_7_{body}"), &mut bytes),
            Err(Malformed::WrongPrefix { expected: "tspk1_" }.into())
        );
    }
}
