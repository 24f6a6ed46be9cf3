//! `webhook send` and `batch` over https://, against local TLS servers whose certificates and
//! CAs the tests make with rcgen.
#![cfg(feature = "cli")]

mod cli_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use cli_support::Scratch;
use http::StatusCode;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tower_webhook::scheme::Generic;
use tower_webhook::{Verified, VerifySignatureLayer};

const SECRET: &str = "a long random secret";

/// A CA made for one test: its certificate in PEM, and what signs with it.
struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    fn server_certificate(
        &self,
        names: &[&str],
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// What a TLS server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicU32,
    handshakes: AtomicU32,
    /// Why each failed handshake failed, as the server saw it.
    failed_handshakes: Mutex<Vec<String>>,
    /// Requests that reached the handler, so passed the crate's `VerifySignatureLayer`.
    verified: AtomicU32,
}

/// An https server on 127.0.0.1 with `certificate`, verifying the generic scheme at `/hook`.
async fn tls_server(
    certificate: (CertificateDer<'static>, PrivateKeyDer<'static>),
) -> (SocketAddr, Arc<Seen>) {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.0], certificate.1)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let seen = Arc::new(Seen::default());
    let counted = Arc::clone(&seen);
    let router = Router::new()
        .route(
            "/hook",
            post(move |verified: Verified| {
                let counted = Arc::clone(&counted);
                async move {
                    assert_eq!(verified.body().as_ref(), br#"{"event":"order.completed"}"#);
                    counted.verified.fetch_add(1, Ordering::SeqCst);
                    StatusCode::OK
                }
            }),
        )
        .layer(VerifySignatureLayer::new(Generic, SECRET).unwrap());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_seen = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            server_seen.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, router, seen) =
                (acceptor.clone(), router.clone(), Arc::clone(&server_seen));
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        seen.handshakes.fetch_add(1, Ordering::SeqCst);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                            .await;
                    }
                    Err(error) => seen
                        .failed_handshakes
                        .lock()
                        .unwrap()
                        .push(error.to_string()),
                }
            });
        }
    });
    (addr, seen)
}

/// Runs the program with `SSL_CERT_FILE` naming a file with no certificate, so that it
/// trusts only what `--cacert` gives, whatever this machine's roots are.
async fn webhook(args: Vec<String>, dir: &Path) -> Output {
    webhook_with_roots(args, dir, "").await
}

