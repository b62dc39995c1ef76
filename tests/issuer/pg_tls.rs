//! TLS to PostgreSQL: the issuer honours libpq's `sslmode` and `sslrootcert` in `DATABASE_URL`.
//!
//! The server's own certificate (`ssl_cert_file`: Debian's self-signed snakeoil one on the test
//! machines) is the root that `verify-ca` and `verify-full` are given. On a server with `ssl=off`
//! the parts that need TLS print a notice and are skipped; the rest still runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use tessera_issuer::testing::connect;

use super::harness::{get_json, Workspace};

/// `url` with `options` (`name=value&…`) added to its query.
fn with_options(url: &str, options: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{options}")
}

/// A workspace on a PostgreSQL test database, its URL, and the certificate the server presents;
/// `None` after a notice without a server, or when it has `ssl=off` or its certificate file cannot
/// be read here: then the test's TLS part, all of it, is skipped.
fn on_postgres_with_tls() -> Option<(Workspace, String, PathBuf)> {
    let workspace = Workspace::on_postgres("")?;
    let url = workspace.database_url()?.to_owned();
    let cert = server_certificate(&url)?;
    Some((workspace, url, cert))
}

/// The certificate the server at `url` presents, or `None` after a notice.
fn server_certificate(url: &str) -> Option<PathBuf> {
    let mut client = connect(&with_options(url, "sslmode=disable")).expect("connect to the server");
    let row = client
        .query_one(
            "SELECT current_setting('ssl'), current_setting('ssl_cert_file')",
            &[],
        )
        .expect("read the server's TLS settings");
    let (ssl, cert): (String, String) = (row.get(0), row.get(1));
    let cert = PathBuf::from(cert);
    let _ = client.close();
    if ssl != "on" {
        eprintln!("notice: PostgreSQL has ssl=off: this TLS test skipped");
        return None;
    }
    if std::fs::read(&cert).is_err() {
        eprintln!(
            "notice: cannot read the server's certificate {}: this TLS test skipped",
            cert.display()
        );
        return None;
    }
    Some(cert)
}

/// That the database at `url` has other connections than this one (the issuer's), all of them
/// encrypted (`pg_stat_ssl`).
fn assert_connections_encrypted(url: &str) {
    let mut client = connect(&with_options(url, "sslmode=disable")).expect("connect to the server");
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
            &[],
        )
        .expect("read pg_stat_ssl");
    let (connections, encrypted): (i64, i64) = (row.get(0), row.get(1));
    let _ = client.close();
    assert!(connections >= 1, "the issuer holds no connection");
    assert_eq!(encrypted, connections, "every connection is encrypted");
}

/// The one line a start on `database_url` is refused with, as a failure to start (exit 1).
fn refused_start(workspace: &Workspace, database_url: &str) -> String {
    let (code, stderr) = workspace.refused_start(&[("DATABASE_URL", database_url)]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

/// A self-signed certificate (PEM) made with the OpenSSL command for `name`, by a key the server
/// has never seen: a root that signed nothing the server shows.
fn throwaway_root(dir: &Path, name: &str) -> PathBuf {
    let cert = dir.join("other-root.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .arg("-keyout")
        .arg(dir.join("other-root.key"))
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl to make a throwaway certificate");
    assert!(status.success(), "openssl req failed");
    cert
}

/// The first DNS name `cert` (PEM) is issued for, read with the OpenSSL command.
fn dns_name(cert: &Path) -> Option<String> {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(cert)
        .output()
        .expect("run openssl x509");
    String::from_utf8_lossy(&output.stdout)
        .split([',', ' ', '\n'])
        .find_map(|part| part.trim().strip_prefix("DNS:").map(str::to_owned))
}

#[test]
fn with_sslmode_require_every_connection_of_a_real_issuer_is_encrypted() {
    let Some((workspace, url, _)) = on_postgres_with_tls() else {
        return;
    };
    let issuer =
        workspace.start_with_env(&[("DATABASE_URL", &with_options(&url, "sslmode=require"))]);
    // Answered from the database: the pool holds a connection.
    assert_eq!(get_json(&issuer.url("/readyz")).0, 200);
    assert_connections_encrypted(&url);
    assert!(issuer.stop());
}

#[test]
fn verify_ca_trusts_the_given_root_and_refuses_another() {
    let Some((workspace, url, root)) = on_postgres_with_tls() else {
        return;
    };
    let trusted = with_options(
        &url,
        &format!("sslmode=verify-ca&sslrootcert={}", root.display()),
    );
    let issuer = workspace.start_with_env(&[("DATABASE_URL", &trusted)]);
    assert_eq!(get_json(&issuer.url("/readyz")).0, 200);
    assert_connections_encrypted(&url);
    assert!(issuer.stop());

    // A root of the same name that did not sign the server's certificate.
    let other = throwaway_root(
        workspace.path(),
        &dns_name(&root).unwrap_or("localhost".into()),
    );
    let untrusted = with_options(
        &url,
        &format!("sslmode=verify-ca&sslrootcert={}", other.display()),
    );
    let stderr = refused_start(&workspace, &untrusted);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot open the database: storage unavailable: the server's certificate is \
             refused (sslmode=verify-ca sslrootcert={}): ",
            other.display()
        )),
        "{stderr}"
    );
}

