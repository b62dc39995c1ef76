//! Errors of encoding and decoding.

use core::fmt;

/// Why bytes or text are not a well-formed licence, revocation list or key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// There was nothing but whitespace.
    Empty,
    /// The text does not start with the expected prefix.
    WrongPrefix {
        /// The prefix that was expected, e.g. `ts1_`.
        expected: &'static str,
    },
    /// The input is longer than any valid one.
    TooLong,
    /// The text is not canonical unpadded base64url.
    Base64,
    /// The input ends in the middle of a field or the signature.
    Truncated,
    /// Bytes follow the signature.
    TrailingBytes,
    /// A field holds a value the format does not allow.
    InvalidField {
        /// The field's name as in `FORMAT.md`.
        field: &'static str,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Empty => f.write_str("input is empty"),
            Malformed::WrongPrefix { expected } => write!(f, "does not start with `{expected}`"),
            Malformed::TooLong => f.write_str("input is too long"),
            Malformed::Base64 => f.write_str("not valid base64url"),
            Malformed::Truncated => f.write_str("input is truncated"),
            Malformed::TrailingBytes => f.write_str("unexpected bytes after the signature"),
            Malformed::InvalidField { field } => write!(f, "invalid `{field}` field"),
        }
    }
}

impl core::error::Error for Malformed {}

/// Why decoding failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is not well formed.
    Malformed(Malformed),
    /// The input is of a format version this code does not know.
    UnsupportedVersion {
        /// The version the input announced.
        found: u8,
    },
}

impl From<Malformed> for DecodeError {
    fn from(malformed: Malformed) -> Self {
        DecodeError::Malformed(malformed)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Malformed(why) => write!(f, "malformed: {why}"),
            DecodeError::UnsupportedVersion { found } => {
                write!(f, "unsupported format version {found}")
            }
        }
    }
}

// The Display text already names what is malformed, so there is no separate source to report.
impl core::error::Error for DecodeError {}

/// Why claims or a revocation list could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A time lies before 2024-01-01 or after 2160, outside what the format carries.
    TimeOutOfRange {
        /// The field's name.
        field: &'static str,
    },
    /// The licensee name is empty or longer than [`MAX_LICENSEE_LEN`](crate::MAX_LICENSEE_LEN) bytes.
    InvalidLicensee,
    /// The revocation list holds the same licence id twice.
    DuplicateRevocation,
    /// The output buffer is too small.
    BufferTooSmall,
    /// A field is empty or longer than the format allows.
    InvalidField {
        /// The field's name as in `FORMAT.md`.
        field: &'static str,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TimeOutOfRange { field } => {
                write!(f, "`{field}` must lie between 2024-01-01 and 2160-02-07")
            }
            EncodeError::InvalidLicensee => write!(
                f,
                "licensee must be 1 to {} bytes of UTF-8",
                crate::MAX_LICENSEE_LEN
            ),
            EncodeError::DuplicateRevocation => f.write_str("a licence id is listed twice"),
            EncodeError::BufferTooSmall => f.write_str("output buffer is too small"),
            EncodeError::InvalidField { field } => {
                write!(f, "`{field}` is empty or longer than the format allows")
            }
        }
    }
}

impl core::error::Error for EncodeError {}
