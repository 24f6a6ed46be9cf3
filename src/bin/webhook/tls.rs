//! https: rustls (on ring) trusting the system's roots and `--cacert`, and a first connection
//! to each https:// origin that finds a certificate problem before any retrying starts.

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tower::{BoxError, Service, ServiceExt};

use crate::Failure;

/// The flags every subcommand that connects takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct TlsArgs {
    /// A PEM file of CA certificates to trust besides the system's, for https:// endpoints
    /// whose certificates a private CA signed (repeat it for several files).
    #[arg(long, value_name = "FILE")]
    cacert: Vec<PathBuf>,
}

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;
type Connecting = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

/// What the first connection to an origin found: nothing wrong, or a certificate problem.
type Check = Arc<OnceCell<Result<(), String>>>;

/// hyper's connector for http:// and https://. For each https:// origin, [`check`] opens the
/// first connection before the delivery's attempts begin, and the first attempt uses it.
///
/// [`check`]: Connector::check
#[derive(Clone)]
pub(crate) struct Connector {
    inner: HttpsConnector<HttpConnector>,
    checks: Arc<Mutex<HashMap<String, Check>>>,
    /// Connections `check` opened, each waiting for the first request to its origin.
    parked: Arc<Mutex<HashMap<String, Stream>>>,
}

impl Connector {
    /// A connector trusting the system's roots (looked up only when `https` names a URL to
    /// reach) and those in `--cacert`.
    pub(crate) fn new(args: &TlsArgs, https: Option<&Uri>) -> Result<Self, Failure> {
        let mut roots = RootCertStore::empty();
        for path in &args.cacert {
            add_pem_file(&mut roots, path)?;
        }
        if let Some(url) = https {
            let native = rustls_native_certs::load_native_certs();
            let (added, _unusable) = roots.add_parsable_certificates(native.certs);
            if added == 0 && args.cacert.is_empty() {
                let why = native
                    .errors
                    .first()
                    .map(|error| format!(" ({error})"))
                    .unwrap_or_default();
                return Err(Failure::input(format!(
                    "{url}: cannot check the server's certificate: this system has no trusted \
                     root certificates{why}; install them (Debian: the ca-certificates package; \
                     or point SSL_CERT_FILE at a PEM bundle) or give the server's CA with \
                     --cacert FILE"
                )));
            }
        }
        // Named rather than the process default, which is ambiguous when another crate in
        // the build enables aws-lc-rs as well.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| Failure::input(format!("cannot set up TLS: {error}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let inner = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            inner,
            checks: Arc::default(),
            parked: Arc::default(),
        })
    }

    /// For an https:// URL, connects to its origin once (later calls wait for and share the
    /// first one's answer) and fails when the server's certificate is not accepted.
    ///
    /// The delivery policy retries every connection error, and no retry mends a
    /// certificate: this finds it first, so it fails at once. Other errors and timeouts
    /// pass: the delivery's attempts meet them again and retry as usual.
    pub(crate) async fn check(&self, url: &Uri, timeout: Duration) -> Result<(), String> {
        if url.scheme() != Some(&Scheme::HTTPS) {
            return Ok(());
        }
        let origin = origin(url);
        let check = Arc::clone(
            self.checks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(origin.clone())
                .or_default(),
        );
        check
            .get_or_init(|| async {
                let connecting = self.inner.clone().oneshot(url.clone());
                match tokio::time::timeout(timeout, connecting).await {
                    Ok(Ok(stream)) => {
                        self.parked
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(origin, stream);
                        Ok(())
                    }
                    Ok(Err(error)) => match certificate_problem(&*error, url.host()) {
                        Some(problem) => Err(problem),
                        None => Ok(()),
                    },
                    Err(_elapsed) => Ok(()),
                }
            })
            .await
            .clone()
    }
}

impl Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let parked = self
            .parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&origin(&uri));
        match parked {
            Some(stream) => Box::pin(std::future::ready(Ok(stream))),
            None => self.inner.call(uri),
        }
    }
}

/// `scheme://authority`, as hyper's connection pool tells origins apart.
fn origin(url: &Uri) -> String {
    let scheme = url.scheme_str().unwrap_or_default();
    let authority = url.authority().map(|a| a.as_str()).unwrap_or_default();
    format!("{scheme}://{authority}")
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), Failure> {
    let file = path.display();
    let bytes = std::fs::read(path)
        .map_err(|error| Failure::input(format!("--cacert: cannot read {file}: {error}")))?;
    let mut found = 0;
    for (index, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|error| {
            Failure::input(format!(
                "--cacert: {file}: certificate #{} is not valid PEM: {error}",
                index + 1
            ))
        })?;
        roots.add(cert).map_err(|error| {
            Failure::input(format!(
                "--cacert: {file}: certificate #{} cannot be trusted as a CA: {error}",
                index + 1
            ))
        })?;
        found += 1;
    }
    if found == 0 {
        return Err(Failure::input(format!(
            "--cacert: {file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(())
}

/// What is wrong with the server's certificate, when that is why `error` happened: a
/// sentence naming the host and rustls' reason.
pub(crate) fn certificate_problem(
    error: &(dyn Error + 'static),
    host: Option<&str>,
) -> Option<String> {
    let host = host.unwrap_or("the server");
    let reason = match rustls_error(error)? {
        rustls::Error::InvalidCertificate(error) => match error {
            CertificateError::UnknownIssuer => {
                "is not trusted (UnknownIssuer): give its CA with --cacert".to_owned()
            }
            CertificateError::BadSignature => {
                "is not trusted (BadSignature): its signature does not check".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "is not valid for that name (NotValidForName)".to_owned()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "has expired (Expired)".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "is not valid yet (NotValidYet): check this machine's clock".to_owned()
            }
            CertificateError::Revoked => "has been revoked (Revoked)".to_owned(),
            other => format!("is not accepted ({other})"),
        },
        rustls::Error::NoCertificatesPresented => {
            "is missing: the server presented none".to_owned()
        }
        _ => return None,
    };
    Some(format!("the certificate of {host} {reason}"))
}

/// The rustls error behind a connection error. hyper-rustls and tokio-rustls wrap it in
/// `io::Error`s, whose `source()` skips the error they hold, so look inside those.
fn rustls_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
            None => error.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_nested_io_errors() {
        let rustls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let wrapped: BoxError = Box::new(std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls,
        )));
        let problem = certificate_problem(&*wrapped, Some("127.0.0.1")).unwrap();
        assert!(
            problem.starts_with("the certificate of 127.0.0.1 is not trusted (UnknownIssuer)"),
            "{problem}"
        );

        let refused: BoxError =
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(certificate_problem(&*refused, Some("127.0.0.1")), None);
        let other_tls: BoxError = Box::new(std::io::Error::other(rustls::Error::DecryptError));
        assert_eq!(certificate_problem(&*other_tls, None), None);
    }
}
