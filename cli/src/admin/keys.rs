//! `tessera admin keys rotate`: a new active signing key.

use serde_json::json;

use super::args::RotateArgs;
use super::model::Rotated;
use super::print_answer;
use super::table::{section, Table};
use crate::client::Client;
use crate::escape::Escaped;
use crate::exit::Result;

/// Rotates the issuer's signing key.
pub(super) fn rotate(client: &Client, args: &RotateArgs, json: bool) -> Result {
    let answer = client.post("/v1/admin/keys/rotate", &json!({"reason": args.reason}))?;
    print_answer(answer, json, |rotated: &Rotated| {
        let mut table = Table::new(&["KEY ID", "ACTIVE", "PUBLIC KEY"]);
        for key in &rotated.keys {
            let active = if key.active { "yes" } else { "no" };
            table.row(vec![
                key.key_id.to_string(),
                active.to_owned(),
                key.public_key.clone(),
            ]);
        }
        format!(
            "signing key rotated: new licences are signed with key {}\n  public key: {}\n\n{}",
            rotated.active_key_id,
            Escaped(&rotated.public_key),
            section(
                "trusted keys (GET /v1/keys publishes them; apps need all)",
                &table
            )
        )
    })
}
