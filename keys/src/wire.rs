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

/// The unsigned integers the formats write as varints.
pub(crate) trait Varint: for<'de> Deserialize<'de> {}
impl Varint for u32 {}
impl Varint for u64 {}

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

    /// Reads a varint, refusing any but its shortest encoding.
    ///
    /// postcard reads overlong forms such as `80 00` for 0; each value having one encoding means the
    /// signed bytes are a function of the claims, so nobody can re-spell a signed licence. A varint of
    /// more than one byte is the shortest exactly when its last byte is not zero: a zero last byte adds
    /// no bits.
    pub(crate) fn take_varint<T: Varint>(&mut self, invalid: Malformed) -> Result<T, Malformed> {
        let before = self.rest;
        let value: T = self.take(invalid)?;
        match &before[..before.len() - self.rest.len()] {
            [_, .., 0] => Err(invalid),
            _ => Ok(value),
        }
    }

    /// Reads a string: a `u32` varint length, then that many bytes of UTF-8.
    ///
    /// postcard writes the length as a `usize`, which a 32-bit and a 64-bit reader would read
    /// differently (a length beyond `u32` is a bad varint to one and a huge length to the other);
    /// reading it as a `u32` on every platform makes them agree.
    pub(crate) fn take_str(&mut self, invalid: Malformed) -> Result<&'a str, Malformed> {
        let len: u32 = self.take_varint(invalid)?;
        // Only a 16-bit target can fail here, and no input of its memory is that long.
        let len = usize::try_from(len).map_err(|_| Malformed::Truncated)?;
        core::str::from_utf8(self.take_bytes(len)?).map_err(|_| invalid)
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

#[cfg(test)]
mod tests {
    use super::*;

    const BAD: Malformed = Malformed::InvalidField { field: "x" };

    #[test]
    fn varints_have_one_encoding() {
        for (bytes, value) in [
            (&[0x00][..], Ok(0u32)),
            (&[0x7f], Ok(127)),
            (&[0x80, 0x01], Ok(128)),
            (&[0xff, 0xff, 0xff, 0xff, 0x0f], Ok(u32::MAX)),
            (&[0x80, 0x00], Err(BAD)),
            (&[0x81, 0x80, 0x00], Err(BAD)),
            (&[0xff, 0xff, 0xff, 0xff, 0x00], Err(BAD)),
            (&[0x80], Err(Malformed::Truncated)),
        ] {
            assert_eq!(
                Reader::new(bytes).take_varint::<u32>(BAD),
                value,
                "{bytes:02x?}"
            );
        }
        let overlong_u64 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00];
        assert_eq!(Reader::new(&overlong_u64).take_varint::<u64>(BAD), Err(BAD));
    }

    #[test]
    fn string_lengths_are_u32_varints_on_every_platform() {
        assert_eq!(Reader::new(b"\x02hi!").take_str(BAD), Ok("hi"));
        assert_eq!(Reader::new(b"\x82\x00hi").take_str(BAD), Err(BAD));
        // 2^32: a 64-bit postcard reader would take it as a length and run out of input.
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10, b'a']).take_str(BAD),
            Err(BAD)
        );
        assert_eq!(
            Reader::new(b"\x05hi").take_str(BAD),
            Err(Malformed::Truncated)
        );
        assert_eq!(Reader::new(b"\x01\xff").take_str(BAD), Err(BAD));
    }
}
