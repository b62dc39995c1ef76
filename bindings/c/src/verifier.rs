//! The verifier handle: made from public-key texts and an optional product table, freed by the caller.

use std::ffi::c_char;

use tessera_verifier::{revocations_buffer_len, Product, PublicKey, Verifier, MAX_TRUSTED_KEYS};

use crate::error::TesseraError;
use crate::text;
use crate::{guarded, TesseraStatus};

/// A product's tables, as the app knows them: its id, tier names from lowest to highest, and feature
/// names (bit 0 first). The verifier copies them; the caller's arrays may be freed afterwards.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraProduct {
    /// The number licences carry for this product.
    pub id: u32,
    /// `tier_count` NUL-terminated tier names (may be null when `tier_count` is 0).
    pub tiers: *const *const c_char,
    /// At most 256.
    pub tier_count: usize,
    /// `feature_count` NUL-terminated feature names (may be null when `feature_count` is 0).
    pub features: *const *const c_char,
    /// At most 64.
    pub feature_count: usize,
}

/// Checks licence keys against a fixed set of trusted public keys (and optionally a product and a
/// revocation list). Opaque; made by `tessera_verifier_new`, released by `tessera_verifier_free`.
pub struct TesseraVerifier {
    /// Borrows `owned` (product tables, revocation list), which outlives it: it is only freed in
    /// `Drop`, after which `verifier` is never used.
    pub(crate) verifier: Verifier<'static>,
    pub(crate) product: Option<&'static Product<'static>>,
    owned: Owned,
}

impl std::fmt::Debug for TesseraVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TesseraVerifier")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// Heap blocks the verifier borrows as `'static`, released when the handle is freed.
///
/// They are held as raw pointers, not `Box`es, so that moving the handle never asserts unique
/// ownership of memory that `verifier` still points into.
#[derive(Default)]
struct Owned {
    names: Vec<*mut str>,
    name_lists: Vec<*mut [&'static str]>,
    product: Option<*mut Product<'static>>,
    revocations: Option<*mut [u8]>,
}

impl Owned {
    fn name(&mut self, name: &str) -> &'static str {
        let raw = Box::into_raw(Box::<str>::from(name));
        self.names.push(raw);
        // SAFETY: freshly allocated, freed only in `Drop`.
        unsafe { &*raw }
    }

    fn names(&mut self, names: Vec<&'static str>) -> &'static [&'static str] {
        let raw = Box::into_raw(names.into_boxed_slice());
        self.name_lists.push(raw);
        // SAFETY: freshly allocated, freed only in `Drop`.
        unsafe { &*raw }
    }

    fn product(&mut self, product: Product<'static>) -> &'static Product<'static> {
        let raw = Box::into_raw(Box::new(product));
        self.product = Some(raw);
        // SAFETY: freshly allocated, freed only in `Drop`.
        unsafe { &*raw }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: each pointer came from `Box::into_raw` and is freed once, here; the verifier that
        // borrowed them is no longer used once its handle is being dropped.
        unsafe {
            for raw in self.names.drain(..) {
                drop(Box::from_raw(raw));
            }
            for raw in self.name_lists.drain(..) {
                drop(Box::from_raw(raw));
            }
            if let Some(raw) = self.product.take() {
                drop(Box::from_raw(raw));
            }
            if let Some(raw) = self.revocations.take() {
                drop(Box::from_raw(raw));
            }
        }
    }
}

/// Reads the caller's array of `count` names.
///
/// # Safety
/// `names` is null or points to `count` pointers, each null or a NUL-terminated string.
unsafe fn read_names(
    owned: &mut Owned,
    names: *const *const c_char,
    count: usize,
    what: &str,
) -> Result<&'static [&'static str], Box<TesseraError>> {
    if count == 0 {
        return Ok(&[]);
    }
    if names.is_null() {
        return Err(
            TesseraError::invalid_argument(&format!("the product's {what} array is null")).into(),
        );
    }
    let mut list = Vec::with_capacity(count);
    for index in 0..count {
        // SAFETY: the caller promises `count` readable pointers.
        let name = unsafe { text::read(*names.add(index)) }.map_err(|why| {
            TesseraError::unreadable(&format!("the product's {what} name {index}"), why)
        })?;
        list.push(owned.name(name));
    }
    Ok(owned.names(list))
}

