//! What a desktop app does with a Tessera licence, start to finish, offline.
//!
//! ```text
//! cargo run -p tessera-examples --example desktop_app -- examples/demo-license.txt
//! cargo run -p tessera-examples --example desktop_app -- \
//!     --now 2030-07-10 examples/demo-license-expiring.txt
//! cargo run -p tessera-examples --example desktop_app -- \
//!     --revocations examples/demo-revocations.txt examples/demo-license-revoked.txt
//! cargo run -p tessera-examples --example desktop_app -- \
//!     --issuer http://127.0.0.1:8080 my-seat-limited-licence.txt
//! ```
//!
//! 1. The issuer's public key and the product table are constants in the app's source: nothing to
//!    download, nothing a user can swap.
//! 2. At start-up the app reads the licence key the user saved (here: the file named on the command
//!    line) and, if it has one, the revocation list it cached the last time it was online.
//! 3. It verifies the key offline against the system clock, then unlocks features, shows the tier and
//!    the days left, nags during the grace period, and explains any refusal in words a customer
//!    understands.
//!
//! 4. A licence whose plan limits the machines it runs on needs this machine's certificate too: the
//!    app activates on first run against the issuer named by `--issuer URL`, keeps the certificate
//!    next to the licence file (`LICENCE_FILE.machine`), verifies offline afterwards, renews the
//!    lease when it nears its end, and says what to do when every seat is taken
//!    (`desktop_app/activation.rs`).
//!
//! Exit status: 0 when licensed (also during grace), 1 when not, 2 for a usage error. `--now DATE`
//! (`YYYY-MM-DD`) pretends the clock says DATE, to try the grace period; a real app has no such flag.
//!
//! The embedded key is a DEMO key whose secret seed is published in `make_demo_licenses.rs`, which
//! signed the `demo-*.txt` files: anybody can make licences for it. Never ship it; embed the output of
//! `tessera pubkey` for your own key instead.

use std::io::ErrorKind;
use std::process::ExitCode;

use tessera_verifier::{
    revocations_buffer_len, system_now, ActivationBuffers, License, LicenseBuffer, Product,
    PublicKey, UnixTime, Validity, Verifier, VerifyError,
};

#[path = "desktop_app/activation.rs"]
mod activation;

/// The DEMO issuer key (`tessera pubkey` prints this form). NEVER FOR PRODUCTION.
pub const ISSUER: PublicKey = PublicKey::new(
    1,
    [
        0x4b, 0x8f, 0xe7, 0xfb, 0xe2, 0x18, 0x7f, 0x15, //
        0xf0, 0x34, 0x99, 0x8b, 0x20, 0x20, 0xbc, 0x5c, //
        0x72, 0xef, 0x46, 0xc1, 0x1d, 0x9f, 0x24, 0xab, //
        0x04, 0x67, 0x06, 0x25, 0xbd, 0xb1, 0x02, 0x49, //
    ],
);

/// This app as the issuer knows it: licences carry the id, a tier index and a feature bitset.
pub const EDITOR: Product<'static> = Product {
    id: 1,
    name: "tessera-demo-editor",
    tiers: &["free", "pro", "team"],
    features: &["export", "sync", "plugins", "themes", "cloud-backup"],
};

/// Where customers buy and renew; shown in messages.
const STORE: &str = "https://example.invalid/store";

/// Exit status when the app is not licensed.
const NOT_LICENSED: u8 = 1;
/// Exit status for a usage error.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(screen) => {
            println!("{screen}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}

/// Runs the app's licence check; returns what it shows, or an exit status and what it says.
pub fn run(args: &[String]) -> Result<String, (u8, String)> {
    let options = Options::parse(args).map_err(|message| (USAGE, message))?;
    let mut lines = Vec::new();

    let key_text = read_licence(&options.licence_path)
        .map_err(|message| (NOT_LICENSED, format!("{message}\n{}", free_mode())))?;

    // Setup errors are the app's bug (a mistyped key), not the user's; say so instead of panicking.
    let verifier = Verifier::new(&[ISSUER])
        .map_err(|err| {
            (
                NOT_LICENSED,
                format!("This build of the app is broken: {err}."),
            )
        })?
        .for_product(&EDITOR);

    // The revocation list was downloaded when the app was last online. Decoding needs a buffer that
    // outlives the verifier; the text is longer than its bytes, so its length is always enough.
    let cached_list = match &options.revocations_path {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(err) => {
                lines.push(format!("(No usable revocation list at {path}: {err}.)"));
                None
            }
        },
    };
    let mut list_buf =
        vec![0u8; revocations_buffer_len(0) + cached_list.as_ref().map_or(0, |text| text.len())];
    let verifier = match cached_list {
        None => verifier,
        Some(text) => {
            // A real app stores the highest `list.sequence` it has accepted and passes it here, so
            // that nobody can put back an older list from before their licence was revoked.
            let last_seen = None;
            match verifier.check_revocations(&text, &mut list_buf, last_seen) {
                Ok(list) => verifier.with_revocations(list),
                Err(err) => {
                    // Keep working: a damaged cache must not lock out a paying customer (and deleting
                    // the cache would un-revoke just as well; offline revocation is best effort).
                    lines.push(format!("(Ignoring the cached revocation list: {err}.)"));
                    verifier
                }
            }
        }
    };

    let now = options.now.unwrap_or_else(system_now);
    let mut buf = LicenseBuffer::new();
    match verifier.verify(&key_text, now, &mut buf) {
        Ok(license) => {
            lines.extend(describe(&license, now));
            Ok(lines.join("\n"))
        }
        Err(VerifyError::ActivationRequired) => {
            activated(&verifier, &key_text, &options, now, lines)
        }
        Err(err) => {
            lines.push(refusal(&err, &options.licence_path));
            lines.push(free_mode());
            Err((NOT_LICENSED, lines.join("\n")))
        }
    }
}

