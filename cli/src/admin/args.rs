//! The `tessera admin` command line. Doc comments here are the `--help` text.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use clap::{ArgGroup, Args, Subcommand};
use tessera_keys::{LicenseId, UnixTime};

use super::schema;
use crate::input::{parse_license_id, parse_time};

/// Where `tessera admin` finds the issuer unless `--url` or `TESSERA_URL` says otherwise.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The longest reason the issuer keeps, in bytes.
const MAX_REASON: usize = 500;

/// Talk to a running issuer's admin API (support work) and make admin tokens.
///
/// Every command but `token` needs the issuer's URL and an admin token; changes are recorded in the
/// issuer's audit trail under the token's name.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The issuer's base URL.
    #[arg(
        long,
        global = true,
        env = "TESSERA_URL",
        value_name = "URL",
        default_value = DEFAULT_URL
    )]
    pub url: String,

    /// An admin token (tsadm_...), as `tessera admin token` made it. Prefer the environment
    /// variable: other users of the machine can see command lines. Never printed.
    #[arg(
        long,
        global = true,
        env = "TESSERA_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Secret>,

    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// A value that `Debug` does not show, so that no log or panic message can reveal it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Never fails: clap would print a refused value in its error, and this one must not be printed.
impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Secret, Infallible> {
        Ok(Secret(text.to_owned()))
    }
}

/// The admin commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Find, show, issue and change licences.
    #[command(subcommand)]
    Licenses(LicensesCommand),
    /// A licence's credits: show, grant, deduct, its ledger; check every account.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// Stripe webhook deliveries: list, show, retry.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// The issuer's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit trail of admin changes.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Machines holding licences' seats: list, show, free one, activate one from its request.
    #[command(subcommand)]
    Machines(MachinesCommand),
    /// Make a new admin token (offline) and print it with the line for the issuer's config.
    #[command(after_long_help = crate::json::ADMIN_TOKEN_SCHEMA)]
    Token(TokenArgs),
}

/// `admin licenses`.
#[derive(Debug, Subcommand)]
pub enum LicensesCommand {
    /// Find licences by the buyer's e-mail, Stripe ids, or a licence key (newest first).
    #[command(after_long_help = schema::FIND)]
    Find(FindArgs),
    /// Everything about one licence: its claims, every key, subscription, credits, webhook events
    /// and audit trail.
    #[command(after_long_help = schema::SHOW)]
    Show(LicenseArg),
    /// Issue a licence by hand (a comp, a reseller sale, a migration) and print its key.
    #[command(after_long_help = schema::ISSUE)]
    Issue(IssueArgs),
    /// Sign a fresh key for a licence, with the same claims (a lost key).
    #[command(after_long_help = schema::REISSUE)]
    Reissue(ReissueArgs),
    /// Move a licence's expiry and sign a key that carries it.
    #[command(after_long_help = schema::WITH_KEY)]
    Extend(ExtendArgs),
    /// Revoke a licence for good; it goes into the next signed revocation list.
    #[command(after_long_help = schema::REVOKE)]
    Revoke(ReasonArgs),
    /// Suspend a licence: refused online until reinstated.
    #[command(after_long_help = schema::LICENSE_ONLY)]
    Suspend(ReasonArgs),
    /// Undo a suspension (a revocation stays).
    #[command(after_long_help = schema::LICENSE_ONLY)]
    Reinstate(ReasonArgs),
    /// Change how many machines a licence may be activated on. Machines already active keep their
    /// seats; fewer seats only stop new activations until enough are freed.
    #[command(after_long_help = schema::SEATS)]
    Seats(SeatsArgs),
}

/// A licence's new seat count.
#[derive(Debug, Args)]
pub struct SeatsArgs {
    /// The licence id, 16 hex digits.
    #[arg(value_name = "ID", value_parser = parse_license_id)]
    pub id: LicenseId,

    /// The new seat count (0 to 100000), or `unlimited`.
    #[arg(value_name = "N", value_parser = parse_seats)]
    pub seats: Seats,

    /// Why (required): it goes into the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: String,
}

/// A seat count: a number, or no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seats(pub Option<u32>);

