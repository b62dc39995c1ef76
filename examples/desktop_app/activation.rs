//! Machine activation in the desktop app: for licences whose plan limits the machines they run on.
//!
//! Such a key alone is refused (`VerifyError::ActivationRequired`); with the certificate the issuer
//! signed for this machine it verifies offline, like the key. So the app:
//!
//! 1. On first run, activates: `POST /v1/machines` with the key as credential and this machine's
//!    fingerprint, and saves the certificate (and the machine id, to renew it) next to the licence.
//! 2. On every run, verifies key + certificate offline with `verify_activated`, passing the latest
//!    time it has seen (a `LastSeenFile`), so a clock turned back is refused.
//! 3. When less than a third of the certificate's lease is left, renews it online
//!    (`POST /v1/machines/{id}/heartbeat`); offline, it keeps working until the lease ends. A
//!    floating seat's lease is minutes long, so such an app renews at every start (and, in a real
//!    app, on a timer while it runs).
//! 4. When every seat is taken (`409 too_many_machines`), lists the machines holding them and says
//!    how to free one.
//!
//! Without `--issuer` the app never goes online: it explains how to activate (including the
//! air-gapped way, `tessera activate --offline-request` and the issuer's `/activate` page).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tessera_verifier::{
    machine_fingerprint, ActivationBuffers, Fingerprint, LastSeenFile, UnixTime, Verifier,
    VerifyError,
};

/// What the app knows about this machine's activation, and where it keeps it.
pub struct Machine<'a> {
    /// The issuer's base URL, if the app may go online.
    issuer: Option<&'a str>,
    /// The licence key as the user saved it.
    key_text: &'a str,
    /// Where the certificate is kept.
    certificate_path: PathBuf,
    /// Where the issuer's machine id is kept (to renew the certificate).
    machine_id_path: PathBuf,
    /// The latest time the app has seen.
    last_seen_file: LastSeenFile,
    /// This machine's fingerprint for the product.
    pub fingerprint: Fingerprint,
    /// What the last-seen file held at start-up.
    pub last_seen: Option<UnixTime>,
}

