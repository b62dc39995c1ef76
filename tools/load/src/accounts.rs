//! The licences the credit scenario spends from, made as a buyer's are: a signed
//! `checkout.session.completed` buys each one, its key is fetched by the Checkout Session, and a
//! second signed event (a top-up session whose metadata names the licence) grants its credits. After
//! the load, [`check`] reads every balance back against what the answers said.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::header::{HeaderValue, AUTHORIZATION};
use serde::{Deserialize, Serialize};

use crate::client::{Connection, Request};
use crate::event;
use crate::pairs::Tally;
use crate::server::{PRICE, TOP_UP_CREDITS, TOP_UP_PRICE};

/// A licence with credits to spend.
#[derive(Clone, Debug)]
pub struct Account {
    /// The licence id, 16 hex digits.
    pub license_id: String,
    /// `License <key>`: the credential of the credit endpoints.
    pub authorization: HeaderValue,
    /// Credits available once topped up, before any load.
    pub initial_available: u64,
}

/// A licence's balances as `GET /v1/credits` answers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Balances {
    /// Credits a reservation can take.
    pub available: u64,
    /// Credits held by open reservations.
    pub reserved: u64,
}

/// A licence just bought: its id and its credential.
#[derive(Clone, Debug)]
pub struct Bought {
    /// The licence id, 16 hex digits.
    pub license_id: String,
    /// `License <key>`.
    pub authorization: HeaderValue,
}

/// Buys a licence of `price` through a signed webhook for Checkout Session number `n`, and fetches
/// its key by that session, as a buyer's page does.
pub async fn buy(
    connection: &mut Connection,
    n: u64,
    price: &str,
    timeout: Duration,
) -> anyhow::Result<Bought> {
    let now = event::unix_now();
    let bought = event::signed_request(&event::checkout_completed(n, price, now), now);
    connection.call(&bought, 200, timeout).await?;
    let lookup = Request::get(format!(
        "/v1/licenses/by-checkout-session/{}",
        event::session_id(n)
    ));
    let licence = connection.call(&lookup, 200, timeout).await?;
    let (Some(license_id), Some(key)) = (
        licence["license"]["id"].as_str(),
        licence["key"]
            .as_str()
            .filter(|key| key.starts_with("ts1_")),
    ) else {
        bail!("{}: no licence id or ts1_ key in {licence}", lookup.path);
    };
    Ok(Bought {
        license_id: license_id.to_owned(),
        authorization: HeaderValue::from_str(&format!("License {key}"))
            .context("the licence key is not a header value")?,
    })
}

/// Buys `count` licences of [`PRICE`] through webhooks for Checkout Sessions `cs_load_0..count`,
/// then tops each up with [`TOP_UP_CREDITS`] (sessions `cs_load_<count + i>`), and reads their
/// balances, which must be exactly the top-up. One request at a time; at most `time_budget`.
pub async fn open(
    issuer: SocketAddr,
    count: usize,
    timeout: Duration,
    time_budget: Duration,
) -> anyhow::Result<Vec<Account>> {
    let deadline = Instant::now() + time_budget;
    let mut connection = Connection::open(issuer).await?;
    let mut accounts = Vec::with_capacity(count);
    for i in 0..count as u64 {
        if Instant::now() >= deadline {
            bail!("setting up {count} licences took longer than {time_budget:?}");
        }
        let Bought {
            license_id,
            authorization,
        } = buy(&mut connection, i, PRICE, timeout).await?;
        let now = event::unix_now();
        let n = count as u64 + i;
        let top_up = event::top_up_completed(n, TOP_UP_PRICE, &license_id, now);
        connection
            .call(&event::signed_request(&top_up, now), 200, timeout)
            .await?;
        let mut account = Account {
            license_id,
            authorization,
            initial_available: 0,
        };
        let balances = balances(&mut connection, &account, timeout).await?;
        if balances.available != TOP_UP_CREDITS || balances.reserved != 0 {
            bail!(
                "licence {} has {} credits available and {} reserved after its top-up of \
                 {TOP_UP_CREDITS}",
                account.license_id,
                balances.available,
                balances.reserved
            );
        }
        account.initial_available = balances.available;
        accounts.push(account);
    }
    Ok(accounts)
}

