//! The `--json` output of the `admin` commands, as their `--help` shows it.
//!
//! These commands print the issuer's answer as it gave it (its field order aside): the shapes are the
//! issuer's, specified in `issuer/ADMIN-API.md`, and named here in capitals (LICENSE, KEY, CREDITS,
//! EVENT, AUDIT_ENTRY).

macro_rules! conventions {
    () => {
        "  The issuer's answer (issuer/ADMIN-API.md), one object on one line. UNIX is seconds since
  1970-01-01T00:00:00Z; ID is a licence id, 16 hex digits. Fields may be added in later versions.
  Errors print no JSON: one line on stderr with the issuer's message and error code, and exit 20 to
  24 (see `tessera admin --help`)."
    };
}

macro_rules! license_shape {
    () => {
        "  LICENSE: {\"id\": ID, \"product\": N, \"product_name\": STR|null, \"tier\": N,
    \"tier_name\": STR|null, \"features\": [STR, ...],
    \"status\": \"active\"|\"expired\"|\"revoked\"|\"suspended\", \"expires_at\": UNIX|null,
    \"email\": STR|null, \"customer_id\": STR|null, \"checkout_session_id\": STR|null,
    \"subscription_id\": STR|null, \"payment_intent_id\": STR|null, \"price_id\": STR|null,
    \"created_at\": UNIX, \"updated_at\": UNIX}
"
    };
}

macro_rules! credits_shape {
    () => {
        "  CREDITS: {\"license_id\": ID, \"balances\": {\"period\": N, \"top_up\": N, \"available\": N,
    \"reserved\": N, \"period_reserved\": N, \"top_up_reserved\": N},
    \"period\": {\"start\": UNIX|null, \"end\": UNIX|null},
    \"reservations\": [{\"id\": \"rsv_...\", \"status\": \"open\", \"amount\": N, \"period_part\": N,
      \"top_up_part\": N, \"used\": N|null, \"reference\": STR|null, \"created_at\": UNIX,
      \"expires_at\": UNIX, \"settled_at\": UNIX|null}, ...]}
"
    };
}

macro_rules! event_shape {
    () => {
        "  EVENT: {\"id\": \"evt_...\", \"type\": STR, \"status\": \"processed\"|\"ignored\"|\"failed\",
    \"error\": STR|null, \"attempts\": N, \"received_at\": UNIX, \"processed_at\": UNIX|null}
"
    };
}

macro_rules! audit_shape {
    () => {
        "  AUDIT_ENTRY: {\"id\": N, \"at\": UNIX, \"actor\": STR (the token's name), \"action\": STR,
    \"license_id\": ID|null, \"reason\": STR|null, \"details\": {...}}
  Actions: license.issue, license.reissue, license.extend, license.revoke, license.suspend,
  license.reinstate, license.seats, credits.grant, credits.deduct, machine.activate,
  machine.deactivate, webhook.retry, keys.rotate.
"
    };
}

macro_rules! machine_shape {
    () => {
        "  MACHINE: {\"id\": \"m_...\", \"fingerprint\": \"64 hex digits\", \"name\": STR|null,
    \"platform\": STR|null, \"activated_at\": UNIX, \"last_seen_at\": UNIX, \"lease_ends_at\": UNIX|null,
    \"license_id\": ID, \"active\": BOOL, \"deactivated_at\": UNIX|null,
    \"deactivated_how\": \"customer\"|\"admin\"|\"lapsed\"|null}
"
    };
}

