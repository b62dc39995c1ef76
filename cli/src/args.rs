//! The command line. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tessera_keys::{Fingerprint, LicenseId, UnixTime};

use crate::admin::AdminArgs;
use crate::exit::EXIT_CODES_HELP;
use crate::input::{parse_fingerprint, parse_license_id, parse_time, Ref};
use crate::json;

/// Offline software licensing with compact Ed25519 licence keys.
///
/// Make a signing key, issue licence keys with it, and verify them offline with its public key.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_help = "Quick start:
  tessera keygen --out issuer.key
  tessera issue --key issuer.key --product 1 --tier 1 --feature 0 --days 365 > licence.txt
  tessera verify - --public-key tspk1_1_... < licence.txt")]
pub struct Cli {
    /// Product catalogue (TOML) that names products, tiers and features, so that they can be given by
    /// name; numbers always work. The issuer's config file works too (its [[products]] are read).
    #[arg(long, global = true, env = "TESSERA_CATALOG", value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// Print machine-readable JSON (one object on one line); each command's --help gives the schema.
    ///
    /// Without it, control characters and bidi overrides in what a key or the issuer says are shown
    /// as escapes (`\u{1b}`); JSON gives such strings as they are.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Commands,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Make a new signing key file (mode 0600) and print its public key.
    #[command(after_long_help = json::KEYGEN_SCHEMA)]
    Keygen(KeygenArgs),
    /// Print the public key of a signing key file.
    #[command(after_long_help = json::PUBKEY_SCHEMA)]
    Pubkey(PubkeyArgs),
    /// Sign a new licence key and print it (only the key, so that `$(tessera issue ...)` works).
    #[command(after_long_help = json::ISSUE_SCHEMA)]
    Issue(IssueArgs),
    /// Check a licence key offline: signature, product, revocation, dates and entitlements.
    ///
    /// Exits 0 and prints a summary when the licence is valid; otherwise prints one line to stderr and
    /// exits with the code of the failure class.
    #[command(after_help = EXIT_CODES_HELP, after_long_help = json::VERIFY_HELP)]
    Verify(VerifyArgs),
    /// Decode a licence key without trusting it, and show every field and the signature status.
    ///
    /// Exits 0 whatever the signature status; a key that cannot be decoded exits as `verify` does
    /// (10 malformed, 11 unsupported version).
    #[command(after_long_help = json::INSPECT_SCHEMA)]
    Inspect(InspectArgs),
    /// Make and read signed revocation lists, which apps cache to refuse revoked licences offline.
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// Print this machine's fingerprint for a product: what the issuer records when the machine is
    /// activated (a hash of the OS machine id and the product id; the id itself stays here).
    #[command(after_long_help = json::FINGERPRINT_SCHEMA)]
    Fingerprint(FingerprintArgs),
    /// Activate this machine for a licence that requires it, and save its machine certificate.
    ///
    /// Online: `--url` asks the issuer (POST /v1/machines with the key as credential). Air-gapped:
    /// `--offline-request` prints a request (tsq1_..., and a QR code) to take to any online device
    /// (the issuer's /activate page); `--import` then saves the certificate it gave.
    #[command(after_help = EXIT_CODES_HELP, after_long_help = json::ACTIVATE_SCHEMA)]
    Activate(ActivateArgs),
    /// Free this machine's seat of a licence (or another machine's, with --machine), online.
    #[command(after_help = EXIT_CODES_HELP, after_long_help = json::DEACTIVATE_SCHEMA)]
    Deactivate(DeactivateArgs),
    /// Support work on a running issuer through its admin API (licences, credits, webhooks, signing
    /// keys, audit trail), and admin tokens for it.
    #[command(after_help = EXIT_CODES_HELP)]
    Admin(AdminArgs),
}

/// Where to write a new signing key.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The new signing key file; never overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// The key id licences will name this key by; use a new one for each key when rotating.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub kid: u32,
}

/// Which signing key to show.
#[derive(Debug, Args)]
pub struct PubkeyArgs {
    /// The signing key file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// What the new licence says.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("expiry").args(["expires", "days"]))]
pub struct IssueArgs {
    /// The signing key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// The product: its id, or its name in the catalogue.
    #[arg(long, value_name = "PRODUCT")]
    pub product: Ref,

