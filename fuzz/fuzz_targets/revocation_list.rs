//! Revocation lists from untrusted hands.
//!
//! Every input is used twice:
//! - as a list's text, decoded (`tessera_keys::decode_revocations`) into a large buffer and a small
//!   one, and checked (`Verifier::check_revocations`) with and without a last-seen sequence number: no
//!   panic; the small buffer gives the large one's answer or `TooLong`; checking fails exactly as
//!   decoding does when decoding fails; a list that decodes has strictly ascending ids, each of which
//!   it contains;
//! - as the recipe for a list, which is signed and checked in a buffer of exactly
//!   `revocations_buffer_len` bytes: the same list comes back (or `Stale`, or `BadSignature` for the
//!   impostor), it contains exactly the ids signed, and replacing any one character makes the check
//!   fail.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{replace_char, time, IMPOSTOR, PERMISSIVE, SIGNERS};
use tessera_keys::{
    decode_revocations, revocations_buffer_len, DecodeError, EncodeError, LicenseId, Malformed,
    RevocationList,
};
use tessera_verifier::RevocationError;

/// Room for this many ids in the large buffer; more is `TooLong`.
const LARGE: usize = 300;

fuzz_target!(|data: &[u8]| {
    as_text(&String::from_utf8_lossy(data));
    // Running out of bytes half-way through the recipe just ends the round trip.
    let _ = round_trip(&mut Unstructured::new(data));
});

fn as_text(text: &str) {
    let mut large = [0; revocations_buffer_len(LARGE)];
    let mut small = [0; revocations_buffer_len(2)];
    let decoded = decode_revocations(text, &mut large).map(|signed| signed.list);
    match (
        decoded,
        decode_revocations(text, &mut small).map(|s| s.list),
    ) {
        (_, Err(DecodeError::Malformed(Malformed::TooLong))) => {}
        (decoded, in_small) => assert_eq!(decoded, in_small),
    }
    if let Ok(list) = decoded {
        well_formed(&list);
    }
    for last_seen in [None, Some(3)] {
        let mut buf = [0; revocations_buffer_len(LARGE)];
        match (
            decoded,
            PERMISSIVE.check_revocations(text, &mut buf, last_seen),
        ) {
            (Err(decode_error), checked) => {
                assert_eq!(checked.err(), Some(RevocationError::from(decode_error)))
            }
            (Ok(decoded), Ok(checked)) => {
                assert_eq!(checked, decoded);
                assert!(last_seen.is_none_or(|seen| checked.sequence >= seen));
            }
            (Ok(_), Err(_)) => {}
        }
    }
}

fn well_formed(list: &RevocationList<'_>) {
    let ids: Vec<LicenseId> = list.iter().collect();
    assert_eq!(ids.len(), list.len());
    assert_eq!(list.is_empty(), ids.is_empty());
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(ids.iter().all(|id| list.contains(id)));
}

fn round_trip(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let signer_index = u.choose_index(SIGNERS.len())?;
    let signer = &SIGNERS[signer_index];
    let sequence: u64 = u.arbitrary()?;
    let issued_at = time(u)?;
    let ids: Vec<LicenseId> = u
        .arbitrary_iter::<[u8; 8]>()?
        .take(LARGE)
        .map(|id| id.map(LicenseId))
        .collect::<arbitrary::Result<_>>()?;
    let last_seen: Option<u64> = u.arbitrary()?;
    let probe = LicenseId(u.arbitrary()?);

    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let signed = signer.sign_revocations(sequence, issued_at, &ids);
    if sorted.len() != ids.len() {
        assert_eq!(signed, Err(EncodeError::DuplicateRevocation));
        return Ok(());
    }
    let text = signed.expect("distinct ids and a time in range always encode");

    let mut buf = vec![0; revocations_buffer_len(ids.len())];
    let checked = PERMISSIVE.check_revocations(&text, &mut buf, last_seen);
    if signer_index == IMPOSTOR {
        assert_eq!(checked, Err(RevocationError::BadSignature));
        return Ok(());
    }
    if let Some(seen) = last_seen.filter(|&seen| sequence < seen) {
        assert_eq!(
            checked,
            Err(RevocationError::Stale {
                sequence,
                last_seen: seen
            })
        );
        return Ok(());
    }
    let list = checked.expect("a list a trusted key signed");
    assert_eq!(
        (list.key_id, list.sequence, list.issued_at),
        (signer.id(), sequence, issued_at)
    );
    assert_eq!(list.iter().collect::<Vec<_>>(), sorted);
    well_formed(&list);
    assert_eq!(list.contains(&probe), sorted.contains(&probe));

    let at = u.choose_index(text.len())?;
    if let Some(tampered) = replace_char(&text, at, u.arbitrary()?) {
        let mut buf = [0; revocations_buffer_len(LARGE + 1)];
        let result = PERMISSIVE.check_revocations(&tampered, &mut buf, None);
        assert!(result.is_err(), "{text} changed to {tampered} is accepted");
    }
    Ok(())
}
