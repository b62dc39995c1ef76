//! Records read back from result rows, the same way on every backend.
//!
//! Each backend gives its own row type [`Columns`]; each record is decoded once here, from the
//! columns its `…_COLUMNS` list names, in that order. The backends keep their own SQL (placeholders
//! and a few functions differ) but select these lists. A value the record cannot hold (a negative
//! amount, an unknown status, a malformed licence id) is a corrupt store, said with what it is.

use tessera_keys::LicenseId;

use super::{
    AuditEntry, CreditAccount, CreditBalances, CreditGrant, Deactivation, Delivery, DeliveryStatus,
    IssuedKey, LedgerEntry, LedgerMismatch, LicenseRecord, LicenseStatus, Machine, OutboxEmail,
    PaymentReversal, PaymentSubscription, Reservation, ReservationStatus, SeatPolicy, StoreError,
    StoredAnswer, StoredSigningKey, SubscriptionRecord, Timestamp, TopUpGrant,
};

/// Typed reads of one result row by column position; a failed read (a NULL where none may be, a
/// value of another type) is the backend's own error.
pub(crate) trait Columns {
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    fn optional_int(&self, index: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, index: usize) -> Result<String, StoreError>;
    fn optional_text(&self, index: usize) -> Result<Option<String>, StoreError>;
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError>;
}

/// Implements [`Columns`] for a backend's row type `$row`, whose method `$get` reads a column as
/// any type the driver converts to (failing with an error [`StoreError`] takes `From`).
macro_rules! impl_columns {
    ($row:ty, $get:ident) => {
        impl $crate::store::rows::Columns for $row {
            fn int(&self, index: usize) -> Result<i64, StoreError> {
                Ok(self.$get(index)?)
            }

            fn optional_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
                Ok(self.$get(index)?)
            }

            fn text(&self, index: usize) -> Result<String, StoreError> {
                Ok(self.$get(index)?)
            }

            fn optional_text(&self, index: usize) -> Result<Option<String>, StoreError> {
                Ok(self.$get(index)?)
            }

            fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
                Ok(self.$get(index)?)
            }
        }
    };
}
pub(crate) use impl_columns;

/// `value` as stored, narrowed to the type the record holds.
pub(crate) fn narrow<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::corrupt(format!("{what} out of range: {value}")))
}

/// The licence id stored as `hex`; `what` says where, should it be malformed.
pub(crate) fn license_id(hex: &str, what: &str) -> Result<LicenseId, StoreError> {
    LicenseId::from_hex(hex).ok_or_else(|| StoreError::corrupt(format!("{what} id `{hex}`")))
}

/// A licence's columns, also the order in which both backends bind them when writing one.
pub(crate) const LICENSE_COLUMNS: &str = "id, product, tier, features, status, customer_id, email, \
     checkout_session_id, subscription_id, payment_intent_id, price_id, expires_at, created_at, updated_at, \
     activation, max_machines, lease_days, heartbeat_seconds, max_deactivations";

pub(crate) fn license(row: &dyn Columns) -> Result<LicenseRecord, StoreError> {
    let id = row.text(0)?;
    let status = row.text(4)?;
    let (Some(license_id), Some(status)) =
        (LicenseId::from_hex(&id), LicenseStatus::from_name(&status))
    else {
        return Err(StoreError::corrupt(format!(
            "licence row `{id}` has a bad id or status"
        )));
    };
    Ok(LicenseRecord {
        id: license_id,
        product: narrow(row.int(1)?, "product id")?,
        tier: narrow(row.int(2)?, "tier")?,
        // Stored as the same 64 bits, signed.
        features: row.int(3)? as u64,
        status,
        customer_id: row.optional_text(5)?,
        email: row.optional_text(6)?,
        checkout_session_id: row.optional_text(7)?,
        subscription_id: row.optional_text(8)?,
        payment_intent_id: row.optional_text(9)?,
        price_id: row.optional_text(10)?,
        expires_at: row.optional_int(11)?,
        created_at: row.int(12)?,
        updated_at: row.int(13)?,
        seats: seat_policy(row, 14)?,
    })
}