    /// The tier: its index (0 = lowest), or its name in the catalogue.
    #[arg(long, value_name = "TIER")]
    pub tier: Ref,

    /// A feature to grant: its bit (0 to 63), or its name in the catalogue. Repeat for more.
    #[arg(long = "feature", value_name = "FEATURE")]
    pub features: Vec<Ref>,

    /// When the licence expires: YYYY-MM-DD (00:00 UTC), RFC 3339, or unix seconds. Default: never.
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    pub expires: Option<UnixTime>,

    /// The licence expires this many days from now.
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,

    /// The licence is not valid before this date (same forms as --expires).
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    pub not_before: Option<UnixTime>,

    /// Days after expiry during which apps keep working while they ask for renewal.
    #[arg(long, value_name = "N", requires = "expiry")]
    pub grace_days: Option<u32>,

    /// A short name of the licensee (at most 64 bytes), shown in "licensed to" screens.
    #[arg(long, value_name = "NAME")]
    pub licensee: Option<String>,

    /// The licence id as 16 hex digits. Default: random.
    #[arg(long, value_name = "HEX16", value_parser = parse_license_id)]
    pub license_id: Option<LicenseId>,

    /// The licence works only on machines activated with the issuer: apps check it with a machine
    /// certificate (`tessera activate`, `verify --machine-certificate`).
    #[arg(long)]
    pub requires_activation: bool,
}

/// What to check.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The licence key text, or `-` to read it from standard input (at most 64 KiB either way).
    #[arg(value_name = "KEY")]
    pub key: String,

    /// A trusted public key: its text (tspk1_...), or a file of keys: one per line, `tessera pubkey`
    /// output, or the JSON of the issuer's `GET /v1/keys` (every key in it is trusted). Repeat for
    /// several (key rotation).
    #[arg(long = "public-key", value_name = "PK", required = true)]
    pub public_keys: Vec<String>,

    /// Require the licence to be for this product (id, or name in the catalogue).
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<Ref>,

    /// Require this feature (bit, or name in the catalogue). Repeat for more.
    #[arg(long = "require-feature", value_name = "FEATURE")]
    pub require_features: Vec<Ref>,

    /// Require at least this tier (index, or name in the catalogue).
    #[arg(long, value_name = "TIER")]
    pub require_tier: Option<Ref>,

    /// Check as of this time instead of now: YYYY-MM-DD (00:00 UTC), RFC 3339, or unix seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<UnixTime>,

    /// A signed revocation list file: the list (tsrl1_...), or the JSON of the issuer's
    /// `GET /v1/revocations` saved as it came. Refuse the licence if it is listed.
    #[arg(long, value_name = "FILE")]
    pub revocations: Option<PathBuf>,

    /// The highest revocation list sequence number accepted before; an older list is refused.
    #[arg(long, value_name = "N", requires = "revocations")]
    pub last_seen_sequence: Option<u64>,

    /// Treat a licence in its grace period as expired.
    #[arg(long)]
    pub no_grace: bool,

    /// This machine's certificate for the licence (tsm1_...), as text or a file holding it (what
    /// `tessera activate` saved). Needed for licences that require activation.
    #[arg(long, value_name = "FILE|TEXT")]
    pub machine_certificate: Option<String>,

    /// Check the certificate against this fingerprint (64 hex digits, as `tessera fingerprint`
    /// prints it) instead of this machine's.
    #[arg(long, value_name = "HEX", value_parser = parse_fingerprint, requires = "machine_certificate")]
    pub fingerprint: Option<Fingerprint>,

    /// A file keeping the latest time seen (decimal unix seconds): a clock more than an hour
    /// earlier is refused (exit 35). Without --at, a successful check records its time in it.
    #[arg(long, value_name = "FILE")]
    pub last_seen: Option<PathBuf>,
}

/// Which product the fingerprint is for.
#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// The product (id, or name in the catalogue); fingerprints differ per product. Default: the
    /// catalogue's product when it lists just one.
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<Ref>,
}

