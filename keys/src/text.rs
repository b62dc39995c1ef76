//! The text form: a versioned prefix, then unpadded base64url.
//!
//! Keys get pasted from e-mails and web pages, so decoding skips ASCII whitespace anywhere (line breaks
//! included) and works in chunks of at most 128 characters, which needs no copy of the whole input.

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::error::{DecodeError, Malformed};

/// Splits `<family><version>_` off the front of `text`.
///
/// ASCII whitespace is skipped here too, not only in the base64url body, so that a key wrapped at any
/// column (even inside its prefix) still reads. The version is written in decimal without leading zeros,
/// so that every key has exactly one text form.
///
/// A text of the right family but another version is [`DecodeError::UnsupportedVersion`], so that an
/// app that meets a newer key can say "update the app" instead of "this is garbage".
pub(crate) fn strip_prefix<'t>(
    text: &'t str,
    family: &str,
    version: u8,
    expected: &'static str,
) -> Result<&'t str, DecodeError> {
    let wrong_prefix = DecodeError::Malformed(Malformed::WrongPrefix { expected });
    let mut significant = text
        .bytes()
        .enumerate()
        .filter(|(_, byte)| !byte.is_ascii_whitespace())
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

/// Decodes `<key id>_<base64url of 32 bytes>`, the body shared by public and signing key texts, into
/// `bytes`; returns the key id. The id is decimal without leading zeros, so each key has one text.
pub(crate) fn decode_id_and_key(body: &str, bytes: &mut [u8; 32]) -> Result<u32, DecodeError> {
    let bad_id = Malformed::InvalidField { field: "key_id" };
    let (id, key) = body.split_once('_').ok_or(bad_id)?;
    let canonical = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    if !canonical {
        return Err(bad_id.into());
    }
    let id = id.parse().map_err(|_| bad_id)?;
    if decode_base64(key, bytes)?.len() != 32 {
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

/// Decodes unpadded base64url, skipping ASCII whitespace, into `out`; returns the bytes written.
pub(crate) fn decode_base64<'o>(text: &str, out: &'o mut [u8]) -> Result<&'o mut [u8], Malformed> {
    // Chunks are a multiple of 4 characters, so only the last one can be partial. Larger chunks mean
    // fewer calls into base64ct: 128 characters make decoding a key ~4x cheaper than 4 would.
    let mut chunk = [0u8; 128];
    let mut chunk_len = 0;
    let mut written = 0;
    for byte in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
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
    let out = out.get_mut(..needed).ok_or(Malformed::TooLong)?;
    Base64UrlUnpadded::decode(chunk, out)
        .map(|decoded| decoded.len())
        .map_err(|_| Malformed::Base64)
}

/// Decodes base64url `body` into `buf` behind a copy of `domain`, so that the signed message (domain
/// tag, then payload) is one contiguous slice; returns the length of tag and payload together.
pub(crate) fn decode_tagged(body: &str, domain: &[u8], buf: &mut [u8]) -> Result<usize, Malformed> {
    if buf.len() < domain.len() {
        return Err(Malformed::TooLong);
    }
    let (tag, payload) = buf.split_at_mut(domain.len());
    let len = decode_base64(body, payload)?.len();
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

    #[test]
    fn prefix_versions() {
        assert_eq!(strip_prefix("  ts1_abc", "ts", 1, "ts1_"), Ok("abc"));
        assert_eq!(
            strip_prefix("ts2_abc", "ts", 1, "ts1_"),
            Err(DecodeError::UnsupportedVersion { found: 2 })
        );
        assert_eq!(strip_prefix("t s\n1 _abc", "ts", 1, "ts1_"), Ok("abc"));
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
                strip_prefix(bad, "ts", 1, "ts1_"),
                Err(DecodeError::Malformed(Malformed::WrongPrefix {
                    expected: "ts1_"
                })),
                "{bad}"
            );
        }
        assert_eq!(
            strip_prefix(" \n", "ts", 1, "ts1_"),
            Err(Malformed::Empty.into())
        );
    }

    #[test]
    fn base64_skips_whitespace_and_rejects_noncanonical() {
        let mut out = [0u8; 8];
        assert_eq!(decode_base64("AQ ID\nBA", &mut out).unwrap(), [1, 2, 3, 4]);
        // "AR" carries the same byte as "AQ" in its used bits but sets an unused one.
        assert_eq!(decode_base64("AQIDBAR", &mut out), Err(Malformed::Base64));
        assert_eq!(decode_base64("AQIDB", &mut out), Err(Malformed::Base64));
        assert_eq!(decode_base64("AQ+D", &mut out), Err(Malformed::Base64));
        assert_eq!(
            decode_base64("AAAAAAAAAAAAAAAA", &mut out),
            Err(Malformed::TooLong)
        );
    }
}
