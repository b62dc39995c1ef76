//! The C status values promise to be the `tessera` command's exit codes (`cli/src/exit.rs`): an app
//! and a script that checks a licence with the CLI read the same number the same way.

use tessera::TesseraStatus;
use tessera_cli::Exit;

/// The CLI's class of each status; exhaustive, so a new status must name its class here.
fn cli_class(status: TesseraStatus) -> Exit {
    match status {
        TesseraStatus::Ok => Exit::Ok,
        TesseraStatus::Failure => Exit::Failure,
        TesseraStatus::InvalidArgument => Exit::Usage,
        TesseraStatus::Input => Exit::Input,
        TesseraStatus::Malformed => Exit::Malformed,
        TesseraStatus::UnsupportedVersion => Exit::UnsupportedVersion,
        TesseraStatus::UnknownKeyId => Exit::UnknownKeyId,
        TesseraStatus::BadSignature => Exit::BadSignature,
        TesseraStatus::WrongProduct => Exit::WrongProduct,
        TesseraStatus::Revoked => Exit::Revoked,
        TesseraStatus::NotYetValid => Exit::NotYetValid,
        TesseraStatus::Expired => Exit::Expired,
        TesseraStatus::RevocationsRefused => Exit::RevocationsRefused,
        TesseraStatus::ActivationRequired => Exit::ActivationRequired,
        TesseraStatus::CertificateRefused => Exit::CertificateRefused,
        TesseraStatus::AnotherMachine => Exit::AnotherMachine,
        TesseraStatus::AnotherLicense => Exit::AnotherLicense,
        TesseraStatus::LeaseExpired => Exit::LeaseExpired,
        TesseraStatus::ClockRolledBack => Exit::ClockRolledBack,
    }
}

#[test]
fn every_status_is_the_cli_exit_code_of_the_same_class() {
    for status in [
        TesseraStatus::Ok,
        TesseraStatus::Failure,
        TesseraStatus::InvalidArgument,
        TesseraStatus::Input,
        TesseraStatus::Malformed,
        TesseraStatus::UnsupportedVersion,
        TesseraStatus::UnknownKeyId,
        TesseraStatus::BadSignature,
        TesseraStatus::WrongProduct,
        TesseraStatus::Revoked,
        TesseraStatus::NotYetValid,
        TesseraStatus::Expired,
        TesseraStatus::RevocationsRefused,
        TesseraStatus::ActivationRequired,
        TesseraStatus::CertificateRefused,
        TesseraStatus::AnotherMachine,
        TesseraStatus::AnotherLicense,
        TesseraStatus::LeaseExpired,
        TesseraStatus::ClockRolledBack,
    ] {
        let exit = cli_class(status);
        assert_eq!(status as i32, exit as i32, "{status:?} vs {exit:?}");
    }
}