/// How to activate this machine.
#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// The licence key text, or `-` to read it from standard input.
    #[arg(value_name = "KEY")]
    pub key: String,

    /// The issuer's base URL: activate online.
    #[arg(long, value_name = "URL", conflicts_with_all = ["offline_request", "import"])]
    pub url: Option<String>,

    /// Print an activation request (tsq1_...) for a machine without network, and a QR code of it
    /// when standard output is a terminal; exchange it on any online device at the issuer's
    /// /activate page, then save the certificate with --import.
    #[arg(long, conflicts_with = "import")]
    pub offline_request: bool,

    /// Save a certificate obtained elsewhere (from /activate or support): its text (tsm1_...) or a
    /// file holding it. It is checked against the key and this machine first.
    #[arg(long, value_name = "FILE|TEXT")]
    pub import: Option<String>,

    /// Where to save the certificate (replaced if it exists). Default:
    /// machine-certificate-<LICENCE_ID>.txt in the current directory.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// What to call this machine in the licence's list of machines (at most 64 bytes). Default:
    /// its host name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// This machine's platform (at most 32 bytes). Default: OS and architecture, e.g.
    /// `linux-x86_64`.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// A trusted public key (as for `verify`): check the certificate's signature too before saving
    /// it. Repeat for several.
    #[arg(long = "public-key", value_name = "PK")]
    pub public_keys: Vec<String>,
}

/// Which seat to free.
#[derive(Debug, Args)]
pub struct DeactivateArgs {
    /// The licence key text, or `-` to read it from standard input.
    #[arg(value_name = "KEY")]
    pub key: String,

    /// The issuer's base URL.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// The machine to free (m_..., from the list `activate` prints when every seat is taken).
    /// Default: this machine.
    #[arg(long, value_name = "ID")]
    pub machine: Option<String>,
}

/// What to decode.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The licence key text, or `-` to read it from standard input (at most 64 KiB either way).
    #[arg(value_name = "KEY")]
    pub key: String,

    /// A public key (text, or a file of keys as for `verify`) to check the signature with. Repeat for
    /// several.
    #[arg(long = "public-key", value_name = "PK")]
    pub public_keys: Vec<String>,
}

/// The revocation list commands.
#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// Sign a revocation list and print it (or write it with --out).
    #[command(after_long_help = json::REVOCATIONS_SIGN_SCHEMA)]
    Sign(RevocationsSignArgs),
    /// Decode a revocation list and show its contents and signature status.
    #[command(after_long_help = json::REVOCATIONS_SHOW_SCHEMA)]
    Show(RevocationsShowArgs),
}

/// What the new revocation list says.
#[derive(Debug, Args)]
pub struct RevocationsSignArgs {
    /// The signing key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// The list's sequence number; every new list needs a higher one than the last.
    #[arg(long, value_name = "N")]
    pub sequence: u64,

    /// A licence id to revoke (16 hex digits). Repeat for more.
    #[arg(long = "revoke", value_name = "HEX16", value_parser = parse_license_id)]
    pub revoke: Vec<LicenseId>,

    /// A file of licence ids to revoke: one per line, `#` starts a comment.
    #[arg(long, value_name = "FILE")]
    pub ids_file: Option<PathBuf>,

    /// Write the list to this file (replacing it) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Which revocation list to show.
#[derive(Debug, Args)]
pub struct RevocationsShowArgs {
    /// The revocation list file (tsrl1_..., or the JSON of the issuer's `GET /v1/revocations`), or
    /// `-` to read it from standard input.
    #[arg(value_name = "FILE")]
    pub file: String,

    /// A public key (text, or a file of keys as for `verify`) to check the signature with. Repeat for
    /// several.
    #[arg(long = "public-key", value_name = "PK")]
    pub public_keys: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn verify_help_lists_every_exit_code() {
        let help = Cli::command()
            .find_subcommand_mut("verify")
            .expect("verify exists")
            .render_long_help()
            .to_string();
        for code in [
            "0", "1", "2", "3", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "30",
            "31", "32", "33", "34", "35", "36",
        ] {
            assert!(
                help.lines()
                    .any(|line| line.trim_start().starts_with(&format!("{code} "))),
                "{code} missing from:\n{help}"
            );
        }
        assert!(help.starts_with(EXIT_CODES_HELP) || help.contains("Exit codes:"));
    }
}
