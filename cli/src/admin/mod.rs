//! `tessera admin`: the issuer's admin API (`issuer/ADMIN-API.md`) from the command line, for support
//! staff; and `admin token`, which makes an admin token offline.
//!
//! ```text
//! export TESSERA_URL=https://licences.example.com TESSERA_TOKEN=tsadm_...
//! tessera admin licenses find --email ada@example.com
//! tessera admin licenses revoke 0123456789abcdef --reason "chargeback"
//! ```
//!
//! Every request carries `Authorization: Bearer <token>` and gives up after 30 seconds. The answer is
//! printed as a table or summary, or with `--json` as the issuer gave it. Failures print one line and
//! exit with their class ([`Exit`](crate::Exit)):
//!
//! | code | meaning |
//! | --- | --- |
//! | 2 | usage: a missing `--reason`, a licence id that is not 16 hex digits, no token, a bad `--url` (nothing is sent) |
//! | 20 | the issuer cannot be reached (connection refused, timeout, unknown host, TLS); the message names the URL |
//! | 21 | the issuer refused the admin token (401) |
//! | 22 | not found (404) |
//! | 23 | request refused (400, 409, 422, other 4xx): the issuer's `message` and `error` code |
//! | 24 | server error (5xx), or an answer that is not the admin API's |
//! | 25 | `credits check` found accounts that differ from their ledger (printed first) |
//! | 36 | `machines activate`: every seat of the licence is taken (the machines holding them are printed) |

mod args;
mod audit;
mod credits;
mod keys;
mod licenses;
mod machines;
mod model;
mod schema;
pub(crate) mod table;
mod token;
mod webhooks;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tessera_keys::LicenseId;

pub use self::args::AdminArgs;
pub(crate) use self::args::Secret;
use self::args::{AdminCommand, AuditCommand, KeysCommand};
use crate::client::Client;
use crate::exit::{Exit, Failure, Result};
use crate::output::{print, print_json};

/// Runs an admin command.
pub(crate) fn run(args: &AdminArgs, json: bool) -> Result {
    let client = || Client::admin(&args.url, args.token.as_ref());
    match &args.command {
        AdminCommand::Token(token) => token::run(token, json),
        AdminCommand::Licenses(command) => licenses::run(&client()?, command, json),
        AdminCommand::Credits(command) => credits::run(&client()?, command, json),
        AdminCommand::Webhooks(command) => webhooks::run(&client()?, command, json),
        AdminCommand::Keys(KeysCommand::Rotate(rotate)) => keys::rotate(&client()?, rotate, json),
        AdminCommand::Audit(AuditCommand::List(list)) => audit::list(&client()?, list, json),
        AdminCommand::Machines(command) => machines::run(&client()?, command, json),
    }
}

/// Prints the issuer's answer: as it came with `--json`, else as `render` puts the typed answer.
fn print_answer<T: DeserializeOwned>(
    answer: Value,
    json: bool,
    render: impl FnOnce(&T) -> String,
) -> Result {
    if json {
        print_json(&answer)
    } else {
        print(&render(&decode(answer)?))
    }
}

/// The answer as the admin API specifies it.
fn decode<T: DeserializeOwned>(answer: Value) -> Result<T> {
    serde_json::from_value(answer).map_err(|err| {
        Failure::msg(
            Exit::ServerError,
            format!("the issuer's answer is not what the admin API specifies: {err}"),
        )
    })
}

/// `/v1/admin/licenses/{id}`.
fn license_path(id: &LicenseId) -> String {
    format!("/v1/admin/licenses/{id}")
}
