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
];