/// The seat policy in columns `activation, max_machines, lease_days, heartbeat_seconds,
/// max_deactivations` from `first` on; `None` unless `activation` is 1.
fn seat_policy(row: &dyn Columns, first: usize) -> Result<Option<SeatPolicy>, StoreError> {
    if row.int(first)? == 0 {
        return Ok(None);
    }
    let count = |index: usize, what: &str| {
        row.optional_int(first + index)?
            .map(|value| narrow::<u32>(value, what))
            .transpose()
    };
    Ok(Some(SeatPolicy {
        max_machines: count(1, "max_machines")?,
        lease_days: count(2, "lease_days")?,
        heartbeat_seconds: count(3, "heartbeat_seconds")?,
        max_deactivations_per_30_days: count(4, "max_deactivations")?,
    }))
}

/// A licence's seat policy as stored: `activation` (0 or 1), then the four optional numbers, in
/// [`LICENSE_COLUMNS`] order.
pub(crate) fn seat_columns(seats: &Option<SeatPolicy>) -> (i64, [Option<i64>; 4]) {
    let Some(policy) = seats else {
        return (0, [None; 4]);
    };
    let wide = |value: Option<u32>| value.map(i64::from);
    (
        1,
        [
            wide(policy.max_machines),
            wide(policy.lease_days),
            wide(policy.heartbeat_seconds),
            wide(policy.max_deactivations_per_30_days),
        ],
    )
}

/// A machine's columns.
pub(crate) const MACHINE_COLUMNS: &str = "id, license_id, fingerprint, name, platform, \
     activated_at, last_seen_at, lease_ends_at, lapses_at, deactivated_at, deactivated_how";

pub(crate) fn machine(row: &dyn Columns) -> Result<Machine, StoreError> {
    let (id, license) = (row.text(0)?, row.text(1)?);
    let license_id = license_id(&license, &format!("machine {id} names a licence"))?;
    let deactivated_how = row
        .optional_text(10)?
        .map(|name| {
            Deactivation::from_name(&name)
                .ok_or_else(|| StoreError::corrupt(format!("machine {id} deactivated `{name}`")))
        })
        .transpose()?;
    Ok(Machine {
        license_id,
        fingerprint: row.text(2)?,
        name: row.optional_text(3)?,
        platform: row.optional_text(4)?,
        activated_at: row.int(5)?,
        last_seen_at: row.int(6)?,
        lease_ends_at: row.optional_int(7)?,
        lapses_at: row.optional_int(8)?,
        deactivated_at: row.optional_int(9)?,
        deactivated_how,
        id,
    })
}

/// A machine's licence and id (columns `license_id, id`).
pub(crate) fn machine_key(row: &dyn Columns) -> Result<(LicenseId, String), StoreError> {
    let (license, id) = (row.text(0)?, row.text(1)?);
    Ok((
        license_id(&license, &format!("machine {id} names a licence"))?,
        id,
    ))
}

/// A licence's status alone (column `status`).
pub(crate) fn license_status(row: &dyn Columns) -> Result<LicenseStatus, StoreError> {
    status_named(&row.text(0)?)
}

fn status_named(name: &str) -> Result<LicenseStatus, StoreError> {
    LicenseStatus::from_name(name)
        .ok_or_else(|| StoreError::corrupt(format!("licence status `{name}`")))
}

/// A licence's credit account (`ACCOUNT_COLUMNS`, all null if it has none) and then its status
/// (null if there is no such licence).
pub(crate) fn account_and_status(
    row: &dyn Columns,
) -> Result<(Option<CreditAccount>, Option<LicenseStatus>), StoreError> {
    let account = match row.optional_int(0)? {
        Some(_) => Some(credit_account(row)?),
        None => None,
    };
    let status = row
        .optional_text(6)?
        .as_deref()
        .map(status_named)
        .transpose()?;
    Ok((account, status))
}

/// A revoked licence (column `license_id` of `revocations`).
pub(crate) fn revoked_license(row: &dyn Columns) -> Result<LicenseId, StoreError> {
    license_id(&row.text(0)?, "revoked licence")
}

/// The revocation list's counter: its sequence number and when it last changed (columns `value,
/// changed_at` of `counters`).
pub(crate) fn revocation_counter(row: &dyn Columns) -> Result<(u64, Timestamp), StoreError> {
    Ok((row.int(0)?.max(0) as u64, row.int(1)?))
}

pub(crate) const KEY_COLUMNS: &str = "key_text, signing_key_id, issued_at, expires_at, reason";

pub(crate) fn issued_key(row: &dyn Columns) -> Result<IssuedKey, StoreError> {
    Ok(IssuedKey {
        key: row.text(0)?,
        signing_key_id: narrow(row.int(1)?, "signing key id")?,
        issued_at: row.int(2)?,
        expires_at: row.optional_int(3)?,
        reason: row.text(4)?,
    })
}