/// The licence checked with this machine's certificate, activating or renewing online first when
/// needed (and `--issuer` allows it).
fn activated(
    verifier: &Verifier<'_>,
    key_text: &str,
    options: &Options,
    now: UnixTime,
    mut lines: Vec<String>,
) -> Result<String, (u8, String)> {
    let not_licensed = |mut lines: Vec<String>, message: String| {
        lines.push(message);
        lines.push(free_mode());
        (NOT_LICENSED, lines.join("\n"))
    };
    let machine = match activation::Machine::new(
        EDITOR.id,
        &options.licence_path,
        key_text,
        options.issuer.as_deref(),
    ) {
        Ok(machine) => machine,
        Err(message) => return Err(not_licensed(lines, message)),
    };
    let certificate = match machine.certificate(verifier, now, &mut lines) {
        Ok(certificate) => certificate,
        Err(message) => return Err(not_licensed(lines, message)),
    };
    let mut bufs = ActivationBuffers::new();
    match verifier.verify_activated(
        key_text,
        &certificate,
        &machine.fingerprint,
        now,
        machine.last_seen,
        &mut bufs,
    ) {
        Ok(activated) => {
            machine.record(now);
            lines.extend(describe(activated.license(), now));
            lines.push(match activated.lease_ends_at() {
                Some(end) => format!(
                    "  machine:  activated; works offline until {} ({} left)",
                    date(end),
                    days(activated.lease_seconds_left().unwrap_or(0))
                ),
                None => "  machine:  activated".to_string(),
            });
            Ok(lines.join("\n"))
        }
        Err(err) => {
            let message = refusal(&err, &options.licence_path);
            Err(not_licensed(lines, message))
        }
    }
}

/// What the app shows for a valid licence, and which features it unlocks.
fn describe(license: &License<'_>, now: UnixTime) -> Vec<String> {
    let mut lines = vec![format!(
        "Tessera Demo Editor: licensed{}",
        license
            .licensee()
            .map_or(String::new(), |name| format!(" to {name}"))
    )];
    lines.push(format!(
        "  tier:     {}",
        license
            .tier_name()
            .unwrap_or("(a tier newer than this app)")
    ));
    lines.push(match license.validity() {
        Validity::Perpetual => "  validity: perpetual, never expires".to_string(),
        Validity::Active {
            expires_at,
            seconds_left,
        } => format!(
            "  validity: until {} ({} left)",
            date(expires_at),
            days(seconds_left)
        ),
        Validity::Grace {
            expired_at,
            grace_ends_at,
        } => format!(
            "  validity: expired on {}, {} of grace left — please renew at {STORE}",
            date(expired_at),
            days(now.seconds_until(grace_ends_at))
        ),
    });
    lines.push(format!("  licence:  {}", license.license_id()));

    // Gating a feature: the menu item exists for everyone, the licence decides whether it works.
    lines.push(if license.has_feature("export") {
        "  File > Export to PDF: enabled".to_string()
    } else {
        format!("  File > Export to PDF: disabled (not in your licence; upgrade at {STORE})")
    });
    // Gating by tier: everything from "team" up.
    lines.push(format!(
        "  Shared workspaces: {}",
        if license.tier_at_least("team") {
            "enabled"
        } else {
            "team tier only"
        }
    ));
    let granted: Vec<&str> = EDITOR
        .features
        .iter()
        .copied()
        .filter(|name| license.has_feature(name))
        .collect();
    lines.push(format!("  features: {}", granted.join(", ")));
    lines
}