/// Makes a verifier that trusts `public_key_count` public keys, given in their text form
/// (`tspk1_<id>_<base64url>`, as `tessera keygen` prints them), and, if `product` is not null, accepts
/// only licences for that product and answers feature and tier questions by name.
///
/// On success writes the new handle to `*out`; the caller frees it with `tessera_verifier_free`. On
/// failure `*out` is set to null and `error` (if not null) says why: `TESSERA_STATUS_INPUT` for a key
/// text that is malformed (`error->key_index` says which), two keys with one id, or a key that is not
/// a valid Ed25519 key; `TESSERA_STATUS_INVALID_ARGUMENT` for null pointers or more than 8 keys or
/// counts out of range.
///
/// # Safety
/// `public_keys` points to `public_key_count` NUL-terminated strings; `product` is null or points to a
/// `TesseraProduct` whose arrays hold the counts it says; `out` is a writable pointer; `error` is null
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_verifier_new(
    public_keys: *const *const c_char,
    public_key_count: usize,
    product: *const TesseraProduct,
    out: *mut *mut TesseraVerifier,
    error: *mut TesseraError,
) -> TesseraStatus {
    guarded(|| {
        if out.is_null() {
            // SAFETY: `error` is null or writable, as the caller promises.
            return unsafe { TesseraError::invalid_argument("`out` is null").report(error) };
        }
        // SAFETY: `out` is writable; null until a verifier exists.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: the pointers are as the caller promises (see the function's safety section).
        match unsafe { new_verifier(public_keys, public_key_count, product) } {
            Ok(verifier) => {
                // SAFETY: as above.
                unsafe { *out = Box::into_raw(Box::new(verifier)) };
                TesseraStatus::Ok
            }
            // SAFETY: as above.
            Err(err) => unsafe { err.report(error) },
        }
    })
}

/// # Safety
/// As [`tessera_verifier_new`].
unsafe fn new_verifier(
    public_keys: *const *const c_char,
    public_key_count: usize,
    product: *const TesseraProduct,
) -> Result<TesseraVerifier, Box<TesseraError>> {
    if public_keys.is_null() && public_key_count > 0 {
        return Err(TesseraError::invalid_argument("`public_keys` is null").into());
    }
    if public_key_count > MAX_TRUSTED_KEYS {
        return Err(TesseraError::invalid_argument("more than 8 public keys given").into());
    }
    let mut keys = Vec::with_capacity(public_key_count);
    for index in 0..public_key_count {
        // SAFETY: the caller promises `public_key_count` readable pointers.
        let text = unsafe { text::read(*public_keys.add(index)) }
            .map_err(|why| TesseraError::unreadable(&format!("public key text {index}"), why))?;
        let key =
            PublicKey::from_text(text).map_err(|err| TesseraError::from_public_key(index, &err))?;
        keys.push(key);
    }
    let index_of = |key_id| keys.iter().position(|key| key.id == key_id).unwrap_or(0);
    let mut verifier =
        Verifier::new(&keys).map_err(|err| TesseraError::from_setup(&err, index_of))?;

    let mut owned = Owned::default();
    let mut table = None;
    // SAFETY: `product` is null or valid, as the caller promises.
    if let Some(product) = unsafe { product.as_ref() } {
        if product.tier_count > 256 || product.feature_count > 64 {
            return Err(TesseraError::invalid_argument(
                "a product has at most 256 tiers and 64 features",
            )
            .into());
        }
        // SAFETY: the arrays hold the counts the struct says, as the caller promises.
        let tiers = unsafe { read_names(&mut owned, product.tiers, product.tier_count, "tier") }?;
        // SAFETY: as above.
        let features = unsafe {
            read_names(
                &mut owned,
                product.features,
                product.feature_count,
                "feature",
            )
        }?;
        let product = owned.product(Product {
            id: product.id,
            name: "",
            tiers,
            features,
        });
        verifier = verifier.for_product(product);
        table = Some(product);
    }
    Ok(TesseraVerifier {
        verifier,
        product: table,
        owned,
    })
}

