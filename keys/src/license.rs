//! The licence key format: claims encoded with postcard, signed with Ed25519, written as text.
//!
//! `FORMAT.md` at the repository root is the specification; this module is its reference implementation.

use crate::error::{DecodeError, EncodeError, Malformed};
use crate::text::{self, Whitespace};
use crate::wire::{self, Reader, Writer};
use crate::{Claims, FeatureSet, LicenseId, UnixTime, MAX_LICENSEE_LEN};

/// The format version, first byte of every licence and digit of its text prefix.
pub const LICENSE_VERSION: u8 = 1;

/// What every licence key's text starts with.
pub const LICENSE_PREFIX: &str = "ts1_";

/// Prepended to the claims before signing, so that a licence signature can never be mistaken for the
/// signature of anything else made with the same key (a revocation list, say).
pub const LICENSE_DOMAIN: &[u8] = b"tessera-license-v1\0";

/// The length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The longest encoded claims: every field present and at its largest.
pub const MAX_CLAIMS_LEN: usize = 1 + 5 + 8 + 5 + 1 + 1 + 5 + 5 + 5 + 5 + 10 + 1 + MAX_LICENSEE_LEN;

/// The longest licence in bytes.
pub const MAX_LICENSE_LEN: usize = MAX_CLAIMS_LEN + SIGNATURE_LEN;

/// The longest licence text, not counting whitespace.
pub const MAX_LICENSE_TEXT_LEN: usize = LICENSE_PREFIX.len() + (MAX_LICENSE_LEN * 4).div_ceil(3);

mod flag {
    pub const NOT_BEFORE: u8 = 1 << 0;
    pub const EXPIRES_AT: u8 = 1 << 1;
    pub const GRACE: u8 = 1 << 2;
    pub const LICENSEE: u8 = 1 << 3;
    pub const REQUIRES_ACTIVATION: u8 = 1 << 4;
    pub const ALL: u8 = NOT_BEFORE | EXPIRES_AT | GRACE | LICENSEE | REQUIRES_ACTIVATION;
}

impl<'a> Claims<'a> {
    /// Encodes the claims (the signed payload, without the domain tag) into `buf`.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EncodeError> {
        let wire_time =
            |time: UnixTime, field| time.to_wire().ok_or(EncodeError::TimeOutOfRange { field });
        if let Some(name) = self.licensee {
            if name.is_empty() || name.len() > MAX_LICENSEE_LEN {
                return Err(EncodeError::InvalidLicensee);
            }
        }
        let mut flags = 0;
        for (present, bit) in [
            (self.not_before.is_some(), flag::NOT_BEFORE),
            (self.expires_at.is_some(), flag::EXPIRES_AT),
            (self.grace_seconds.is_some(), flag::GRACE),
            (self.licensee.is_some(), flag::LICENSEE),
            (self.requires_activation, flag::REQUIRES_ACTIVATION),
        ] {
            if present {
                flags |= bit;
            }
        }

        let mut out = Writer::new(buf);
        out.put(&LICENSE_VERSION)?;
        out.put(&self.key_id)?;
        out.put(&self.license_id.0)?;
        out.put(&self.product)?;
        out.put(&self.tier)?;
        out.put(&flags)?;
        out.put(&wire_time(self.issued_at, "issued_at")?)?;
        if let Some(time) = self.not_before {
            out.put(&wire_time(time, "not_before")?)?;
        }
        if let Some(time) = self.expires_at {
            out.put(&wire_time(time, "expires_at")?)?;
        }
        if let Some(seconds) = self.grace_seconds {
            out.put(&seconds)?;
        }
        out.put(&self.features.0)?;
        if let Some(name) = self.licensee {
            out.put(name)?;
        }
        Ok(out.finish())
    }

    /// Decodes claims from the front of `bytes`; returns them and the bytes that follow.
    pub fn decode(bytes: &'a [u8]) -> Result<(Claims<'a>, &'a [u8]), DecodeError> {
        let mut input = Reader::new(bytes);
        let version: u8 = input.take(Malformed::InvalidField { field: "version" })?;
        if version != LICENSE_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        let invalid = |field| Malformed::InvalidField { field };
        let key_id = input.take_varint(invalid("key_id"))?;
        let license_id = LicenseId(input.take(invalid("license_id"))?);
        let product = input.take_varint(invalid("product"))?;
        let tier = input.take(invalid("tier"))?;
        let flags: u8 = input.take(invalid("flags"))?;
        if flags & !flag::ALL != 0 {
            return Err(invalid("flags").into());
        }
        let mut time = |field| input.take_varint(invalid(field)).map(UnixTime::from_wire);
        let issued_at = time("issued_at")?;
        let not_before = (flags & flag::NOT_BEFORE != 0)
            .then(|| time("not_before"))
            .transpose()?;
        let expires_at = (flags & flag::EXPIRES_AT != 0)
            .then(|| time("expires_at"))
            .transpose()?;
        let grace_seconds = (flags & flag::GRACE != 0)
            .then(|| input.take_varint(invalid("grace")))
            .transpose()?;
        let features = FeatureSet(input.take_varint(invalid("features"))?);
        let licensee = (flags & flag::LICENSEE != 0)
            .then(|| input.take_str(invalid("licensee")))
            .transpose()?;
        if licensee.is_some_and(|name| name.is_empty() || name.len() > MAX_LICENSEE_LEN) {
            return Err(invalid("licensee").into());
        }
        let claims = Claims {
            key_id,
            license_id,
            product,
            tier,
            issued_at,
            not_before,
            expires_at,
            grace_seconds,
            features,
            licensee,
            requires_activation: flags & flag::REQUIRES_ACTIVATION != 0,
        };
        Ok((claims, input.rest()))
    }

    /// When the grace period ends: expiry plus grace, or `None` for a perpetual licence.
    pub fn grace_ends_at(&self) -> Option<UnixTime> {
        self.expires_at
            .map(|expiry| expiry.plus_seconds(self.grace_seconds.unwrap_or(0).into()))
    }
}