/// `machines`.
#[derive(Debug, Subcommand)]
pub enum MachinesCommand {
    /// A licence's seat policy and every machine it activated, freed ones included.
    #[command(after_long_help = schema::MACHINES)]
    List(LicenseArg),
    /// One machine.
    #[command(after_long_help = schema::MACHINE)]
    Show(MachineArg),
    /// Free a machine's seat (whatever the plan's self-service cap).
    #[command(after_long_help = schema::MACHINE)]
    Deactivate(MachineReasonArgs),
    /// Activate a machine from its activation request (tsq1_..., what `tessera activate
    /// --offline-request` or the app showed), for a customer who cannot; the seat limit applies.
    #[command(after_long_help = schema::MACHINE_ACTIVATED)]
    Activate(MachineActivateArgs),
}

/// Which machine.
#[derive(Debug, Args)]
pub struct MachineArg {
    /// The machine id (m_...).
    #[arg(value_name = "ID", value_parser = parse_machine_id)]
    pub id: String,
}

/// A machine and why its seat is freed.
#[derive(Debug, Args)]
pub struct MachineReasonArgs {
    /// The machine id (m_...).
    #[arg(value_name = "ID", value_parser = parse_machine_id)]
    pub id: String,

    /// Why (required): it goes into the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: String,
}

/// The request to activate.
#[derive(Debug, Args)]
pub struct MachineActivateArgs {
    /// The activation request: its text (tsq1_...), a file holding it, or `-` for standard input.
    #[arg(long, value_name = "TSQ")]
    pub request: String,

    /// Why (required): it goes into the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: String,

    /// Also save the certificate to this file, to hand to the customer.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// Exactly one search term.
#[derive(Debug, Args)]
#[command(group = ArgGroup::new("term").required(true).multiple(false))]
pub struct FindArgs {
    /// The buyer's e-mail address.
    #[arg(long, value_name = "E", group = "term")]
    pub email: Option<String>,

    /// A Stripe customer id (cus_...).
    #[arg(long, value_name = "C", group = "term")]
    pub customer: Option<String>,

    /// A Stripe subscription id (sub_...).
    #[arg(long, value_name = "S", group = "term")]
    pub subscription: Option<String>,

    /// A Stripe Checkout Session id (cs_...).
    #[arg(long, value_name = "CS", group = "term")]
    pub checkout_session: Option<String>,

    /// A licence key (ts1_...), or `-` to read it from standard input; found by the licence id in
    /// it, whether or not it verifies.
    #[arg(long, value_name = "KEY", group = "term")]
    pub key: Option<String>,
}

/// Which licence.
#[derive(Debug, Args)]
pub struct LicenseArg {
    /// The licence id, 16 hex digits.
    #[arg(value_name = "ID", value_parser = parse_license_id)]
    pub id: LicenseId,
}

/// What the new licence says. Products, tiers and features are names or numbers of the issuer's
/// catalogue.
#[derive(Debug, Args)]
#[command(group = ArgGroup::new("expiry").args(["expires", "days"]))]
pub struct IssueArgs {
    /// The product: its name or id in the issuer's catalogue.
    #[arg(long, value_name = "P")]
    pub product: String,

    /// The tier: its name or index.
    #[arg(long, value_name = "T")]
    pub tier: String,

    /// A feature to grant: its name or bit. Repeat for more.
    #[arg(long = "feature", value_name = "F")]
    pub features: Vec<String>,

    /// When the licence expires: YYYY-MM-DD (00:00 UTC), RFC 3339, or unix seconds. Default: never.
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    pub expires: Option<UnixTime>,

    /// The licence expires this many days from now.
    #[arg(long, value_name = "N", value_parser = positive::<u32>)]
    pub days: Option<u32>,

    /// The buyer's e-mail address, kept with the licence.
    #[arg(long, value_name = "E")]
    pub email: Option<String>,

    /// Why, for the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: Option<String>,
}

/// Which licence gets a fresh key.
#[derive(Debug, Args)]
pub struct ReissueArgs {
    /// The licence id, 16 hex digits.
    #[arg(value_name = "ID", value_parser = parse_license_id)]
    pub id: LicenseId,

