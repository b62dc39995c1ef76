//! Public keys as apps embed them: a key id and the 32 bytes of an Ed25519 public key.

use base64ct::{Base64UrlUnpadded, Encoding};
use core::fmt;

use crate::error::DecodeError;
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

    /// Parses the text form `tspk1_<id>_<base64url of the 32 bytes>`, ignoring surrounding whitespace.
    pub fn from_text(text: &str) -> Result<PublicKey, DecodeError> {
        let body = text::strip_prefix(text.trim(), "tspk", 1, PUBLIC_KEY_PREFIX)?;
        let mut bytes = [0u8; 32];
        let id = text::decode_id_and_key(body, &mut bytes)?;
        Ok(PublicKey { id, bytes })
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
}
