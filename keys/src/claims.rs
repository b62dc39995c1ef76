//! What a licence says.

use core::fmt;

use crate::UnixTime;

/// The longest licensee name a licence may carry, in UTF-8 bytes.
pub const MAX_LICENSEE_LEN: usize = 64;

/// The facts a licence key carries, signed by the issuer.
///
/// Products, tiers and features travel as numbers against the product's table (see
/// [`Product`](crate::Product)) because names would triple the size of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims<'a> {
    /// Which signing key signed this licence; lets apps trust several keys across a rotation.
    pub key_id: u32,
    /// Random identifier of the licence, also the handle for revocation.
    pub license_id: LicenseId,
    /// The product this licence unlocks.
    pub product: u32,
    /// Index into the product's tier ladder; a higher index is a higher tier.
    pub tier: u8,
    /// When the licence was signed.
    pub issued_at: UnixTime,
    /// The licence is not valid before this time.
    pub not_before: Option<UnixTime>,
    /// The licence is not valid from this time on; `None` is a perpetual licence.
    pub expires_at: Option<UnixTime>,
    /// Seconds after expiry during which an app should keep working while it nags for renewal.
    pub grace_seconds: Option<u32>,
    /// Feature flags, one bit per entry of the product's feature table.
    pub features: FeatureSet,
    /// A short name of the licensee, shown in "licensed to …" screens.
    pub licensee: Option<&'a str>,
    /// The licence works only on machines activated with the issuer: apps must check it together
    /// with a machine certificate (`tsm1_`), and the key alone is refused.
    pub requires_activation: bool,
}

/// The random 64-bit identifier of a licence.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LicenseId(pub [u8; 8]);

impl LicenseId {
    /// The identifier as 16 lowercase hex digits, its usual written form.
    pub fn to_hex(&self) -> HexId {
        let mut out = [0u8; 16];
        hex_encode(&self.0, &mut out);
        HexId(out)
    }

    /// Parses 16 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<LicenseId> {
        let mut id = [0u8; 8];
        hex_decode(text, &mut id).then_some(LicenseId(id))
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out`, which holds exactly two digits per byte.
pub(crate) fn hex_encode(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0xf)];
    }
}

/// Fills `out` from hex digits (either case); `false` unless `text` is exactly two digits per byte.
pub(crate) fn hex_decode(text: &str, out: &mut [u8]) -> bool {
    let text = text.as_bytes();
    if text.len() != 2 * out.len() {
        return false;
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(high), Some(low)) => *byte = (high << 4) | low,
            _ => return false,
        }
    }
    true
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// A licence id written as hex, without allocating.
#[derive(Clone, Copy)]
pub struct HexId([u8; 16]);

impl HexId {
    /// The hex digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for HexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for LicenseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_hex().as_str())
    }
}

impl fmt::Debug for LicenseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenseId({})", self.to_hex())
    }
}

/// A set of up to 64 feature flags; bit `n` is entry `n` of the product's feature table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FeatureSet(pub u64);

impl FeatureSet {
    /// The largest number of features a product can have.
    pub const CAPACITY: u8 = 64;

    /// The empty set.
    pub const EMPTY: FeatureSet = FeatureSet(0);

    /// Whether feature `bit` is in the set; bits beyond the capacity are never set.
    pub const fn contains(self, bit: u8) -> bool {
        bit < Self::CAPACITY && self.0 & (1 << bit) != 0
    }

    /// This set with feature `bit` added, or `None` if `bit` is beyond the capacity.
    pub const fn with(self, bit: u8) -> Option<FeatureSet> {
        if bit < Self::CAPACITY {
            Some(FeatureSet(self.0 | (1 << bit)))
        } else {
            None
        }
    }

    /// The bits that are set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..Self::CAPACITY).filter(move |&bit| self.contains(bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let id = LicenseId([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        assert_eq!(id.to_hex().as_str(), "0123456789abcdef");
        assert_eq!(LicenseId::from_hex("0123456789ABCDEF"), Some(id));
        assert_eq!(LicenseId::from_hex("0123456789abcde"), None);
        assert_eq!(LicenseId::from_hex("0123456789abcdeg"), None);
    }

    #[test]
    fn feature_bits() {
        let set = FeatureSet::EMPTY.with(0).and_then(|s| s.with(63)).unwrap();
        assert!(set.contains(0) && set.contains(63) && !set.contains(1));
        assert!(!set.contains(64));
        assert_eq!(FeatureSet::EMPTY.with(64), None);
        assert_eq!(set.iter().collect::<std::vec::Vec<_>>(), [0, 63]);
    }
}