pub(crate) const DELIVERY_COLUMNS: &str =
    "id, type, status, error, attempts, received_at, processed_at";

pub(crate) fn delivery(row: &dyn Columns) -> Result<Delivery, StoreError> {
    let status = row.text(2)?;
    let Some(status) = DeliveryStatus::from_name(&status) else {
        return Err(StoreError::corrupt(format!("delivery status `{status}`")));
    };
    Ok(Delivery {
        event_id: row.text(0)?,
        event_type: row.text(1)?,
        status,
        error: row.optional_text(3)?,
        attempts: narrow(row.int(4)?, "delivery attempts")?,
        received_at: row.int(5)?,
        processed_at: row.optional_int(6)?,
    })
}

/// A delivery and, after its [`DELIVERY_COLUMNS`], its payload.
pub(crate) fn delivery_with_payload(row: &dyn Columns) -> Result<(Delivery, String), StoreError> {
    Ok((delivery(row)?, row.text(7)?))
}

pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, customer_id, price_id, price_as_of, \
     paid_through, canceled_at, updated_at, checkout_session_id, email";

pub(crate) fn subscription(row: &dyn Columns) -> Result<SubscriptionRecord, StoreError> {
    Ok(SubscriptionRecord {
        id: row.text(0)?,
        customer_id: row.optional_text(1)?,
        price_id: row.optional_text(2)?,
        price_as_of: row.int(3)?,
        paid_through: row.optional_int(4)?,
        canceled_at: row.optional_int(5)?,
        updated_at: row.int(6)?,
        checkout_session_id: row.optional_text(7)?,
        email: row.optional_text(8)?,
    })
}

/// A refund or dispute, from columns `payment_intent_id, kind, object_id, at` (of
/// `payment_reversals`, under whatever alias the query gives it).
pub(crate) fn payment_reversal(row: &dyn Columns) -> Result<PaymentReversal, StoreError> {
    let kind = match row.text(1)?.as_str() {
        "refund" => "refund",
        "dispute" => "dispute",
        other => {
            return Err(StoreError::corrupt(format!(
                "payment reversal kind `{other}`"
            )))
        }
    };
    Ok(PaymentReversal {
        payment_intent_id: row.text(0)?,
        kind,
        object_id: row.text(2)?,
        at: row.int(3)?,
    })
}

pub(crate) const PAYMENT_SUBSCRIPTION_COLUMNS: &str =
    "payment_intent_id, subscription_id, invoice_id, at";

pub(crate) fn payment_subscription(row: &dyn Columns) -> Result<PaymentSubscription, StoreError> {
    Ok(PaymentSubscription {
        payment_intent_id: row.text(0)?,
        subscription_id: row.text(1)?,
        invoice_id: row.optional_text(2)?,
        at: row.int(3)?,
    })
}

pub(crate) const CREDIT_GRANT_COLUMNS: &str = "checkout_session_id, price_id, customer_id, email, \
     credits, granted_at, license_id, payment_intent_id";

pub(crate) fn credit_grant(row: &dyn Columns) -> Result<CreditGrant, StoreError> {
    Ok(CreditGrant {
        checkout_session_id: row.text(0)?,
        price_id: row.text(1)?,
        customer_id: row.optional_text(2)?,
        email: row.optional_text(3)?,
        credits: narrow(row.int(4)?, "granted credits")?,
        granted_at: row.int(5)?,
        // A grant made before its licence was known has none.
        license_id: row
            .optional_text(6)?
            .and_then(|id| LicenseId::from_hex(&id)),
        payment_intent_id: row.optional_text(7)?,
    })
}

pub(crate) const TOP_UP_COLUMNS: &str = "id, license_id, credits, price_id";

pub(crate) fn top_up(row: &dyn Columns) -> Result<TopUpGrant, StoreError> {
    let id = row.int(0)?;
    Ok(TopUpGrant {
        id,
        license_id: license_id(&row.text(1)?, &format!("credit grant {id} names a licence"))?,
        credits: narrow(row.int(2)?, "credit grant")?,
        price_id: row.text(3)?,
    })
}

pub(crate) const OUTBOX_COLUMNS: &str = "id, license_id, to_address, subject, body, attempts";