/// `GET /v1/credits` of `account`.
pub async fn balances(
    connection: &mut Connection,
    account: &Account,
    timeout: Duration,
) -> anyhow::Result<Balances> {
    let mut request = Request::get("/v1/credits");
    request
        .headers
        .push((AUTHORIZATION, account.authorization.clone()));
    let summary = connection.call(&request, 200, timeout).await?;
    serde_json::from_value(summary["balances"].clone()).with_context(|| {
        format!(
            "GET /v1/credits of licence {}: no balances in {summary}",
            account.license_id
        )
    })
}

/// The problems [`CreditCheck`] lists at most; the rest are counted.
const MAX_PROBLEMS: usize = 10;

/// Whether every licence's balance agrees with what the load's answers said: the `--json` field
/// `check`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditCheck {
    /// Licences checked.
    pub licenses: usize,
    /// Reservations answered `201`, all phases (warm-up included).
    pub reservations: u64,
    /// Of those, commits answered `200`: must equal `reservations`.
    pub commits: u64,
    /// The `used` of those commits, summed.
    pub used: u64,
    /// Credits gone from the licences: initial minus final `available`, summed. Must equal `used`.
    pub consumed: u64,
    /// Credits still held by open reservations afterwards, summed: must be 0.
    pub reserved_after: u64,
    /// What disagrees, licence by licence (at most 10, then a count); empty when all is well.
    pub problems: Vec<String>,
}

/// What is wrong with `account`'s balances `after` the load, given what its answers said.
fn disagreements(account: &Account, tally: Tally, after: Balances) -> Vec<String> {
    let id = &account.license_id;
    let consumed = account.initial_available.saturating_sub(after.available);
    let mut problems = Vec::new();
    if tally.committed != tally.reserved {
        problems.push(format!(
            "licence {id}: {} of {} reservations (201) were not committed (200)",
            tally.reserved.saturating_sub(tally.committed),
            tally.reserved
        ));
    }
    if after.reserved != 0 {
        problems.push(format!(
            "licence {id}: {} credits still reserved",
            after.reserved
        ));
    }
    if after.available > account.initial_available || consumed != tally.used {
        problems.push(format!(
            "licence {id}: available went from {} to {} ({consumed} consumed), but the commits \
             used {}",
            account.initial_available, after.available, tally.used
        ));
    }
    problems
}

/// Reads every licence's balances and compares them with `tallies` (one per account, in order).
pub async fn check(
    issuer: SocketAddr,
    accounts: &[Account],
    tallies: &[Tally],
    timeout: Duration,
) -> anyhow::Result<CreditCheck> {
    let mut connection = Connection::open(issuer).await?;
    let mut check = CreditCheck {
        licenses: accounts.len(),
        reservations: 0,
        commits: 0,
        used: 0,
        consumed: 0,
        reserved_after: 0,
        problems: Vec::new(),
    };
    let mut problems = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        let tally = tallies.get(i).copied().unwrap_or_default();
        let after = balances(&mut connection, account, timeout).await?;
        let consumed = account.initial_available.saturating_sub(after.available);
        problems.extend(disagreements(account, tally, after));
        check.reservations += tally.reserved;
        check.commits += tally.committed;
        check.used += tally.used;
        check.consumed += consumed;
        check.reserved_after += after.reserved;
    }
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(format!("and {more} more"));
    }
    check.problems = problems;
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_must_match_the_answers() {
        let account = Account {
            license_id: "00112233aabbccdd".into(),
            authorization: HeaderValue::from_static("License ts1_x"),
            initial_available: 1000,
        };
        let tally = Tally {
            reserved: 3,
            committed: 3,
            used: 25,
        };
        let exact = Balances {
            available: 975,
            reserved: 0,
        };
        assert!(disagreements(&account, tally, exact).is_empty());

        let uncommitted = Tally {
            committed: 2,
            ..tally
        };
        let problems = disagreements(&account, uncommitted, exact);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("1 of 3 reservations"), "{problems:?}");

        let held = Balances {
            available: 965,
            reserved: 10,
        };
        let problems = disagreements(&account, tally, held);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("10 credits still reserved"));
        assert!(problems[1].contains("35 consumed"));

        let grew = Balances {
            available: 1001,
            reserved: 0,
        };
        assert_eq!(disagreements(&account, tally, grew).len(), 1);
    }
}
