//! TLS to PostgreSQL, as libpq's `sslmode` and `sslrootcert` ask for it: the one way every part of
//! the issuer connects.
//!
//! tokio-postgres reads `sslmode` disable, prefer and require only, and leaves what the server's
//! certificate must prove to the connector it is given. So both options are taken out of the URL
//! here, tokio-postgres is given the mode as one of its three, and our verifier does the check:
//! - `disable`: plain;
//! - `prefer` (the default, as libpq's) and `require`: encrypted (`prefer` falls back to plain when
//!   the server has no TLS); the certificate is not checked, unless `sslrootcert` is given, which
//!   makes them `verify-ca`, as in libpq;
//! - `verify-ca`: the certificate must chain to `sslrootcert` (PEM), or without it to the webpki
//!   (Mozilla) roots; `sslrootcert=system` names those too;
//! - `verify-full`: and it must be issued for the host connected to (`host`, even when `hostaddr`
//!   says where to connect).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::postgres::config::SslMode;
use ::postgres::{Client, Config};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's modes that we support, weakest first (`allow`, plain unless the server insists, is
/// not: tokio-postgres cannot try plain first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

const MODES: [(&str, Mode); 5] = [
    ("disable", Mode::Disable),
    ("prefer", Mode::Prefer),
    ("require", Mode::Require),
    ("verify-ca", Mode::VerifyCa),
    ("verify-full", Mode::VerifyFull),
];

impl Mode {
    fn name(self) -> &'static str {
        MODES
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("", |(name, _)| name)
    }

    /// What tokio-postgres is told: whether to ask for TLS, and whether to give up without it.
    fn negotiation(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }
}

/// A PostgreSQL URL made ready to connect with: its settings for the client, and the TLS connector
/// its `sslmode` and `sslrootcert` ask for. Clones share the connector.
#[derive(Clone)]
pub struct PgTarget {
    config: Config,
    tls: MakeRustlsConnect,
    mode: Mode,
    root_cert: Option<PathBuf>,
}

