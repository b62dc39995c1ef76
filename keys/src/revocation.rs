//! Signed revocation lists, which apps cache to refuse revoked licences offline.

use crate::error::{DecodeError, EncodeError, Malformed};
use crate::license::SIGNATURE_LEN;
use crate::text::{self, Whitespace};
use crate::wire::{self, Reader, Writer};
use crate::{LicenseId, UnixTime};

/// The format version of revocation lists.
pub const REVOCATIONS_VERSION: u8 = 1;

/// What a revocation list's text starts with.
pub const REVOCATIONS_PREFIX: &str = "tsrl1_";

/// Prepended to the list before signing; differs from the licence tag from the ninth byte on.
pub const REVOCATIONS_DOMAIN: &[u8] = b"tessera-revocations-v1\0";

/// The longest header: version, key id, sequence, issued-at and count at their largest.
pub const MAX_REVOCATIONS_HEADER_LEN: usize = 1 + 5 + 10 + 5 + 5;

/// The buffer size needed to decode a list of `count` revoked ids with [`decode_revocations`].
pub const fn revocations_buffer_len(count: usize) -> usize {
    REVOCATIONS_DOMAIN.len() + MAX_REVOCATIONS_HEADER_LEN + count * 8 + SIGNATURE_LEN
}

/// The contents of a revocation list: which licences the issuer has revoked, as of when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationList<'a> {
    /// The signing key that signed the list.
    pub key_id: u32,
    /// Increases with every list the issuer publishes; apps refuse to go back to a lower one.
    pub sequence: u64,
    /// When the list was made.
    pub issued_at: UnixTime,
    /// The revoked ids, 8 bytes each, in strictly ascending order.
    ids: &'a [u8],
}

impl<'a> RevocationList<'a> {
    /// Whether `id` is revoked, by binary search; allocates nothing.
    pub fn contains(&self, id: &LicenseId) -> bool {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.id_at(mid).cmp(&id.0) {
                core::cmp::Ordering::Less => low = mid + 1,
                core::cmp::Ordering::Greater => high = mid,
                core::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// How many licences are revoked.
    pub fn len(&self) -> usize {
        self.ids.len() / 8
    }

    /// Whether no licence is revoked.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The revoked ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = LicenseId> + 'a {
        self.ids.chunks_exact(8).map(|chunk| {
            let mut id = [0u8; 8];
            id.copy_from_slice(chunk);
            LicenseId(id)
        })
    }

    fn id_at(&self, index: usize) -> [u8; 8] {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.ids[index * 8..index * 8 + 8]);
        id
    }

    /// Encodes the unsigned list for `ids`, which must be strictly ascending, into `buf`.
    pub fn encode_unsigned<'b>(
        key_id: u32,
        sequence: u64,
        issued_at: UnixTime,
        ids: &[LicenseId],
        buf: &'b mut [u8],
    ) -> Result<&'b mut [u8], EncodeError> {
        if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(EncodeError::DuplicateRevocation);
        }
        let issued = issued_at
            .to_wire()
            .ok_or(EncodeError::TimeOutOfRange { field: "issued_at" })?;
        let count = u32::try_from(ids.len()).map_err(|_| EncodeError::BufferTooSmall)?;
        let mut out = Writer::new(buf);
        out.put(&REVOCATIONS_VERSION)?;
        out.put(&key_id)?;
        out.put(&sequence)?;
        out.put(&issued)?;
        out.put(&count)?;
        for id in ids {
            out.put_bytes(&id.0)?;
        }
        Ok(out.finish())
    }
}

/// A decoded but not yet verified revocation list.
#[derive(Clone, Copy, Debug)]
pub struct SignedRevocationList<'a> {
    /// The list, untrusted until the signature is checked.
    pub list: RevocationList<'a>,
    /// What the signature covers: [`REVOCATIONS_DOMAIN`] followed by the encoded list.
    pub signed_message: &'a [u8],
    /// The Ed25519 signature.
    pub signature: &'a [u8; SIGNATURE_LEN],
}

/// Decodes a revocation list from its text form (or, if `text` does not look like text, fails) into
/// `buf`, which needs [`revocations_buffer_len`] bytes for the list's size.
pub fn decode_revocations<'b>(
    text: &str,
    buf: &'b mut [u8],
) -> Result<SignedRevocationList<'b>, DecodeError> {
    let body = text::strip_prefix(
        text,
        Whitespace::Anywhere,
        "tsrl",
        REVOCATIONS_VERSION,
        REVOCATIONS_PREFIX,
    )?;
    let len = text::decode_tagged(body, REVOCATIONS_DOMAIN, buf)?;
    split(&buf[..len]).map_err(text::prefix_decides_version)
}

fn split(tagged: &[u8]) -> Result<SignedRevocationList<'_>, DecodeError> {
    let mut input = Reader::new(&tagged[REVOCATIONS_DOMAIN.len()..]);
    let invalid = |field| Malformed::InvalidField { field };
    let version: u8 = input.take(invalid("version"))?;
    if version != REVOCATIONS_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    let key_id = input.take_varint(invalid("key_id"))?;
    let sequence = input.take_varint(invalid("sequence"))?;
    let issued_at = UnixTime::from_wire(input.take_varint(invalid("issued_at"))?);
    let count: u32 = input.take_varint(invalid("count"))?;
    let ids_len = usize::try_from(count)
        .ok()
        .and_then(|count| count.checked_mul(8))
        .ok_or(Malformed::Truncated)?;
    let ids = input.take_bytes(ids_len)?;
    if ids
        .chunks_exact(8)
        .zip(ids.chunks_exact(8).skip(1))
        .any(|(a, b)| a >= b)
    {
        return Err(invalid("revoked_ids").into());
    }
    let signature = wire::signature(input.rest())?;
    Ok(SignedRevocationList {
        list: RevocationList {
            key_id,
            sequence,
            issued_at,
            ids,
        },
        signed_message: &tagged[..tagged.len() - SIGNATURE_LEN],
        signature,
    })
}

/// The text form of a signed revocation list's bytes.
#[cfg(feature = "alloc")]
pub fn revocations_text(list_bytes: &[u8]) -> alloc::string::String {
    text::encode_string(REVOCATIONS_PREFIX, list_bytes)
}
