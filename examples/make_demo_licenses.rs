//! Writes the demo licences and revocation list that `desktop_app` reads, and prints the demo public key.
//!
//! ```text
//! cargo run -p tessera-examples --example make_demo_licenses
//! ```
//!
//! Everything here is signed with [`DEMO_SEED`], a signing-key seed published in this file. It is a
//! DEMO key: anybody can sign licences with it, so an app must never trust it. A real issuer makes its
//! key with `tessera keygen` and pastes the output of `tessera pubkey` into its app.
//!
//! The output is deterministic (Ed25519 signatures are, and the licence ids and times are fixed here),
//! so running this again rewrites the committed files byte for byte; a test checks that they match.

use std::path::Path;
use std::process::ExitCode;

use tessera_keys::{Claims, EncodeError, FeatureSet, LicenseId, SigningKey, UnixTime};

/// The DEMO signing key's seed. Public, so NEVER FOR PRODUCTION.
pub const DEMO_SEED: [u8; 32] = *b"TESSERA-DEMO-SEED-NOT-FOR-PROD!!";

/// The demo key's id.
pub const DEMO_KEY_ID: u32 = 1;

/// The files this writes, relative to the `examples/` directory, and their contents.
pub fn demo_files() -> Result<Vec<(&'static str, String)>, EncodeError> {
    let issuer = SigningKey::from_seed(DEMO_KEY_ID, &DEMO_SEED);
    // Feature bits as in `desktop_app`'s product table.
    let (export, sync, themes) = (0, 1, 3);
    let features = |bits: &[u8]| FeatureSet(bits.iter().fold(0, |set, bit| set | 1 << bit));
    let day = 86_400;
    let template = Claims {
        key_id: DEMO_KEY_ID,
        license_id: LicenseId([0xde, 0x30, 0, 0, 0, 0, 0, 1]),
        product: 1,
        tier: 1,                            // "pro"
        issued_at: UnixTime(1_795_392_000), // 2026-11-23
        not_before: None,
        expires_at: None,
        grace_seconds: None,
        features: FeatureSet::EMPTY,
        licensee: None,
        requires_activation: false,
    };

    // Valid for decades: what a customer's saved key looks like.
    let current = Claims {
        expires_at: Some(UnixTime(4_102_358_400)), // 2099-12-31
        grace_seconds: Some(14 * day),
        features: features(&[export, sync, themes]),
        licensee: Some("Demo User"),
        ..template
    };
    // Expires on 2030-07-01 with 30 days of grace, and without "export": try it with
    // `--now 2030-07-10` (in grace) and `--now 2030-08-15` (expired).
    let expiring = Claims {
        license_id: LicenseId([0xde, 0x30, 0, 0, 0, 0, 0, 2]),
        expires_at: Some(UnixTime(1_909_094_400)), // 2030-07-01
        grace_seconds: Some(30 * day),
        features: features(&[sync]),
        ..template
    };
    // Perpetual, but refunded: `demo-revocations.txt` revokes it.
    let revoked = Claims {
        license_id: LicenseId([0xde, 0x30, 0, 0, 0, 0, 0, 3]),
        features: features(&[export]),
        ..template
    };
    let revocations = issuer.sign_revocations(
        1,
        UnixTime(1_795_392_000),
        &[
            revoked.license_id,
            LicenseId([0x51, 0x7a, 0xc0, 0xde, 0x0b, 0xad, 0x00, 0x01]),
        ],
    )?;

    Ok(vec![
        ("demo-license.txt", issuer.sign_license(&current)? + "\n"),
        (
            "demo-license-expiring.txt",
            issuer.sign_license(&expiring)? + "\n",
        ),
        (
            "demo-license-revoked.txt",
            issuer.sign_license(&revoked)? + "\n",
        ),
        ("demo-revocations.txt", revocations + "\n"),
    ])
}

/// The demo public key as Rust source, the way an app embeds its issuer's key.
pub fn public_key_source() -> String {
    let key = SigningKey::from_seed(DEMO_KEY_ID, &DEMO_SEED).public_key();
    let bytes: Vec<String> = key.bytes.iter().map(|b| format!("0x{b:02x}")).collect();
    format!(
        "const ISSUER: PublicKey = PublicKey::new(\n    {},\n    [\n{}\n    ],\n);",
        key.id,
        bytes
            .chunks(8)
            .map(|row| format!("        {},", row.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = match demo_files() {
        Ok(files) => files,
        Err(err) => {
            eprintln!("make_demo_licenses: {err}");
            return ExitCode::FAILURE;
        }
    };
    for (name, contents) in files {
        let path = dir.join(name);
        if let Err(err) = std::fs::write(&path, contents) {
            eprintln!("make_demo_licenses: cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    println!(
        "\nThe DEMO public key, as desktop_app.rs embeds it:\n\n{}",
        public_key_source()
    );
    ExitCode::SUCCESS
}
