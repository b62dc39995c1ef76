//! `tessera keygen` and `tessera pubkey`.

use std::io::ErrorKind;
use std::path::Path;

use tessera_keys::{KeyFileError, SigningKey};

use crate::args::{KeygenArgs, PubkeyArgs};
use crate::exit::{Exit, Failure, Result};
use crate::json::PublicKeyOutput;
use crate::output::{hex, print, print_json, public_key_text, rust_snippet};

/// Writes a new signing key and prints its public key. The secret is never printed.
pub(crate) fn keygen(args: &KeygenArgs, json: bool) -> Result {
    let key = SigningKey::generate(args.kid);
    key.write_file(&args.out).map_err(|err| {
        let message = if err.kind() == ErrorKind::AlreadyExists {
            format!(
                "refusing to overwrite {}: it already exists",
                args.out.display()
            )
        } else {
            format!("cannot write signing key to {}: {err}", args.out.display())
        };
        Failure::msg(Exit::Failure, message)
    })?;
    if json {
        print_json(&public_key_output(&key, &args.out))
    } else {
        print(&format!(
            "Wrote signing key {} to {} (mode 0600). Keep it secret and backed up: whoever has it \
             can issue licences.\n{}",
            key.id(),
            args.out.display(),
            public_key_text(&key.public_key())
        ))
    }
}

/// Prints the public key of a signing key file.
pub(crate) fn pubkey(args: &PubkeyArgs, json: bool) -> Result {
    let key = read_signing_key(&args.file)?;
    if json {
        print_json(&public_key_output(&key, &args.file))
    } else {
        print(&public_key_text(&key.public_key()))
    }
}

/// Reads a signing key file; any problem with it is an unreadable input.
pub(crate) fn read_signing_key(path: &Path) -> Result<SigningKey> {
    SigningKey::read_file(path).map_err(|err| {
        let message = match err {
            KeyFileError::Io(io) => format!("cannot read signing key {}: {io}", path.display()),
            KeyFileError::Decode(why) => {
                format!("{} is not a signing key file: {why}", path.display())
            }
            other => format!("{}: {other}", path.display()),
        };
        Failure::msg(Exit::Input, message)
    })
}

fn public_key_output(key: &SigningKey, file: &Path) -> PublicKeyOutput {
    let public = key.public_key();
    PublicKeyOutput {
        key_id: public.id,
        public_key: public.to_string(),
        public_key_hex: hex(&public.bytes),
        rust: rust_snippet(&public),
        key_file: file.display().to_string(),
    }
}
