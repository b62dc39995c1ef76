//! Public keys as apps embed them: a key id and the 32 bytes of an Ed25519 public key.

use base64ct::{Base64UrlUnpadded, Encoding};
use core::fmt;

use crate::error::{DecodeError, Malformed};
use crate::text;

/// What a public key's text starts with.
pub const PUBLIC_KEY_PREFIX: &str = "tspk1_";

/// The longest public key text: prefix, a `u32` key id, `_`, and 43 base64url characters.
pub const MAX_PUBLIC_KEY_TEXT_LEN: usize = PUBLIC_KEY_PREFIX.len() + 10 + 1 + 43;

/// A trusted issuer key: the id licences name it by, and its Ed25519 public key bytes.
///
/// `const`-constructible so apps can embed it in their source:
///
/// ```
/// use tessera_keys::PublicKey;
/// const ISSUER: PublicKey = PublicKey::new(1, [0x42; 32]);
/// assert_eq!(ISSUER.id, 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// The key id that licences signed by this key carry.
    pub id: u32,
    /// The compressed Edwards point, as Ed25519 public keys are usually written.
    pub bytes: [u8; 32],
}

impl PublicKey {
    /// A public key from its id and bytes.
    pub const fn new(id: u32, bytes: [u8; 32]) -> Self {
        PublicKey { id, bytes }
    }

    /// Parses the text form `tspk1_<id>_<base64url of the 32 bytes>`.
    ///
    /// ASCII whitespace around the text is ignored, and refused inside it. The 32 bytes must be the
    /// canonical encoding of a point's y coordinate and sign (see [`PublicKey::is_canonical`]), else
    /// the text is [`Malformed::InvalidField`] `public_key`: RFC 8032 refuses such a key when decoding
    /// it, and accepting it would only make every signature fail later.
    pub fn from_text(text: &str) -> Result<PublicKey, DecodeError> {
        let mut bytes = [0u8; 32];
        let id = text::decode_key_text(text, "tspk", PUBLIC_KEY_PREFIX, &mut bytes)?;
        let key = PublicKey { id, bytes };
        if !key.is_canonical() {
            return Err(Malformed::InvalidField {
                field: "public_key",
            }
            .into());
        }
        Ok(key)
    }

    /// Whether the 32 bytes are a canonical point encoding (RFC 8032 section 5.1.3): the y coordinate,
    /// little-endian in the low 255 bits, is below p = 2^255 - 19, and the sign bit of x (the top bit)
    /// is clear when x = 0, which is when y = 1 or y = p - 1.
    ///
    /// This looks at bytes only; whether they are a point of large order is the verifier's question.
    pub const fn is_canonical(&self) -> bool {
        let bytes = &self.bytes;
        let sign = bytes[31] >> 7;
        let top = bytes[31] & 0x7f;
        // The bytes of y between the lowest and the highest.
        let mut middle_all_ff = true;
        let mut middle_all_00 = true;
        let mut i = 1;
        while i < 31 {
            middle_all_ff &= bytes[i] == 0xff;
            middle_all_00 &= bytes[i] == 0x00;
            i += 1;
        }
        // p - 1 = ec ff .. ff 7f and p = ed ff .. ff 7f, little-endian.
        let near_p = middle_all_ff && top == 0x7f;
        let at_least_p = near_p && bytes[0] >= 0xed;
        let x_is_zero =
            (near_p && bytes[0] == 0xec) || (middle_all_00 && top == 0 && bytes[0] == 1);
        let negative_zero = x_is_zero && sign == 1;
        !(at_least_p || negative_zero)
    }

    /// Writes the text form into `out` without allocating.
    pub fn encode_text<'o>(&self, out: &'o mut [u8; MAX_PUBLIC_KEY_TEXT_LEN]) -> &'o str {
        let mut cursor = Cursor { buf: out, len: 0 };
        // Writing into a buffer sized for the longest text cannot fail.
        let _ = fmt::write(&mut cursor, format_args!("{self}"));
        let len = cursor.len;
        core::str::from_utf8(&out[..len]).unwrap_or_default()
    }
}

impl fmt::Display for PublicKey {
    /// The text form, `tspk1_<id>_<base64url>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut body = [0u8; 43];
        let body = Base64UrlUnpadded::encode(&self.bytes, &mut body).map_err(|_| fmt::Error)?;
        write!(f, "{PUBLIC_KEY_PREFIX}{}_{body}", self.id)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn text_round_trips() {
        let key = PublicKey::new(4_000_000_000, [7; 32]);
        let text = key.to_string();
        assert!(text.starts_with("tspk1_4000000000_"));
        assert_eq!(text.len(), MAX_PUBLIC_KEY_TEXT_LEN);
        assert_eq!(PublicKey::from_text(&text), Ok(key));
        let mut buf = [0; MAX_PUBLIC_KEY_TEXT_LEN];
        assert_eq!(key.encode_text(&mut buf), text);
    }

    #[test]
    fn rejects_bad_text() {
        let good = PublicKey::new(1, [7; 32]).to_string();
        assert!(PublicKey::from_text(&good[..good.len() - 1]).is_err());
        assert!(PublicKey::from_text(&good.replace("tspk1_1_", "tspk1__")).is_err());
        assert!(PublicKey::from_text(&good.replace("tspk1_1_", "tspk1_+1_")).is_err());
        assert!(PublicKey::from_text(&good.replace("tspk1_1_", "tspk1_01_")).is_err());
        assert!(PublicKey::from_text(&good.replace("tspk1_", "ts1_")).is_err());
        assert!(PublicKey::from_text(&std::format!("{good}AA")).is_err());
    }

    #[test]
    fn canonical_encodings() {
        let key = |low: u8, middle: u8, high: u8| {
            let mut bytes = [middle; 32];
            (bytes[0], bytes[31]) = (low, high);
            PublicKey::new(1, bytes)
        };
        // y = p - 1 and y = 1 (x = 0) only with the sign bit clear; y from p up never.
        for (canonical, low, middle, high) in [
            (true, 0xec, 0xff, 0x7f),
            (false, 0xec, 0xff, 0xff),
            (true, 0x01, 0x00, 0x00),
            (false, 0x01, 0x00, 0x80),
            (true, 0x00, 0x00, 0x80),
            (true, 0xeb, 0xff, 0xff),
            (false, 0xed, 0xff, 0x7f),
            (false, 0xee, 0xff, 0xff),
            (false, 0xff, 0xff, 0x7f),
            (true, 0xff, 0xfe, 0x7f),
        ] {
            let key = key(low, middle, high);
            assert_eq!(key.is_canonical(), canonical, "{key:?}");
            let decoded = PublicKey::from_text(&key.to_string());
            if canonical {
                assert_eq!(decoded, Ok(key));
            } else {
                assert_eq!(
                    decoded,
                    Err(Malformed::InvalidField {
                        field: "public_key"
                    }
                    .into())
                );
            }
        }
    }
}
