//! The `tessera` command: make signing keys, issue licence keys, and verify and inspect them offline;
//! and, with `tessera admin`, do support work on a running issuer through its admin API.
//!
//! The binary (`src/main.rs`) only calls [`run`]. This library documents what scripts rely on: the exit
//! codes ([`Exit`]) and the `--json` output ([`json`]).
//!
//! ```text
//! tessera keygen --out issuer.key
//! tessera issue --key issuer.key --product 1 --tier 1 --feature 0 --days 365 > licence.txt
//! tessera verify - --public-key tspk1_1_... < licence.txt
//! TESSERA_TOKEN=tsadm_... tessera admin licenses find --email ada@example.com
//! tessera activate "$KEY" --url https://licences.example.com   # machine-certificate-<id>.txt
//! tessera verify "$KEY" --public-key keys.json --machine-certificate machine-certificate-<id>.txt
//! ```
//!
//! Every failure prints one line, `error: <message>: <cause>`, to standard error and exits with the
//! code of its class:
//!
//! ```
//! assert_eq!(tessera_cli::Exit::Expired.code(), 17);
//! assert_eq!(tessera_cli::Exit::ServerUnreachable.code(), 20);
//! ```
//!
//! Codes 20 to 25 belong to the commands that talk to the issuer (`tessera admin`, `activate`,
//! `deactivate`): the issuer unreachable (20), the admin token refused (21), not found (22), the
//! request refused (23), a server error (24), and credit accounts that differ from their ledger (25,
//! `admin credits check`). Codes 30 to 36 are about machine activation: a licence that needs a
//! machine certificate (30), a certificate refused (31), for another machine (32) or licence (33),
//! its lease over (34), a clock turned back (35), and every seat taken (36, `activate`).
//!
//! ```
//! assert_eq!(tessera_cli::Exit::ActivationRequired.code(), 30);
//! assert_eq!(tessera_cli::Exit::TooManyMachines.code(), 36);
//! ```
#![deny(missing_docs)]

mod activate;
mod admin;
mod args;
mod client;
mod deactivate;
mod escape;
mod exit;
mod fingerprint;
mod input;
mod inspect;
mod issue;
pub mod json;
mod keys;
mod machines;
mod names;
mod output;
mod revocations;
mod verify;

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use clap::error::ErrorKind as ClapErrorKind;
use clap::Parser;

use crate::args::{Cli, Commands, RevocationsCommand};
use crate::escape::Escaped;
pub use crate::exit::{Exit, EXIT_CODES_HELP};
use crate::exit::{Failure, Result};
use crate::names::Names;

/// Runs `tessera` with the process's arguments and returns how it should exit.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    match dispatch(&cli) {
        Ok(()) => Exit::Ok.into(),
        Err(failure) => report(&failure),
    }
}

fn dispatch(cli: &Cli) -> Result {
    // Only the commands that name products read the catalogue, so that a broken TESSERA_CATALOG does
    // not stop `keygen`.
    let names = || Names::load(cli.catalog.as_deref());
    match &cli.command {
        Commands::Keygen(args) => keys::keygen(args, cli.json),
        Commands::Pubkey(args) => keys::pubkey(args, cli.json),
        Commands::Issue(args) => issue::run(args, &names()?, cli.json),
        Commands::Verify(args) => verify::run(args, &names()?, cli.json),
        Commands::Inspect(args) => inspect::run(args, &names()?, cli.json),
        Commands::Revocations(RevocationsCommand::Sign(args)) => revocations::sign(args, cli.json),
        Commands::Revocations(RevocationsCommand::Show(args)) => revocations::show(args, cli.json),
        Commands::Fingerprint(args) => fingerprint::run(args, &names()?, cli.json),
        Commands::Activate(args) => activate::run(args, cli.json),
        Commands::Deactivate(args) => deactivate::run(args, cli.json),
        Commands::Admin(args) => admin::run(args, cli.json),
    }
}

/// Help and version go to stdout and exit 0; help for an incomplete command goes to stderr; usage
/// errors print clap's message as one line and exit 2.
fn usage_error(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion => {
            let _ = err.print();
            Exit::Ok.into()
        }
        ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            Exit::Usage.into()
        }
        _ => {
            // Clap quotes the arguments it refuses, which may have been pasted from anywhere.
            let line = clap_one_line(&err.render().to_string());
            let _ = writeln!(std::io::stderr().lock(), "{}", Escaped(&line));
            Exit::Usage.into()
        }
    }
}

/// Clap's message without the usage and "try --help" paragraphs, on one line.
fn clap_one_line(rendered: &str) -> String {
    rendered
        .split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|paragraph| {
            !paragraph.is_empty()
                && !paragraph.starts_with("Usage:")
                && !paragraph.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Prints the failure as one line with its causes, and returns its exit code. The line is escaped:
/// messages can quote what a key, a file or the issuer said.
fn report(failure: &Failure) -> ExitCode {
    // A reader that stops early (`tessera ... | head -1`) is not an error worth a message.
    let broken_pipe = failure.error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return Exit::Ok.into();
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "error: {}",
        Escaped(&one_line(&failure.error))
    );
    failure.exit.into()
}

/// `message: cause: cause`, on one line. A cause that its message already ends with is skipped,
/// since some errors print their source as part of their own message.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_causes_without_repeating_them() {
        let io = std::io::Error::new(ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(io).context("cannot read x:  no such\nfile");
        assert_eq!(one_line(&error), "cannot read x: no such file");
        let error = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&error), "outer: inner");
    }

    #[test]
    fn clap_errors_fit_on_one_line() {
        let err =
            Cli::try_parse_from(["tessera", "issue", "--key", "k", "--tier", "1"]).unwrap_err();
        let line = clap_one_line(&err.render().to_string());
        assert_eq!(
            line,
            "error: the following required arguments were not provided: --product <PRODUCT>"
        );
        let err =
            Cli::try_parse_from(["tessera", "keygen", "--out", "k", "--kidd", "2"]).unwrap_err();
        let line = clap_one_line(&err.render().to_string());
        assert!(
            line.starts_with("error: unexpected argument '--kidd' found; tip:"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
