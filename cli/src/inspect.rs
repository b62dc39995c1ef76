//! `tessera inspect`.

use tessera_keys::{LicenseBuffer, PublicKey, LICENSE_DOMAIN, SIGNATURE_LEN};
use tessera_verifier::VerifyError;

use crate::args::InspectArgs;
use crate::exit::{Failure, Result};
use crate::input;
use crate::json::{self, Inspected, Signature, SignatureStatus};
use crate::names::Names;
use crate::output::{
    days_label, features_label, print, print_json, product_label, tier_label, time_label, Report,
};

/// Decodes a licence key without trusting it and shows every field and the signature status.
pub(crate) fn run(args: &InspectArgs, names: &Names, json: bool) -> Result {
    let keys = input::public_keys(&args.public_keys)?;
    let text = input::key_text(&args.key)?;
    let mut buf = LicenseBuffer::new();
    let signed = buf
        .decode_text(&text)
        .map_err(|err| Failure::from_verify_error(err.into()))?;
    let claims = signed.claims;
    let status = signature_status(&keys, &text, claims.not_before.unwrap_or(claims.issued_at))?;
    let length_chars = text.chars().filter(|c| !c.is_ascii_whitespace()).count();
    let length_bytes = signed.signed_message.len() - LICENSE_DOMAIN.len() + SIGNATURE_LEN;
    let spec = names.spec(claims.product);

    if json {
        return print_json(&Inspected {
            length_chars,
            length_bytes,
            signature: Signature {
                status,
                key_id: claims.key_id,
            },
            claims: json::Claims::new(&claims, spec),
        });
    }
    let signature = match status {
        SignatureStatus::Valid => "valid".to_owned(),
        SignatureStatus::Invalid => "invalid".to_owned(),
        SignatureStatus::UnknownKeyId => format!("unknown key id {}", claims.key_id),
        SignatureStatus::NotChecked => "not checked (no --public-key)".to_owned(),
    };
    let none = || "none".to_owned();
    let mut report = Report::new(if status == SignatureStatus::Valid {
        "licence key (signature valid; dates, product and revocation not checked: use `verify`)"
    } else {
        "licence key (UNTRUSTED: the fields below are only what the key claims)"
    });
    report
        .row("signature", signature)
        .row(
            "length",
            format!("{length_chars} characters, {length_bytes} bytes"),
        )
        .row("version", tessera_keys::LICENSE_VERSION.to_string())
        .row("key id", claims.key_id.to_string())
        .row("licence id", claims.license_id.to_string())
        .row("product", product_label(claims.product, spec))
        .row("tier", tier_label(claims.tier, spec))
        .row("features", features_label(claims.features, spec))
        .row("licensee", claims.licensee.map_or_else(none, str::to_owned))
        .row("issued", time_label(claims.issued_at))
        .row(
            "not before",
            claims.not_before.map_or_else(none, time_label),
        )
        .row(
            "expires",
            claims
                .expires_at
                .map_or_else(|| "never".to_owned(), time_label),
        )
        .row(
            "grace",
            match (claims.grace_seconds, claims.grace_ends_at()) {
                (Some(seconds), Some(ends)) => format!(
                    "{} (until {})",
                    days_label(u64::from(seconds)),
                    time_label(ends)
                ),
                (Some(seconds), None) => days_label(u64::from(seconds)),
                (None, _) => none(),
            },
        );
    print(&report.render())
}

/// Checks only the signature: everything the verifier reports after the signature check means the
/// signature was good.
fn signature_status(
    keys: &[PublicKey],
    text: &str,
    at: tessera_keys::UnixTime,
) -> Result<SignatureStatus> {
    if keys.is_empty() {
        return Ok(SignatureStatus::NotChecked);
    }
    let verifier = crate::input::verifier(keys)?;
    let mut buf = LicenseBuffer::new();
    Ok(match verifier.verify(text, at, &mut buf) {
        Err(VerifyError::BadSignature) => SignatureStatus::Invalid,
        Err(VerifyError::UnknownKeyId { .. }) => SignatureStatus::UnknownKeyId,
        // Reported only for licences whose signature checked out.
        Ok(_)
        | Err(
            VerifyError::WrongProduct { .. }
            | VerifyError::Revoked { .. }
            | VerifyError::NotYetValid { .. }
            | VerifyError::Expired { .. },
        ) => SignatureStatus::Valid,
        Err(err) => return Err(Failure::from_verify_error(err)),
    })
}
