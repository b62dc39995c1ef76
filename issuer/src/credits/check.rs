//! `tessera-issuer check-credits`: recomputes every credit account from its ledger.
//!
//! The invariant the credit code keeps is that each account's cached balances equal the sums of its
//! ledger rows, and that the credits it holds as reserved equal what its open reservations hold. This
//! is the operator's way to see it holds on a live database (it reads in one transaction, beside a
//! running issuer).

use std::fmt::Write as _;

use crate::store::{LedgerMismatch, Store, StoreError};

/// What a check found.
#[derive(Debug)]
pub struct CheckReport {
    /// Accounts whose cached numbers differ from their ledger or open reservations.
    pub mismatches: Vec<LedgerMismatch>,
}

impl CheckReport {
    /// Whether every account agrees with its ledger.
    pub fn is_consistent(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// One line per mismatching account, then a summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for m in &self.mismatches {
            let _ = writeln!(
                out,
                "licence {}: cached [period, top_up, period_reserved, top_up_reserved] = {:?}, \
                 ledger sums = {:?}, open reservations hold [period, top_up] = {:?}",
                m.license_id, m.cached, m.ledger, m.open_reservations
            );
        }
        if self.is_consistent() {
            out.push_str("credit ledger consistent: every account equals the sums of its ledger\n");
        } else {
            let _ = writeln!(
                out,
                "credit ledger INCONSISTENT: {} account(s) differ from their ledger",
                self.mismatches.len()
            );
        }
        out
    }
}

/// Checks every account in `store`.
pub fn check(store: &dyn Store) -> Result<CheckReport, StoreError> {
    Ok(CheckReport {
        mismatches: store.verify_credit_ledger()?,
    })
}
