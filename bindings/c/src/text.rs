//! Reading the caller's NUL-terminated strings, and writing into the caller's character arrays.

use std::ffi::c_char;

/// The longest string any function reads, in bytes without the NUL: the `tessera` command's limit on a
/// licence key too. A longer input is refused without reading past this many bytes.
pub const TESSERA_MAX_TEXT_LEN: usize = 64 * 1024;

/// Why a caller's string cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextError {
    Null,
    TooLong,
    NotUtf8,
}

/// The caller's NUL-terminated string, read up to [`TESSERA_MAX_TEXT_LEN`] bytes.
///
/// # Safety
/// `ptr` is null or points to readable memory up to its NUL or `TESSERA_MAX_TEXT_LEN + 1` bytes,
/// whichever comes first, which stays unchanged while the returned string is in use.
pub(crate) unsafe fn read<'a>(ptr: *const c_char) -> Result<&'a str, TextError> {
    if ptr.is_null() {
        return Err(TextError::Null);
    }
    let mut len = 0;
    // SAFETY: the caller promises every byte up to the NUL (or the bound) is readable; the loop stops
    // at the first NUL and never reads beyond `TESSERA_MAX_TEXT_LEN`.
    while unsafe { *ptr.add(len) } != 0 {
        if len == TESSERA_MAX_TEXT_LEN {
            return Err(TextError::TooLong);
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read one by one.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|_| TextError::NotUtf8)
}

/// Copies `text` into `out` as a NUL-terminated string, cut at a character boundary if it does not fit.
pub(crate) fn write<const N: usize>(text: &str, out: &mut [c_char; N]) {
    let mut end = text.len().min(N - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (slot, byte) in out.iter_mut().zip(&text.as_bytes()[..end]) {
        *slot = *byte as c_char;
    }
    out[end] = 0;
}

/// A [`core::fmt::Write`] into a fixed array, keeping what fits.
pub(crate) struct Truncating<'a, const N: usize> {
    pub(crate) out: &'a mut [c_char; N],
    pub(crate) len: usize,
}

impl<const N: usize> core::fmt::Write for Truncating<'_, N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = N - 1 - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        for (slot, byte) in self.out[self.len..].iter_mut().zip(&s.as_bytes()[..take]) {
            *slot = *byte as c_char;
        }
        self.len += take;
        self.out[self.len] = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_bound() {
        let short = c"tspk1_1_x";
        // SAFETY: a C string literal.
        assert_eq!(unsafe { read(short.as_ptr()) }, Ok("tspk1_1_x"));
        let long = vec![b'a'; TESSERA_MAX_TEXT_LEN + 1]
            .into_iter()
            .chain([0])
            .collect::<Vec<u8>>();
        // SAFETY: NUL-terminated vector.
        let result = unsafe { read(long.as_ptr().cast()) };
        assert_eq!(result, Err(TextError::TooLong));
        // SAFETY: a null pointer is refused before any read.
        assert_eq!(unsafe { read(std::ptr::null()) }, Err(TextError::Null));
        let not_utf8 = [0xffu8, 0];
        // SAFETY: NUL-terminated array.
        let result = unsafe { read(not_utf8.as_ptr().cast()) };
        assert_eq!(result, Err(TextError::NotUtf8));
    }

    #[test]
    fn writes_cut_at_a_character_boundary() {
        let mut out = [1 as c_char; 4];
        write("aéb", &mut out);
        // "a" + the two bytes of "é" fill 3 bytes; the NUL takes the fourth.
        assert_eq!(out[3], 0);
        write("aaé", &mut out);
        assert_eq!(out[2], 0, "half a character is not written");
    }
}
