//! `tessera activate`: bind a licence to this machine and save the machine certificate.
//!
//! Online, the licence key is the credential (`POST /v1/machines`, `Authorization: License`). An
//! air-gapped machine prints an activation request instead (`--offline-request`, [`offline`]), and
//! saves the certificate brought back from an online device (`--import`). Either way the certificate
//! is checked against the key and this machine before it is saved: a wrong one would only fail
//! later, in the app, with a less helpful message.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};
use tessera_keys::{
    CertificateBuffer, Fingerprint, LicenseBuffer, LicenseId, MachineClaims, MAX_MACHINE_NAME_LEN,
    MAX_PLATFORM_LEN,
};
use tessera_verifier::{system_now, ActivationBuffers};

use crate::args::ActivateArgs;
use crate::client::{Answer, Client};
use crate::escape::escaped;
use crate::exit::{Exit, Failure, Result, ResultExt};
use crate::fingerprint::this_machine;
use crate::input::{self, key_text};
use crate::json::Activation;
use crate::machines::{self, Machine};
use crate::output::{print, print_json, time_label};

mod offline;

/// `POST /v1/machines` and `POST /v1/machines/{id}/heartbeat`: the machine and its certificate.
#[derive(Debug, Deserialize)]
struct Activated {
    machine: Machine,
    certificate: String,
}

/// The licence key as given, and what this machine needs of it.
pub(crate) struct Key {
    pub(crate) text: String,
    pub(crate) license_id: LicenseId,
    pub(crate) fingerprint: Fingerprint,
}

impl Key {
    /// Reads the key (argument or `-`) and computes this machine's fingerprint for its product.
    /// The key is not verified here: the issuer does that, and a forged one gets no certificate.
    pub(crate) fn read(arg: &str) -> Result<Key> {
        let text = key_text(arg)?;
        let mut buf = LicenseBuffer::new();
        let claims = buf
            .decode_text(&text)
            .map_err(|err| Failure::from_verify_error(err.into()))?
            .claims;
        let (license_id, product) = (claims.license_id, claims.product);
        Ok(Key {
            fingerprint: this_machine(product)?,
            license_id,
            text,
        })
    }
}

/// How `activate` gets the certificate.
enum Mode<'a> {
    /// From the issuer at this URL.
    Online(&'a str),
    /// Through an activation request carried to an online device.
    OfflineRequest,
    /// From this text or file, obtained elsewhere.
    Import(&'a str),
}

impl<'a> Mode<'a> {
    /// The mode the arguments ask for (clap lets at most one through); a usage error for none.
    fn of(args: &'a ActivateArgs) -> Result<Mode<'a>> {
        match (&args.url, &args.import, args.offline_request) {
            (Some(url), _, _) => Ok(Mode::Online(url)),
            (_, Some(import), _) => Ok(Mode::Import(import)),
            (_, _, true) => Ok(Mode::OfflineRequest),
            (None, None, false) => Err(Failure::msg(
                Exit::Usage,
                "say how to activate: --url URL (online), --offline-request (air-gapped), or \
                 --import CERTIFICATE",
            )),
        }
    }
}

/// Runs `activate`.
pub(crate) fn run(args: &ActivateArgs, json: bool) -> Result {
    // Usage problems first, so that a typo is not reported as a bad key.
    let mode = Mode::of(args)?;
    let (name, platform) = (machine_name(args.name.as_deref())?, platform(args)?);
    let key = Key::read(&args.key)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&key.license_id));
    let url = match mode {
        Mode::OfflineRequest => return offline::request(&key, name.as_deref(), &platform, json),
        Mode::Import(import) => {
            let certificate = input::certificate_text(import)?;
            let claims = check(&key, &certificate, &args.public_keys)?;
            save(&out, &certificate)?;
            return report(&key, None, false, &certificate, &claims, &out, json);
        }
        Mode::Online(url) => url,
    };
    let client = Client::license(url, &key.text)?;
    let body = json!({
        "fingerprint": key.fingerprint.to_hex().as_str(),
        "name": name,
        "platform": platform,
    });
    let answer = client.post_answer("/v1/machines", &body)?;
    if machines::all_seats_taken(&answer) {
        return Err(too_many_machines(&client, &key, answer));
    }
    let new_seat = answer.status == 201;
    let activated: Activated = decode(client.json("POST", "/v1/machines", answer)?)?;
    let claims = check(&key, &activated.certificate, &args.public_keys)?;
    save(&out, &activated.certificate)?;
    report(
        &key,
        Some(&activated.machine.id),
        new_seat,
        &activated.certificate,
        &claims,
        &out,
        json,
    )
}

/// `machine-certificate-<licence id>.txt`, in the current directory.
fn default_out(license_id: &LicenseId) -> PathBuf {
    PathBuf::from(format!("machine-certificate-{license_id}.txt"))
}

