//! The issuer losing its process or its disk in the middle of work.
//!
//! Killed (SIGKILL) while webhooks and credit clients keep it busy, then started again and sent
//! everything again, as Stripe and clients do: every event takes effect once, nothing answered is
//! lost. And a disk that refuses every write, then works again: clean 5xx answers meanwhile, reads
//! unaffected, nothing half-written, and the same process carries on afterwards.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_issuer::store::{DeliveryStatus, LicenseQuery};

use super::credit_faults::{assert_check_credits_passes, hammer, CLIENTS, OPERATIONS};
use super::credits::{
    assert_ledger_matches, balances, commit, funded_licence, ledger, reserve, subscribe,
    top_up_session, try_commit,
};
use super::harness::{get_json, http, Issuer, Workspace};
use super::seed::now;
use super::stripe_fixtures::{
    deliver, event, paid_invoice, paid_session, signature, try_deliver, unique, FakeStripe, SECRET,
};
use super::webhooks::{
    count, delivery, keys_of_subscription, licence, licences_and_keys_of_session, on_postgres,
    setup,
};

const DAY: u64 = 86_400;
/// One-time purchases in the crash test: one licence and one key each.
const PURCHASES: usize = 60;
/// Subscriptions renewed in the crash test, each by [`RENEWALS`] paid invoices.
const SUBSCRIPTIONS: usize = 3;
const RENEWALS: u64 = 5;
/// Threads sending webhooks at once, as Stripe delivers them.
const SENDERS: usize = 4;

/// A webhook event and what became of sending it.
#[derive(Debug)]
struct Sent {
    event: Value,
    /// Times sent, answered or not.
    sends: usize,
    /// Every answer, in order.
    answers: Vec<(u16, Value)>,
    /// How many answers came before the crash.
    before_crash: usize,
    /// Whether its key was in the database when the issuer came back.
    took_effect_before_restart: bool,
}

impl Sent {
    fn new(event: Value) -> Sent {
        Sent {
            event,
            sends: 0,
            answers: Vec::new(),
            before_crash: 0,
            took_effect_before_restart: false,
        }
    }

    fn id(&self) -> &str {
        self.event["id"].as_str().unwrap()
    }
}

/// A one-time purchase of a yearly licence: its `checkout.session.completed` event.
fn purchase() -> Value {
    let session = paid_session(
        "payment",
        json!({"payment_intent": unique("pi"), "metadata": {"tessera_price": "price_pro_year"}}),
    );
    event("checkout.session.completed", session, now())
}

fn session_of(event: &Value) -> &str {
    event["data"]["object"]["id"].as_str().unwrap()
}

/// Whether webhook event `event` took effect: its delivery is recorded as processed (which commits
/// with its effects) on exactly one licence, that of its key.
fn took_effect(workspace: &Workspace, event: &Value) -> bool {
    let store = workspace.store();
    let id = event["id"].as_str().unwrap();
    let processed = store
        .delivery(id)
        .expect("read the delivery")
        .is_some_and(|d| d.status == DeliveryStatus::Processed);
    let licences = store.delivery_licenses(id).expect("read its licences");
    assert_eq!(
        licences.len(),
        usize::from(processed),
        "{id}: processed {processed}, took effect on {licences:?}"
    );
    processed
}

/// The events of the crash test in [`SENDERS`] lanes, each sent in order by one thread: the
/// [`PURCHASES`] spread over the lanes, and the renewals of each of `subscriptions` (first paid
/// through `first_end`) on one lane, in the order of their periods, as Stripe sends them a month
/// apart.
fn lanes(subscriptions: &[String], first_end: u64) -> Vec<Vec<Sent>> {
    let mut lanes: Vec<Vec<Sent>> = (0..SENDERS).map(|_| Vec::new()).collect();
    for n in 0..PURCHASES {
        let lane = n % SENDERS;
        lanes[lane].push(Sent::new(purchase()));
        let renewal = (n / SENDERS) as u64 + 1;
        if let (Some(subscription), true) = (subscriptions.get(lane), renewal <= RENEWALS) {
            let period_end = first_end + renewal * 30 * DAY;
            let invoice = paid_invoice(
                subscription,
                "price_pro_monthly",
                period_end,
                "subscription_cycle",
            );
            lanes[lane].push(Sent::new(event("invoice.paid", invoice, now() + renewal)));
        }
    }
    lanes
}