impl<'a> Machine<'a> {
    /// This machine, with its activation kept next to the licence file `licence_path`.
    pub fn new(
        product: u32,
        licence_path: &str,
        key_text: &'a str,
        issuer: Option<&'a str>,
    ) -> Result<Machine<'a>, String> {
        let fingerprint = machine_fingerprint(product)
            .map_err(|err| format!("This computer cannot be identified ({err}), so the licence cannot be activated on it."))?;
        let beside = |suffix: &str| PathBuf::from(format!("{licence_path}.{suffix}"));
        let last_seen_file = LastSeenFile::new(beside("last-seen"));
        // A damaged last-seen file is forgotten rather than locking a paying customer out; the
        // record after a successful check writes a good one.
        let last_seen = last_seen_file.read().unwrap_or(None);
        Ok(Machine {
            issuer,
            key_text,
            certificate_path: beside("machine"),
            machine_id_path: beside("machine-id"),
            last_seen_file,
            fingerprint,
            last_seen,
        })
    }

    /// A certificate for this machine that verifies now: the saved one, renewed or replaced online
    /// when needed and possible. `notes` gets what the user should know (a failed renewal).
    pub fn certificate(
        &self,
        verifier: &Verifier<'_>,
        now: UnixTime,
        notes: &mut Vec<String>,
    ) -> Result<String, String> {
        let saved = std::fs::read_to_string(&self.certificate_path).ok();
        if let Some(saved) = saved.filter(|text| !text.trim().is_empty()) {
            let mut bufs = ActivationBuffers::new();
            let checked = verifier.verify_activated(
                self.key_text,
                &saved,
                &self.fingerprint,
                now,
                self.last_seen,
                &mut bufs,
            );
            match checked {
                Ok(activated) => {
                    let certificate = activated.certificate();
                    let lease = certificate
                        .lease_ends_at
                        .map(|end| certificate.issued_at.seconds_until(end));
                    let renew = match (lease, activated.lease_seconds_left()) {
                        (Some(lease), Some(left)) => left.saturating_mul(3) < lease,
                        _ => false,
                    };
                    if !renew || self.issuer.is_none() {
                        return Ok(saved);
                    }
                    return match self.renew() {
                        Ok(fresh) => {
                            notes.push("(Renewed this computer's activation online.)".to_owned());
                            Ok(fresh)
                        }
                        Err(why) => {
                            notes.push(format!(
                                "(Could not renew the activation online: {why} The app keeps \
                                 working offline until {}.)",
                                super::date(certificate.lease_ends_at.unwrap_or(now))
                            ));
                            Ok(saved)
                        }
                    };
                }
                Err(VerifyError::ClockRolledBack { last_seen, .. }) => {
                    return Err(format!(
                        "This computer's clock is set earlier than {}, a time the app has already \
                         seen. Set the clock right and start the app again.",
                        super::date(last_seen)
                    ))
                }
                // Renewable online: a lapsed lease, a certificate copied from another machine or
                // left from another licence.
                Err(
                    VerifyError::LeaseExpired { .. }
                    | VerifyError::CertificateForAnotherMachine
                    | VerifyError::CertificateForAnotherLicense { .. },
                ) if self.issuer.is_some() => {}
                Err(VerifyError::LeaseExpired { .. }) => {
                    return Err(format!(
                        "This computer's activation has lapsed. Connect to the internet and start \
                         the app with --issuer URL to renew it (the certificate is in {}).",
                        self.certificate_path.display()
                    ))
                }
                Err(err) => {
                    return Err(format!(
                        "The activation saved in {} does not work here: {err}. {}",
                        self.certificate_path.display(),
                        self.how_to_activate()
                    ))
                }
            }
        }
        if self.issuer.is_none() {
            return Err(format!(
                "This licence must be activated on this computer. {}",
                self.how_to_activate()
            ));
        }
        match std::fs::read_to_string(&self.machine_id_path) {
            Ok(_) => self.renew(),
            Err(_) => self.activate(),
        }
    }

    /// Records `now` as the latest time seen (after a successful check).
    pub fn record(&self, now: UnixTime) {
        // Failing to record only weakens the rollback check; it must not stop the app.
        let _ = self.last_seen_file.record(now);
    }

    fn how_to_activate(&self) -> String {
        format!(
            "Start the app with --issuer URL to activate it online; without internet, run \
             `tessera activate <your key> --offline-request`, enter the request at the vendor's \
             /activate page on any device, and save the certificate it gives you as {}.",
            self.certificate_path.display()
        )
    }

    /// `POST /v1/machines`: a seat for this machine, and its certificate.
    fn activate(&self) -> Result<String, String> {
        let body = json!({
            "fingerprint": self.fingerprint.to_hex().as_str(),
            "name": host_name(),
            "platform": format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        });
        let (status, answer) = self.call("/v1/machines", Some(&body))?;
        match status {
            200 | 201 => self.keep(&answer),
            409 if answer["error"] == "too_many_machines" => Err(too_many_machines(&answer)),
            _ => Err(refused(&answer)),
        }
    }

    /// `POST /v1/machines/{id}/heartbeat`: a fresh lease; activates again if the seat was freed.
    fn renew(&self) -> Result<String, String> {
        let id = std::fs::read_to_string(&self.machine_id_path).unwrap_or_default();
        let id = id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return self.activate();
        }
        let (status, answer) = self.call(&format!("/v1/machines/{id}/heartbeat"), None)?;
        match status {
            200 => self.keep(&answer),
            404 => self.activate(),
            _ => Err(refused(&answer)),
        }
    }

    /// Saves the certificate and machine id of an activation or renewal; returns the certificate.
    fn keep(&self, answer: &Value) -> Result<String, String> {
        let (Some(certificate), Some(id)) = (
            answer["certificate"].as_str(),
            answer["machine"]["id"].as_str(),
        ) else {
            return Err(
                "The activation server gave an answer this app does not understand.".into(),
            );
        };
        save(&self.certificate_path, certificate)?;
        save(&self.machine_id_path, id)?;
        Ok(certificate.to_owned())
    }

    /// One request to the issuer with the licence key as credential: its status and JSON body.
    fn call(&self, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let base = self.issuer.unwrap_or_default().trim_end_matches('/');
        let key: String = self.key_text.split_whitespace().collect();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into();
        let request = agent
            .post(format!("{base}{path}"))
            .header("authorization", format!("License {key}"))
            .header("content-type", "application/json");
        let body = body.map_or_else(String::new, Value::to_string);
        let mut response = request
            .send(body)
            .map_err(|err| format!("cannot reach the activation server at {base} ({err})."))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

/// What to tell a customer whose every seat is taken: which machines hold them, and how to free
/// one.
fn too_many_machines(answer: &Value) -> String {
    let machines = answer["machines"].as_array().cloned().unwrap_or_default();
    let mut lines = vec![format!(
        "This licence is already in use on {} computer(s), all it allows:",
        answer["max_machines"]
            .as_u64()
            .unwrap_or(machines.len() as u64)
    )];
    for machine in &machines {
        let last_seen = machine["last_seen_at"]
            .as_u64()
            .map_or_else(|| "?".to_owned(), |time| super::date(UnixTime(time)));
        lines.push(format!(
            "  - {} ({}), last used {last_seen}, id {}",
            printable(machine["name"].as_str().unwrap_or("unnamed")),
            printable(machine["platform"].as_str().unwrap_or("unknown platform")),
            printable(machine["id"].as_str().unwrap_or("?")),
        ));
    }
    lines.push(
        "To use it here, free one of them: deactivate it in the app on that computer, or run \
         `tessera deactivate <your key> --url <activation server> --machine <id>` with its id \
         from the list; or ask support to free a seat or add one."
            .to_owned(),
    );
    lines.join("\n")
}

/// The issuer's refusal, in one sentence.
fn refused(answer: &Value) -> String {
    let message = answer["message"].as_str().unwrap_or("no reason given");
    match answer["error"].as_str().unwrap_or_default() {
        "revoked" => "This licence has been revoked; it cannot be activated.".to_owned(),
        "expired" => "This licence has expired; renew it to activate it.".to_owned(),
        code => format!(
            "The activation server refused: {} ({}).",
            printable(message),
            printable(code)
        ),
    }
}

/// Server text with control characters (terminal escapes, line breaks) left out.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// This computer's name, as the customer will see it in the list of machines.
fn host_name() -> Option<String> {
    let name = std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()?;
    let name: String = printable(name.trim()).chars().take(32).collect();
    (!name.is_empty()).then_some(name)
}

/// Writes `text` to `path` in one step (a sibling file, then rename).
fn save(path: &Path, text: &str) -> Result<(), String> {
    let temporary = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&temporary, format!("{}\n", text.trim()))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|err| format!("Cannot save the activation to {}: {err}.", path.display()))
}
