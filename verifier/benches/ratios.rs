//! The benchmark's ratios measured in two ways that a shared, noisy machine cannot spoil.
//!
//! Criterion (`verify.rs`) times each benchmark for a few seconds, one after the other, so a neighbour's
//! build during one of them skews the ratio. This binary adds:
//!
//! - `ratios paired`: interleaved timing. Thousands of short rounds each time a batch of the Tessera
//!   operation and a batch of its baseline back to back (alternating which goes first) and keep the
//!   ratio; load that comes and goes hits both sides of a round alike. Prints the median ratio and its
//!   interquartile range, and an A/A pair (the baseline against itself) as the method's noise floor.
//! - `ratios count <operation> <iterations>`: runs one operation that many times, for
//!   `valgrind --tool=callgrind` to count instructions (deterministic). `scripts/bench-verify` runs it
//!   with few and with many iterations and divides the difference, which cancels the setup.
//! - `ratios reference-key`: prints the reference licence and its length.
//! - `ratios reference-certificate`: prints the machine certificate the activated path checks, and
//!   its length.
//!
//! The activated path (`tessera_activated`: `verify_activated` of a licence that requires activation
//! and this machine's certificate, with the product table and the 1000-entry revocation list) is
//! measured against two raw checks back to back, one for each signature it verifies
//! (`ed25519_verify_strict_x2`, and the lax `ed25519_verify_x2`).
//!
//! Without arguments (as `cargo bench` runs it) it runs each operation once as a smoke test.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, Verifier as _};
use tessera_keys::{Claims, Fingerprint, LicenseBuffer, MachineClaims, CERTIFICATE_DOMAIN};
use tessera_verifier::{revocations_buffer_len, ActivationBuffers, UnixTime, Verifier};

mod common;
use common::{Fixture, CLAIMS, NOW, REVOKED};

/// The reference licence, bound to machines; and the certificate of one machine for it, as an
/// issuer signs it on activation: a 30-day lease that `NOW` is a day into.
struct Activation {
    key_text: String,
    certificate_text: String,
    fingerprint: Fingerprint,
    /// What the certificate's signature covers, and the signature, for the raw baseline.
    certificate_message: Vec<u8>,
    certificate_signature: Signature,
}

impl Activation {
    fn new(fx: &Fixture) -> Activation {
        let key_text = fx
            .issuer
            .sign_license(&Claims {
                requires_activation: true,
                ..CLAIMS
            })
            .expect("reference claims encode");
        let fingerprint = Fingerprint::of_machine_id(1, b"b08f2f7c1e6a4d3c9a5e8f0d2c4b6a18");
        let claims = MachineClaims {
            key_id: 1,
            license_id: CLAIMS.license_id,
            fingerprint: fingerprint.certified(),
            issued_at: UnixTime(NOW.0 - 86_400),
            lease_ends_at: Some(UnixTime(NOW.0 + 29 * 86_400)),
        };
        let certificate_text = fx
            .issuer
            .sign_machine_certificate(&claims)
            .expect("certificate claims encode");
        let mut buf = tessera_keys::CertificateBuffer::new();
        let signed = buf
            .decode_text(&certificate_text)
            .expect("the certificate decodes");
        let mut claims_buf = [0u8; tessera_keys::MAX_MACHINE_CLAIMS_LEN];
        let claims_bytes = claims.encode(&mut claims_buf).expect("encodes");
        // The baseline must check exactly what the verifier checks: the tag and the claims.
        assert_eq!(
            signed.signed_message,
            &[CERTIFICATE_DOMAIN, &*claims_bytes].concat()[..]
        );
        Activation {
            key_text,
            fingerprint,
            certificate_message: signed.signed_message.to_vec(),
            certificate_signature: Signature::from_bytes(signed.signature),
            certificate_text,
        }
    }
}

/// The operations, named as in the criterion benchmarks of `verify.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Ed25519VerifyStrict,
    Ed25519Verify,
    TesseraFull,
    TesseraPlain,
    TesseraDecodeOnly,
    Ed25519Sign,
    TesseraSignLicense,
    Ed25519VerifyStrictX2,
    Ed25519VerifyX2,
    TesseraActivated,
}

