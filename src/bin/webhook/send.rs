//! One delivery: the client stack, and `webhook send`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_webhook::deliver::{Attempt, DeliverLayer, DeliveryPolicy, DeliveryReport};
use tower_webhook::scheme::Scheme;
use tower_webhook::sign::{DeliveryId, EventType, SignRequestLayer};

use crate::Failure;
use crate::input::{SchemeName, parse_url, payload, read_payload_file, url_for_body};
use crate::tls::{Connector, TlsArgs};

type HttpClient = Client<Connector, Full<Bytes>>;

/// The client every delivery of a run shares, for http:// and https://.
#[derive(Clone)]
pub(crate) struct Transport {
    client: HttpClient,
    connector: Connector,
}

impl Transport {
    /// A client for `urls`: the system's roots are read only when one of them is https://.
    pub(crate) fn new<'a>(
        tls: &TlsArgs,
        urls: impl IntoIterator<Item = &'a Uri>,
    ) -> Result<Self, Failure> {
        let https = urls
            .into_iter()
            .find(|url| url.scheme() == Some(&http::uri::Scheme::HTTPS));
        let connector = Connector::new(tls, https)?;
        let client = Client::builder(TokioExecutor::new()).build(connector.clone());
        Ok(Self { client, connector })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    /// Where to send it: an http:// or https:// URL. Schemes that sign the URL (twilio,
    /// square, hubspot) sign this one, so give the URL the receiver knows itself by.
    url: String,
    /// The signature scheme: any preset's name.
    #[arg(long, value_parser = SchemeName::value_parser())]
    scheme: SchemeName,
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true, help = crate::SECRET_HELP)]
    secret: String,
    /// The payload: JSON text, or what --content-type says (a form: `a=1&b=2`).
    #[arg(
        long,
        conflicts_with = "payload_file",
        required_unless_present = "payload_file"
    )]
    payload: Option<String>,
    /// A file holding the payload, sent byte for byte.
    #[arg(long)]
    payload_file: Option<PathBuf>,
    #[arg(long, default_value = "application/json", help = crate::CONTENT_TYPE_HELP)]
    content_type: String,
    /// The event type, for schemes that send it in a header (github, shopify, twitch,
    /// bitbucket, woocommerce, …).
    #[arg(long)]
    event: Option<String>,
    /// The delivery id (default: a new random `msg_…`).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    tuning: Tuning,
    #[command(flatten)]
    tls: TlsArgs,
}

/// How hard to try.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct Tuning {
    /// Retries after the first attempt, on connection errors, timeouts, 408, 429 and 5xx
    /// (never on a certificate that is not accepted).
    #[arg(long, default_value_t = 3)]
    pub(crate) retries: u32,
    /// Seconds one attempt may take.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub(crate) timeout: f64,
    /// Base delay of the exponential backoff, in milliseconds (the waits are random up to
    /// base × 2^retry, capped at 30 s).
    #[arg(long, default_value_t = 500)]
    pub(crate) backoff_ms: u64,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds < 1e9 => Ok(seconds),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

/// Everything one delivery needs, checked.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) url: Uri,
    pub(crate) signer: SignRequestLayer,
    pub(crate) payload: Bytes,
    /// The payload's media type, which Twilio's signature depends on.
    pub(crate) content_type: HeaderValue,
    pub(crate) event: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) retries: u32,
}

impl Target {
    /// The signer signs the URL the request goes to (for the schemes that sign it), with
    /// Twilio's `bodySHA256` added for a body that is not a form.
    pub(crate) fn new(
        url: &str,
        scheme: Arc<dyn Scheme>,
        secret: String,
        payload: Bytes,
        content_type: &str,
    ) -> Result<Self, String> {
        let content_type = HeaderValue::from_str(content_type)
            .map_err(|_| format!("`{content_type}` is not a valid Content-Type"))?;
        let url = url_for_body(
            scheme.as_ref(),
            url,
            content_type.to_str().unwrap_or_default(),
            &payload,
        );
        let url = parse_url(&url)?;
        let signer = SignRequestLayer::new(scheme, secret).map_err(|error| error.to_string())?;
        Ok(Self {
            url,
            signer,
            payload,
            content_type,
            event: None,
            id: None,
            retries: 3,
        })
    }
}

/// How a delivery ended.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) report: Option<DeliveryReport>,
    /// Why it was not delivered, when it was not.
    pub(crate) problem: Option<String>,
}

impl Outcome {
    pub(crate) fn delivered(&self) -> bool {
        self.problem.is_none()
    }
}

