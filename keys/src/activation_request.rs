//! Activation requests: what an air-gapped machine shows its user, to be carried to any online
//! device and exchanged there for a machine certificate.
//!
//! A request is not signed: it carries the licence key itself, which is the credential (as in the
//! `Authorization: License` header), and the machine's fingerprint, name and platform. Its text is
//! `tsq1_` followed by unpadded base64url, about 200 characters, small enough for a QR code.
//! `FORMAT.md` section 16 specifies every byte.

use crate::error::{DecodeError, EncodeError, Malformed};
use crate::text::{self, Whitespace};
use crate::wire::{Reader, Writer};
use crate::{Fingerprint, FINGERPRINT_LEN, MAX_LICENSE_LEN};

/// The request format version, first byte of every request and digit of its text prefix.
pub const ACTIVATION_REQUEST_VERSION: u8 = 1;

/// What every activation request's text starts with.
pub const ACTIVATION_REQUEST_PREFIX: &str = "tsq1_";

/// The longest machine name a request may carry, in UTF-8 bytes.
pub const MAX_MACHINE_NAME_LEN: usize = 64;

/// The longest platform a request may carry, in UTF-8 bytes.
pub const MAX_PLATFORM_LEN: usize = 32;

/// The longest request in bytes.
pub const MAX_ACTIVATION_REQUEST_LEN: usize =
    1 + 1 + FINGERPRINT_LEN + 2 + MAX_LICENSE_LEN + 1 + MAX_MACHINE_NAME_LEN + 1 + MAX_PLATFORM_LEN;

/// The longest request text, not counting whitespace.
pub const MAX_ACTIVATION_REQUEST_TEXT_LEN: usize =
    ACTIVATION_REQUEST_PREFIX.len() + (MAX_ACTIVATION_REQUEST_LEN * 4).div_ceil(3);

mod flag {
    pub const NAME: u8 = 1 << 0;
    pub const PLATFORM: u8 = 1 << 1;
    pub const ALL: u8 = NAME | PLATFORM;
}

/// A machine asking to be activated, decoded from a `tsq1_` text or built to make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivationRequest<'a> {
    /// The machine's fingerprint.
    pub fingerprint: Fingerprint,
    /// The licence key in binary form (claims, then signature), not yet verified.
    pub license: &'a [u8],
    /// A name for the machine that its owner will recognise in a list of seats.
    pub name: Option<&'a str>,
    /// The machine's platform, e.g. `linux-x86_64`.
    pub platform: Option<&'a str>,
}

impl<'a> ActivationRequest<'a> {
    /// Encodes the request into `buf`.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EncodeError> {
        if self.license.is_empty() || self.license.len() > MAX_LICENSE_LEN {
            return Err(EncodeError::InvalidField { field: "license" });
        }
        let texts = [
            (self.name, MAX_MACHINE_NAME_LEN, flag::NAME, "name"),
            (self.platform, MAX_PLATFORM_LEN, flag::PLATFORM, "platform"),
        ];
        let mut flags = 0;
        for (text, max, bit, field) in texts {
            match text {
                Some(text) if text.is_empty() || text.len() > max => {
                    return Err(EncodeError::InvalidField { field })
                }
                Some(_) => flags |= bit,
                None => {}
            }
        }
        let license_len =
            u32::try_from(self.license.len()).map_err(|_| EncodeError::BufferTooSmall)?;
        let mut out = Writer::new(buf);
        out.put(&ACTIVATION_REQUEST_VERSION)?;
        out.put(&flags)?;
        out.put(&self.fingerprint.0)?;
        out.put(&license_len)?;
        out.put_bytes(self.license)?;
        for text in [self.name, self.platform].into_iter().flatten() {
            out.put(text)?;
        }
        Ok(out.finish())
    }

    /// Decodes a request from `bytes`, which must hold exactly one.
    pub fn decode(bytes: &'a [u8]) -> Result<ActivationRequest<'a>, DecodeError> {
        let mut input = Reader::new(bytes);
        let version: u8 = input.take(Malformed::InvalidField { field: "version" })?;
        if version != ACTIVATION_REQUEST_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        let invalid = |field| Malformed::InvalidField { field };
        let flags: u8 = input.take(invalid("flags"))?;
        if flags & !flag::ALL != 0 {
            return Err(invalid("flags").into());
        }
        let fingerprint = Fingerprint(input.take(invalid("fingerprint"))?);
        let license_len: u32 = input.take_varint(invalid("license"))?;
        let license_len = usize::try_from(license_len).map_err(|_| invalid("license"))?;
        if license_len == 0 || license_len > MAX_LICENSE_LEN {
            return Err(invalid("license").into());
        }
        let license = input.take_bytes(license_len)?;
        let mut text = |present: bool, max: usize, field| -> Result<Option<&'a str>, Malformed> {
            if !present {
                return Ok(None);
            }
            let text = input.take_str(invalid(field))?;
            if text.is_empty() || text.len() > max {
                return Err(invalid(field));
            }
            Ok(Some(text))
        };
        let name = text(flags & flag::NAME != 0, MAX_MACHINE_NAME_LEN, "name")?;
        let platform = text(flags & flag::PLATFORM != 0, MAX_PLATFORM_LEN, "platform")?;
        if !input.rest().is_empty() {
            return Err(Malformed::TrailingBytes.into());
        }
        Ok(ActivationRequest {
            fingerprint,
            license,
            name,
            platform,
        })
    }
}