    /// Also e-mail the new key to the buyer (when the issuer has SMTP and an address).
    #[arg(long)]
    pub email: bool,

    /// Why, for the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: Option<String>,
}

/// The new expiry.
#[derive(Debug, Args)]
#[command(group = ArgGroup::new("expiry").args(["days", "until"]).required(true))]
pub struct ExtendArgs {
    /// The licence id, 16 hex digits.
    #[arg(value_name = "ID", value_parser = parse_license_id)]
    pub id: LicenseId,

    /// Add this many days to the later of now and the current expiry.
    #[arg(long, value_name = "N", value_parser = positive::<u32>)]
    pub days: Option<u32>,

    /// The new expiry: YYYY-MM-DD (00:00 UTC), RFC 3339, or unix seconds.
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    pub until: Option<UnixTime>,

    /// Why (required): it goes into the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: String,
}

/// A licence and why it changes.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// The licence id, 16 hex digits.
    #[arg(value_name = "ID", value_parser = parse_license_id)]
    pub id: LicenseId,

    /// Why (required): it goes into the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: String,
}

/// `admin credits`.
#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// A licence's credits: balances per bucket, its paid period, open reservations.
    #[command(after_long_help = schema::CREDITS)]
    Show(LicenseArg),
    /// Give a licence top-up credits (they never expire).
    #[command(after_long_help = schema::CREDITS)]
    Grant(AdjustArgs),
    /// Take credits from a licence (period credits first).
    #[command(after_long_help = schema::CREDITS)]
    Deduct(AdjustArgs),
    /// A licence's credit ledger, oldest first, a page at a time.
    #[command(after_long_help = schema::LEDGER)]
    Ledger(LedgerArgs),
    /// Recompute every credit account from its ledger; exits 25 if any differs.
    #[command(after_long_help = schema::CHECK)]
    Check,
}

/// A credit adjustment.
#[derive(Debug, Args)]
pub struct AdjustArgs {
    /// The licence id, 16 hex digits.
    #[arg(value_name = "ID", value_parser = parse_license_id)]
    pub id: LicenseId,

    /// How many credits.
    #[arg(value_name = "N", value_parser = positive::<u64>)]
    pub amount: u64,

    /// Why (required): it goes into the audit trail and the ledger.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: String,
}

/// A page of a ledger.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// The licence id, 16 hex digits.
    #[arg(value_name = "ID", value_parser = parse_license_id)]
    pub id: LicenseId,

    /// Where the page starts: the `next_cursor` of the page before.
    #[arg(long, value_name = "C")]
    pub cursor: Option<String>,

    /// Entries per page (1 to 1000; the issuer's default is 100).
    #[arg(long, value_name = "N", value_parser = limit())]
    pub limit: Option<u32>,
}

/// `admin webhooks`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Stripe deliveries, newest first.
    #[command(after_long_help = schema::EVENTS)]
    List(WebhooksListArgs),
    /// One delivery: its status, the event as Stripe sent it, and the licences it took effect on.
    #[command(after_long_help = schema::EVENT)]
    Show(EventArg),
    /// Run a stored event through the webhook path again; one that took effect before changes
    /// nothing.
    #[command(after_long_help = schema::RETRY)]
    Retry(EventArg),
}

/// Which deliveries.
#[derive(Debug, Args)]
pub struct WebhooksListArgs {
    /// Only the ones that failed.
    #[arg(long)]
    pub failed: bool,

    /// Only events of this type, e.g. `invoice.paid`.
    #[arg(long = "type", value_name = "T")]
    pub event_type: Option<String>,

    /// At most this many (1 to 1000; the issuer's default is 100).
    #[arg(long, value_name = "N", value_parser = limit())]
    pub limit: Option<u32>,
}

/// Which event.
#[derive(Debug, Args)]
pub struct EventArg {
    /// The Stripe event id (evt_...).
    #[arg(value_name = "EVENT_ID", value_parser = parse_event_id)]
    pub event_id: String,
}

/// `admin keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new active signing key; the old ones stay trusted and published.
    #[command(after_long_help = schema::ROTATE)]
    Rotate(RotateArgs),
}