pub(crate) async fn deliver(
    transport: Transport,
    target: Target,
    tuning: Tuning,
    on_attempt: impl Fn(&Attempt) + Send + Sync + 'static,
) -> Outcome {
    let timeout = Duration::from_secs_f64(tuning.timeout);
    if let Err(problem) = transport.connector.check(&target.url, timeout).await {
        return Outcome {
            report: None,
            problem: Some(problem),
        };
    }
    let policy = DeliveryPolicy::new()
        .max_attempts(target.retries.saturating_add(1))
        .base_delay(Duration::from_millis(tuning.backoff_ms))
        // A certificate refused on a later connection (after a 503, say) is no more trusted
        // on the next attempt.
        .permanent_error(|error| crate::tls::certificate_problem(error, None).is_some())
        .on_attempt(on_attempt);
    let service = ServiceBuilder::new()
        .layer(DeliverLayer::new(policy).attempt_timeout(timeout))
        .layer(target.signer)
        .service(transport.client);

    let mut request = Request::post(target.url).body(Full::new(target.payload));
    if let Ok(request) = &mut request {
        let headers = request.headers_mut();
        headers.insert(header::CONTENT_TYPE, target.content_type);
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("tower-webhook/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(event) = target.event {
            request.extensions_mut().insert(EventType::new(event));
        }
        if let Some(id) = target.id {
            request.extensions_mut().insert(DeliveryId::new(id));
        }
    }
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            return Outcome {
                report: None,
                problem: Some(error.to_string()),
            };
        }
    };

    let result = service.oneshot(request).await;
    let report = DeliveryReport::of(&result).cloned();
    let problem = match result {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                None
            } else {
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map(|body| body.to_bytes())
                    .unwrap_or_default();
                Some(describe_refusal(status, &body))
            }
        }
        // `DeliveryFailed` names the id, the attempts and the error with its sources.
        Err(error) => Some(error.to_string()),
    };
    Outcome { report, problem }
}

fn describe_refusal(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let first_line = text.lines().next().unwrap_or("").trim();
    let mut snippet: String = first_line.chars().take(120).collect();
    if snippet.len() < first_line.len() {
        snippet.push('…');
    }
    if snippet.is_empty() {
        format!("refused: {status}")
    } else {
        format!("refused: {status}: {snippet}")
    }
}

pub(crate) fn attempts_text(attempts: u32) -> String {
    format!("{attempts} attempt{}", if attempts == 1 { "" } else { "s" })
}

pub(crate) fn describe_attempt(attempt: &Attempt) -> String {
    let what = match (&attempt.status, &attempt.error) {
        (Some(status), _) => status.to_string(),
        (None, Some(error)) => error.clone(),
        (None, None) => "no answer".to_owned(),
    };
    match attempt.retry_in {
        Some(wait) => format!(
            "attempt {}: {what}; retrying in {:.1} s",
            attempt.number,
            wait.as_secs_f64()
        ),
        None => format!("attempt {}: {what}", attempt.number),
    }
}

pub(crate) async fn run(args: SendArgs) -> Result<(), Failure> {
    let payload = match (&args.payload, &args.payload_file) {
        (Some(text), _) => payload(text.clone().into_bytes(), "--payload", &args.content_type)?,
        (None, Some(path)) => read_payload_file(path, &args.content_type)?,
        (None, None) => return Err(Failure::input("give --payload or --payload-file")),
    };
    let mut target = Target::new(
        &args.url,
        args.scheme.scheme(),
        args.secret,
        payload,
        &args.content_type,
    )
    .map_err(Failure::input)?;
    target.event = args.event;
    target.id = args.id;
    target.retries = args.tuning.retries;
    let url = target.url.clone();
    let transport = Transport::new(&args.tls, [&url])?;

    let outcome = deliver(transport, target, args.tuning, |attempt| {
        if attempt.retry_in.is_some() {
            eprintln!("{}", describe_attempt(attempt));
        }
    })
    .await;
    let (id, attempts, elapsed, status) = match &outcome.report {
        Some(report) => (
            report.id.to_string(),
            report.attempts,
            report.elapsed,
            report.status,
        ),
        None => (String::from("-"), 0, Duration::ZERO, None),
    };
    match outcome.problem {
        None => {
            let status = status.map(|s| s.to_string()).unwrap_or_default();
            println!(
                "delivered {id} to {url}: {status} after {} ({} ms)",
                attempts_text(attempts),
                elapsed.as_millis()
            );
            Ok(())
        }
        Some(problem) if status.is_some() => Err(Failure::delivery(format!(
            "delivery {id} to {url} was {problem} (after {})",
            attempts_text(attempts)
        ))),
        Some(problem) => Err(Failure::delivery(format!(
            "could not deliver to {url}: {problem}"
        ))),
    }
}
