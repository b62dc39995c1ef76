//! What the Python and JavaScript bindings share, so that both verify and report errors alike:
//! a product's tables owned by the binding, one verify (and one verify with a machine certificate)
//! that honours an already checked revocation list, and Tessera errors as flat facts.
//!
//! The bindings turn [`Facts`] into an exception (`tessera.ExpiredError`) or an `Error` with
//! properties (`err.code === 17`), saying the same things by the same names (snake case here; the
//! JavaScript binding writes them in camel case).

mod facts;

use std::sync::Arc;

pub use facts::Facts;
use tessera_verifier::{
    revocations_buffer_len, Activated, ActivationBuffers, Fingerprint, License, LicenseBuffer,
    Product, RevocationError, UnixTime, Verifier, VerifyError,
};

/// A product's tables, owned by a binding: its id, tier names from lowest to highest, feature names
/// (bit 0 first). Shared, not copied, by the licences verified with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    /// The number licences carry for this product.
    pub id: u32,
    /// Tier names, lowest first; at most 256.
    pub tiers: Vec<String>,
    /// Feature names, bit 0 first; at most 64.
    pub features: Vec<String>,
}

impl Tables {
    /// The tables, if within the format's limits (256 tiers, 64 features).
    pub fn new(id: u32, tiers: Vec<String>, features: Vec<String>) -> Option<Arc<Tables>> {
        (tiers.len() <= 256 && features.len() <= 64).then(|| {
            Arc::new(Tables {
                id,
                tiers,
                features,
            })
        })
    }

    /// Calls `body` with the tables as the Rust verifier takes them.
    pub fn with<T>(&self, body: impl FnOnce(&Product<'_>) -> T) -> T {
        let tiers: Vec<&str> = self.tiers.iter().map(String::as_str).collect();
        let features: Vec<&str> = self.features.iter().map(String::as_str).collect();
        body(&Product {
            id: self.id,
            name: "",
            tiers: &tiers,
            features: &features,
        })
    }

    /// Whether feature bits `bits` grant feature `name`.
    pub fn grants(&self, bits: u64, name: &str) -> bool {
        self.with(|product| product.feature_bit(name))
            .is_some_and(|bit| tessera_verifier::FeatureSet(bits).contains(bit))
    }

    /// Whether tier `tier` is tier `name` or a higher one.
    pub fn tier_at_least(&self, tier: u8, name: &str) -> bool {
        self.with(|product| product.tier_index(name))
            .is_some_and(|minimum| tier >= minimum)
    }

    /// The names of the features `bits` grants that the product lists.
    pub fn feature_names(&self, bits: u64) -> Vec<String> {
        tessera_verifier::FeatureSet(bits)
            .iter()
            .filter_map(|bit| self.features.get(usize::from(bit)).cloned())
            .collect()
    }
}

/// A revocation list whose signature a verifier has checked, with what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedList {
    /// The list's text, kept to decode again (without the signature check) at each verify.
    pub text: String,
    /// The signing key's id.
    pub key_id: u32,
    /// The list's sequence number.
    pub sequence: u64,
    /// When the list was made (Unix seconds).
    pub issued_at: u64,
    /// The revoked licence ids, 16 hex digits each, ascending.
    pub revoked: Vec<String>,
}

/// Checks a revocation list's signature against `verifier`'s keys, and that it is not older than
/// `last_seen`.
pub fn check_revocations(
    verifier: &Verifier<'_>,
    text: &str,
    last_seen: Option<u64>,
) -> Result<CheckedList, RevocationError> {
    // The decoded list is never longer than its text, so this room always suffices.
    let mut buf = vec![0; revocations_buffer_len(text.len() / 8 + 1)];
    let list = verifier.check_revocations(text, &mut buf, last_seen)?;
    Ok(CheckedList {
        text: text.to_owned(),
        key_id: list.key_id,
        sequence: list.sequence,
        issued_at: list.issued_at.0,
        revoked: list
            .iter()
            .map(|id| id.to_hex().as_str().to_owned())
            .collect(),
    })
}

/// Why [`verify`] refused: the licence, or the revocation list it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The licence is not valid.
    License(VerifyError),
    /// The revocation list cannot be decoded.
    Revocations(RevocationError),
}

/// Verifies `key` at `now` with `verifier`, for `tables`' product if given and refusing what the
/// checked list `revocations` revokes; hands the verified licence to `read`.
pub fn verify<T>(
    verifier: &Verifier<'_>,
    tables: Option<&Tables>,
    revocations: Option<&CheckedList>,
    key: &str,
    now: UnixTime,
    read: impl FnOnce(&License<'_>) -> T,
) -> Result<T, Refusal> {
    prepared(verifier, tables, revocations, |verifier| {
        let mut buf = LicenseBuffer::new();
        verifier
            .verify(key, now, &mut buf)
            .map(|verified| read(&verified))
    })
}

/// What [`verify_activated`] checks besides the verifier's settings: a licence key, this machine's
/// certificate and fingerprint, the time, and the latest time the app saw before.
#[derive(Clone, Copy, Debug)]
pub struct ActivationCheck<'a> {
    /// The licence key's text.
    pub key: &'a str,
    /// The machine certificate's text (`tsm1_…`).
    pub certificate: &'a str,
    /// This machine's fingerprint.
    pub fingerprint: &'a Fingerprint,
    /// The time of the check.
    pub now: UnixTime,
    /// The latest time the app saw before, to refuse a clock turned back.
    pub last_seen: Option<UnixTime>,
}

/// Verifies a licence key together with this machine's certificate, as [`verify`] verifies a key
/// alone; hands the result to `read`.
pub fn verify_activated<T>(
    verifier: &Verifier<'_>,
    tables: Option<&Tables>,
    revocations: Option<&CheckedList>,
    check: &ActivationCheck<'_>,
    read: impl FnOnce(&Activated<'_>) -> T,
) -> Result<T, Refusal> {
    prepared(verifier, tables, revocations, |verifier| {
        let mut bufs = ActivationBuffers::new();
        verifier
            .verify_activated(
                check.key,
                check.certificate,
                check.fingerprint,
                check.now,
                check.last_seen,
                &mut bufs,
            )
            .map(|verified| read(&verified))
    })
}

/// A fingerprint given as its 32 bytes or as 64 hex digits; `None` for anything else.
pub fn fingerprint_of(bytes: Option<&[u8]>, hex: Option<&str>) -> Option<Fingerprint> {
    match (bytes, hex) {
        (Some(bytes), None) => Some(Fingerprint(bytes.try_into().ok()?)),
        (None, Some(hex)) => Fingerprint::from_hex(hex),
        _ => None,
    }
}

/// Runs `body` with `verifier` set up for `tables`' product and the checked list `revocations`.
fn prepared<T>(
    verifier: &Verifier<'_>,
    tables: Option<&Tables>,
    revocations: Option<&CheckedList>,
    body: impl FnOnce(&Verifier<'_>) -> Result<T, VerifyError>,
) -> Result<T, Refusal> {
    let mut list_buf = Vec::new();
    let mut verifier = verifier.clone();
    if let Some(list) = revocations {
        list_buf.resize(revocations_buffer_len(list.revoked.len()), 0);
        let decoded = tessera_keys::decode_revocations(&list.text, &mut list_buf)
            .map_err(|err| Refusal::Revocations(err.into()))?;
        verifier = verifier.with_revocations(decoded.list);
    }
    match tables {
        Some(tables) => tables.with(|product| body(&verifier.for_product(product))),
        None => body(&verifier),
    }
    .map_err(Refusal::License)
}
