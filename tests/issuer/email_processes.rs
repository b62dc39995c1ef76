//! E-mail delivery from three issuer processes on one PostgreSQL database and one SMTP sink: every
//! buyer's e-mail is sent once, by whichever process claims it; and when one process is killed with a
//! message in flight, the others send everything, that message again once its lease has run out
//! (under the same `Message-ID`: at least once), and nothing stays queued.

use std::collections::BTreeMap;
use std::time::Duration;

use super::email::{buy, config, key_of, smtp_section};
use super::harness::{wait_until, Issuer, OutboxRow, Workspace};
use super::smtp_sink::{Received, SmtpSink};

const PROCESSES: usize = 3;
/// Buyers in each phase.
const BUYERS: usize = 30;
/// How long the processes may take to send a phase's mail when none dies.
const PATIENCE: Duration = Duration::from_secs(60);
/// As [`PATIENCE`], when a process died with a message leased: the lease, 4 × `timeout_seconds` +
/// 60 s (80 s with [`smtp_section`]'s 5 s), runs out before another process may send it.
const PATIENCE_AFTER_A_CRASH: Duration = Duration::from_secs(180);

/// Buys a licence for each of buyers `numbers`, spread over `issuers` and sent from one thread per
/// issuer; returns each buyer's address and key.
fn buy_spread(issuers: &[&Issuer], numbers: std::ops::Range<usize>) -> Vec<(String, String)> {
    std::thread::scope(|scope| {
        let lanes: Vec<_> = issuers
            .iter()
            .enumerate()
            .map(|(lane, issuer)| {
                let numbers = numbers.clone();
                scope.spawn(move || {
                    numbers
                        .filter(|n| n % issuers.len() == lane)
                        .map(|n| {
                            let email = format!("buyer{n}@example.com");
                            let (session, _) = buy(issuer, &email);
                            (email, key_of(issuer, &session))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        lanes
            .into_iter()
            .flat_map(|lane| lane.join().expect("a buying thread"))
            .collect()
    })
}

/// Whether the outbox holds `rows` rows, every one sent.
fn all_sent(workspace: &Workspace, rows: usize) -> bool {
    let outbox = workspace.outbox();
    outbox.len() == rows && outbox.iter().all(|row| row.status == "sent")
}

/// Checks that every one of `buyers` got their key, and that all copies of a buyer's e-mail carry
/// one `Message-ID` that no other buyer's shares; returns how many copies each buyer got.
fn copies_per_buyer(sink: &SmtpSink, buyers: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut by_recipient: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for message in sink.received() {
        assert_eq!(message.recipients.len(), 1, "{message:?}");
        by_recipient
            .entry(message.recipients[0].clone())
            .or_default()
            .push(message);
    }
    let mut message_ids = BTreeMap::new();
    for (email, key) in buyers {
        let copies = by_recipient
            .get(email)
            .unwrap_or_else(|| panic!("{email} got no e-mail"));
        let id = copies[0].message_id().expect("a Message-ID");
        for copy in copies {
            assert_eq!(
                copy.message_id(),
                Some(id),
                "{email}: a copy under another id"
            );
            assert!(
                copy.data.contains(&format!("\r\n{key}\r\n")),
                "{email}: not their key"
            );
        }
        assert_eq!(
            message_ids.insert(id.to_owned(), email),
            None,
            "{id} reused"
        );
    }
    assert_eq!(
        by_recipient.len(),
        buyers.len(),
        "mail to someone who bought nothing: {:?}",
        by_recipient.keys()
    );
    by_recipient
        .into_iter()
        .map(|(email, copies)| (email, copies.len()))
        .collect()
}

#[test]
fn three_processes_on_postgres_mail_each_key_once_and_survivors_send_what_a_killed_one_held() {
    let sink = SmtpSink::start(true);
    let Some(workspace) = Workspace::on_postgres(&config(&smtp_section(&sink))) else {
        return;
    };
    // Declared after the workspace, so killed before its database goes, failure or not.
    let mut issuers: Vec<Issuer> = (0..PROCESSES).map(|_| workspace.start()).collect();
    let all: Vec<&Issuer> = issuers.iter().collect();

    // Every process sells, and every process sends: each e-mail once, claimed by one of them.
    let mut buyers = buy_spread(&all, 0..BUYERS);
    wait_until(&all, "every e-mail to be sent", PATIENCE, || {
        all_sent(&workspace, BUYERS)
    });
    let copies = copies_per_buyer(&sink, &buyers);
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    for row in workspace.outbox() {
        assert_eq!(
            (row.status.as_str(), row.attempts, &row.last_error),
            ("sent", 1, &None),
            "{row:?}"
        );
    }

    // The sink takes each message but holds its answer: once it holds PROCESSES of them, every
    // process (each sends one message at a time) has one in flight. One process is killed then.
    sink.hold(true);
    buyers.extend(buy_spread(&all, BUYERS..2 * BUYERS));
    wait_until(
        &all,
        "a message in flight from every process",
        PATIENCE,
        || sink.held() == PROCESSES,
    );
    issuers.remove(0).kill();
    let survivors: Vec<&Issuer> = issuers.iter().collect();
    wait_until(
        &survivors,
        "the killed process's conversation to end",
        PATIENCE,
        || sink.held() == PROCESSES - 1,
    );
    sink.hold(false);

    wait_until(
        &survivors,
        "the survivors to send every e-mail",
        PATIENCE_AFTER_A_CRASH,
        || all_sent(&workspace, 2 * BUYERS),
    );
    let copies = copies_per_buyer(&sink, &buyers);
    let outbox: BTreeMap<String, OutboxRow> = workspace
        .outbox()
        .into_iter()
        .map(|row| (row.to.clone(), row))
        .collect();
    for (email, row) in &outbox {
        assert_eq!(
            (row.status.as_str(), &row.last_error),
            ("sent", &None),
            "{row:?}"
        );
        // A copy is sent only under a claim, and a claim counts an attempt: no two processes sent
        // the same row on one claim.
        assert!(
            copies[email] as i64 <= row.attempts,
            "{email}: {} copies, {row:?}",
            copies[email]
        );
    }
    assert!(
        buyers[..BUYERS].iter().all(|(email, _)| copies[email] == 1),
        "mail sent before the crash was not sent again: {copies:?}"
    );
    // The message the killed process held was taken by the sink, but never marked sent: a survivor
    // claimed it once its lease ran out and sent it again.
    let resent: Vec<&OutboxRow> = outbox.values().filter(|row| copies[&row.to] >= 2).collect();
    assert!(!resent.is_empty(), "{copies:?}");
    assert!(resent.iter().all(|row| row.attempts >= 2), "{resent:?}");
}
