//! Versioned schema migrations, applied in order at start; `PRAGMA user_version` records the last one.

/// Each entry migrates from version `index` to `index + 1`. Never edit a released entry: append one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: licences, their keys, revocations, webhook deliveries.
    r#"
    CREATE TABLE licenses (
        id                  TEXT PRIMARY KEY,          -- 16 hex digits, as signed into the keys
        product             INTEGER NOT NULL,
        tier                INTEGER NOT NULL,
        features            INTEGER NOT NULL,          -- u64 bits stored as i64
        status              TEXT NOT NULL CHECK (status IN ('active', 'expired', 'revoked', 'suspended')),
        customer_id         TEXT,
        email               TEXT,
        checkout_session_id TEXT UNIQUE,
        subscription_id     TEXT UNIQUE,
        payment_intent_id   TEXT,
        price_id            TEXT,
        expires_at          INTEGER,                   -- NULL: perpetual
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX licenses_by_payment_intent ON licenses (payment_intent_id);
    CREATE INDEX licenses_by_customer ON licenses (customer_id);
    CREATE INDEX licenses_by_email ON licenses (email);

    CREATE TABLE license_keys (
        id             INTEGER PRIMARY KEY,
        license_id     TEXT NOT NULL REFERENCES licenses (id),
        key_text       TEXT NOT NULL,
        signing_key_id INTEGER NOT NULL,
        issued_at      INTEGER NOT NULL,
        expires_at     INTEGER,
        reason         TEXT NOT NULL,
        event_id       TEXT
    ) STRICT;
    CREATE INDEX license_keys_by_license ON license_keys (license_id, id);

    CREATE TABLE revocations (
        license_id TEXT PRIMARY KEY REFERENCES licenses (id),
        revoked_at INTEGER NOT NULL,
        reason     TEXT NOT NULL
    ) STRICT;

    CREATE TABLE counters (
        name       TEXT PRIMARY KEY,
        value      INTEGER NOT NULL,
        changed_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE webhook_events (
        id           TEXT PRIMARY KEY,
        type         TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('processed', 'ignored', 'failed')),
        error        TEXT,
        attempts     INTEGER NOT NULL,
        received_at  INTEGER NOT NULL,
        processed_at INTEGER,
        payload      TEXT NOT NULL
    ) STRICT;
    CREATE INDEX webhook_events_by_status ON webhook_events (status, received_at);
    "#,
    // 2: what webhooks learn about subscriptions and payments, independent of delivery order; credit
    //    grants from top-up purchases.
    r#"
    -- Facts about a subscription, merged from every event that mentions it (checkout, invoices,
    -- subscription events) so that the outcome does not depend on the order Stripe delivers them.
    CREATE TABLE subscriptions (
        id           TEXT PRIMARY KEY,                 -- sub_…
        customer_id  TEXT,
        price_id     TEXT,                             -- the plan, from the newest event that named one
        price_as_of  INTEGER NOT NULL,                 -- ordering key of that event (see fulfil.rs)
        paid_through INTEGER,                          -- latest paid period end seen
        canceled_at  INTEGER,                          -- set once: no more renewals
        updated_at   INTEGER NOT NULL
    ) STRICT;

    -- Refunds and disputes by payment: a licence bought with a reversed payment is revoked, even if the
    -- refund is delivered before the purchase.
    CREATE TABLE payment_reversals (
        payment_intent_id TEXT PRIMARY KEY,
        kind              TEXT NOT NULL CHECK (kind IN ('refund', 'dispute')),
        object_id         TEXT NOT NULL,               -- ch_… or dp_…
        event_id          TEXT NOT NULL,
        at                INTEGER NOT NULL
    ) STRICT;

    -- Credits bought with top-up prices. Credit accounting (a later issue) consumes these rows.
    CREATE TABLE credit_grants (
        id                  INTEGER PRIMARY KEY,
        checkout_session_id TEXT NOT NULL,
        price_id            TEXT NOT NULL,
        customer_id         TEXT,
        email               TEXT,
        credits             INTEGER NOT NULL,
        event_id            TEXT NOT NULL,
        granted_at          INTEGER NOT NULL,
        UNIQUE (checkout_session_id, price_id)
    ) STRICT;
    "#,
    // 3: the e-mail outbox ([smtp]): licence keys to mail to buyers.
    r#"
    -- Written in the transaction that issued the key, so a mail is never lost and never sent for an
    -- effect that rolled back. The sender claims a due row by counting the attempt and moving
    -- next_attempt_at forward (a lease) before it talks SMTP, instead of a `sending` status: a crash
    -- mid-send leaves the row queued and due again when the lease ends (at-least-once delivery).
    CREATE TABLE email_outbox (
        id              INTEGER PRIMARY KEY,
        license_id      TEXT NOT NULL REFERENCES licenses (id),
        event_id        TEXT,                          -- the webhook event that issued the key
        to_address      TEXT NOT NULL,
        subject         TEXT NOT NULL,
        body            TEXT NOT NULL,                 -- carries the licence key: never logged
        status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
        attempts        INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        sent_at         INTEGER
    ) STRICT;
    CREATE INDEX email_outbox_due ON email_outbox (status, next_attempt_at);
    "#,
    // 4: which subscription a payment paid for, so a refund or dispute of a subscription payment
    //    revokes its licence.
    r#"
    -- A charge in a webhook names only its payment intent; subscription licences are found through
    -- this table, filled from `invoice.paid` payloads that list their payments or, for a refund or
    -- dispute of a payment not known here, from Stripe's API (invoice payment -> invoice ->
    -- subscription). Joined with payment_reversals, it also revokes a licence issued after its
    -- payment was refunded.
    CREATE TABLE payment_subscriptions (
        payment_intent_id TEXT PRIMARY KEY,            -- pi_…
        subscription_id   TEXT NOT NULL,               -- sub_…
        invoice_id        TEXT,                        -- in_…
        event_id          TEXT NOT NULL,               -- the event that taught it
        at                INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX payment_subscriptions_by_subscription ON payment_subscriptions (subscription_id);
    "#,
    // 5: credit accounts: cached balances, an append-only ledger, reservations, idempotency keys.
    r#"
    -- Two buckets per licence: period credits (the plan's allowance, reset at each paid renewal) and
    -- top-up credits (bought, never expire). `*_balance` is what can be reserved; `*_reserved` is held
    -- by open reservations. Every change to these four numbers is a ledger row in the same
    -- transaction, so that they always equal the sums of the ledger (checked by
    -- `Store::verify_credit_ledger`). No foreign key to `licenses`: a key signed offline may spend too.
    CREATE TABLE credit_accounts (
        license_id      TEXT PRIMARY KEY,
        period_balance  INTEGER NOT NULL CHECK (period_balance >= 0),
        top_up_balance  INTEGER NOT NULL CHECK (top_up_balance >= 0),
        period_reserved INTEGER NOT NULL CHECK (period_reserved >= 0),
        top_up_reserved INTEGER NOT NULL CHECK (top_up_reserved >= 0),
        period_start    INTEGER,                       -- the paid period the period credits belong to
        period_end      INTEGER,
        updated_at      INTEGER NOT NULL
    ) STRICT;

    -- Append-only: rows are inserted, never updated or deleted.
    CREATE TABLE credit_ledger (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        license_id      TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('grant', 'expiry', 'reservation', 'commit',
                                                      'release', 'refund', 'adjustment')),
        period          INTEGER NOT NULL,              -- change of period_balance
        top_up          INTEGER NOT NULL,              -- change of top_up_balance
        period_reserved INTEGER NOT NULL,              -- change of period_reserved
        top_up_reserved INTEGER NOT NULL,              -- change of top_up_reserved
        used            INTEGER NOT NULL DEFAULT 0,    -- credits consumed (commit rows)
        shortfall       INTEGER NOT NULL DEFAULT 0,    -- what a refund could not take back
        reason          TEXT NOT NULL,
        reference       TEXT,                          -- evt_…, rsv_…, or the admin
        reservation_id  TEXT,
        at              INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX credit_ledger_by_license ON credit_ledger (license_id, id);

    CREATE TABLE credit_reservations (
        id          TEXT PRIMARY KEY,                  -- rsv_…
        license_id  TEXT NOT NULL,
        amount      INTEGER NOT NULL CHECK (amount > 0),
        period_part INTEGER NOT NULL,                  -- drawn from period credits
        top_up_part INTEGER NOT NULL,                  -- drawn from top-up credits
        period_end  INTEGER,                           -- the period its period part belongs to
        status      TEXT NOT NULL CHECK (status IN ('open', 'committed', 'released', 'expired')),
        used        INTEGER,
        reference   TEXT,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,                  -- stored, so the sweeper survives restarts
        settled_at  INTEGER
    ) STRICT;
    CREATE INDEX credit_reservations_open ON credit_reservations (status, expires_at);
    CREATE INDEX credit_reservations_by_license ON credit_reservations (license_id, status);

    -- The first answer to each (licence, Idempotency-Key), replayed for a repeat of the same request.
    CREATE TABLE credit_idempotency (
        license_id  TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,                     -- the request it answered
        status      INTEGER NOT NULL,
        body        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (license_id, key)
    ) STRICT;

    -- Top-ups are now tied to a licence and their payment, so that a refund can take them back.
    ALTER TABLE credit_grants ADD COLUMN license_id TEXT;
    ALTER TABLE credit_grants ADD COLUMN payment_intent_id TEXT;
    ALTER TABLE credit_grants ADD COLUMN reversed_at INTEGER;
    CREATE INDEX credit_grants_by_payment_intent ON credit_grants (payment_intent_id);
    "#,
    // 6: the admin API's audit trail.
    r#"
    -- Every change made through /v1/admin/: which token (by name), what, on which licence, why, when.
    -- Append-only, written in the transaction of the change it describes.
    CREATE TABLE audit_log (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        actor      TEXT NOT NULL,
        action     TEXT NOT NULL,
        license_id TEXT,
        reason     TEXT,
        details    TEXT NOT NULL                       -- JSON object
    ) STRICT;
    CREATE INDEX audit_log_by_license ON audit_log (license_id, id);
    -- Support looks up the events that touched a licence, and finds licences by lower-cased e-mail.
    CREATE INDEX license_keys_by_event ON license_keys (event_id);
    CREATE INDEX credit_grants_by_license ON credit_grants (license_id);
    CREATE INDEX licenses_by_email_nocase ON licenses (email COLLATE NOCASE);
    "#,
    // 7: a subscription's checkout, kept until the event that says how long it is paid for (without
    //    Stripe's API, `invoice.paid`) issues the licence.
    r#"
    ALTER TABLE subscriptions ADD COLUMN checkout_session_id TEXT;
    ALTER TABLE subscriptions ADD COLUMN email TEXT;
    "#,
    // 8: signing keys kept in the database (when processes share no directory): the public key in
    //    clear, the secret sealed with the key-encryption key, which the database never sees.
    r#"
    CREATE TABLE signing_keys (
        key_id        INTEGER PRIMARY KEY CHECK (key_id BETWEEN 0 AND 4294967295),
        public_key    TEXT NOT NULL,                   -- tspk1_…, carrying the same key id
        sealed_secret BLOB NOT NULL,
        created_at    INTEGER NOT NULL
    ) STRICT;
    "#,
    // 9: machine activation: each licence's seat policy, and the machines holding its seats.
    r#"
    -- The seat policy, copied from the price when the licence is made (a plan change copies the new
    -- plan's) and changed by support; activation = 1 when its keys carry requires_activation.
    ALTER TABLE licenses ADD COLUMN activation INTEGER NOT NULL DEFAULT 0 CHECK (activation IN (0, 1));
    ALTER TABLE licenses ADD COLUMN max_machines INTEGER;          -- NULL: no limit
    ALTER TABLE licenses ADD COLUMN lease_days INTEGER;            -- NULL: leases do not end
    ALTER TABLE licenses ADD COLUMN heartbeat_seconds INTEGER;     -- NOT NULL: floating seats
    ALTER TABLE licenses ADD COLUMN max_deactivations INTEGER;     -- per 30 days; NULL: no cap

    -- One row per activation; kept after deactivation (history, and the 30-day deactivation cap,
    -- which counts rows deactivated by the customer). A machine holds a seat while deactivated_at is
    -- NULL and, for a floating seat, lapses_at is still ahead; the sweeper then marks it lapsed.
    CREATE TABLE machines (
        id              TEXT PRIMARY KEY,              -- m_…
        license_id      TEXT NOT NULL REFERENCES licenses (id),
        fingerprint     TEXT NOT NULL,                 -- 64 hex digits
        name            TEXT,
        platform        TEXT,
        activated_at    INTEGER NOT NULL,
        last_seen_at    INTEGER NOT NULL,
        lease_ends_at   INTEGER,                       -- the newest certificate's lease end
        lapses_at       INTEGER,                       -- floating: freed then unless it heart-beats
        deactivated_at  INTEGER,
        deactivated_how TEXT CHECK (deactivated_how IN ('customer', 'admin', 'lapsed'))
    ) STRICT;
    -- The same machine activated twice is the same row, whichever process sees it.
    CREATE UNIQUE INDEX machines_active_fingerprint ON machines (license_id, fingerprint)
        WHERE deactivated_at IS NULL;
    CREATE INDEX machines_by_license ON machines (license_id, activated_at);
    CREATE INDEX machines_lapsing ON machines (lapses_at) WHERE deactivated_at IS NULL;
    CREATE INDEX machines_deactivations ON machines (license_id, deactivated_how, deactivated_at);
    "#,
];
