//! The `tessera` command; everything but booting lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    tessera_cli::run()
}
