//! `tessera fingerprint`: this machine's fingerprint for a product, as the issuer records it.

use tessera_verifier::machine_fingerprint;

use crate::args::FingerprintArgs;
use crate::exit::{Exit, Failure, Result, ResultExt};
use crate::json::{MachineFingerprint, ProductRef};
use crate::names::{Names, Selected};
use crate::output::{print, print_json};

/// Prints the fingerprint (only the 64 hex digits, so that `$(tessera fingerprint ...)` works).
pub(crate) fn run(args: &FingerprintArgs, names: &Names, json: bool) -> Result {
    let product = match &args.product {
        Some(product) => names.product(product)?,
        None => names.only_product().ok_or_else(|| {
            Failure::msg(
                Exit::Usage,
                "which product? pass --product P: a machine has another fingerprint for each \
                 product (a catalogue listing a single product makes it the default)",
            )
        })?,
    };
    let fingerprint = this_machine(product.id)?;
    if json {
        print_json(&MachineFingerprint {
            product: product_ref(&product),
            fingerprint: fingerprint.to_hex().to_string(),
        })
    } else {
        print(&format!("{fingerprint}\n"))
    }
}

/// This machine's fingerprint for `product`, or why the OS gives no machine id.
pub(crate) fn this_machine(product: u32) -> Result<tessera_keys::Fingerprint> {
    machine_fingerprint(product).exit_context(Exit::Failure, || {
        "cannot compute this machine's fingerprint"
    })
}

fn product_ref(product: &Selected<'_>) -> ProductRef {
    ProductRef {
        id: product.id,
        name: product.spec.map(|spec| spec.name.clone()),
    }
}
