//! Records and operations the suite's tests share, all through the public store interface.

use std::panic::resume_unwind;
use std::sync::Barrier;

use serde_json::{json, Value};
use tessera_issuer::store::{
    ApplyError, CreditBalances, Credited, Idempotent, LedgerEntry, LicenseRecord, LicenseStatus,
    NewLedgerEntry, ReserveOutcome, ReserveRequest, SettleOutcome, Settlement, Store, StoredAnswer,
    Timestamp, Tx,
};
use tessera_keys::LicenseId;

/// Licence number `n`.
pub fn license_id(n: u64) -> LicenseId {
    LicenseId(n.to_be_bytes())
}

/// An active licence number `n`, bought by checkout `cs_<n>` of customer `cus_<n>` with e-mail
/// `buyer<n>@example.com`, made at `created_at`.
pub fn license(n: u64, created_at: Timestamp) -> LicenseRecord {
    LicenseRecord {
        id: license_id(n),
        product: 7,
        tier: 1,
        features: 0b101,
        status: LicenseStatus::Active,
        customer_id: Some(format!("cus_{n}")),
        email: Some(format!("buyer{n}@example.com")),
        checkout_session_id: Some(format!("cs_{n}")),
        subscription_id: Some(format!("sub_{n}")),
        payment_intent_id: Some(format!("pi_{n}")),
        price_id: Some("price_pro".to_owned()),
        expires_at: Some(created_at + 30 * 86_400),
        created_at,
        updated_at: created_at,
        seats: None,
    }
}

/// Runs `work` in one write transaction, which must commit.
pub fn write(store: &dyn Store, mut work: impl FnMut(&mut dyn Tx) -> Result<(), ApplyError>) {
    store
        .write(&mut |tx| work(tx))
        .unwrap_or_else(|err| panic!("write transaction failed: {err}"));
}

/// Puts `license` on record.
pub fn insert(store: &dyn Store, license: &LicenseRecord) {
    write(store, |tx| Ok(tx.insert_license(license)?));
}

/// Grants licence `id` `period` period credits for the paid period ending at `period_end`, and
/// `top_up` top-up credits.
pub fn grant(store: &dyn Store, id: &LicenseId, period: u64, top_up: u64, period_end: Timestamp) {
    write(store, |tx| {
        tx.set_credit_period(id, Some(period_end - 100), period_end, 1)?;
        if period > 0 {
            tx.credit_entry(&NewLedgerEntry::period_grant(id, period, "evt_period", 1)?)?;
        }
        if top_up > 0 {
            tx.credit_entry(&NewLedgerEntry::top_up_grant(
                id,
                top_up,
                "top_up price_credits",
                "evt_top_up",
                1,
            )?)?;
        }
        Ok(())
    });
}

/// A reservation request of `amount` credits of licence `id` at `now`, held for `ttl_seconds`,
/// whose fingerprint is its idempotency key.
pub fn request(
    id: &LicenseId,
    key: &str,
    amount: u64,
    ttl_seconds: u64,
    now: i64,
) -> ReserveRequest {
    ReserveRequest {
        license_id: *id,
        idempotency_key: key.to_owned(),
        fingerprint: key.to_owned(),
        amount,
        ttl_seconds,
        reference: Some(format!("ref {key}")),
        now,
    }
}

/// The answer kept for a reservation: what the outcome was, as JSON a test can read back.
pub fn render(outcome: &ReserveOutcome) -> StoredAnswer {
    let body = match outcome {
        ReserveOutcome::Reserved(r, after) => json!({
            "id": r.id,
            "amount": r.amount,
            "period_part": r.period_part,
            "top_up_part": r.top_up_part,
            "expires_at": r.expires_at,
            "after": numbers(after),
        }),
        ReserveOutcome::Insufficient { needed, available } => {
            json!({"needed": needed, "available": available})
        }
    };
    StoredAnswer {
        status: match outcome {
            ReserveOutcome::Reserved(..) => 201,
            ReserveOutcome::Insufficient { .. } => 402,
        },
        body: body.to_string(),
    }
}

/// `[period, top_up, period_reserved, top_up_reserved]`.
pub fn numbers(b: &CreditBalances) -> [u64; 4] {
    [b.period, b.top_up, b.period_reserved, b.top_up_reserved]
}