impl Op {
    const ALL: [Op; 10] = [
        Op::Ed25519VerifyStrict,
        Op::Ed25519Verify,
        Op::TesseraFull,
        Op::TesseraPlain,
        Op::TesseraDecodeOnly,
        Op::Ed25519Sign,
        Op::TesseraSignLicense,
        Op::Ed25519VerifyStrictX2,
        Op::Ed25519VerifyX2,
        Op::TesseraActivated,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Ed25519VerifyStrict => "ed25519_verify_strict",
            Op::Ed25519Verify => "ed25519_verify",
            Op::TesseraFull => "tessera_full",
            Op::TesseraPlain => "tessera_plain",
            Op::TesseraDecodeOnly => "tessera_decode_only",
            Op::Ed25519Sign => "ed25519_sign",
            Op::TesseraSignLicense => "tessera_sign_license",
            Op::Ed25519VerifyStrictX2 => "ed25519_verify_strict_x2",
            Op::Ed25519VerifyX2 => "ed25519_verify_x2",
            Op::TesseraActivated => "tessera_activated",
        }
    }

    fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// Everything the operations run against, set up in full whatever is run, so that setup costs the
/// same in every callgrind run.
struct Bench<'a> {
    fx: &'a Fixture,
    full: Verifier<'a>,
    plain: Verifier<'static>,
    buf: LicenseBuffer,
    activation: &'a Activation,
    bufs: ActivationBuffers,
}