/// Why a URL cannot be connected with. It names the option at fault, never the URL, which may
/// hold a password.
#[derive(Debug)]
pub enum PgUrlError {
    /// Not a URL the client reads (a bad port, an unknown option…).
    Url(::postgres::Error),
    /// `sslmode` is none of the supported modes.
    SslMode,
    /// The `sslrootcert` file cannot be read, or holds no usable certificate.
    RootCert {
        /// The file, as given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

impl std::fmt::Display for PgUrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PgUrlError::Url(err) => {
                // The client's own message is only "invalid configuration"; its cause says which
                // option.
                let why = std::error::Error::source(err)
                    .map_or(err.to_string(), |cause| cause.to_string());
                write!(f, "is not a valid PostgreSQL URL: {why}")
            }
            PgUrlError::SslMode => {
                let names: Vec<_> = MODES.iter().map(|(name, _)| *name).collect();
                write!(f, "option `sslmode` must be one of {}", names.join(", "))
            }
            PgUrlError::RootCert { path, why } => {
                write!(f, "option `sslrootcert`: {}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for PgUrlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PgUrlError::Url(err) => Some(err),
            PgUrlError::SslMode | PgUrlError::RootCert { .. } => None,
        }
    }
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client's config shows no password.
        f.debug_struct("PgTarget")
            .field("config", &self.config)
            .field("sslmode", &self.mode.name())
            .field("sslrootcert", &self.root_cert)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// Reads `url` (`postgres://…`), and the `sslrootcert` file it names.
    pub fn parse(url: &str) -> Result<PgTarget, PgUrlError> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut mode = Mode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for option in query.split('&').filter(|option| !option.is_empty()) {
            let (name, value) = option.split_once('=').unwrap_or((option, ""));
            match decoded(name).as_str() {
                "sslmode" => {
                    let value = decoded(value);
                    mode = MODES
                        .iter()
                        .find(|(name, _)| *name == value)
                        .map(|(_, mode)| *mode)
                        .ok_or(PgUrlError::SslMode)?;
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(decoded(value))),
                _ => kept.push(option),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: Config = rest.parse().map_err(PgUrlError::Url)?;
        config.ssl_mode(mode.negotiation());
        let roots = match (&root_cert, mode) {
            (_, Mode::Disable) => None,
            (Some(path), _) if path.as_os_str() != "system" => Some(read_roots(path)?),
            (Some(_), _) => Some(webpki_roots()),
            (None, Mode::VerifyCa | Mode::VerifyFull) => Some(webpki_roots()),
            (None, _) => None,
        };
        let tls = connector(Verifier::new(roots, mode == Mode::VerifyFull));
        Ok(PgTarget {
            config,
            tls: MakeRustlsConnect::new(tls),
            mode,
            root_cert,
        })
    }

    /// Opens a connection. Call it off the async executor: the client runs a runtime of its own.
    pub fn connect(&self) -> Result<Client, ::postgres::Error> {
        self.config.connect(self.tls.clone())
    }

    /// The TLS settings that refused the server, when that is why connecting failed with `err`: to
    /// be named in the error, which otherwise tells only what rustls found.
    pub fn refusal(&self, err: &::postgres::Error) -> Option<String> {
        let mut cause = std::error::Error::source(err);
        while let Some(error) = cause {
            let tls = error.downcast_ref::<rustls::Error>().or_else(|| {
                error
                    .downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            });
            if let Some(tls) = tls {
                let mut settings = format!("sslmode={}", self.mode.name());
                if let Some(path) = &self.root_cert {
                    settings.push_str(&format!(" sslrootcert={}", path.display()));
                }
                let what = match tls {
                    rustls::Error::InvalidCertificate(_) => "the server's certificate is refused",
                    _ => "the TLS handshake failed",
                };
                return Some(format!("{what} ({settings})"));
            }
            cause = error.source();
        }
        None
    }
}

/// `text` with its %-escapes decoded, as the client decodes the URL's options.
fn decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn webpki_roots() -> Arc<RootCertStore> {
    Arc::new(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

/// The certificates in the PEM file at `path`, as roots to trust.
fn read_roots(path: &Path) -> Result<Arc<RootCertStore>, PgUrlError> {
    let refused = |why: String| PgUrlError::RootCert {
        path: path.to_owned(),
        why,
    };
    let pem = std::fs::read(path).map_err(|err| refused(format!("cannot read it: {err}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|err| refused(format!("not PEM: {err}")))?;
        roots
            .add(cert)
            .map_err(|err| refused(format!("not a usable certificate: {err}")))?;
    }
    if roots.is_empty() {
        return Err(refused("holds no PEM certificate".to_owned()));
    }
    Ok(Arc::new(roots))
}

/// rustls with the ring provider (already in the tree for Stripe and SMTP), given to the client
/// whatever the mode: with `disable` it is never used.
fn connector(verifier: Verifier) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // As libpq 17 sends it: PostgreSQL 17 requires it of direct TLS (`sslnegotiation=direct`),
    // older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    config
}

/// Checks the server's certificate as the mode says. The handshake's signatures are checked in
/// every mode: the server must hold the key of the certificate it shows.
#[derive(Debug)]
struct Verifier {
    /// What the certificate must chain to; `None`: anything (encryption only).
    roots: Option<Arc<RootCertStore>>,
    /// Whether it must also be issued for the host connected to.
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Verifier {
    fn new(roots: Option<Arc<RootCertStore>>, check_name: bool) -> Verifier {
        Verifier {
            roots,
            check_name,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
            if self.check_name {
                verify_server_name(&cert, server_name)?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        PgTarget::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn sslmode_and_sslrootcert_are_ours_and_the_rest_is_the_clients() {
        for (url, mode) in [
            ("postgres://h/db", Mode::Prefer),
            ("postgres://h/db?sslmode=disable", Mode::Disable),
            (
                "postgres://h/db?application_name=a&sslmode=require",
                Mode::Require,
            ),
            ("postgres://h/db?sslmode=verify-ca", Mode::VerifyCa),
            (
                "postgres://h/db?sslmode=verify%2Dfull&connect_timeout=3",
                Mode::VerifyFull,
            ),
        ] {
            let target = PgTarget::parse(url).unwrap();
            assert_eq!(target.mode, mode, "{url}");
            assert_eq!(target.config.get_ssl_mode(), mode.negotiation(), "{url}");
            assert_eq!(target.config.get_hosts().len(), 1, "{url}");
        }
        let target =
            PgTarget::parse("postgres://h/db?sslmode=verify-full&sslrootcert=system").unwrap();
        assert_eq!(target.root_cert, Some(PathBuf::from("system")));
        // Never read without TLS, as libpq.
        assert!(
            PgTarget::parse("postgres://h/db?sslmode=disable&sslrootcert=/nonexistent").is_ok()
        );
    }

    #[test]
    fn bad_settings_name_the_option_never_the_password() {
        let modes = "option `sslmode` must be one of disable, prefer, require, verify-ca, \
                     verify-full";
        assert_eq!(refused("postgres://u:secret@h/db?sslmode=bogus"), modes);
        assert_eq!(refused("postgres://u:secret@h/db?sslmode=allow"), modes);
        assert_eq!(
            refused("postgres://u:secret@h:x/db"),
            "is not a valid PostgreSQL URL: invalid value for option `port`"
        );
        let missing =
            refused("postgres://u:secret@h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem");
        assert!(
            missing.starts_with("option `sslrootcert`: /nonexistent/ca.pem: cannot read it: "),
            "{missing}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert_eq!(
            refused(&format!("postgres://h/db?sslrootcert={}", empty.display())),
            format!(
                "option `sslrootcert`: {}: holds no PEM certificate",
                empty.display()
            )
        );
        for err in [modes.to_owned(), missing] {
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