/// Reserves as `request` says; the outcome as the licence's records and the idempotency key
/// decided it.
pub fn reserve(store: &dyn Store, request: ReserveRequest) -> Credited<Idempotent> {
    store
        .reserve_credits(request, render)
        .wait()
        .unwrap_or_else(|err| panic!("reserve failed in storage: {err}"))
}

/// The body of a new 201 answer: a reservation made now.
pub fn reserved(store: &dyn Store, request: ReserveRequest) -> Value {
    match reserve(store, request) {
        Ok(Idempotent::New(answer)) if answer.status == 201 => body(&answer),
        other => panic!("expected a new reservation, got {other:?}"),
    }
}

/// The JSON body of a kept answer.
pub fn body(answer: &StoredAnswer) -> Value {
    serde_json::from_str(&answer.body).expect("a JSON answer")
}

/// The id of the reservation a 201 answer made.
pub fn reservation_id(answer: &Value) -> String {
    answer["id"].as_str().expect("a reservation id").to_owned()
}

/// `[period_part, top_up_part]` of the reservation a 201 answer made.
pub fn split(answer: &Value) -> [u64; 2] {
    ["period_part", "top_up_part"].map(|part| answer[part].as_u64().expect("a reservation part"))
}

/// Settles reservation `reservation_id` of licence `id` as `settlement` says at `now`.
pub fn settle(
    store: &dyn Store,
    id: &LicenseId,
    reservation_id: &str,
    settlement: Settlement,
    now: Timestamp,
) -> Credited<SettleOutcome> {
    store
        .settle_reservation(*id, reservation_id.to_owned(), settlement, now)
        .wait()
        .unwrap_or_else(|err| panic!("settle failed in storage: {err}"))
}

/// Licence `id`'s balances as stored.
pub fn balances(store: &dyn Store, id: &LicenseId) -> [u64; 4] {
    numbers(&store.credits(id).expect("read the credits").0.balances)
}

/// Every ledger row of licence `id`, oldest first, read page by page.
pub fn ledger(store: &dyn Store, id: &LicenseId) -> Vec<LedgerEntry> {
    let mut rows: Vec<LedgerEntry> = Vec::new();
    loop {
        let page = store
            .credit_ledger(id, rows.last().map(|row| row.id), 7)
            .expect("read the ledger");
        if page.is_empty() {
            return rows;
        }
        rows.extend(page);
    }
}

/// Licence `id`'s ledger rows of `kind`.
pub fn rows_of(store: &dyn Store, id: &LicenseId, kind: &str) -> Vec<LedgerEntry> {
    ledger(store, id)
        .into_iter()
        .filter(|row| row.kind == kind)
        .collect()
}

/// Asserts that licence `id`'s cached balances equal the sums of its ledger and that the store's
/// own check finds no account out of step.
pub fn assert_ledger_holds(store: &dyn Store, id: &LicenseId) {
    let sums = ledger(store, id).iter().fold([0i64; 4], |sums, row| {
        [
            sums[0] + row.period,
            sums[1] + row.top_up,
            sums[2] + row.period_reserved,
            sums[3] + row.top_up_reserved,
        ]
    });
    let cached = balances(store, id).map(|n| i64::try_from(n).expect("a balance fits i64"));
    assert_eq!(cached, sums, "cached balances against the ledger's sums");
    let (_, open) = store.credits(id).expect("read the credits");
    let held = open.iter().fold([0, 0], |held, r| {
        [held[0] + r.period_part, held[1] + r.top_up_part]
    });
    assert_eq!(
        [cached[2], cached[3]],
        held.map(|n| n as i64),
        "reserved balances against the open reservations"
    );
    assert_eq!(
        store.verify_credit_ledger().expect("verify the ledger"),
        vec![],
        "verify_credit_ledger"
    );
}

/// Runs `work(thread)` on `threads` threads that start together; their results in thread order. A
/// thread's panic is raised again here, message and all.
pub fn at_once<T: Send>(threads: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..threads)
            .map(|thread| {
                let (start, work) = (&start, &work);
                scope.spawn(move || {
                    start.wait();
                    work(thread)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|thread| thread.join().unwrap_or_else(|panic| resume_unwind(panic)))
            .collect()
    })
}
