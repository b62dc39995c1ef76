//! `tessera revocations sign` and `tessera revocations show`.

use serde::Deserialize;
use tessera_keys::{decode_revocations, revocations_buffer_len, LicenseId, PublicKey};
use tessera_verifier::{system_now, RevocationError};

use crate::args::{RevocationsShowArgs, RevocationsSignArgs};
use crate::exit::{Exit, Failure, Result};
use crate::input;
use crate::json::{ShownList, Signature, SignatureStatus, SignedList};
use crate::keys::read_signing_key;
use crate::output::{print, print_json, time_label, Report};

/// Signs a revocation list and prints it, or writes it to `--out`.
pub(crate) fn sign(args: &RevocationsSignArgs, json: bool) -> Result {
    let mut ids = args.revoke.clone();
    if let Some(path) = &args.ids_file {
        ids.extend(input::license_ids_file(path)?);
    }
    // The same id from the file and the command line is one revocation.
    ids.sort_unstable();
    ids.dedup();

    let key = read_signing_key(&args.key)?;
    let issued_at = system_now();
    let text = key
        .sign_revocations(args.sequence, issued_at, &ids)
        .map_err(|err| {
            Failure::msg(
                Exit::Failure,
                format!("cannot sign the revocation list: {err}"),
            )
        })?;
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{text}\n")).map_err(|err| {
            Failure::msg(
                Exit::Failure,
                format!("cannot write revocation list to {}: {err}", out.display()),
            )
        })?;
    }

    if json {
        return print_json(&SignedList {
            text,
            key_id: key.id(),
            sequence: args.sequence,
            issued_at: issued_at.0,
            revoked: hex_ids(ids.iter().copied()),
            out: args.out.as_ref().map(|out| out.display().to_string()),
        });
    }
    match &args.out {
        Some(out) => print(&format!(
            "Wrote revocation list {} ({} revoked) to {}\n",
            args.sequence,
            ids.len(),
            out.display()
        )),
        None => print(&format!("{text}\n")),
    }
}

/// Decodes a revocation list and shows it with its signature status.
pub(crate) fn show(args: &RevocationsShowArgs, json: bool) -> Result {
    let keys = input::public_keys(&args.public_keys)?;
    let text = input::source_text(&args.file, "revocation list", Exit::RevocationsRefused)?;
    let text = signed_list(text, &args.file)?;
    let mut buf = vec![0; buffer_len(&text)];
    let list = decode_revocations(&text, &mut buf)
        .map_err(|err| Failure::from_revocation_error(err.into()))?
        .list;
    let status = signature_status(&keys, &text)?;
    let revoked = hex_ids(list.iter());

    if json {
        return print_json(&ShownList {
            key_id: list.key_id,
            sequence: list.sequence,
            issued_at: list.issued_at.0,
            revoked,
            signature: Signature {
                status,
                key_id: list.key_id,
            },
        });
    }
    let signature = match status {
        SignatureStatus::Valid => "valid".to_owned(),
        SignatureStatus::Invalid => "invalid".to_owned(),
        SignatureStatus::UnknownKeyId => format!("unknown key id {}", list.key_id),
        SignatureStatus::NotChecked => "not checked (no --public-key)".to_owned(),
    };
    let mut report = Report::new(if status == SignatureStatus::Valid {
        "revocation list (signature valid)"
    } else {
        "revocation list (UNTRUSTED: the fields below are only what the list claims)"
    });
    report
        .row("signature", signature)
        .row("key id", list.key_id.to_string())
        .row("sequence", list.sequence.to_string())
        .row("issued", time_label(list.issued_at))
        .row("revoked", format!("{} licence(s)", revoked.len()));
    let mut out = report.render();
    for id in &revoked {
        out.push_str(&format!("    {id}\n"));
    }
    print(&out)
}

/// The signed list (`tsrl1_...`) in the text of a revocation list file from `source`: the text itself,
/// as `revocations sign` writes it, or the `list` of the issuer's `GET /v1/revocations` answer saved
/// as it came (its other fields are not signed, so they are not read).
pub(crate) fn signed_list(text: String, source: &str) -> Result<String> {
    /// The part of `GET /v1/revocations` that matters offline.
    #[derive(Deserialize)]
    struct Served {
        list: String,
    }
    if !text.trim_start().starts_with('{') {
        return Ok(text);
    }
    serde_json::from_str::<Served>(&text)
        .map(|served| served.list)
        .map_err(|err| {
            Failure::msg(
                Exit::RevocationsRefused,
                format!(
                    "revocation list {source} is JSON but not the answer of GET /v1/revocations: \
                     {err}"
                ),
            )
        })
}

/// Room to decode a list of this text: base64 carries three bytes per four characters, and the
/// prefix and whitespace only make the estimate larger.
pub(crate) fn buffer_len(text: &str) -> usize {
    revocations_buffer_len(text.len() * 3 / 4 / 8 + 1)
}

fn signature_status(keys: &[PublicKey], text: &str) -> Result<SignatureStatus> {
    if keys.is_empty() {
        return Ok(SignatureStatus::NotChecked);
    }
    let verifier = crate::input::verifier(keys)?;
    let mut buf = vec![0; buffer_len(text)];
    match verifier.check_revocations(text, &mut buf, None) {
        Ok(_) => Ok(SignatureStatus::Valid),
        Err(RevocationError::BadSignature) => Ok(SignatureStatus::Invalid),
        Err(RevocationError::UnknownKeyId { .. }) => Ok(SignatureStatus::UnknownKeyId),
        Err(err) => Err(Failure::from_revocation_error(err)),
    }
}

fn hex_ids(ids: impl Iterator<Item = LicenseId>) -> Vec<String> {
    ids.map(|id| id.to_string()).collect()
}