impl Bench<'_> {
    fn run(&mut self, op: Op, iterations: u64) {
        let fx = self.fx;
        for _ in 0..iterations {
            match op {
                Op::Ed25519VerifyStrict => {
                    let result = fx
                        .verifying_key
                        .verify_strict(black_box(&fx.message), black_box(&fx.signature));
                    assert!(black_box(result).is_ok());
                }
                Op::Ed25519Verify => {
                    let result = fx
                        .verifying_key
                        .verify(black_box(&fx.message), black_box(&fx.signature));
                    assert!(black_box(result).is_ok());
                }
                Op::TesseraFull => {
                    let result = self
                        .full
                        .verify(black_box(&fx.key_text), NOW, &mut self.buf);
                    assert!(black_box(result).is_ok());
                }
                Op::TesseraPlain => {
                    let result = self
                        .plain
                        .verify(black_box(&fx.key_text), NOW, &mut self.buf);
                    assert!(black_box(result).is_ok());
                }
                Op::TesseraDecodeOnly => {
                    let result = self.buf.decode_text(black_box(&fx.key_text));
                    assert!(black_box(result).is_ok());
                }
                Op::Ed25519Sign => {
                    black_box(fx.raw_signing_key.sign(black_box(&fx.message)));
                }
                Op::TesseraSignLicense => {
                    let result = fx.issuer.sign_license(black_box(&CLAIMS));
                    assert!(black_box(result).is_ok());
                }
                Op::Ed25519VerifyStrictX2 => {
                    let activation = self.activation;
                    let licence = fx
                        .verifying_key
                        .verify_strict(black_box(&fx.message), black_box(&fx.signature));
                    let certificate = fx.verifying_key.verify_strict(
                        black_box(&activation.certificate_message),
                        black_box(&activation.certificate_signature),
                    );
                    assert!(black_box(licence).is_ok() && black_box(certificate).is_ok());
                }
                Op::Ed25519VerifyX2 => {
                    let activation = self.activation;
                    let licence = fx
                        .verifying_key
                        .verify(black_box(&fx.message), black_box(&fx.signature));
                    let certificate = fx.verifying_key.verify(
                        black_box(&activation.certificate_message),
                        black_box(&activation.certificate_signature),
                    );
                    assert!(black_box(licence).is_ok() && black_box(certificate).is_ok());
                }
                Op::TesseraActivated => {
                    let activation = self.activation;
                    let result = self.full.verify_activated(
                        black_box(&activation.key_text),
                        black_box(&activation.certificate_text),
                        &activation.fingerprint,
                        NOW,
                        Some(NOW),
                        &mut self.bufs,
                    );
                    assert!(black_box(result).is_ok());
                }
            }
        }
    }

    fn time(&mut self, op: Op, iterations: u64) -> Duration {
        let start = Instant::now();
        self.run(op, iterations);
        start.elapsed()
    }

    /// The median and quartiles of `op`'s time over `baseline`'s, from interleaved rounds.
    fn paired(&mut self, op: Op, baseline: Op) -> [f64; 3] {
        const ROUNDS: usize = 600;
        const BATCH_TIME: Duration = Duration::from_millis(1);
        // Warm up, and size batches to about a millisecond each.
        let per_op = self.time(baseline, 200) / 200;
        let batch = (BATCH_TIME.as_nanos() / per_op.as_nanos().max(1)).max(1) as u64;
        self.run(op, 200);
        let mut ratios: Vec<f64> = (0..ROUNDS)
            .map(|round| {
                let (a, b) = if round % 2 == 0 {
                    let a = self.time(op, batch);
                    (a, self.time(baseline, batch))
                } else {
                    let b = self.time(baseline, batch);
                    (self.time(op, batch), b)
                };
                a.as_secs_f64() / b.as_secs_f64()
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        [ROUNDS / 4, ROUNDS / 2, ROUNDS * 3 / 4].map(|at| ratios[at])
    }
}

const USAGE: &str = "usage: ratios paired | ratios count <operation> <iterations> | \
                     ratios reference-key | ratios reference-certificate";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fx = Fixture::new();
    let activation = Activation::new(&fx);
    let mut list_buf = vec![0u8; revocations_buffer_len(REVOKED)];
    let mut bench = Bench {
        fx: &fx,
        full: fx.full_verifier(&mut list_buf),
        plain: fx.plain_verifier(),
        buf: LicenseBuffer::new(),
        activation: &activation,
        bufs: ActivationBuffers::new(),
    };

    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["reference-key"] => {
            println!("{}", fx.key_text);
            println!("{} characters", fx.key_text.len());
        }
        ["reference-certificate"] => {
            println!("{}", activation.certificate_text);
            println!("{} characters", activation.certificate_text.len());
        }
        ["count", op, iterations] => {
            let (Some(op), Ok(iterations)) = (Op::from_name(op), iterations.parse()) else {
                let names: Vec<_> = Op::ALL.iter().map(|op| op.name()).collect();
                eprintln!("{USAGE}\noperations: {}", names.join(", "));
                return ExitCode::FAILURE;
            };
            bench.run(op, iterations);
        }
        ["paired"] => {
            println!(
                "{:46} {:>12}  interquartile range",
                "operation / baseline", "median ratio"
            );
            for (op, baseline) in [
                (Op::TesseraFull, Op::Ed25519VerifyStrict),
                (Op::TesseraFull, Op::Ed25519Verify),
                (Op::TesseraPlain, Op::Ed25519VerifyStrict),
                (Op::Ed25519Verify, Op::Ed25519VerifyStrict),
                (Op::Ed25519VerifyStrict, Op::Ed25519VerifyStrict),
                (Op::TesseraSignLicense, Op::Ed25519Sign),
                (Op::TesseraActivated, Op::Ed25519VerifyStrictX2),
                (Op::TesseraActivated, Op::Ed25519VerifyX2),
            ] {
                let [q1, median, q3] = bench.paired(op, baseline);
                let pair = format!("{} / {}", op.name(), baseline.name());
                println!("{pair:46} {median:12.3}  {q1:.3} .. {q3:.3}");
            }
        }
        // `cargo bench` passes `--bench`, perhaps a filter: check that everything still runs.
        _ => {
            for op in Op::ALL {
                bench.run(op, 1);
            }
            println!("ratios: ok ({USAGE}; or run scripts/bench-verify)");
        }
    }
    ExitCode::SUCCESS
}