macro_rules! seats_shape {
    () => {
        "  SEATS: {\"max_machines\": N|null, \"lease_days\": N|null, \"floating\": BOOL,
    \"heartbeat_seconds\": N|null, \"max_deactivations_per_30_days\": N|null}
  LICENSE_MACHINES: {\"license_id\": ID, \"seats\": SEATS|null (null: its keys need no activation),
    \"active\": N, \"machines\": [MACHINE, ...] (oldest first, freed ones included)}
"
    };
}

/// `licenses find`.
pub(crate) const FIND: &str = concat!(
    "JSON output (--json):
  {\"licenses\": [LICENSE, ...]}  newest first, possibly empty
",
    license_shape!(),
    conventions!()
);

/// `licenses show`.
pub(crate) const SHOW: &str = concat!(
    "JSON output (--json):
  {\"license\": LICENSE, \"keys\": [KEY, ...] (oldest first),
   \"subscription\": {\"id\": STR, \"customer_id\": STR|null, \"price_id\": STR|null,
     \"paid_through\": UNIX|null, \"canceled_at\": UNIX|null}|null,
   \"credits\": CREDITS, \"webhook_events\": [EVENT, ...] (newest first),
   \"audit\": [AUDIT_ENTRY, ...] (newest first), \"machines\": LICENSE_MACHINES}
  KEY: {\"key\": \"ts1_...\", \"signing_key_id\": N, \"issued_at\": UNIX, \"expires_at\": UNIX|null,
    \"reason\": \"purchase\"|\"renewal\"|\"plan_change\"|\"manual\"|\"reissue\"|\"extend\"}
",
    license_shape!(),
    credits_shape!(),
    event_shape!(),
    audit_shape!(),
    seats_shape!(),
    machine_shape!(),
    conventions!()
);

/// `licenses seats`.
pub(crate) const SEATS: &str = concat!(
    "JSON output (--json):
  {\"license\": LICENSE, \"seats\": SEATS}
",
    license_shape!(),
    seats_shape!(),
    conventions!()
);

/// `machines list`.
pub(crate) const MACHINES: &str = concat!(
    "JSON output (--json): LICENSE_MACHINES
",
    seats_shape!(),
    machine_shape!(),
    conventions!()
);

/// `machines show`, `machines deactivate`.
pub(crate) const MACHINE: &str = concat!(
    "JSON output (--json):
  {\"machine\": MACHINE}
",
    machine_shape!(),
    conventions!()
);

/// `machines activate`.
pub(crate) const MACHINE_ACTIVATED: &str = concat!(
    "JSON output (--json):
  {\"machine\": MACHINE without license_id/active/deactivated_*, \"certificate\": \"tsm1_...\"}
  Every seat taken: the machines holding them on stderr, exit 36.
",
    machine_shape!(),
    conventions!()
);

/// `licenses issue`, `licenses extend`.
pub(crate) const WITH_KEY: &str = concat!(
    "JSON output (--json):
  {\"license\": LICENSE, \"key\": \"ts1_...\"}
",
    license_shape!(),
    conventions!()
);

/// `licenses issue`.
pub(crate) const ISSUE: &str = WITH_KEY;

/// `licenses reissue`.
pub(crate) const REISSUE: &str = concat!(
    "JSON output (--json):
  {\"license\": LICENSE, \"key\": \"ts1_...\", \"emailed\": BOOL}
  emailed: the key was queued for e-mail (false without --email, SMTP or an address).
",
    license_shape!(),
    conventions!()
);

/// `licenses revoke`.
pub(crate) const REVOKE: &str = concat!(
    "JSON output (--json):
  {\"license\": LICENSE, \"revocation_sequence\": N}
  revocation_sequence: the sequence number of the revocation list that lists it.
",
    license_shape!(),
    conventions!()
);

/// `licenses suspend`, `licenses reinstate`.
pub(crate) const LICENSE_ONLY: &str = concat!(
    "JSON output (--json):
  {\"license\": LICENSE}
",
    license_shape!(),
    conventions!()
);

/// `credits show`, `credits grant`, `credits deduct`.
pub(crate) const CREDITS: &str = concat!(
    "JSON output (--json): CREDITS, the licence's credits after the command
",
    credits_shape!(),
    conventions!()
);

/// `credits ledger`.
pub(crate) const LEDGER: &str = concat!(
    "JSON output (--json):
  {\"entries\": [{\"id\": N, \"kind\": STR, \"period\": N, \"top_up\": N, \"period_reserved\": N,
     \"top_up_reserved\": N, \"used\": N, \"shortfall\": N, \"reason\": STR, \"reference\": STR|null,
     \"reservation_id\": STR|null, \"at\": UNIX}, ...],
   \"next_cursor\": STR|null}
  period, top_up and the reserved fields are signed changes; pass next_cursor as --cursor for the
  next page (null on the last one).
",
    conventions!()
);

/// `credits check`.
pub(crate) const CHECK: &str = concat!(
    "JSON output (--json), also when it exits 25:
  {\"consistent\": BOOL, \"mismatches\": [{\"license_id\": ID, \"cached\": [N, N, N, N],
     \"ledger\": [N, N, N, N], \"open_reservations\": [N, N]}, ...]}
  cached and ledger are [period, top_up, period_reserved, top_up_reserved]; open_reservations is
  [period, top_up] held by open reservations.
",
    conventions!()
);

/// `webhooks list`.
pub(crate) const EVENTS: &str = concat!(
    "JSON output (--json):
  {\"events\": [EVENT, ...]}  newest first
",
    event_shape!(),
    conventions!()
);

/// `webhooks show`.
pub(crate) const EVENT: &str = concat!(
    "JSON output (--json):
  {\"event\": EVENT, \"payload\": {...the event as Stripe sent it...}, \"licenses\": [ID, ...]}
",
    event_shape!(),
    conventions!()
);

/// `webhooks retry`.
pub(crate) const RETRY: &str = concat!(
    "JSON output (--json):
  {\"event_id\": \"evt_...\", \"status\": \"processed\"|\"ignored\"|\"duplicate\"}
  duplicate: it had already taken effect, nothing changed. If it fails again: exit 24.
",
    conventions!()
);

/// `keys rotate`.
pub(crate) const ROTATE: &str = concat!(
    "JSON output (--json):
  {\"active_key_id\": N, \"public_key\": \"tspk1_...\",
   \"keys\": [{\"key_id\": N, \"public_key\": \"tspk1_...\", \"active\": BOOL}, ...]}
  keys: every key apps should trust, as GET /v1/keys publishes them.
",
    conventions!()
);

/// `audit list`.
pub(crate) const AUDIT: &str = concat!(
    "JSON output (--json):
  {\"entries\": [AUDIT_ENTRY, ...]}  newest first
",
    audit_shape!(),
    conventions!()
);
