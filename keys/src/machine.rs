//! Machine certificates: the issuer's signed word that a licence is activated on one machine.
//!
//! A certificate binds a licence id to a machine's fingerprint, with the time it was issued and,
//! optionally, the end of its lease (after which the app must renew it online). It is signed under its
//! own domain tag, so it can never pass for a licence or a revocation list, and written as `tsm1_`
//! followed by unpadded base64url: about 137 characters. `FORMAT.md` section 15 specifies every byte.

use core::fmt;

use sha2::{Digest, Sha256};

use crate::claims::{hex_decode, hex_encode};
use crate::error::{DecodeError, EncodeError, Malformed};
use crate::text::{self, Whitespace};
use crate::wire::{self, Reader, Writer};
use crate::{LicenseId, UnixTime, SIGNATURE_LEN};

/// The certificate format version, first byte of every certificate and digit of its text prefix.
pub const CERTIFICATE_VERSION: u8 = 1;

/// What every machine certificate's text starts with.
pub const CERTIFICATE_PREFIX: &str = "tsm1_";

/// Prepended to a certificate's claims before signing (see [`LICENSE_DOMAIN`](crate::LICENSE_DOMAIN)).
pub const CERTIFICATE_DOMAIN: &[u8] = b"tessera-machine-v1\0";

/// The longest encoded certificate claims: every field present and at its largest.
pub const MAX_MACHINE_CLAIMS_LEN: usize = 1 + 5 + 8 + CERTIFIED_FINGERPRINT_LEN + 1 + 5 + 5;

/// The longest certificate in bytes.
pub const MAX_CERTIFICATE_LEN: usize = MAX_MACHINE_CLAIMS_LEN + SIGNATURE_LEN;

/// The longest certificate text, not counting whitespace.
pub const MAX_CERTIFICATE_TEXT_LEN: usize =
    CERTIFICATE_PREFIX.len() + (MAX_CERTIFICATE_LEN * 4).div_ceil(3);

/// The length of a machine fingerprint.
pub const FINGERPRINT_LEN: usize = 32;

/// How much of the fingerprint a certificate carries: 128 bits, beyond any search for a collision
/// with one given machine, and 16 characters shorter.
pub const CERTIFIED_FINGERPRINT_LEN: usize = 16;

/// Hashed in front of the product id and the OS machine id, so a fingerprint is of no use anywhere
/// but in Tessera (see [`Fingerprint::of_machine_id`]).
pub const FINGERPRINT_DOMAIN: &[u8] = b"tessera-fingerprint-v1\0";

mod flag {
    pub const LEASE: u8 = 1 << 0;
    pub const ALL: u8 = LEASE;
}

/// A machine's identity as the issuer sees it: a hash, computed on the machine, of the OS machine id
/// and the product, so the raw id never leaves the machine and one machine has another fingerprint in
/// each vendor's products.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// SHA-256 of [`FINGERPRINT_DOMAIN`], the product id (4 bytes, little-endian) and `machine_id`,
    /// the bytes the OS identifies the machine with (`/etc/machine-id`, IOPlatformUUID, MachineGuid),
    /// or any stable bytes a `no_std` device has.
    pub fn of_machine_id(product: u32, machine_id: &[u8]) -> Fingerprint {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_DOMAIN)
            .chain_update(product.to_le_bytes())
            .chain_update(machine_id)
            .finalize();
        Fingerprint(digest.into())
    }

    /// The part a certificate carries: the first [`CERTIFIED_FINGERPRINT_LEN`] bytes.
    pub fn certified(&self) -> [u8; CERTIFIED_FINGERPRINT_LEN] {
        let mut part = [0; CERTIFIED_FINGERPRINT_LEN];
        part.copy_from_slice(&self.0[..CERTIFIED_FINGERPRINT_LEN]);
        part
    }

    /// The fingerprint as 64 lowercase hex digits, as `tessera fingerprint` prints it and the issuer
    /// takes it.
    pub fn to_hex(&self) -> FingerprintHex {
        let mut out = [0; 2 * FINGERPRINT_LEN];
        hex_encode(&self.0, &mut out);
        FingerprintHex(out)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<Fingerprint> {
        let mut bytes = [0; FINGERPRINT_LEN];
        hex_decode(text, &mut bytes).then_some(Fingerprint(bytes))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_hex().as_str())
    }
}