/// Also refuses licences that the revocation list `list_text` revokes, after checking that list's
/// signature against the trusted keys. `last_seen` is null or points to the highest sequence number the
/// app accepted before: an older list is refused as stale. On success writes the list's sequence
/// number to `*sequence` (if not null), for the app to store as its next `last_seen`; replaces any list
/// set before. On failure the verifier keeps the list it had.
///
/// Needs exclusive access to the verifier.
///
/// # Safety
/// `verifier` is null or a live handle used by no other thread during the call; `list_text` is a
/// NUL-terminated string; `last_seen` and `sequence` are null or valid; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_verifier_set_revocations(
    verifier: *mut TesseraVerifier,
    list_text: *const c_char,
    last_seen: *const u64,
    sequence: *mut u64,
    error: *mut TesseraError,
) -> TesseraStatus {
    guarded(|| {
        // SAFETY: `verifier` is null or a live handle with exclusive access, as the caller promises.
        let Some(verifier) = (unsafe { verifier.as_mut() }) else {
            // SAFETY: `error` is null or writable.
            return unsafe { TesseraError::invalid_argument("`verifier` is null").report(error) };
        };
        // SAFETY: a NUL-terminated string, as the caller promises.
        let list_text = match unsafe { text::read(list_text) } {
            Ok(text) => text,
            Err(why) => {
                // SAFETY: `error` is null or writable.
                return unsafe { TesseraError::unreadable("the list text", why).report(error) };
            }
        };
        // SAFETY: null or valid, as the caller promises.
        let last_seen = unsafe { last_seen.as_ref() }.copied();
        // The decoded list is never longer than its text, so this room always suffices.
        let room = revocations_buffer_len(list_text.len() / 8 + 1);
        let raw = Box::into_raw(vec![0u8; room].into_boxed_slice());
        // SAFETY: freshly allocated; kept until the handle is dropped or the next list replaces it.
        let buf: &'static mut [u8] = unsafe { &mut *raw };
        match verifier
            .verifier
            .check_revocations(list_text, buf, last_seen)
        {
            Ok(list) => {
                verifier.verifier = verifier.verifier.clone().with_revocations(list);
                if let Some(old) = verifier.owned.revocations.replace(raw) {
                    // SAFETY: from `Box::into_raw`; the verifier no longer points into it.
                    drop(unsafe { Box::from_raw(old) });
                }
                // SAFETY: null or valid, as the caller promises.
                if let Some(sequence) = unsafe { sequence.as_mut() } {
                    *sequence = list.sequence;
                }
                TesseraStatus::Ok
            }
            Err(err) => {
                // SAFETY: from `Box::into_raw`; the refused list borrowed it only inside the call.
                drop(unsafe { Box::from_raw(raw) });
                // SAFETY: `error` is null or writable.
                unsafe { TesseraError::from_revocations(&err).report(error) }
            }
        }
    })
}

/// Treats a licence in its grace period as expired (`TESSERA_STATUS_EXPIRED` with `in_grace`); by
/// default it is valid, with `TESSERA_VALIDITY_GRACE`. Needs exclusive access to the verifier.
///
/// # Safety
/// `verifier` is null or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn tessera_verifier_without_grace(
    verifier: *mut TesseraVerifier,
) -> TesseraStatus {
    guarded(|| {
        // SAFETY: null or a live handle with exclusive access, as the caller promises.
        match unsafe { verifier.as_mut() } {
            Some(verifier) => {
                verifier.verifier = verifier.verifier.clone().without_grace();
                TesseraStatus::Ok
            }
            None => TesseraStatus::InvalidArgument,
        }
    })
}

/// Sets how many seconds the clock may read behind the app's last-seen time, or behind when a key or
/// machine certificate was issued, before `tessera_verify_activated` refuses it (default 3600, the
/// Rust verifier's). An app with floating seats, whose certificates last minutes, may want less.
/// Needs exclusive access to the verifier.
///
/// # Safety
/// `verifier` is null or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn tessera_verifier_set_clock_tolerance(
    verifier: *mut TesseraVerifier,
    seconds: u64,
) -> TesseraStatus {
    guarded(|| {
        // SAFETY: null or a live handle with exclusive access, as the caller promises.
        match unsafe { verifier.as_mut() } {
            Some(verifier) => {
                verifier.verifier = verifier.verifier.clone().with_clock_tolerance(seconds);
                TesseraStatus::Ok
            }
            None => TesseraStatus::InvalidArgument,
        }
    })
}

/// Releases a verifier made by `tessera_verifier_new`. Null is allowed and does nothing.
///
/// # Safety
/// `verifier` is null or a live handle, not used again afterwards and by no other thread meanwhile.
#[no_mangle]
pub unsafe extern "C" fn tessera_verifier_free(verifier: *mut TesseraVerifier) {
    // Dropping owned memory cannot panic; the status is of no use to the caller here.
    let _ = guarded(|| {
        if !verifier.is_null() {
            // SAFETY: a handle from `Box::into_raw` in `tessera_verifier_new`, freed once.
            drop(unsafe { Box::from_raw(verifier) });
        }
        TesseraStatus::Ok
    });
}
