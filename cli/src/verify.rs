//! `tessera verify`.

use tessera_keys::{Fingerprint, ProductSpec, UnixTime};
use tessera_verifier::{
    system_now, ActivationBuffers, LastSeenFile, License, LicenseBuffer, Product, Validity,
    VerifyError,
};

use crate::args::VerifyArgs;
use crate::exit::{Exit, Failure, Result, ResultExt};
use crate::input::{self, Ref};
use crate::json::{self, State, Verified};
use crate::names::{Names, Selected};
use crate::output::{
    days_label, features_label, print, print_json, product_label, tier_label, time_label, Report,
};

/// Verifies a licence key; prints a summary when it is valid, fails with its class otherwise.
pub(crate) fn run(args: &VerifyArgs, names: &Names, json: bool) -> Result {
    // Usage problems first, so that a typo is not reported as a bad licence.
    let selected = args
        .product
        .as_ref()
        .map(|product| names.product(product))
        .transpose()?;
    for feature in &args.require_features {
        names.check_lookup("feature", feature)?;
    }
    if let Some(tier) = &args.require_tier {
        names.check_lookup("tier", tier)?;
    }
    let usage = |message: String| Failure::msg(Exit::Usage, message);
    // With --product, requirements are resolved against it now; without, against the licence's
    // product once it is known.
    if let Some(selected) = &selected {
        Requirements::resolve(args, selected).map_err(usage)?;
    }

    let keys = input::public_keys(&args.public_keys)?;
    let text = input::key_text(&args.key)?;
    let revocations_text = args
        .revocations
        .as_deref()
        .map(|path| {
            let text = input::file_text(path, "revocation list", Exit::RevocationsRefused)?;
            crate::revocations::signed_list(text, &path.display().to_string())
        })
        .transpose()?;

    let tables = selected
        .and_then(|selected| selected.spec)
        .map(ProductSpec::tables);
    let product = match (&selected, &tables) {
        (_, Some(tables)) => Some(tables.product()),
        (Some(selected), None) => Some(Product {
            id: selected.id,
            name: "",
            tiers: &[],
            features: &[],
        }),
        (None, None) => None,
    };

    let mut list_buf = Vec::new();
    let mut verifier = crate::input::verifier(&keys)?;
    if let Some(product) = &product {
        verifier = verifier.for_product(product);
    }
    if let Some(list_text) = &revocations_text {
        list_buf.resize(crate::revocations::buffer_len(list_text), 0);
        let list = verifier
            .check_revocations(list_text, &mut list_buf, args.last_seen_sequence)
            .map_err(Failure::from_revocation_error)?;
        verifier = verifier.with_revocations(list);
    }
    if args.no_grace {
        verifier = verifier.without_grace();
    }

    let now = args.at.unwrap_or_else(system_now);
    let last_seen = args.last_seen.as_deref().map(LastSeenFile::new);
    let seen = last_seen
        .as_ref()
        .map(read_last_seen)
        .transpose()?
        .flatten();
    let certificate_text = args
        .machine_certificate
        .as_deref()
        .map(input::certificate_text)
        .transpose()?;

    let mut buf = LicenseBuffer::new();
    let mut bufs = ActivationBuffers::new();
    let (license, machine) = match &certificate_text {
        None => {
            verifier
                .check_clock(now, seen)
                .map_err(Failure::from_verify_error)?;
            let license = verifier.verify(&text, now, &mut buf).map_err(|err| {
                if err == VerifyError::ActivationRequired {
                    Failure::msg(
                        Exit::ActivationRequired,
                        format!(
                            "{err}: pass its machine certificate with --machine-certificate \
                             (`tessera activate KEY --url URL` makes one)"
                        ),
                    )
                } else {
                    Failure::from_verify_error(err)
                }
            })?;
            (license, None)
        }
        Some(certificate) => {
            let fingerprint = match args.fingerprint {
                Some(fingerprint) => fingerprint,
                None => this_machine(&text, selected.map(|selected| selected.id))?,
            };
            let activated = verifier
                .verify_activated(&text, certificate, &fingerprint, now, seen, &mut bufs)
                .map_err(Failure::from_verify_error)?;
            let machine = json::Machine {
                fingerprint: fingerprint.to_hex().to_string(),
                issued_at: activated.certificate().issued_at.0,
                lease_ends_at: activated.lease_ends_at().map(|time| time.0),
                lease_seconds_left: activated.lease_seconds_left(),
                lease_days_left: activated.lease_days_left(),
            };
            (*activated.license(), Some(machine))
        }
    };
    if let (Some(file), None) = (&last_seen, args.at) {
        file.record(now).exit_context(Exit::Input, || {
            format!("cannot record the time in {}", file.path().display())
        })?;
    }

    let claims = license.claims();
    let spec = selected
        .and_then(|selected| selected.spec)
        .or_else(|| names.spec(claims.product));
    let licensed = Selected {
        id: claims.product,
        spec,
    };
    Requirements::resolve(args, &licensed)
        .map_err(|message| Failure::msg(Exit::MissingEntitlement, message))?
        .check(&license, spec)?;

    if json {
        print_json(&verified(&license, now, spec, machine))
    } else {
        print(&summary(&license, now, spec, machine.as_ref()))
    }
}

/// The time a `--last-seen` file keeps; one that holds no time is an unreadable input.
fn read_last_seen(file: &LastSeenFile) -> Result<Option<UnixTime>> {
    file.read().exit_context(Exit::Input, || {
        format!("cannot read --last-seen {}", file.path().display())
    })
}