/// A fingerprint written as hex, without allocating.
#[derive(Clone, Copy)]
pub struct FingerprintHex([u8; 2 * FINGERPRINT_LEN]);

impl FingerprintHex {
    /// The hex digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for FingerprintHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for FingerprintHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a machine certificate says, signed by the issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineClaims {
    /// Which signing key signed the certificate.
    pub key_id: u32,
    /// The licence activated on the machine.
    pub license_id: LicenseId,
    /// The machine: [`Fingerprint::certified`] of its fingerprint.
    pub fingerprint: [u8; CERTIFIED_FINGERPRINT_LEN],
    /// When the issuer signed the certificate; it is not valid before.
    pub issued_at: UnixTime,
    /// When the certificate stops working offline and must be renewed; `None`: it lasts as long as
    /// the licence.
    pub lease_ends_at: Option<UnixTime>,
}

impl MachineClaims {
    /// Encodes the claims (the signed payload, without the domain tag) into `buf`.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EncodeError> {
        let wire_time =
            |time: UnixTime, field| time.to_wire().ok_or(EncodeError::TimeOutOfRange { field });
        let flags = if self.lease_ends_at.is_some() {
            flag::LEASE
        } else {
            0
        };
        let mut out = Writer::new(buf);
        out.put(&CERTIFICATE_VERSION)?;
        out.put(&self.key_id)?;
        out.put(&self.license_id.0)?;
        out.put(&self.fingerprint)?;
        out.put(&flags)?;
        out.put(&wire_time(self.issued_at, "issued_at")?)?;
        if let Some(time) = self.lease_ends_at {
            out.put(&wire_time(time, "lease_ends_at")?)?;
        }
        Ok(out.finish())
    }

    /// Decodes claims from the front of `bytes`; returns them and the bytes that follow.
    pub fn decode(bytes: &[u8]) -> Result<(MachineClaims, &[u8]), DecodeError> {
        let mut input = Reader::new(bytes);
        let version: u8 = input.take(Malformed::InvalidField { field: "version" })?;
        if version != CERTIFICATE_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        let invalid = |field| Malformed::InvalidField { field };
        let key_id = input.take_varint(invalid("key_id"))?;
        let license_id = LicenseId(input.take(invalid("license_id"))?);
        let fingerprint = input.take(invalid("fingerprint"))?;
        let flags: u8 = input.take(invalid("flags"))?;
        if flags & !flag::ALL != 0 {
            return Err(invalid("flags").into());
        }
        let mut time = |field| input.take_varint(invalid(field)).map(UnixTime::from_wire);
        let issued_at = time("issued_at")?;
        let lease_ends_at = (flags & flag::LEASE != 0)
            .then(|| time("lease_ends_at"))
            .transpose()?;
        let claims = MachineClaims {
            key_id,
            license_id,
            fingerprint,
            issued_at,
            lease_ends_at,
        };
        Ok((claims, input.rest()))
    }

    /// Whether the certificate is for the machine with `fingerprint`, compared in constant time: the
    /// app holds the fingerprint, but nothing is lost by not leaking where two of them differ.
    pub fn is_for(&self, fingerprint: &Fingerprint) -> bool {
        let certified = fingerprint.certified();
        let difference = self
            .fingerprint
            .iter()
            .zip(&certified)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        difference == 0
    }
}

/// A decoded but not yet verified certificate, borrowing from a [`CertificateBuffer`].
#[derive(Clone, Copy, Debug)]
pub struct SignedCertificate<'a> {
    /// The claims, untrusted until the signature is checked.
    pub claims: MachineClaims,
    /// What the signature covers: [`CERTIFICATE_DOMAIN`] followed by the encoded claims.
    pub signed_message: &'a [u8],
    /// The Ed25519 signature.
    pub signature: &'a [u8; SIGNATURE_LEN],
}

