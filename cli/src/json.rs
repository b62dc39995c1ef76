//! The `--json` output of every command: one JSON object on one line of standard output.
//!
//! These types are the schema. It is stable: fields may be added, but existing ones keep their name,
//! type and meaning. Times are integers, seconds since 1970-01-01T00:00:00Z; licence ids are 16
//! lowercase hex digits. Commands print JSON only when they succeed; failures print one line to
//! standard error and exit with an [`Exit`](crate::Exit) code.
//!
//! The `admin` commands that talk to the issuer print the issuer's own answer instead, whose shapes
//! `issuer/ADMIN-API.md` specifies (and each command's `--help` repeats); only `admin token`, which
//! runs offline, has its type here ([`AdminToken`]).

use serde::Serialize;
use tessera_keys::ProductSpec;

/// `keygen` and `pubkey`: a signing key's public half.
#[derive(Debug, Serialize)]
pub struct PublicKeyOutput {
    /// The key id licences signed with this key carry.
    pub key_id: u32,
    /// The public key's text, `tspk1_<id>_<base64url>`, as `--public-key` takes it.
    pub public_key: String,
    /// The 32 bytes of the Ed25519 public key, as 64 lowercase hex digits.
    pub public_key_hex: String,
    /// A Rust `const` declaration an app can paste into its source.
    pub rust: String,
    /// The signing key file that was written (`keygen`) or read (`pubkey`).
    pub key_file: String,
}

/// `issue`: the new licence key.
#[derive(Debug, Serialize)]
pub struct Issued {
    /// The licence key text.
    pub key: String,
    /// Its length in characters.
    pub length: usize,
    /// What it says.
    pub claims: Claims,
}

/// `verify`: a valid licence. (Invalid ones print nothing on standard output.)
#[derive(Debug, Serialize)]
pub struct Verified {
    /// Always `true`: the licence passed every check.
    pub valid: bool,
    /// The time the check was made for (`--at`, or now).
    pub checked_at: u64,
    /// Where the licence stands in its lifetime.
    pub state: State,
    /// When it expires (or expired, in grace); `null` for a perpetual licence.
    pub expires_at: Option<u64>,
    /// When its grace period ends; `null` for a perpetual licence.
    pub grace_ends_at: Option<u64>,
    /// Seconds until expiry (`active`) or until the end of the grace period (`grace`); `null` when
    /// perpetual.
    pub seconds_left: Option<u64>,
    /// `seconds_left` in whole days, rounded down.
    pub days_left: Option<u64>,
    /// What the licence says.
    pub claims: Claims,
    /// With `--machine-certificate`: the machine the certificate activates, and its lease; else
    /// `null`.
    pub machine: Option<Machine>,
}

/// `verify --machine-certificate`: the activated machine.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// The machine's fingerprint the certificate was checked against, 64 hex digits.
    pub fingerprint: String,
    /// When the issuer signed the certificate.
    pub issued_at: u64,
    /// When its lease ends (renew online before); `null`: it lasts as long as the licence.
    pub lease_ends_at: Option<u64>,
    /// Seconds until the lease ends (0 while in the licence's grace after it); `null` without lease.
    pub lease_seconds_left: Option<u64>,
    /// `lease_seconds_left` in whole days, rounded down.
    pub lease_days_left: Option<u64>,
}

/// `fingerprint`: this machine's fingerprint for a product.
#[derive(Debug, Serialize)]
pub struct MachineFingerprint {
    /// The product it is for.
    pub product: ProductRef,
    /// The fingerprint, 64 lowercase hex digits, as the issuer takes it.
    pub fingerprint: String,
}

/// `activate`: this machine activated (or its certificate imported).
#[derive(Debug, Serialize)]
pub struct Activation {
    /// The licence activated.
    pub license_id: String,
    /// The issuer's machine id (`m_...`); `null` for an imported certificate.
    pub machine_id: Option<String>,
    /// This machine's fingerprint, 64 hex digits.
    pub fingerprint: String,
    /// `true` when the machine took a new seat (201), `false` when it already held one (200, a fresh
    /// certificate) or the certificate was imported.
    pub new_seat: bool,
    /// The certificate, `tsm1_...`.
    pub certificate: String,
    /// When the certificate's lease ends; `null`: it lasts as long as the licence.
    pub lease_ends_at: Option<u64>,
    /// The file the certificate was saved to.
    pub out: String,
}