/// Sends the events of each lane, in order, to the issuers at `base_urls` (lane `n` to issuer `n`
/// modulo their number), a thread per lane, keeping
/// what comes back; `gate` is called with its position in the lane just before an event is sent,
/// and may wait, or skip it by answering `false`. A lane stops at its first send with no answer
/// (the issuer went away). Meanwhile runs `meanwhile` on this thread, given the count of answers
/// so far. Whether every send was answered, and what `meanwhile` returned.
fn send_lanes<R>(
    base_urls: &[&str],
    lanes: &mut [Vec<Sent>],
    gate: impl Fn(usize) -> bool + Sync,
    meanwhile: impl FnOnce(&AtomicU64) -> R,
) -> (bool, R) {
    let answered = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let senders: Vec<_> = lanes
            .iter_mut()
            .enumerate()
            .map(|(n, lane)| {
                let (answered, gate) = (&answered, &gate);
                let base_url = base_urls[n % base_urls.len()];
                scope.spawn(move || {
                    for (_, sent) in lane.iter_mut().enumerate().filter(|(n, _)| gate(*n)) {
                        sent.sends += 1;
                        let Ok(answer) = try_deliver(base_url, &sent.event) else {
                            return false;
                        };
                        sent.answers.push(answer);
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    true
                })
            })
            .collect();
        let during = meanwhile(&answered);
        // Every lane joined, whatever the others answered.
        let lanes: Vec<bool> = senders
            .into_iter()
            .map(|sender| sender.join().unwrap())
            .collect();
        (lanes.into_iter().all(|answered| answered), during)
    })
}

/// Credit clients and Stripe (a lane of events per sender) spread over `processes` issuers that
/// share `workspace`'s database, until one of them is killed (SIGKILL) part-way; then everything
/// unanswered is sent again, and Stripe redelivers, to the others (to the killed one started
/// again if there is no other). Every event takes effect once, nothing answered is lost.
fn sigkill_during_webhooks_and_credits_then_stripe_redelivers_on(
    (workspace, fake): (Workspace, FakeStripe),
    processes: usize,
) {
    let mut issuers: Vec<Issuer> = (0..processes).map(|_| workspace.start()).collect();
    let (key, initial) = funded_licence(&issuers[0], &fake);
    let first_end = now() + 30 * DAY;
    let subscriptions: Vec<String> = (0..SUBSCRIPTIONS)
        .map(|n| subscribe(&issuers[n % processes], &fake, first_end).0)
        .collect();
    let mut lanes = lanes(&subscriptions, first_end);
    let events = lanes.iter().map(Vec::len).sum::<usize>() as u64;

    // Credit clients on one account and Stripe on several threads, until the kill.
    let base_urls: Vec<String> = issuers.iter().map(|i| i.base_url().to_owned()).collect();
    let urls: Vec<&str> = base_urls.iter().map(String::as_str).collect();
    let victim = issuers.remove(0);
    let lane_length = lanes.iter().map(Vec::len).max().unwrap() as u64;
    let killed = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut record, (_, (credit_ops, answered))) = hammer(&urls, &key, true, |progress| {
        let started = || progress.load(Ordering::Relaxed);
        // Stripe keeps pace with the clients: a lane's n-th event waits until the clients are as
        // far through, so that the kill finds both in flight when the webhooks would be faster
        // (the kill finds fewer credit requests in flight when the webhooks are the slower).
        let in_step = |n: usize| {
            while started() < n as u64 * CLIENTS * OPERATIONS / lane_length
                && !killed.load(Ordering::Relaxed)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            true
        };
        send_lanes(&urls, &mut lanes, in_step, |answered| {
            // Part-way, by their own counts: the clients half-way, a quarter of the events answered.
            while (started() < CLIENTS * OPERATIONS / 2
                || answered.load(Ordering::Relaxed) < events / 4)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            let at_kill = (started(), answered.load(Ordering::Relaxed));
            killed.store(true, Ordering::Relaxed);
            victim.kill();
            at_kill
        })
    });
    println!(
        "killed after {credit_ops} of {} credit operations started and {answered} of {events} \
         webhook events answered",
        CLIENTS * OPERATIONS
    );
    for sent in lanes.iter_mut().flatten() {
        for (status, body) in &sent.answers {
            assert_eq!(
                (*status, body["status"].as_str()),
                (200, Some("processed")),
                "{body}"
            );
        }
        sent.before_crash = sent.answers.len();
    }

    if issuers.is_empty() {
        issuers.push(workspace.start());
    }
    let survivors: Vec<&str> = issuers.iter().map(Issuer::base_url).collect();
    // Nothing answered before the crash was lost: it took effect before anything is sent again.
    for sent in lanes.iter_mut().flatten() {
        sent.took_effect_before_restart = took_effect(&workspace, &sent.event);
        assert!(
            sent.took_effect_before_restart || sent.before_crash == 0,
            "{} was answered before the crash ({} times) and did not take effect",
            sent.id(),
            sent.before_crash
        );
    }
    record.retry_unknown(survivors[0], &key);
    // Stripe sends again what was not answered 2xx, and may send again what was: all of it, then
    // every third event once more.
    let gates: [fn(usize) -> bool; 2] = [|_| true, |n| n % 3 == 0];
    for gate in gates {
        let (all_answered, ()) = send_lanes(&survivors, &mut lanes, gate, |_| ());
        assert!(all_answered, "the issuers left did not answer");
    }

    // Each event took effect once: one processed answer at most (none if the crash took it), its
    // key, its delivery recorded as processed with every answered attempt counted.
    for sent in lanes.iter().flatten() {
        let after: Vec<&str> = sent.answers[sent.before_crash..]
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, 200, "{}: {body}", sent.id());
                body["status"].as_str().unwrap()
            })
            .collect();
        let first = if sent.took_effect_before_restart {
            "duplicate"
        } else {
            "processed"
        };
        assert_eq!(after[0], first, "{}: {after:?}", sent.id());
        assert!(
            after[1..].iter().all(|status| *status == "duplicate"),
            "{}: {after:?}",
            sent.id()
        );
        assert!(took_effect(&workspace, &sent.event), "{}", sent.id());
        let (status, error, attempts) = delivery(&workspace, &sent.event);
        assert_eq!(
            (status.as_str(), error),
            ("processed", None),
            "{}",
            sent.id()
        );
        assert!(
            (sent.answers.len()..=sent.sends).contains(&(attempts as usize)),
            "{}: {attempts} attempts recorded, {} answered of {} sent",
            sent.id(),
            sent.answers.len(),
            sent.sends
        );
        if sent.event["type"] == "checkout.session.completed" {
            // No licence issued twice, none lost, and each with its one key.
            let session = session_of(&sent.event);
            assert!(licence(&issuers[0], session)["key"].is_string());
            assert_eq!(
                licences_and_keys_of_session(&workspace, session),
                (1, 1),
                "{session}"
            );
        }
    }
    // And no other: every licence here was bought by the one buyer of the fixtures.
    let bought = workspace
        .store()
        .find_licenses(&LicenseQuery::Email("buyer@example.com".to_owned()), 1_000)
        .unwrap();
    assert_eq!(bought.len(), PURCHASES + SUBSCRIPTIONS + 1);
    assert_eq!(
        workspace.store().deliveries(true, None, 10).unwrap(),
        vec![],
        "failed deliveries"
    );
    // Each subscription: its first key and one per renewal, the last paid through the last period.
    let last_end = first_end + RENEWALS * 30 * DAY;
    for subscription in &subscriptions {
        assert_eq!(
            keys_of_subscription(&workspace, subscription),
            1 + RENEWALS as i64
        );
        let followed = workspace
            .store()
            .find_licenses(&LicenseQuery::Subscription(subscription.clone()), 2)
            .unwrap();
        assert_eq!(followed.len(), 1, "{subscription}");
        assert_eq!(
            followed[0].expires_at,
            Some(last_end as i64),
            "{subscription}"
        );
    }

    record.check(&workspace, &issuers[0], &key, initial);
    assert_check_credits_passes(&workspace);
}

