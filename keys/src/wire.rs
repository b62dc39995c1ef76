//! Field-by-field postcard encoding, shared by licences and revocation lists.
//!
//! Both formats have optional fields announced by a flags byte, which serde's derive cannot express, so
//! each field is written and read on its own with postcard; the bytes are exactly postcard's.

use serde::{Deserialize, Serialize};

use crate::error::{EncodeError, Malformed};
use crate::license::SIGNATURE_LEN;

/// Writes postcard-encoded values one after another into a caller's buffer.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    pub(crate) fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        let used = postcard::to_slice(value, &mut self.buf[self.len..])
            .map_err(|_| EncodeError::BufferTooSmall)?
            .len();
        self.len += used;
        Ok(())
    }

    pub(crate) fn put_bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.len + bytes.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    pub(crate) fn finish(self) -> &'b mut [u8] {
        &mut self.buf[..self.len]
    }
}

/// Reads postcard-encoded values one after another, borrowing strings from the input.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Reads one value; running out of input is [`Malformed::Truncated`], anything else `invalid`.
    pub(crate) fn take<T: Deserialize<'a>>(&mut self, invalid: Malformed) -> Result<T, Malformed> {
        match postcard::take_from_bytes(self.rest) {
            Ok((value, rest)) => {
                self.rest = rest;
                Ok(value)
            }
            Err(postcard::Error::DeserializeUnexpectedEnd) => Err(Malformed::Truncated),
            Err(_) => Err(invalid),
        }
    }

    pub(crate) fn take_bytes(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        if self.rest.len() < len {
            return Err(Malformed::Truncated);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

/// The signature that must make up exactly the rest of a signed message.
pub(crate) fn signature(rest: &[u8]) -> Result<&[u8; SIGNATURE_LEN], Malformed> {
    match rest.len() {
        SIGNATURE_LEN => rest.try_into().map_err(|_| Malformed::Truncated),
        n if n < SIGNATURE_LEN => Err(Malformed::Truncated),
        _ => Err(Malformed::TrailingBytes),
    }
}