/// `activate --offline-request`: the request to carry to an online device.
#[derive(Debug, Serialize)]
pub struct OfflineRequest {
    /// The request, `tsq1_...`.
    pub request: String,
    /// The licence it asks to activate.
    pub license_id: String,
    /// This machine's fingerprint, 64 hex digits.
    pub fingerprint: String,
}

/// `deactivate`: the seat freed.
#[derive(Debug, Serialize)]
pub struct Deactivated {
    /// The licence whose seat was freed.
    pub license_id: String,
    /// The machine that held it, `m_...`.
    pub machine_id: String,
}

/// Where a valid licence stands in its lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// It never expires.
    Perpetual,
    /// It has not expired yet.
    Active,
    /// It has expired but is within its grace period: apps keep working and ask for renewal.
    Grace,
}

/// `inspect`: a decoded, untrusted licence key.
#[derive(Debug, Serialize)]
pub struct Inspected {
    /// The key text's length in characters, whitespace not counted.
    pub length_chars: usize,
    /// The licence's length in bytes (claims and signature).
    pub length_bytes: usize,
    /// Whether the signature checks out against the given public keys.
    pub signature: Signature,
    /// What the licence says; untrusted unless `signature.status` is `valid`.
    pub claims: Claims,
}

/// The outcome of checking a signature.
#[derive(Debug, Serialize)]
pub struct Signature {
    /// `valid`, `invalid`, `unknown_key_id` (no given public key has the key id), or `not_checked`
    /// (no public key was given).
    pub status: SignatureStatus,
    /// The key id the licence or list names.
    pub key_id: u32,
}

/// See [`Signature::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// Signed by the given public key with that id.
    Valid,
    /// Altered or forged.
    Invalid,
    /// No given public key has the key id.
    UnknownKeyId,
    /// No public key was given.
    NotChecked,
}

/// The claims of a licence, with names from the catalogue where it has them.
#[derive(Debug, Serialize)]
pub struct Claims {
    /// The format version, 1.
    pub version: u8,
    /// The signing key id.
    pub key_id: u32,
    /// The licence id, 16 hex digits.
    pub license_id: String,
    /// The product.
    pub product: ProductRef,
    /// The tier.
    pub tier: TierRef,
    /// The granted features, lowest bit first.
    pub features: Vec<FeatureRef>,
    /// When the licence was signed.
    pub issued_at: u64,
    /// It is not valid before this time; `null` if no start date.
    pub not_before: Option<u64>,
    /// It is not valid from this time on, grace aside; `null` for a perpetual licence.
    pub expires_at: Option<u64>,
    /// Length of the grace period after expiry; `null` if none.
    pub grace_seconds: Option<u32>,
    /// When the grace period ends (expiry if no grace); `null` for a perpetual licence.
    pub grace_ends_at: Option<u64>,
    /// The licensee's name; `null` if none.
    pub licensee: Option<String>,
    /// Whether the licence works only on activated machines (with a machine certificate).
    pub requires_activation: bool,
}

/// A product: its id and, if the catalogue lists it, its name.
#[derive(Debug, Serialize)]
pub struct ProductRef {
    /// The product id.
    pub id: u32,
    /// The name, or `null`.
    pub name: Option<String>,
}

/// A tier: its index and, if the catalogue lists it, its name.
#[derive(Debug, Serialize)]
pub struct TierRef {
    /// The tier index (0 = lowest).
    pub index: u8,
    /// The name, or `null`.
    pub name: Option<String>,
}

/// A feature: its bit and, if the catalogue lists it, its name.
#[derive(Debug, Serialize)]
pub struct FeatureRef {
    /// The feature bit (0 to 63).
    pub bit: u8,
    /// The name, or `null`.
    pub name: Option<String>,
}