/// `--name`, or the host name (cut to what the issuer keeps); a usage error if too long.
fn machine_name(given: Option<&str>) -> Result<Option<String>> {
    if let Some(name) = given {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_MACHINE_NAME_LEN {
            return Err(Failure::msg(
                Exit::Usage,
                format!("--name must be 1 to {MAX_MACHINE_NAME_LEN} bytes"),
            ));
        }
        return Ok(Some(name.to_owned()));
    }
    let host = std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= MAX_MACHINE_NAME_LEN).then_some(c)
        })
        .collect();
    Ok((!host.is_empty()).then_some(host))
}

/// `--platform`, or `<os>-<arch>`.
fn platform(args: &ActivateArgs) -> Result<String> {
    let platform = args.platform.as_deref().map_or_else(
        || format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        |given| given.trim().to_owned(),
    );
    if platform.is_empty() || platform.len() > MAX_PLATFORM_LEN {
        return Err(Failure::msg(
            Exit::Usage,
            format!("--platform must be 1 to {MAX_PLATFORM_LEN} bytes"),
        ));
    }
    Ok(platform)
}

/// The answer as the HTTP contract specifies it.
fn decode<T: serde::de::DeserializeOwned>(answer: Value) -> Result<T> {
    serde_json::from_value(answer).map_err(|err| {
        Failure::msg(
            Exit::ServerError,
            format!("the issuer's answer is not what its API specifies: {err}"),
        )
    })
}

/// Every seat is taken: the machines holding them, and how to free one.
fn too_many_machines(client: &Client, key: &Key, answer: Answer) -> Failure {
    let hint = format!(
        "Free one (on it, or from here with its id), then activate again:\n  tessera deactivate \
         KEY --url {} --machine ID\nor ask the vendor's support to free one or add a seat.",
        escaped(client.base())
    );
    machines::seats_taken(answer, &format!("licence {}", key.license_id), &hint)
}

/// Checks `certificate` against the key and this machine: decoded, for this licence and this
/// machine; with `public_keys`, also signed by one of them, with the lease not over, as an app
/// would check it.
fn check(key: &Key, certificate: &str, public_keys: &[String]) -> Result<MachineClaims> {
    let mut buf = CertificateBuffer::new();
    let claims = buf
        .decode_text(certificate)
        .map_err(|err| {
            Failure::msg(
                Exit::CertificateRefused,
                format!("malformed machine certificate: {err}"),
            )
        })?
        .claims;
    if claims.license_id != key.license_id {
        return Err(Failure::msg(
            Exit::AnotherLicense,
            format!(
                "the machine certificate is for licence {}, not licence {}",
                claims.license_id, key.license_id
            ),
        ));
    }
    if !claims.is_for(&key.fingerprint) {
        return Err(Failure::msg(
            Exit::AnotherMachine,
            "the machine certificate is for another machine",
        ));
    }
    if !public_keys.is_empty() {
        let keys = input::public_keys(public_keys)?;
        let verifier = input::verifier(&keys)?;
        let mut bufs = ActivationBuffers::new();
        verifier
            .verify_activated(
                &key.text,
                certificate,
                &key.fingerprint,
                system_now(),
                None,
                &mut bufs,
            )
            .map_err(Failure::from_verify_error)?;
    }
    Ok(claims)
}

/// Writes the certificate (one line) to `out`, replacing it in one step: a renewal never leaves a
/// torn file behind.
pub(crate) fn save(out: &Path, certificate: &str) -> Result {
    let mut temporary = out.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, format!("{}\n", certificate.trim()))
        .and_then(|()| std::fs::rename(&temporary, out))
        .exit_context(Exit::Failure, || {
            format!("cannot save the machine certificate to {}", out.display())
        })
}

/// One line (or the JSON) saying what was activated and where the certificate is.
fn report(
    key: &Key,
    machine_id: Option<&str>,
    new_seat: bool,
    certificate: &str,
    claims: &MachineClaims,
    out: &Path,
    json: bool,
) -> Result {
    if json {
        return print_json(&Activation {
            license_id: key.license_id.to_string(),
            machine_id: machine_id.map(str::to_owned),
            fingerprint: key.fingerprint.to_hex().to_string(),
            new_seat,
            certificate: certificate.trim().to_owned(),
            lease_ends_at: claims.lease_ends_at.map(|time| time.0),
            out: out.display().to_string(),
        });
    }
    let what = match (machine_id, new_seat) {
        (Some(id), true) => format!("activated this machine ({id})"),
        (Some(id), false) => format!("renewed this machine's certificate ({id})"),
        (None, _) => "imported this machine's certificate".to_owned(),
    };
    let lease = claims.lease_ends_at.map_or_else(
        || "no lease".to_owned(),
        |end| format!("lease until {}", time_label(end)),
    );
    print(&format!(
        "{} for licence {}: {lease}; saved to {}\n",
        escaped(&what),
        key.license_id,
        escaped(&out.display().to_string())
    ))
}