#[test]
fn sigkill_during_webhooks_and_credits_then_stripe_redelivers() {
    sigkill_during_webhooks_and_credits_then_stripe_redelivers_on(setup(), 1);
}

#[test]
fn one_of_three_processes_on_postgres_killed_during_webhooks_and_credits_then_stripe_redelivers() {
    on_postgres(|setup| sigkill_during_webhooks_and_credits_then_stripe_redelivers_on(setup, 3));
}

/// Asserts that `what` was answered 503 `storage_unavailable`, in the API's JSON shape: storage
/// that fails for now is no bug, and the client should try again.
fn assert_storage_unavailable(what: &str, (status, body): (u16, Value)) {
    assert!(
        status == 503 && body["error"] == "storage_unavailable" && body["message"].is_string(),
        "{what}: {status} {body}"
    );
}

#[test]
fn a_full_or_read_only_disk_gets_503_storage_unavailable_and_the_issuer_recovers() {
    let (workspace, fake) = setup();
    let issuer = workspace.start_with_disk_control();
    let (key, initial) = funded_licence(&issuer, &fake);
    let kept = purchase();
    assert_eq!(deliver(&issuer, &kept).0, 200);
    let kept_key = licence(&issuer, session_of(&kept))["key"].clone();
    let (status, open) = reserve(&issuer, &key, "before", json!({"amount": 50}));
    assert_eq!(status, 201, "{open}");
    let open = open["id"].as_str().unwrap().to_owned();
    let license_id = balances(&issuer, &key)["license_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bought = purchase();
    let top_up = event(
        "checkout.session.completed",
        top_up_session(&license_id).0,
        now(),
    );
    // One for the sweeper to release at its TTL, which falls while the disk fails.
    let (status, expiring) = reserve(
        &issuer,
        &key,
        "expiring",
        json!({"amount": 5, "ttl_seconds": 2}),
    );
    assert_eq!(status, 201, "{expiring}");

    // Every write to a file now fails, as on a full disk (ENOSPC) or a read-only one (EROFS): here
    // with EFBIG.
    issuer.limit_file_size(Some(0));
    let credits_before = balances(&issuer, &key);
    let ledger_before = ledger(&issuer, &key, 50);
    for event in [&bought, &top_up] {
        // Stripe retries a 5xx.
        for _ in 0..2 {
            assert_storage_unavailable("a webhook", deliver(&issuer, event));
        }
    }
    let payload = bought.to_string();
    let response = http()
        .post(&issuer.url("/v1/webhooks/stripe"))
        .header("stripe-signature", &signature(&payload, SECRET, now()))
        .send(&payload)
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response.headers()["retry-after"],
        "5",
        "tells Stripe when to retry"
    );
    assert_storage_unavailable(
        "a reservation",
        reserve(&issuer, &key, "during", json!({"amount": 10})),
    );
    assert_storage_unavailable(
        "a commit",
        try_commit(issuer.base_url(), &key, &open, 20).expect("an answer"),
    );
    // The sweeper fails too, and keeps going (unless, on a slow machine, it released the
    // reservation before the disk failed).
    if credits_before["balances"]["reserved"] == 55 {
        let failed = || issuer.log().contains("credit sweeper: storage failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !failed() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(failed(), "the sweeper never met the failing disk");
    }
    // Reads still answer, and show nothing half-written.
    for path in ["/healthz", "/readyz", "/v1/keys", "/v1/revocations"] {
        let (status, body) = get_json(&issuer.url(path));
        assert_eq!(status, 200, "{path}: {body}");
    }
    assert_eq!(licence(&issuer, session_of(&kept))["key"], kept_key);
    assert_eq!(balances(&issuer, &key), credits_before);
    assert_eq!(ledger(&issuer, &key, 50), ledger_before);
    let (status, body) = get_json(&issuer.url(&format!(
        "/v1/licenses/by-checkout-session/{}",
        session_of(&bought)
    )));
    assert_eq!(status, 404, "{body}");
    for event in [&bought, &top_up] {
        assert_eq!(
            count(
                &workspace,
                "SELECT count(*) FROM webhook_events WHERE id = ?1",
                event["id"].as_str().unwrap()
            ),
            0
        );
    }

    // The disk works again; the same process carries on.
    issuer.limit_file_size(None);
    for event in [&bought, &top_up] {
        let answers: Vec<(u16, Value)> = (0..2)
            .map(|_| {
                let (status, body) = deliver(&issuer, event);
                (status, body["status"].clone())
            })
            .collect();
        assert_eq!(
            answers,
            [(200, json!("processed")), (200, json!("duplicate"))],
            "{}",
            event["id"]
        );
    }
    assert!(licence(&issuer, session_of(&bought))["key"].is_string());
    assert_eq!(
        licences_and_keys_of_session(&workspace, session_of(&bought)),
        (1, 1)
    );
    // The failed reservation left no answer to replay: the same request now reserves.
    let (status, during) = reserve(&issuer, &key, "during", json!({"amount": 10}));
    assert_eq!(status, 201, "{during}");
    let (status, body) = commit(&issuer, &key, during["id"].as_str().unwrap(), 10);
    assert_eq!(status, 200, "{body}");
    let (status, body) = commit(&issuer, &key, &open, 20);
    assert_eq!(status, 200, "{body}");
    // The expired reservation released once the disk works, the top-up granted once, 30 credits
    // used.
    let deadline = Instant::now() + Duration::from_secs(30);
    while balances(&issuer, &key)["balances"]["reserved"] != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let summary = balances(&issuer, &key);
    assert_eq!(
        (
            summary["balances"]["available"].as_u64(),
            summary["balances"]["reserved"].as_u64()
        ),
        (Some(initial + 500 - 30), Some(0)),
        "{summary}"
    );
    assert_ledger_matches(&workspace, &issuer, &key);
    assert_check_credits_passes(&workspace);

    // No panic, the failures logged, a clean stop; and a restart (without the limit) keeps it all.
    assert!(issuer.stop(), "a clean stop");
    let log = std::fs::read_to_string(workspace.path().join("issuer.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains("disk I/O error") || log.contains("database or disk is full"),
        "the storage failures are logged: {log}"
    );
    let issuer = workspace.start();
    assert!(licence(&issuer, session_of(&bought))["key"].is_string());
    assert_eq!(balances(&issuer, &key), summary);
    assert_check_credits_passes(&workspace);
}