/// `revocations sign`: the new list.
#[derive(Debug, Serialize)]
pub struct SignedList {
    /// The list's text, `tsrl1_...`.
    pub text: String,
    /// The signing key id.
    pub key_id: u32,
    /// The sequence number.
    pub sequence: u64,
    /// When the list was signed.
    pub issued_at: u64,
    /// The revoked licence ids, ascending.
    pub revoked: Vec<String>,
    /// The file written with `--out`, or `null`.
    pub out: Option<String>,
}

/// `revocations show`: a decoded list.
#[derive(Debug, Serialize)]
pub struct ShownList {
    /// The signing key id.
    pub key_id: u32,
    /// The sequence number.
    pub sequence: u64,
    /// When the list was signed.
    pub issued_at: u64,
    /// The revoked licence ids, ascending.
    pub revoked: Vec<String>,
    /// Whether the signature checks out against the given public keys.
    pub signature: Signature,
}

/// `admin token`: a new admin token and what the issuer's config needs of it.
#[derive(Debug, Serialize)]
pub struct AdminToken {
    /// The token, `tsadm_` and 64 lowercase hex digits; printed only this once.
    pub token: String,
    /// Its name: the issuer's audit trail records it for every change made with the token.
    pub name: String,
    /// The SHA-256 of the token as 64 lowercase hex digits: what the issuer's config keeps.
    pub sha256: String,
}

impl Claims {
    /// The claims, named with `spec` when it is the licence's product.
    pub(crate) fn new(claims: &tessera_keys::Claims<'_>, spec: Option<&ProductSpec>) -> Claims {
        let spec = spec.filter(|spec| spec.id == claims.product);
        Claims {
            version: tessera_keys::LICENSE_VERSION,
            key_id: claims.key_id,
            license_id: claims.license_id.to_string(),
            product: ProductRef {
                id: claims.product,
                name: spec.map(|spec| spec.name.clone()),
            },
            tier: TierRef {
                index: claims.tier,
                name: spec
                    .and_then(|spec| spec.tier_name(claims.tier))
                    .map(str::to_owned),
            },
            features: claims
                .features
                .iter()
                .map(|bit| FeatureRef {
                    bit,
                    name: spec
                        .and_then(|spec| spec.feature_name(bit))
                        .map(str::to_owned),
                })
                .collect(),
            issued_at: claims.issued_at.0,
            not_before: claims.not_before.map(|time| time.0),
            expires_at: claims.expires_at.map(|time| time.0),
            grace_seconds: claims.grace_seconds,
            grace_ends_at: claims.grace_ends_at().map(|time| time.0),
            licensee: claims.licensee.map(str::to_owned),
            requires_activation: claims.requires_activation,
        }
    }
}

macro_rules! claims_schema {
    () => {
        "  CLAIMS: {\"version\": 1, \"key_id\": N, \"license_id\": \"16 hex digits\",
    \"product\": {\"id\": N, \"name\": STR|null}, \"tier\": {\"index\": N, \"name\": STR|null},
    \"features\": [{\"bit\": N, \"name\": STR|null}, ...], \"issued_at\": UNIX,
    \"not_before\": UNIX|null, \"expires_at\": UNIX|null, \"grace_seconds\": N|null,
    \"grace_ends_at\": UNIX|null, \"licensee\": STR|null, \"requires_activation\": BOOL}
  Names come from --catalog when it lists the product, else null."
    };
}

macro_rules! conventions {
    () => {
        "  One object on one line. UNIX is seconds since 1970-01-01T00:00:00Z. Fields may be added in
  later versions; existing ones keep their meaning. Errors print no JSON: one line on stderr."
    };
}