/// One clear sentence per reason a licence is refused.
fn refusal(err: &VerifyError, path: &str) -> String {
    match err {
        VerifyError::Malformed(why) => format!(
            "The licence key in {path} is damaged or incomplete ({why}). Copy it again from your \
             purchase e-mail: the whole key, starting with ts1_."
        ),
        VerifyError::UnsupportedVersion { .. } => {
            "Your licence key is newer than this version of the app. Please update the app.".into()
        }
        VerifyError::UnknownKeyId { .. } => "Your licence key was issued after this version of \
                                              the app was released. Please update the app."
            .into(),
        VerifyError::BadSignature => format!(
            "The licence key in {path} is not valid. Copy it again exactly as you received it."
        ),
        VerifyError::WrongProduct { .. } => {
            "This licence key is for another product, not Tessera Demo Editor.".into()
        }
        VerifyError::Revoked { license_id } => format!(
            "Licence {license_id} has been revoked (refunded or replaced). Contact support if this \
             is a mistake."
        ),
        VerifyError::NotYetValid { not_before, .. } => {
            format!("Your licence starts on {}.", date(*not_before))
        }
        VerifyError::Expired { expired_at, .. } => format!(
            "Your licence expired on {} and its grace period is over. Renew at {STORE}.",
            date(*expired_at)
        ),
        VerifyError::CertificateForAnotherMachine => {
            "This computer's activation belongs to another computer. Activate this one.".into()
        }
        VerifyError::LeaseExpired { .. } => {
            "This computer's activation has lapsed: connect to the internet to renew it.".into()
        }
        VerifyError::ClockRolledBack { .. } => {
            "This computer's clock has been set back. Set it right and start the app again.".into()
        }
        _ => format!("Your licence key was refused: {err}."),
    }
}

fn free_mode() -> String {
    format!("Running in free mode: export is disabled. Buy a licence at {STORE}.")
}

/// Reads the saved licence key, turning every way it can be missing into a sentence.
fn read_licence(path: &str) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Err(format!(
            "The licence file {path} is empty. Paste the licence key from your purchase e-mail into it."
        )),
        Ok(text) => Ok(text),
        Err(err) if err.kind() == ErrorKind::NotFound => Err(format!(
            "No licence found at {path}. Save the licence key from your purchase e-mail there."
        )),
        Err(err) if err.kind() == ErrorKind::InvalidData => Err(format!(
            "{path} is not a licence file (it is not text)."
        )),
        Err(err) => Err(format!("Cannot read the licence file {path}: {err}.")),
    }
}

/// A time as a calendar date, `YYYY-MM-DD`.
fn date(time: UnixTime) -> String {
    let text = time.to_string();
    text.split('T').next().unwrap_or(&text).to_string()
}

/// Seconds as whole days, rounded up so that "0 days left" never shows while time remains.
fn days(seconds: u64) -> String {
    match seconds.div_ceil(86_400) {
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    }
}

/// The command line.
struct Options {
    licence_path: String,
    revocations_path: Option<String>,
    now: Option<UnixTime>,
    /// The issuer's base URL, for activation; `None`: never go online.
    issuer: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        const USAGE_LINE: &str =
            "usage: desktop_app [--revocations FILE] [--now YYYY-MM-DD] [--issuer URL] LICENCE_FILE";
        let mut licence_path = None;
        let mut revocations_path = None;
        let mut now = None;
        let mut issuer = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--revocations" => {
                    revocations_path = Some(args.next().ok_or(USAGE_LINE)?.clone());
                }
                "--issuer" => {
                    let url = args.next().ok_or(USAGE_LINE)?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(format!("--issuer takes an http(s) URL\n{USAGE_LINE}"));
                    }
                    issuer = Some(url.clone());
                }
                "--now" => {
                    let value = args.next().ok_or(USAGE_LINE)?;
                    now = Some(parse_date(value).ok_or_else(|| {
                        format!("--now takes a date as YYYY-MM-DD, not {value:?}\n{USAGE_LINE}")
                    })?);
                }
                "-h" | "--help" => return Err(USAGE_LINE.to_string()),
                path if licence_path.is_none() && !path.starts_with("--") => {
                    licence_path = Some(path.to_string());
                }
                other => return Err(format!("unexpected argument {other:?}\n{USAGE_LINE}")),
            }
        }
        Ok(Options {
            licence_path: licence_path.ok_or(USAGE_LINE)?,
            revocations_path,
            now,
            issuer,
        })
    }
}

/// Midnight UTC at the start of `YYYY-MM-DD`.
fn parse_date(text: &str) -> Option<UnixTime> {
    let mut parts = text.split('-').map(|part| part.parse::<u64>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if parts.next().is_some()
        || !(1970..=9999).contains(&year)
        || !(1..=days_in_month).contains(&day)
    {
        return None;
    }
    // Howard Hinnant's days_from_civil, for years from 1970 on.
    let (year, month) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let (era, year_of_era) = (year / 400, year % 400);
    let day_of_year = (153 * month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(UnixTime((era * 146_097 + day_of_era - 719_468) * 86_400))
}