/// Why the key rotates.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Why, for the audit trail.
    #[arg(long, value_name = "R", value_parser = parse_reason)]
    pub reason: Option<String>,
}

/// `admin audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit entries, newest first.
    #[command(after_long_help = schema::AUDIT)]
    List(AuditListArgs),
}

/// Which audit entries.
#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only the entries about this licence (16 hex digits).
    #[arg(long, value_name = "ID", value_parser = parse_license_id)]
    pub license: Option<LicenseId>,

    /// At most this many (1 to 1000; the issuer's default is 100).
    #[arg(long, value_name = "N", value_parser = limit())]
    pub limit: Option<u32>,
}

/// Who the new token is for.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's name: the audit trail records it for every change made with the token.
    #[arg(long, value_name = "NAME", default_value = "admin", value_parser = parse_token_name)]
    pub name: String,
}

/// `--limit`: 1 to 1000, as the issuer takes it.
fn limit() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=1000)
}

/// A whole number of at least 1.
fn positive<T: FromStr + Default + PartialEq>(text: &str) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(number) if number != T::default() => Ok(number),
        _ => Err("must be a whole number, at least 1".to_owned()),
    }
}

/// A reason: not blank, at most [`MAX_REASON`] bytes (what the issuer keeps).
fn parse_reason(text: &str) -> Result<String, String> {
    let reason = text.trim();
    if reason.is_empty() {
        return Err("must not be blank".to_owned());
    }
    if reason.len() > MAX_REASON {
        return Err(format!("must be at most {MAX_REASON} bytes"));
    }
    Ok(reason.to_owned())
}

/// A Stripe event id: letters, digits, `_` and `-`, as Stripe makes them; nothing a URL path would
/// need to escape.
fn parse_event_id(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 255
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err("is not a Stripe event id (letters, digits, `_`, `-`)".to_owned())
    }
}

/// A seat count: 0 to 100000 (what the issuer takes), or `unlimited`.
fn parse_seats(text: &str) -> Result<Seats, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(Seats(None));
    }
    match text.parse::<u32>() {
        Ok(n) if n <= 100_000 => Ok(Seats(Some(n))),
        _ => Err("must be a number of seats (0 to 100000) or `unlimited`".to_owned()),
    }
}

/// A machine id: what [`crate::deactivate::machine_id`] accepts.
fn parse_machine_id(text: &str) -> Result<String, String> {
    crate::deactivate::machine_id(text).map_err(|failure| failure.error.to_string())
}

/// A token name as the issuer's config takes it: 1 to 64 printable characters.
fn parse_token_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() || name.len() > 64 || name.contains(char::is_control) {
        return Err("must be 1 to 64 printable characters".to_owned());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_event_ids_and_names() {
        assert_eq!(positive::<u32>("30"), Ok(30));
        for bad in ["0", "-1", "x", "99999999999"] {
            assert!(positive::<u32>(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_reason("  refund  "), Ok("refund".to_owned()));
        assert!(parse_reason(" \t").is_err());
        assert!(parse_reason(&"x".repeat(501)).is_err());
        assert!(parse_event_id("evt_1Abc-2").is_ok());
        for bad in ["", "evt/1", "evt 1", "../x", "evt?x"] {
            assert!(parse_event_id(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_seats("3"), Ok(Seats(Some(3))));
        assert_eq!(parse_seats("0"), Ok(Seats(Some(0))));
        assert_eq!(parse_seats("Unlimited"), Ok(Seats(None)));
        for bad in ["-1", "x", "100001", ""] {
            assert!(parse_seats(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_machine_id(" m_abc-1 "), Ok("m_abc-1".to_owned()));
        for bad in ["", "m/1", "m 1", "../x"] {
            assert!(parse_machine_id(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_token_name(" alice "), Ok("alice".to_owned()));
        assert!(parse_token_name("").is_err());
        assert!(parse_token_name("a\nb").is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let secret: Secret = "tsadm_hidden".parse().unwrap();
        assert!(!format!("{secret:?}").contains("hidden"));
    }
}