/// Room to decode one activation request without allocating.
#[derive(Clone, Debug)]
pub struct ActivationRequestBuffer {
    bytes: [u8; MAX_ACTIVATION_REQUEST_LEN],
}

impl Default for ActivationRequestBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl ActivationRequestBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        ActivationRequestBuffer {
            bytes: [0; MAX_ACTIVATION_REQUEST_LEN],
        }
    }

    /// Decodes a request from its text form, tolerating whitespace and line breaks anywhere.
    pub fn decode_text(&mut self, text: &str) -> Result<ActivationRequest<'_>, DecodeError> {
        let body = text::strip_prefix(
            text,
            Whitespace::Anywhere,
            "tsq",
            ACTIVATION_REQUEST_VERSION,
            ACTIVATION_REQUEST_PREFIX,
        )?;
        let bytes = text::decode_base64(body, Whitespace::Anywhere, &mut self.bytes)?;
        ActivationRequest::decode(bytes).map_err(text::prefix_decides_version)
    }
}

/// An activation request's text form.
#[cfg(feature = "alloc")]
pub fn activation_request_text(
    request: &ActivationRequest<'_>,
) -> Result<alloc::string::String, EncodeError> {
    let mut buf = [0u8; MAX_ACTIVATION_REQUEST_LEN];
    let bytes = request.encode(&mut buf)?;
    Ok(text::encode_string(ACTIVATION_REQUEST_PREFIX, bytes))
}

#[cfg(all(test, feature = "sign"))]
mod tests {
    use super::*;
    use crate::{Claims, FeatureSet, LicenseId, SigningKey, UnixTime};

    fn license_bytes() -> std::vec::Vec<u8> {
        let claims = Claims {
            key_id: 1,
            license_id: LicenseId([9; 8]),
            product: 1,
            tier: 1,
            issued_at: UnixTime(1_790_000_000),
            not_before: None,
            expires_at: None,
            grace_seconds: None,
            features: FeatureSet(1),
            licensee: Some("Ada"),
            requires_activation: true,
        };
        SigningKey::from_seed(1, &[7; 32])
            .sign_license_bytes(&claims)
            .unwrap()
    }

    #[test]
    fn requests_round_trip_through_text() {
        let license = license_bytes();
        for (name, platform) in [(None, None), (Some("Ada's laptop"), Some("linux-x86_64"))] {
            let request = ActivationRequest {
                fingerprint: Fingerprint::of_machine_id(1, b"machine"),
                license: &license,
                name,
                platform,
            };
            let text = activation_request_text(&request).unwrap();
            assert!(text.starts_with("tsq1_") && text.len() <= MAX_ACTIVATION_REQUEST_TEXT_LEN);
            let mut buf = ActivationRequestBuffer::new();
            assert_eq!(buf.decode_text(&text).unwrap(), request);
        }
    }

    #[test]
    fn trailing_bytes_and_bad_fields_are_refused() {
        let license = license_bytes();
        let request = ActivationRequest {
            fingerprint: Fingerprint([3; 32]),
            license: &license,
            name: Some("x"),
            platform: None,
        };
        let mut buf = [0u8; MAX_ACTIVATION_REQUEST_LEN];
        let len = request.encode(&mut buf).unwrap().len();
        buf[len] = 0;
        assert_eq!(
            ActivationRequest::decode(&buf[..len + 1]),
            Err(Malformed::TrailingBytes.into())
        );
        let too_long = "n".repeat(MAX_MACHINE_NAME_LEN + 1);
        let bad = ActivationRequest {
            name: Some(&too_long),
            ..request
        };
        assert_eq!(
            bad.encode(&mut buf),
            Err(EncodeError::InvalidField { field: "name" })
        );
    }
}