/// Runs the program with `roots` (PEM) as the system's root certificates.
async fn webhook_with_roots(args: Vec<String>, dir: &Path, roots: &str) -> Output {
    let roots_file = dir.join("system-roots.pem");
    std::fs::write(&roots_file, roots).unwrap();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_webhook"))
            .args(args)
            .env_remove("WEBHOOK_SECRET")
            .env_remove("SSL_CERT_DIR")
            .env("SSL_CERT_FILE", roots_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn send(url: &str) -> Vec<String> {
    [
        "send",
        url,
        "--scheme",
        "generic",
        "--secret",
        SECRET,
        "--payload",
        r#"{"event":"order.completed"}"#,
        "--retries",
        "3",
        "--backoff-ms",
        "1",
    ]
    .map(String::from)
    .to_vec()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Waits (a little) for the server to record the handshake the client broke off.
async fn failed_handshakes(seen: &Seen) -> Vec<String> {
    for _ in 0..50 {
        let failed = seen.failed_handshakes.lock().unwrap().clone();
        if !failed.is_empty() {
            return failed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Vec::new()
}

#[tokio::test(flavor = "multi_thread")]
async fn send_reaches_https_with_the_ca_given_in_cacert() {
    let dir = Scratch::new("cli-tls-trusted");
    let ca = TestCa::new("tower-webhook test CA");
    let (addr, seen) = tls_server(ca.server_certificate(&["127.0.0.1", "localhost"])).await;
    let mut args = send(&format!("https://127.0.0.1:{}/hook", addr.port()));
    args.extend(["--cacert".into(), ca.write(&dir.0).display().to_string()]);

    let output = webhook(args, &dir.0).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("200 OK after 1 attempt"),
        "{}",
        stdout(&output)
    );
    assert_eq!(seen.verified.load(Ordering::SeqCst), 1);
    // The connection opened to look at the certificate is the one the delivery used.
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.handshakes.load(Ordering::SeqCst), 1);

    // The name in the URL is checked too: `localhost` is in the certificate.
    let args = {
        let mut args = send(&format!("https://localhost:{}/hook", addr.port()));
        args.extend(["--cacert".into(), ca.write(&dir.0).display().to_string()]);
        args
    };
    let output = webhook(args, &dir.0).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(seen.verified.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_fails_at_once_naming_the_host() {
    let dir = Scratch::new("cli-tls-untrusted");
    let ca = TestCa::new("a CA nobody was told about");
    let (addr, seen) = tls_server(ca.server_certificate(&["127.0.0.1"])).await;
    // The system trusts some CA, not this one; and no --cacert.
    let system = TestCa::new("a well-known CA");

    let output = webhook_with_roots(
        send(&format!("https://127.0.0.1:{}/hook", addr.port())),
        &dir.0,
        &system.pem,
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains(
            "the certificate of 127.0.0.1 is not trusted (UnknownIssuer): give its CA with --cacert"
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!("https://127.0.0.1:{}/hook", addr.port())),
        "{message}"
    );
    assert!(!message.contains("retrying"), "{message}");

    // One connection, whose handshake the program broke off; no request, no retry.
    let failed = failed_handshakes(&seen).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.handshakes.load(Ordering::SeqCst), 0);
    assert_eq!(seen.verified.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_for_another_name_is_refused_as_such() {
    let dir = Scratch::new("cli-tls-wrong-name");
    let ca = TestCa::new("tower-webhook test CA");
    let (addr, seen) = tls_server(ca.server_certificate(&["localhost"])).await;
    let mut args = send(&format!("https://127.0.0.1:{}/hook", addr.port()));
    args.extend(["--cacert".into(), ca.write(&dir.0).display().to_string()]);

    let output = webhook(args, &dir.0).await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message
            .contains("the certificate of 127.0.0.1 is not valid for that name (NotValidForName)"),
        "{message}"
    );
    assert_eq!(failed_handshakes(&seen).await.len(), 1);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.verified.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_delivers_to_trusted_hosts_and_fails_untrusted_ones_once_each() {
    let dir = Scratch::new("cli-tls-batch");
    let ca = TestCa::new("tower-webhook test CA");
    let stranger = TestCa::new("a CA nobody was told about");
    let (trusted, trusted_seen) = tls_server(ca.server_certificate(&["127.0.0.1"])).await;
    let (untrusted, untrusted_seen) = tls_server(stranger.server_certificate(&["127.0.0.1"])).await;
    let entry = |addr: SocketAddr| {
        format!(r#"{{"url": "https://{addr}/hook", "payload": {{"event":"order.completed"}}}}"#)
    };
    let file = dir.path("batch.json");
    std::fs::write(
        &file,
        format!(
            "[{}, {}, {}, {}]",
            entry(trusted),
            entry(untrusted),
            entry(trusted),
            entry(untrusted)
        ),
    )
    .unwrap();
    let args = [
        "batch",
        file.to_str().unwrap(),
        "--scheme",
        "generic",
        "--secret",
        SECRET,
        "--backoff-ms",
        "1",
        "--cacert",
        ca.write(&dir.0).to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();

    let output = webhook(args, &dir.0).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table = stdout(&output);
    let rows: Vec<&str> = table.lines().collect();
    for row in [1, 3] {
        assert!(rows[row].ends_with("delivered"), "{table}");
    }
    for row in [2, 4] {
        assert!(
            rows[row]
                .contains("FAILED: the certificate of 127.0.0.1 is not trusted (UnknownIssuer)"),
            "{table}"
        );
        // No attempt was made.
        assert_eq!(rows[row].split_whitespace().nth(3), Some("-"), "{table}");
    }
    assert!(table.contains("2 delivered, 2 failed"), "{table}");
    assert_eq!(trusted_seen.verified.load(Ordering::SeqCst), 2);
    // The untrusted host was asked once for its certificate, for both of its deliveries.
    assert_eq!(failed_handshakes(&untrusted_seen).await.len(), 1);
    assert_eq!(untrusted_seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_roots_and_bad_cacert_files_are_refused_before_sending() {
    let dir = Scratch::new("cli-tls-no-roots");
    let url = "https://127.0.0.1:9/hook";

    // `webhook` sets SSL_CERT_FILE to an empty file: a system with no roots.
    let output = webhook(send(url), &dir.0).await;
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(message.contains(url), "{message}");
    assert!(
        message.contains("this system has no trusted root certificates"),
        "{message}"
    );
    assert!(message.contains("--cacert"), "{message}");

    let not_pem = dir.path("not-pem.txt");
    std::fs::write(&not_pem, "just text\n").unwrap();
    for (file, expected) in [
        (not_pem.as_path(), "holds no PEM certificate"),
        (Path::new("/nonexistent/ca.pem"), "cannot read"),
    ] {
        let mut args = send(url);
        args.extend(["--cacert".into(), file.display().to_string()]);
        let output = webhook(args, &dir.0).await;
        assert_eq!(output.status.code(), Some(2), "{file:?}");
        assert!(
            stderr(&output).contains(expected),
            "{file:?}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_help_no_longer_says_http_only() {
    let dir = Scratch::new("cli-tls-help");
    for command in [&["--help"][..], &["send", "--help"], &["batch", "--help"]] {
        let output = webhook(command.iter().map(|s| s.to_string()).collect(), &dir.0).await;
        assert!(output.status.success());
        let help = stdout(&output);
        for stale in ["http:// only", "no TLS", "TLS-terminating proxy"] {
            assert!(!help.contains(stale), "{command:?}: {help}");
        }
        if command.len() == 2 {
            assert!(help.contains("--cacert"), "{help}");
        }
    }
}