macro_rules! public_key_schema {
    () => {
        "JSON output (--json):
  {\"key_id\": N, \"public_key\": \"tspk1_...\", \"public_key_hex\": \"64 hex digits\",
   \"rust\": \"const ISSUER: PublicKey = ...;\", \"key_file\": PATH}
"
    };
}

/// `keygen --help`.
pub(crate) const KEYGEN_SCHEMA: &str = concat!(public_key_schema!(), conventions!());

/// `pubkey --help`.
pub(crate) const PUBKEY_SCHEMA: &str = KEYGEN_SCHEMA;

/// `issue --help`.
pub(crate) const ISSUE_SCHEMA: &str = concat!(
    "JSON output (--json):
  {\"key\": \"ts1_...\", \"length\": N, \"claims\": CLAIMS}
",
    claims_schema!(),
    "\n",
    conventions!()
);

/// `verify --help`: exit codes and schema.
pub(crate) const VERIFY_HELP: &str = concat!(
    crate::exit::exit_codes_help!(),
    "

JSON output (--json), printed only when the licence is valid:
  {\"valid\": true, \"checked_at\": UNIX, \"state\": \"perpetual\"|\"active\"|\"grace\",
   \"expires_at\": UNIX|null, \"grace_ends_at\": UNIX|null, \"seconds_left\": N|null,
   \"days_left\": N|null, \"claims\": CLAIMS, \"machine\": MACHINE|null}
  seconds_left counts to expiry (active) or to the end of grace (grace); days_left rounds down.
  MACHINE (with --machine-certificate): {\"fingerprint\": \"64 hex digits\", \"issued_at\": UNIX,
    \"lease_ends_at\": UNIX|null, \"lease_seconds_left\": N|null, \"lease_days_left\": N|null}
",
    claims_schema!(),
    "\n",
    conventions!()
);

/// `inspect --help`.
pub(crate) const INSPECT_SCHEMA: &str = concat!(
    "JSON output (--json):
  {\"length_chars\": N, \"length_bytes\": N,
   \"signature\": {\"status\": \"valid\"|\"invalid\"|\"unknown_key_id\"|\"not_checked\", \"key_id\": N},
   \"claims\": CLAIMS}
",
    claims_schema!(),
    "\n",
    conventions!()
);

/// `revocations sign --help`.
pub(crate) const REVOCATIONS_SIGN_SCHEMA: &str = concat!(
    "JSON output (--json):
  {\"text\": \"tsrl1_...\", \"key_id\": N, \"sequence\": N, \"issued_at\": UNIX,
   \"revoked\": [\"16 hex digits\", ...], \"out\": PATH|null}
",
    conventions!()
);

/// `revocations show --help`.
pub(crate) const REVOCATIONS_SHOW_SCHEMA: &str = concat!(
    "JSON output (--json):
  {\"key_id\": N, \"sequence\": N, \"issued_at\": UNIX, \"revoked\": [\"16 hex digits\", ...],
   \"signature\": {\"status\": \"valid\"|\"invalid\"|\"unknown_key_id\"|\"not_checked\", \"key_id\": N}}
",
    conventions!()
);

/// `admin token --help`.
pub(crate) const ADMIN_TOKEN_SCHEMA: &str = concat!(
    "JSON output (--json):
  {\"token\": \"tsadm_<64 hex digits>\", \"name\": STR, \"sha256\": \"64 hex digits\"}
  The issuer's config takes name and sha256: [admin] tokens = [{ name = ..., sha256 = ... }].
",
    conventions!()
);

/// `fingerprint --help`.
pub(crate) const FINGERPRINT_SCHEMA: &str = concat!(
    "JSON output (--json):
  {\"product\": {\"id\": N, \"name\": STR|null}, \"fingerprint\": \"64 hex digits\"}
",
    conventions!()
);

/// `activate --help`: exit codes and schema.
pub(crate) const ACTIVATE_SCHEMA: &str = concat!(
    crate::exit::exit_codes_help!(),
    "

JSON output (--json):
  {\"license_id\": \"16 hex digits\", \"machine_id\": \"m_...\"|null, \"fingerprint\": \"64 hex digits\",
   \"new_seat\": BOOL, \"certificate\": \"tsm1_...\", \"lease_ends_at\": UNIX|null, \"out\": PATH}
  With --offline-request:
  {\"request\": \"tsq1_...\", \"license_id\": \"16 hex digits\", \"fingerprint\": \"64 hex digits\"}
",
    conventions!()
);

/// `deactivate --help`: exit codes and schema.
pub(crate) const DEACTIVATE_SCHEMA: &str = concat!(
    crate::exit::exit_codes_help!(),
    "

JSON output (--json):
  {\"license_id\": \"16 hex digits\", \"machine_id\": \"m_...\"}
",
    conventions!()
);
