//! `tessera deactivate`: free a seat of a licence, online, with the licence key as credential
//! (`DELETE /v1/machines/{id}`); by default this machine's, found by its fingerprint in
//! `GET /v1/machines`.

use serde::Deserialize;

use crate::activate::Key;
use crate::args::DeactivateArgs;
use crate::client::Client;
use crate::exit::{Exit, Failure, Result};
use crate::json::Deactivated;
use crate::machines::Machine;
use crate::output::{print, print_json};

/// `GET /v1/machines`.
#[derive(Debug, Deserialize)]
struct Seats {
    machines: Vec<Machine>,
}

/// Runs `deactivate`.
pub(crate) fn run(args: &DeactivateArgs, json: bool) -> Result {
    let key = Key::read(&args.key)?;
    let client = Client::license(&args.url, &key.text)?;
    let id = match &args.machine {
        Some(id) => machine_id(id)?,
        None => {
            let seats: Seats =
                serde_json::from_value(client.get("/v1/machines", &[])?).map_err(|err| {
                    Failure::msg(
                        Exit::ServerError,
                        format!("the issuer's answer is not what its API specifies: {err}"),
                    )
                })?;
            let this = key.fingerprint.to_hex();
            seats
                .machines
                .into_iter()
                .find(|machine| machine.fingerprint.eq_ignore_ascii_case(this.as_str()))
                .map(|machine| machine.id)
                .ok_or_else(|| {
                    Failure::msg(
                        Exit::NotFound,
                        format!("this machine holds no seat of licence {}", key.license_id),
                    )
                })?
        }
    };
    client.delete(&format!("/v1/machines/{id}"))?;
    if json {
        print_json(&Deactivated {
            license_id: key.license_id.to_string(),
            machine_id: id,
        })
    } else {
        print(&format!(
            "deactivated machine {id}: a seat of licence {} is free\n",
            key.license_id
        ))
    }
}

/// A machine id as the issuer makes them (`m_` and letters, digits, `_`, `-`): nothing a URL path
/// would need to escape.
pub(crate) fn machine_id(text: &str) -> Result<String> {
    let id = text.trim();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(Failure::msg(
            Exit::Usage,
            "a machine id is letters, digits, `_` and `-` (m_...)",
        ))
    }
}