pub(crate) fn outbox_email(row: &dyn Columns) -> Result<OutboxEmail, StoreError> {
    Ok(OutboxEmail {
        id: row.int(0)?,
        license_id: row.text(1)?,
        to: row.text(2)?,
        subject: row.text(3)?,
        body: row.text(4)?,
        attempts: narrow(row.int(5)?, "e-mail attempts")?,
    })
}

pub(crate) const SIGNING_KEY_COLUMNS: &str = "key_id, public_key, sealed_secret, created_at";

pub(crate) fn signing_key(row: &dyn Columns) -> Result<StoredSigningKey, StoreError> {
    StoredSigningKey::from_row(row.int(0)?, &row.text(1)?, row.bytes(2)?, row.int(3)?)
}

pub(crate) const ACCOUNT_COLUMNS: &str =
    "period_balance, top_up_balance, period_reserved, top_up_reserved, period_start, period_end";

pub(crate) fn credit_account(row: &dyn Columns) -> Result<CreditAccount, StoreError> {
    Ok(CreditAccount {
        balances: CreditBalances {
            period: narrow(row.int(0)?, "period balance")?,
            top_up: narrow(row.int(1)?, "top-up balance")?,
            period_reserved: narrow(row.int(2)?, "reserved period credits")?,
            top_up_reserved: narrow(row.int(3)?, "reserved top-up credits")?,
        },
        period_start: row.optional_int(4)?,
        period_end: row.optional_int(5)?,
    })
}

pub(crate) const RESERVATION_COLUMNS: &str = "id, amount, period_part, top_up_part, status, used, \
     reference, created_at, expires_at, settled_at, period_end";

pub(crate) fn reservation(row: &dyn Columns) -> Result<Reservation, StoreError> {
    let id = row.text(0)?;
    let status = row.text(4)?;
    Ok(Reservation {
        status: ReservationStatus::from_name(&status).ok_or_else(|| {
            StoreError::corrupt(format!("reservation {id} has status `{status}`"))
        })?,
        amount: narrow(row.int(1)?, "reservation amount")?,
        period_part: narrow(row.int(2)?, "reservation part")?,
        top_up_part: narrow(row.int(3)?, "reservation part")?,
        used: row
            .optional_int(5)?
            .map(|used| narrow(used, "used credits"))
            .transpose()?,
        reference: row.optional_text(6)?,
        created_at: row.int(7)?,
        expires_at: row.int(8)?,
        settled_at: row.optional_int(9)?,
        period_end: row.optional_int(10)?,
        id,
    })
}

/// A reservation whose time is up: its licence and id (columns `license_id, id`).
pub(crate) fn due_reservation(row: &dyn Columns) -> Result<(LicenseId, String), StoreError> {
    let (license, id) = (row.text(0)?, row.text(1)?);
    let license_id = license_id(&license, &format!("reservation {id} names a licence"))?;
    Ok((license_id, id))
}

pub(crate) const IDEMPOTENT_ANSWER_COLUMNS: &str = "fingerprint, status, body";

/// A kept answer and the fingerprint of the request that made it.
pub(crate) fn idempotent_answer(row: &dyn Columns) -> Result<(String, StoredAnswer), StoreError> {
    Ok((
        row.text(0)?,
        StoredAnswer {
            status: narrow(row.int(1)?, "stored answer status")?,
            body: row.text(2)?,
        },
    ))
}

pub(crate) const LEDGER_COLUMNS: &str = "id, kind, period, top_up, period_reserved, \
     top_up_reserved, used, shortfall, reason, reference, reservation_id, at";

pub(crate) fn ledger_entry(row: &dyn Columns) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        id: row.int(0)?,
        kind: row.text(1)?,
        period: row.int(2)?,
        top_up: row.int(3)?,
        period_reserved: row.int(4)?,
        top_up_reserved: row.int(5)?,
        used: row.int(6)?.max(0) as u64,
        shortfall: row.int(7)?.max(0) as u64,
        reason: row.text(8)?,
        reference: row.optional_text(9)?,
        reservation_id: row.optional_text(10)?,
        at: row.int(11)?,
    })
}

/// A licence's cached credit numbers beside those recomputed: the licence id, the four cached
/// balances, the four ledger sums, the two open reservation sums.
pub(crate) fn ledger_totals(row: &dyn Columns) -> Result<LedgerMismatch, StoreError> {
    Ok(LedgerMismatch {
        license_id: row.text(0)?,
        cached: [row.int(1)?, row.int(2)?, row.int(3)?, row.int(4)?],
        ledger: [row.int(5)?, row.int(6)?, row.int(7)?, row.int(8)?],
        open_reservations: [row.int(9)?, row.int(10)?],
    })
}

pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor, action, license_id, reason, details";

pub(crate) fn audit_entry(row: &dyn Columns) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.int(0)?,
        at: row.int(1)?,
        actor: row.text(2)?,
        action: row.text(3)?,
        license_id: row.optional_text(4)?,
        reason: row.optional_text(5)?,
        details: row.text(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreErrorKind;
    use crate::testing::TestDatabase;

    /// Decodes the one row that `select` (of literals only) gives, on SQLite and, when it can be
    /// reached, on PostgreSQL.
    fn decoded_on_each<T>(
        select: &str,
        decode: fn(&dyn Columns) -> Result<T, StoreError>,
    ) -> Vec<Result<T, StoreError>> {
        let sqlite = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = sqlite.prepare(select).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut decoded = vec![decode(rows.next().unwrap().unwrap())];
        if let Some(db) = TestDatabase::create() {
            let mut client = crate::testing::connect(db.url()).unwrap();
            decoded.push(decode(&client.query_one(select, &[]).unwrap()));
        }
        decoded
    }

    /// The message of the corrupt-store error each backend's decoding of `select` gives.
    fn corrupt_on_each<T: std::fmt::Debug>(
        select: &str,
        decode: fn(&dyn Columns) -> Result<T, StoreError>,
    ) -> Vec<String> {
        decoded_on_each(select, decode)
            .into_iter()
            .map(|decoded| {
                let err = decoded.unwrap_err();
                assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
                err.to_string()
            })
            .collect()
    }

    /// A licence row of literals, with `status` and `tier` as given.
    fn license_row(status: &str, tier: i64) -> String {
        format!(
            "SELECT '0000000000000a07', CAST(3 AS BIGINT), CAST({tier} AS BIGINT),
                 CAST(-1 AS BIGINT), '{status}', CAST(NULL AS TEXT), 'a@example.com',
                 CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT),
                 CAST(NULL AS BIGINT), CAST(10 AS BIGINT), CAST(11 AS BIGINT),
                 CAST(1 AS BIGINT), CAST(3 AS BIGINT), CAST(NULL AS BIGINT), CAST(60 AS BIGINT),
                 CAST(NULL AS BIGINT)"
        )
    }

    #[test]
    fn a_licence_row_reads_back_the_same_on_each_backend() {
        for decoded in decoded_on_each(&license_row("active", 2), license) {
            let license = decoded.unwrap();
            assert_eq!(license.id, LicenseId([0, 0, 0, 0, 0, 0, 0x0a, 0x07]));
            assert_eq!((license.product, license.tier), (3, 2));
            assert_eq!(license.features, u64::MAX, "all 64 bits, stored signed");
            let seats = license.seats.expect("a seat policy");
            assert_eq!(seats.max_machines, Some(3));
            assert_eq!(seats.heartbeat_seconds, Some(60));
            assert_eq!(seats.lease_days, None);
            assert_eq!(license.status, LicenseStatus::Active);
            assert_eq!(license.email.as_deref(), Some("a@example.com"));
            assert_eq!(license.customer_id, None);
            assert_eq!(license.expires_at, None);
            assert_eq!((license.created_at, license.updated_at), (10, 11));
        }
    }

    #[test]
    fn values_a_record_cannot_hold_are_a_corrupt_store_that_says_what() {
        for message in corrupt_on_each(&license_row("lost", 2), license) {
            assert!(
                message.contains("licence row `0000000000000a07`"),
                "{message}"
            );
        }
        for message in corrupt_on_each(&license_row("active", 300), license) {
            assert!(message.contains("tier out of range: 300"), "{message}");
        }
        let negative = "SELECT 'r1', CAST(-5 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT),
             'open', CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(1 AS BIGINT),
             CAST(2 AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)";
        for message in corrupt_on_each(negative, reservation) {
            assert!(
                message.contains("reservation amount out of range: -5"),
                "{message}"
            );
        }
        for message in corrupt_on_each("SELECT 'not hex', 'r1'", due_reservation) {
            assert!(
                message.contains("reservation r1 names a licence id `not hex`"),
                "{message}"
            );
        }
        let disputed = "SELECT 'pi_1', 'chargeback', 'dp_1', CAST(5 AS BIGINT)";
        for message in corrupt_on_each(disputed, payment_reversal) {
            assert!(
                message.contains("payment reversal kind `chargeback`"),
                "{message}"
            );
        }
    }
}