/// This machine's fingerprint for the licence's product (`product`, or the one the key names: it
/// is only a guess until the key verifies, and a wrong one fails as another machine).
pub(crate) fn this_machine(key_text: &str, product: Option<u32>) -> Result<Fingerprint> {
    let product = match product {
        Some(product) => product,
        None => {
            let mut buf = LicenseBuffer::new();
            buf.decode_text(key_text)
                .map_err(|err| Failure::from_verify_error(err.into()))?
                .claims
                .product
        }
    };
    crate::fingerprint::this_machine(product)
}

/// A required feature bit or tier index, and how messages name it.
struct Required {
    value: u8,
    label: String,
}

/// What `--require-feature` and `--require-tier` ask for.
struct Requirements {
    features: Vec<Required>,
    tier: Option<Required>,
}

impl Requirements {
    /// Looks the requirements up in `product`'s tables.
    fn resolve(args: &VerifyArgs, product: &Selected<'_>) -> std::result::Result<Self, String> {
        let required = |given: &Ref, value: u8| Required {
            value,
            label: match given {
                Ref::Name(name) => format!("`{name}` ({value})"),
                Ref::Number(_) => value.to_string(),
            },
        };
        let features = args
            .require_features
            .iter()
            .map(|given| product.feature(given).map(|bit| required(given, bit)))
            .collect::<std::result::Result<_, _>>()?;
        let tier = args
            .require_tier
            .as_ref()
            .map(|given| product.tier(given).map(|index| required(given, index)))
            .transpose()?;
        Ok(Requirements { features, tier })
    }

    /// Fails with [`Exit::MissingEntitlement`] unless `license` grants everything required.
    fn check(&self, license: &License<'_>, spec: Option<&ProductSpec>) -> Result {
        let missing = |message: String| Failure::msg(Exit::MissingEntitlement, message);
        let id = license.license_id();
        if let Some(feature) = self
            .features
            .iter()
            .find(|feature| !license.has_feature_bit(feature.value))
        {
            return Err(missing(format!(
                "licence {id} does not grant feature {}",
                feature.label
            )));
        }
        let tier = license.claims().tier;
        match &self.tier {
            Some(minimum) if tier < minimum.value => Err(missing(format!(
                "licence {id} is tier {}, below the required tier {}",
                tier_label(tier, spec),
                minimum.label
            ))),
            _ => Ok(()),
        }
    }
}

/// Where the licence stands: state, expiry, end of grace, and seconds left.
fn standing(license: &License<'_>, now: UnixTime) -> (State, Option<u64>) {
    match license.validity() {
        Validity::Perpetual => (State::Perpetual, None),
        Validity::Active { seconds_left, .. } => (State::Active, Some(seconds_left)),
        Validity::Grace { grace_ends_at, .. } => {
            (State::Grace, Some(now.seconds_until(grace_ends_at)))
        }
    }
}

fn verified(
    license: &License<'_>,
    now: UnixTime,
    spec: Option<&ProductSpec>,
    machine: Option<json::Machine>,
) -> Verified {
    let claims = license.claims();
    let (state, seconds_left) = standing(license, now);
    Verified {
        valid: true,
        checked_at: now.0,
        state,
        expires_at: claims.expires_at.map(|time| time.0),
        grace_ends_at: claims.grace_ends_at().map(|time| time.0),
        seconds_left,
        days_left: seconds_left.map(|seconds| seconds / 86_400),
        claims: json::Claims::new(claims, spec),
        machine,
    }
}

fn summary(
    license: &License<'_>,
    now: UnixTime,
    spec: Option<&ProductSpec>,
    machine: Option<&json::Machine>,
) -> String {
    let claims = license.claims();
    let (state, seconds_left) = standing(license, now);
    let validity = match (state, claims.expires_at, claims.grace_ends_at()) {
        (State::Active, Some(expires_at), _) => format!(
            "active until {} ({} left)",
            time_label(expires_at),
            days_label(seconds_left.unwrap_or(0))
        ),
        (State::Grace, Some(expired_at), Some(grace_ends_at)) => format!(
            "IN GRACE: expired {}, keeps working until {} ({} left); renew it",
            time_label(expired_at),
            time_label(grace_ends_at),
            days_label(seconds_left.unwrap_or(0))
        ),
        _ => "perpetual (never expires)".to_owned(),
    };
    let mut report = Report::new(format!("valid licence {}", claims.license_id));
    report
        .row("product", product_label(claims.product, spec))
        .row("tier", tier_label(claims.tier, spec))
        .row("features", features_label(claims.features, spec))
        .row("validity", validity);
    if let Some(name) = claims.licensee {
        report.row("licensee", name);
    }
    if let Some(machine) = machine {
        let lease = match (machine.lease_ends_at, machine.lease_seconds_left) {
            (Some(end), Some(left)) => format!(
                "until {} ({} left)",
                time_label(UnixTime(end)),
                days_label(left)
            ),
            _ => "no lease (lasts as long as the licence)".to_owned(),
        };
        report
            .row("machine", format!("activated ({})", machine.fingerprint))
            .row("lease", lease);
    } else if claims.requires_activation {
        report.row("machine", "activation required");
    }
    report
        .row("issued", time_label(claims.issued_at))
        .row("key id", claims.key_id.to_string())
        .row("checked at", time_label(now));
    report.render()
}