#[test]
fn verify_full_checks_the_host_name_too() {
    let Some((workspace, url, root)) = on_postgres_with_tls() else {
        return;
    };
    let verify_full = format!("sslmode=verify-full&sslrootcert={}", root.display());
    // A certificate issued for a DNS name is not one for the address 127.0.0.1.
    if url.contains("@127.0.0.1:") {
        let stderr = refused_start(&workspace, &with_options(&url, &verify_full));
        assert!(
            stderr.contains("the server's certificate is refused (sslmode=verify-full "),
            "{stderr}"
        );
        assert!(
            stderr.contains("certificate not valid for name \"127.0.0.1\""),
            "{stderr}"
        );
    } else {
        eprintln!("notice: the test server is not on 127.0.0.1: the refused part skipped");
    }
    // The same server by the name its certificate is for (`hostaddr` says where it is).
    let name = dns_name(&root);
    match name.filter(|_| url.contains("@127.0.0.1:")) {
        Some(name) => {
            let by_name = with_options(
                &url.replacen("@127.0.0.1:", &format!("@{name}:"), 1),
                &format!("hostaddr=127.0.0.1&{verify_full}"),
            );
            let issuer = workspace.start_with_env(&[("DATABASE_URL", &by_name)]);
            assert_eq!(get_json(&issuer.url("/readyz")).0, 200);
            assert!(issuer.stop());
        }
        None => eprintln!(
            "notice: no DNS name in the server's certificate, or the server is not on 127.0.0.1: \
             the accepted part skipped"
        ),
    }
}

/// Settings checked before any connection: these need no server.
#[test]
fn bad_tls_settings_stop_the_start_with_one_line_and_exit_2() {
    let workspace = Workspace::new("");
    let base = "postgres://tessera:s3cret@127.0.0.1:5432/tessera";
    let missing = workspace.path().join("missing-ca.pem");
    let not_pem = workspace.path().join("tessera.toml");
    for (options, expected) in [
        (
            "sslmode=bogus".to_owned(),
            "error: config `DATABASE_URL`: option `sslmode` must be one of disable, prefer, \
             require, verify-ca, verify-full"
                .to_owned(),
        ),
        (
            format!("sslmode=verify-ca&sslrootcert={}", missing.display()),
            format!(
                "error: config `DATABASE_URL`: option `sslrootcert`: {}: cannot read it: No such \
                 file or directory (os error 2)",
                missing.display()
            ),
        ),
        (
            format!("sslmode=require&sslrootcert={}", not_pem.display()),
            format!(
                "error: config `DATABASE_URL`: option `sslrootcert`: {}: holds no PEM certificate",
                not_pem.display()
            ),
        ),
    ] {
        let url = with_options(base, &options);
        let (code, stderr) = workspace.refused_start(&[("DATABASE_URL", &url)]);
        assert_eq!(code, Some(2), "{options}: {stderr}");
        assert_eq!(stderr.trim_end(), expected);
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }

    // `migrate-from-sqlite --to` reads its URL the same way.
    let output = Command::new(crate::util::issuer_bin())
        .args(["migrate-from-sqlite", "--to"])
        .arg(with_options(base, "sslmode=bogus"))
        .current_dir(workspace.path())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "off")
        .output()
        .expect("run tessera-issuer migrate-from-sqlite");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "error: --to: option `sslmode` must be one of disable, prefer, require, verify-ca, \
         verify-full"
    );
}
