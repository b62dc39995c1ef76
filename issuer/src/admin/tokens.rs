//! Admin API tokens: kept as SHA-256 hashes, compared in constant time.
//!
//! A token is `tsadm_` and 64 hex digits of randomness (`tessera admin token` makes one and prints
//! the line for the config). The issuer keeps only each token's name and hash, so a leaked config does
//! not give admin access; a presented token is hashed and compared with every configured hash without
//! stopping at the first match, so the time taken says nothing about which hash was close.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every admin token.
pub const TOKEN_PREFIX: &str = "tsadm_";

/// A configured token: its name (written to the audit trail) and the SHA-256 of its value.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Who holds it, e.g. `alice` or `support-bot`.
    pub name: String,
    sha256: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AdminToken {
    /// A token named `name` whose SHA-256 is `sha256_hex` (64 hex digits).
    pub fn from_hash(name: &str, sha256_hex: &str) -> Result<AdminToken, String> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.contains(char::is_control) {
            return Err("`name` must be 1 to 64 printable characters".to_owned());
        }
        let digits = sha256_hex.trim().as_bytes();
        let mut sha256 = [0u8; 32];
        if digits.len() != 64 {
            return Err("`sha256` must be 64 hex digits (`tessera admin token` prints it)".into());
        }
        for (byte, pair) in sha256.iter_mut().zip(digits.chunks_exact(2)) {
            let text = std::str::from_utf8(pair).unwrap_or("");
            *byte = u8::from_str_radix(text, 16)
                .map_err(|_| "`sha256` must be 64 hex digits".to_owned())?;
        }
        Ok(AdminToken {
            name: name.to_owned(),
            sha256,
        })
    }

    /// The token that `value` is, named `name` (for the development token made at start).
    pub fn from_value(name: &str, value: &str) -> AdminToken {
        AdminToken {
            name: name.to_owned(),
            sha256: Sha256::digest(value.as_bytes()).into(),
        }
    }
}

/// The name of the configured token whose value `presented` is, if any.
pub fn identify<'a>(tokens: &'a [AdminToken], presented: &str) -> Option<&'a str> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for token in tokens {
        if bool::from(token.sha256.ct_eq(&digest)) {
            found = Some(token.name.as_str());
        }
    }
    found
}

/// A new random token.
pub fn generate() -> String {
    let random: [u8; 32] = rand::random();
    let hex: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_known_by_its_hash_alone() {
        let value = generate();
        assert!(value.starts_with(TOKEN_PREFIX) && value.len() == TOKEN_PREFIX.len() + 64);
        let hex: String = Sha256::digest(value.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let tokens = [
            AdminToken::from_hash("bob", &"0".repeat(64)).unwrap(),
            AdminToken::from_hash("alice", &hex).unwrap(),
        ];
        assert_eq!(identify(&tokens, &value), Some("alice"));
        assert_eq!(identify(&tokens, &generate()), None);
        assert_eq!(identify(&tokens, ""), None);
        assert!(!format!("{:?}", tokens[1]).contains(&hex));
    }

    #[test]
    fn bad_hashes_and_names_are_refused() {
        assert!(AdminToken::from_hash("a", "abc").is_err());
        assert!(AdminToken::from_hash("a", &"g".repeat(64)).is_err());
        assert!(AdminToken::from_hash(" ", &"0".repeat(64)).is_err());
    }
}
