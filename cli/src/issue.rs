//! `tessera issue`.

use tessera_keys::{Claims, FeatureSet, LicenseId};
use tessera_verifier::system_now;

use crate::args::IssueArgs;
use crate::exit::{Exit, Failure, Result};
use crate::json::{self, Issued};
use crate::keys::read_signing_key;
use crate::names::Names;
use crate::output::{print, print_json};

const DAY: u64 = 86_400;

/// Signs a licence and prints its key text (and nothing else, so that `$(tessera issue ...)` works).
pub(crate) fn run(args: &IssueArgs, names: &Names, json: bool) -> Result {
    let usage = |message: String| Failure::msg(Exit::Usage, message);
    let product = names.product(&args.product)?;
    names.check_lookup("tier", &args.tier)?;
    for feature in &args.features {
        names.check_lookup("feature", feature)?;
    }
    let tier = product.tier(&args.tier).map_err(usage)?;
    let mut features = FeatureSet::EMPTY;
    for feature in &args.features {
        let bit = product.feature(feature).map_err(usage)?;
        features = features
            .with(bit)
            .ok_or_else(|| usage(format!("feature bit {bit} is out of range")))?;
    }

    let now = system_now();
    let expires_at = match (args.expires, args.days) {
        (Some(time), _) => Some(time),
        (None, Some(days)) => Some(now.plus_seconds(u64::from(days) * DAY)),
        (None, None) => None,
    };
    if let (Some(not_before), Some(expires_at)) = (args.not_before, expires_at) {
        if expires_at <= not_before {
            return Err(usage(format!(
                "the licence would expire ({expires_at}) before it becomes valid ({not_before})"
            )));
        }
    }
    let grace_seconds = args
        .grace_days
        .map(|days| {
            days.checked_mul(DAY as u32).ok_or_else(|| {
                usage(format!(
                    "--grace-days {days} is too long (at most {})",
                    u32::MAX / DAY as u32
                ))
            })
        })
        .transpose()?;

    let key = read_signing_key(&args.key)?;
    let claims = Claims {
        key_id: key.id(),
        license_id: args.license_id.unwrap_or_else(|| LicenseId(rand::random())),
        product: product.id,
        tier,
        issued_at: now,
        not_before: args.not_before,
        expires_at,
        grace_seconds,
        features,
        licensee: args.licensee.as_deref(),
        requires_activation: false,
    };
    let text = key
        .sign_license(&claims)
        .map_err(|err| usage(format!("cannot issue this licence: {err}")))?;

    if json {
        print_json(&Issued {
            length: text.len(),
            claims: json::Claims::new(&claims, product.spec),
            key: text,
        })
    } else {
        print(&format!("{text}\n"))
    }
}
