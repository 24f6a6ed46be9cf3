//! One attempt: sign afresh, POST, read the start of the answer, judge it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};

use super::store::{AttemptRow, Claim, RESPONSE_BODY_LIMIT};
use crate::crypto::SigningKey;
use crate::deliver::retry_after_header;
use crate::scheme::{Message, Scheme, sign_into};

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

const X_WEBHOOK_ID: http::HeaderName = http::HeaderName::from_static("x-webhook-id");
const USER_AGENT: &str = concat!("tower-webhook/", env!("CARGO_PKG_VERSION"));

/// A client for http:// and https:// endpoints: rustls on ring with `config`, or trusting the
/// system's roots.
pub(crate) fn client(config: Option<ClientConfig>) -> HttpClient {
    let config = config.unwrap_or_else(|| {
        let mut roots = RootCertStore::empty();
        // Unusable or missing roots are not fatal here: an https attempt then fails with the
        // certificate error, which its attempt log shows.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        // Named rather than the process default, which is ambiguous when another crate in the
        // build enables aws-lc-rs as well.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    });
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// How an attempt ended, before it is recorded.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) attempt: AttemptRow,
    pub(crate) retry_after: Option<Duration>,
    /// The request could not be made and never will be (it cannot be signed): no retry.
    pub(crate) permanent: bool,
}

impl Outcome {
    /// 2xx.
    pub(crate) fn succeeded(&self) -> bool {
        self.attempt
            .status
            .is_some_and(|status| (200..300).contains(&status))
    }

    /// Worth another attempt: no answer (refused, reset, timed out, not signed), 408, 429, 5xx.
    /// Every other answer (3xx, other 4xx) will not change by asking again.
    pub(crate) fn retryable(&self) -> bool {
        if self.permanent {
            return false;
        }
        match self.attempt.status {
            None => true,
            Some(status) => status == 408 || status == 429 || status >= 500,
        }
    }
}

/// What signs an endpoint's attempts: its scheme and its first secret, keyed once.
#[derive(Clone)]
pub(crate) struct Signer {
    pub(crate) scheme: Arc<dyn Scheme>,
    pub(crate) key: SigningKey,
}

/// Why an attempt could not be signed, and whether trying again could change that.
#[derive(Debug, Clone)]
pub(crate) struct Unsigned {
    pub(crate) reason: String,
    pub(crate) permanent: bool,
}

/// Signs `claim`'s payload for its endpoint (the id kept, the timestamp now) and POSTs it,
/// within `timeout` for the whole exchange.
pub(crate) async fn attempt(
    client: &HttpClient,
    signer: Result<&Signer, Unsigned>,
    claim: &Claim,
    timeout: Duration,
) -> Outcome {
    let started_at = super::endpoint::now_millis();
    let clock = Instant::now();
    let request = signer.and_then(|signer| request(signer, claim, started_at));
    let permanent = request.as_ref().is_err_and(|unsigned| unsigned.permanent);
    let result = match request {
        Err(unsigned) => Err(unsigned.reason),
        Ok(request) => match tokio::time::timeout(timeout, send(client, request)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(format!(
                "timed out after {}",
                humantime::format_duration(timeout)
            )),
        },
    };
    let duration_ms = u32::try_from(clock.elapsed().as_millis()).unwrap_or(u32::MAX);
    let (status, error, response_body, retry_after) = match result {
        Ok((status, body, retry_after)) => (Some(status.as_u16()), None, body, retry_after),
        Err(error) => (None, Some(error), Vec::new(), None),
    };
    Outcome {
        attempt: AttemptRow {
            delivery_id: claim.delivery.id.clone(),
            number: claim.delivery.attempts + 1,
            started_at,
            duration_ms,
            status,
            error,
            response_body,
        },
        retry_after,
        permanent,
    }
}

fn request(signer: &Signer, claim: &Claim, now_ms: i64) -> Result<Request<Full<Bytes>>, Unsigned> {
    let scheme = &*signer.scheme;
    let never = |reason: String| Unsigned {
        reason,
        permanent: true,
    };
    let event = &claim.event;
    // Twilio signs JSON through a hash of it in the URL.
    let url = &crate::scheme::url_for_body(
        scheme,
        &claim.endpoint.url,
        &event.content_type,
        &event.payload,
    );
    let message = Message::new(&event.payload)
        .id(&claim.delivery.id)
        .timestamp(now_ms.div_euclid(1000))
        .event_type(&event.event_type)
        .url(url)
        .method("POST")
        .content_type(&event.content_type);
    let mut headers = http::HeaderMap::new();
    sign_into(scheme, &signer.key, &message, &mut headers)
        .map_err(|error| never(format!("not signed: {error}")))?;
    let mut request = Request::post(url.as_str())
        .body(Full::new(event.payload.clone()))
        .map_err(|error| never(format!("not sent: {error}")))?;
    let content_type = HeaderValue::from_str(&event.content_type)
        .map_err(|_| never("not sent: the event's content type cannot be a header".into()))?;
    let out = request.headers_mut();
    out.insert(header::CONTENT_TYPE, content_type);
    out.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    out.extend(headers);
    // Schemes that send no id header of their own still give the receiver the delivery id
    // to deduplicate on.
    if scheme
        .id_header()
        .is_none_or(|name| !out.contains_key(name))
    {
        let id = HeaderValue::from_str(&claim.delivery.id)
            .map_err(|_| never("not sent: the delivery id cannot be a header".into()))?;
        out.insert(X_WEBHOOK_ID, id);
    }
    Ok(request)
}

async fn send(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Vec<u8>, Option<Duration>), String> {
    let response = client
        .request(request)
        .await
        .map_err(|error| crate::deliver::error_chain(&error))?;
    let status = response.status();
    let retry_after = retry_after_header(response.headers());
    // Only the start of the answer is kept; the rest is not waited for.
    let mut body = response.into_body();
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_BODY_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = RESPONSE_BODY_LIMIT - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            // The status counts even if the body broke off.
            Some(Err(_)) | None => break,
        }
    }
    Ok((status, kept, retry_after))
}
