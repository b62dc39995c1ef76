//! `tessera activate --offline-request`: the activation request an air-gapped machine shows, as
//! text (`tsq1_...`) and, on a terminal, as a QR code a phone can scan into the issuer's `/activate`
//! page.

use std::io::IsTerminal;

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;
use tessera_keys::{activation_request_text, ActivationRequest, LicenseBuffer, LICENSE_DOMAIN};

use super::Key;
use crate::exit::{Exit, Failure, Result};
use crate::json::OfflineRequest;
use crate::output::{print, print_json};

/// Prints the request; with a terminal on standard output, its QR code and what to do with it too
/// (a pipe gets the bare request, so that `$(tessera activate KEY --offline-request)` works).
pub(super) fn request(key: &Key, name: Option<&str>, platform: &str, json: bool) -> Result {
    let mut buf = LicenseBuffer::new();
    let signed = buf
        .decode_text(&key.text)
        .map_err(|err| Failure::from_verify_error(err.into()))?;
    // The licence's binary form: its claims (after the domain tag) and the signature.
    let mut license = signed.signed_message[LICENSE_DOMAIN.len()..].to_vec();
    license.extend_from_slice(signed.signature);
    let request = ActivationRequest {
        fingerprint: key.fingerprint,
        license: &license,
        name,
        platform: Some(platform),
    };
    let text = activation_request_text(&request).map_err(|err| {
        Failure::msg(
            Exit::Usage,
            format!("cannot make an activation request: {err}"),
        )
    })?;
    if json {
        return print_json(&OfflineRequest {
            request: text,
            license_id: key.license_id.to_string(),
            fingerprint: key.fingerprint.to_hex().to_string(),
        });
    }
    if !std::io::stdout().is_terminal() {
        return print(&format!("{text}\n"));
    }
    print(&format!(
        "Activation request for licence {}:\n\n{text}\n\n{}\nOn any device with a network, open \
         the vendor's activation page (<issuer>/activate), paste or scan this request, and bring \
         the certificate back:\n  tessera activate KEY --import CERTIFICATE_FILE_OR_TEXT\n",
        key.license_id,
        qr(&text)
    ))
}

/// The QR code of `text` in Unicode half blocks with its quiet zone: dark modules left as the
/// background and light ones drawn as blocks, as a terminal with light text on a dark background
/// shows them right (phone scanners also read the inverse); nothing when the text does not fit a QR
/// code (the text above still works).
fn qr(text: &str) -> String {
    match QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_sized_text_makes_a_qr_code() {
        let code = qr(&format!("tsq1_{}", "A".repeat(300)));
        assert!(code.lines().count() > 20, "{code}");
        assert!(code.contains('█') || code.contains('▀') || code.contains('▄'));
    }
}