/// A decoded but not yet verified licence, borrowing from a [`LicenseBuffer`].
#[derive(Clone, Copy, Debug)]
pub struct SignedLicense<'a> {
    /// The claims, untrusted until the signature is checked.
    pub claims: Claims<'a>,
    /// What the signature covers: [`LICENSE_DOMAIN`] followed by the encoded claims.
    pub signed_message: &'a [u8],
    /// The Ed25519 signature.
    pub signature: &'a [u8; SIGNATURE_LEN],
}

/// Room to decode one licence without allocating.
///
/// The domain tag is kept in front of the decoded bytes, so the signed message is one contiguous slice
/// and verification copies nothing.
#[derive(Clone, Debug)]
pub struct LicenseBuffer {
    bytes: [u8; LICENSE_DOMAIN.len() + MAX_LICENSE_LEN],
}

impl Default for LicenseBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LicenseBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        LicenseBuffer {
            bytes: [0; LICENSE_DOMAIN.len() + MAX_LICENSE_LEN],
        }
    }

    /// Decodes a licence from its text form, tolerating whitespace and line breaks anywhere.
    pub fn decode_text(&mut self, text: &str) -> Result<SignedLicense<'_>, DecodeError> {
        let body = text::strip_prefix(
            text,
            Whitespace::Anywhere,
            "ts",
            LICENSE_VERSION,
            LICENSE_PREFIX,
        )?;
        let len = text::decode_tagged(body, LICENSE_DOMAIN, &mut self.bytes)?;
        self.split(len).map_err(text::prefix_decides_version)
    }

    /// Decodes a licence from its binary form (claims followed by the signature).
    pub fn decode_bytes(&mut self, bytes: &[u8]) -> Result<SignedLicense<'_>, DecodeError> {
        let tagged_len = LICENSE_DOMAIN.len() + bytes.len();
        let tagged = self.bytes.get_mut(..tagged_len).ok_or(Malformed::TooLong)?;
        tagged[..LICENSE_DOMAIN.len()].copy_from_slice(LICENSE_DOMAIN);
        tagged[LICENSE_DOMAIN.len()..].copy_from_slice(bytes);
        self.split(tagged_len)
    }

    fn split(&self, tagged_len: usize) -> Result<SignedLicense<'_>, DecodeError> {
        let tagged = &self.bytes[..tagged_len];
        let (claims, rest) = Claims::decode(&tagged[LICENSE_DOMAIN.len()..])?;
        let signature = wire::signature(rest)?;
        Ok(SignedLicense {
            claims,
            signed_message: &tagged[..tagged.len() - SIGNATURE_LEN],
            signature,
        })
    }
}

/// Writes a licence's text form (prefix + base64url of claims and signature) into `out`.
pub fn encode_license_text<'o>(
    license_bytes: &[u8],
    out: &'o mut [u8],
) -> Result<&'o str, EncodeError> {
    text::encode_into(LICENSE_PREFIX, license_bytes, out)
}

/// A licence's text form (prefix + base64url of claims and signature).
#[cfg(feature = "alloc")]
pub fn license_text(license_bytes: &[u8]) -> alloc::string::String {
    text::encode_string(LICENSE_PREFIX, license_bytes)
}