/// Room to decode one certificate without allocating.
#[derive(Clone, Debug)]
pub struct CertificateBuffer {
    bytes: [u8; CERTIFICATE_DOMAIN.len() + MAX_CERTIFICATE_LEN],
}

impl Default for CertificateBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl CertificateBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        CertificateBuffer {
            bytes: [0; CERTIFICATE_DOMAIN.len() + MAX_CERTIFICATE_LEN],
        }
    }

    /// Decodes a certificate from its text form, tolerating whitespace and line breaks anywhere.
    pub fn decode_text(&mut self, text: &str) -> Result<SignedCertificate<'_>, DecodeError> {
        let body = text::strip_prefix(
            text,
            Whitespace::Anywhere,
            "tsm",
            CERTIFICATE_VERSION,
            CERTIFICATE_PREFIX,
        )?;
        let len = text::decode_tagged(body, CERTIFICATE_DOMAIN, &mut self.bytes)?;
        let tagged = &self.bytes[..len];
        let (claims, rest) = MachineClaims::decode(&tagged[CERTIFICATE_DOMAIN.len()..])
            .map_err(text::prefix_decides_version)?;
        let signature = wire::signature(rest)?;
        Ok(SignedCertificate {
            claims,
            signed_message: &tagged[..tagged.len() - SIGNATURE_LEN],
            signature,
        })
    }
}

/// A certificate's text form (prefix + base64url of claims and signature).
#[cfg(feature = "alloc")]
pub fn certificate_text(certificate_bytes: &[u8]) -> alloc::string::String {
    text::encode_string(CERTIFICATE_PREFIX, certificate_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(lease: Option<u64>) -> MachineClaims {
        MachineClaims {
            key_id: 1,
            license_id: LicenseId([1, 2, 3, 4, 5, 6, 7, 8]),
            fingerprint: Fingerprint::of_machine_id(1, b"machine").certified(),
            issued_at: UnixTime(1_790_000_000),
            lease_ends_at: lease.map(UnixTime),
        }
    }

    #[test]
    fn claims_round_trip_with_and_without_a_lease() {
        for claims in [claims(None), claims(Some(1_792_592_000))] {
            let mut buf = [0; MAX_MACHINE_CLAIMS_LEN];
            let encoded = claims.encode(&mut buf).unwrap();
            let (decoded, rest) = MachineClaims::decode(encoded).unwrap();
            assert_eq!(decoded, claims);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn unknown_flags_and_versions_are_refused() {
        let mut buf = [0; MAX_MACHINE_CLAIMS_LEN];
        let encoded = claims(None).encode(&mut buf).unwrap();
        let flags_at = 1 + 1 + 8 + CERTIFIED_FINGERPRINT_LEN;
        encoded[flags_at] = 0b10;
        assert_eq!(
            MachineClaims::decode(encoded).unwrap_err(),
            Malformed::InvalidField { field: "flags" }.into()
        );
        encoded[0] = 2;
        assert_eq!(
            MachineClaims::decode(encoded).unwrap_err(),
            DecodeError::UnsupportedVersion { found: 2 }
        );
    }

    #[test]
    fn fingerprints_differ_per_product_and_read_back_from_hex() {
        let editor = Fingerprint::of_machine_id(1, b"machine");
        assert_ne!(editor, Fingerprint::of_machine_id(2, b"machine"));
        assert_eq!(
            Fingerprint::from_hex(editor.to_hex().as_str()),
            Some(editor)
        );
        assert_eq!(Fingerprint::from_hex(&editor.to_hex().as_str()[1..]), None);
        assert!(claims(None).is_for(&editor));
        assert!(!claims(None).is_for(&Fingerprint::of_machine_id(1, b"other")));
    }
}
