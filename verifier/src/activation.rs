//! Licences bound to machines: a key checked together with the machine certificate the issuer
//! signed when this machine was activated.
//!
//! ```
//! use tessera_verifier::{ActivationBuffers, Fingerprint, PublicKey, UnixTime, Verifier, VerifyError};
//! # use tessera_keys::{Claims, FeatureSet, LicenseId, MachineClaims, SigningKey};
//! # let issuer = SigningKey::from_seed(1, &[7; 32]);
//! # let claims = Claims {
//! #     key_id: 1, license_id: LicenseId([9; 8]), product: 1, tier: 1,
//! #     issued_at: UnixTime(1_790_000_000), not_before: None, expires_at: None,
//! #     grace_seconds: None, features: FeatureSet(0b01), licensee: None,
//! #     requires_activation: true,
//! # };
//! # let key_text = issuer.sign_license(&claims)?;
//! // On a desktop, `tessera_verifier::machine_fingerprint(1)` (feature `std`) reads the OS machine id.
//! let this_machine = Fingerprint::of_machine_id(1, b"the OS machine id");
//! # let certificate_text = issuer.sign_machine_certificate(&MachineClaims {
//! #     key_id: 1, license_id: claims.license_id, fingerprint: this_machine.certified(),
//! #     issued_at: UnixTime(1_790_000_000), lease_ends_at: Some(UnixTime(1_792_592_000)),
//! # })?;
//! let trusted: [PublicKey; 1] = [issuer.public_key()];
//! let verifier = Verifier::new(&trusted)?;
//! let now = UnixTime(1_790_086_400);
//!
//! // The key alone is not enough for a licence that needs activation…
//! let mut buf = tessera_verifier::LicenseBuffer::new();
//! assert_eq!(verifier.verify(&key_text, now, &mut buf).unwrap_err(), VerifyError::ActivationRequired);
//!
//! // …but with this machine's certificate it is, offline.
//! let last_seen = Some(UnixTime(1_790_000_000)); // kept by the app, e.g. in a `LastSeenFile`
//! let mut bufs = ActivationBuffers::new();
//! let activated =
//!     verifier.verify_activated(&key_text, &certificate_text, &this_machine, now, last_seen, &mut bufs)?;
//! assert_eq!(activated.lease_days_left(), Some(29));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use tessera_keys::{CertificateBuffer, Fingerprint, LicenseBuffer, MachineClaims, UnixTime};

use crate::{License, Verifier, VerifyError};

/// Room to decode a licence and its machine certificate without allocating.
#[derive(Clone, Debug, Default)]
pub struct ActivationBuffers {
    /// Holds the licence.
    pub license: LicenseBuffer,
    /// Holds the certificate.
    pub certificate: CertificateBuffer,
}

impl ActivationBuffers {
    /// Empty buffers.
    pub const fn new() -> Self {
        ActivationBuffers {
            license: LicenseBuffer::new(),
            certificate: CertificateBuffer::new(),
        }
    }
}

/// A licence verified together with this machine's certificate.
#[derive(Clone, Copy, Debug)]
pub struct Activated<'a> {
    license: License<'a>,
    certificate: MachineClaims,
    checked_at: UnixTime,
}

impl<'a> Activated<'a> {
    /// The verified licence.
    pub fn license(&self) -> &License<'a> {
        &self.license
    }

    /// What the verified certificate says.
    pub fn certificate(&self) -> &MachineClaims {
        &self.certificate
    }

    /// When the certificate's lease ends, `None` if it lasts as long as the licence.
    pub fn lease_ends_at(&self) -> Option<UnixTime> {
        self.certificate.lease_ends_at
    }

    /// Seconds from the check until the lease ends (zero while in the licence's grace after it).
    pub fn lease_seconds_left(&self) -> Option<u64> {
        self.lease_ends_at()
            .map(|end| self.checked_at.seconds_until(end))
    }

    /// Whole days from the check until the lease ends: renew online when this gets small.
    pub fn lease_days_left(&self) -> Option<u64> {
        self.lease_seconds_left().map(|seconds| seconds / 86_400)
    }
}

impl<'a> Verifier<'a> {
    /// Verifies a licence key's text together with the machine certificate of this machine.
    ///
    /// `fingerprint` is this machine's, computed on it; `last_seen` is the latest time the app has
    /// seen (which it should keep, e.g. with [`LastSeenFile`](crate::LastSeenFile)), to refuse a
    /// clock turned back. Checks, in order: the clock against `last_seen`; the licence as
    /// [`Verifier::verify`] does (except that it may require activation); the certificate's
    /// signature by a trusted key; that it is for this licence and this machine; that it was not
    /// issued after `now` (beyond the clock tolerance); and that its lease, with the licence's grace,
    /// is not over.
    pub fn verify_activated<'b>(
        &self,
        key_text: &str,
        certificate_text: &str,
        fingerprint: &Fingerprint,
        now: UnixTime,
        last_seen: Option<UnixTime>,
        bufs: &'b mut ActivationBuffers,
    ) -> Result<Activated<'b>, VerifyError>
    where
        'a: 'b,
    {
        self.check_clock(now, last_seen)?;
        let signed = bufs.license.decode_text(key_text)?;
        let license = self.check_license(signed, now)?;

        let certificate = bufs
            .certificate
            .decode_text(certificate_text)
            .map_err(VerifyError::of_certificate)?;
        let claims = certificate.claims;
        let key = self.key(claims.key_id).ok_or(VerifyError::UnknownKeyId {
            key_id: claims.key_id,
        })?;
        if !key.verifies(certificate.signed_message, certificate.signature) {
            return Err(VerifyError::BadCertificateSignature);
        }
        if claims.license_id != license.license_id() {
            return Err(VerifyError::CertificateForAnotherLicense {
                certified: claims.license_id,
                license_id: license.license_id(),
            });
        }
        if !claims.is_for(fingerprint) {
            return Err(VerifyError::CertificateForAnotherMachine);
        }
        if now.plus_seconds(self.clock_tolerance) < claims.issued_at {
            return Err(VerifyError::NotYetValid {
                not_before: claims.issued_at,
                now,
            });
        }
        if let Some(lease_ended_at) = claims.lease_ends_at {
            let grace = license.claims().grace_seconds.unwrap_or(0);
            let grace = if self.honour_grace { grace } else { 0 };
            if now >= lease_ended_at.plus_seconds(grace.into()) {
                return Err(VerifyError::LeaseExpired {
                    lease_ended_at,
                    now,
                });
            }
        }
        Ok(Activated {
            license,
            certificate: claims,
            checked_at: now,
        })
    }
}
