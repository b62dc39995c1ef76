//! Full Tessera verification and issuing against raw ed25519-dalek over the same bytes, in one run.
//!
//! - `verify/ed25519_verify_strict`: the baseline, `VerifyingKey::verify_strict` over the licence's
//!   signed message (domain tag + claims) with the key already decompressed.
//! - `verify/ed25519_verify`: the second baseline, the ordinary (lax) `VerifyingKey::verify` over the
//!   same bytes, which accepts small-order and mixed-order signatures that Tessera refuses.
//! - `verify/tessera_full`: key text -> `Verifier::verify` -> checked claims, with a product table and a
//!   1000-entry revocation list, as an app runs it.
//! - `verify/tessera_plain`: the same without product table and revocation list.
//! - `verify/tessera_decode_only`: just the text decoding, to show where the difference goes.
//! - `verify/ed25519_verify_strict_again`: the baseline a second time; how far it lands from the first
//!   run is the noise floor of this machine.
//! - `sign/tessera_sign_license` against `sign/ed25519_sign` over the same message.
//!
//! `scripts/bench-verify` runs this and prints the ratios; see BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ed25519_dalek::{Signer, Verifier as _};
use tessera_keys::LicenseBuffer;
use tessera_verifier::revocations_buffer_len;

mod common;
use common::{Fixture, CLAIMS, NOW, REVOKED};

fn verify(c: &mut Criterion) {
    let fx = Fixture::new();
    let mut list_buf = vec![0u8; revocations_buffer_len(REVOKED)];
    let full = fx.full_verifier(&mut list_buf);
    let plain = fx.plain_verifier();
    let mut buf = LicenseBuffer::new();
    assert!(full.verify(&fx.key_text, NOW, &mut buf).is_ok());
    assert!(plain.verify(&fx.key_text, NOW, &mut buf).is_ok());

    let baseline = |b: &mut criterion::Bencher| {
        b.iter(|| {
            fx.verifying_key
                .verify_strict(black_box(&fx.message), black_box(&fx.signature))
        })
    };

    let mut group = c.benchmark_group("verify");
    group.bench_function("ed25519_verify_strict", baseline);
    group.bench_function("ed25519_verify", |b| {
        b.iter(|| {
            fx.verifying_key
                .verify(black_box(&fx.message), black_box(&fx.signature))
        })
    });
    group.bench_function("tessera_full", |b| {
        b.iter(|| {
            let license = full.verify(black_box(&fx.key_text), NOW, &mut buf);
            black_box(&license);
        })
    });
    group.bench_function("tessera_plain", |b| {
        b.iter(|| {
            let license = plain.verify(black_box(&fx.key_text), NOW, &mut buf);
            black_box(&license);
        })
    });
    group.bench_function("tessera_decode_only", |b| {
        b.iter(|| {
            let signed = buf.decode_text(black_box(&fx.key_text));
            black_box(&signed);
        })
    });
    group.bench_function("ed25519_verify_strict_again", baseline);
    group.finish();
}

fn sign(c: &mut Criterion) {
    let fx = Fixture::new();
    let mut group = c.benchmark_group("sign");
    group.bench_function("ed25519_sign", |b| {
        b.iter(|| fx.raw_signing_key.sign(black_box(&fx.message)))
    });
    group.bench_function("tessera_sign_license", |b| {
        b.iter(|| fx.issuer.sign_license(black_box(&CLAIMS)))
    });
    group.finish();
}

fn config() -> Criterion {
    // About 50 s in all: enough samples for a stable median, short enough to run routinely.
    Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = verify, sign
}
criterion_main!(benches);
