//! Every published vector in `tests/vectors/published.json`, judged through the layer as its
//! `expect` field says (an invalid one also by the refusal its `expect_error` names); the valid
//! ones are also re-created with the scheme's own `sign`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use tower::{ServiceExt, service_fn};
use tower_webhook::scheme::{
    Generic, GitHub, Message, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{Secret, Secrets, Verified, VerifiedBody, VerifyError, VerifySignatureLayer};

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    scheme: String,
    secret: String,
    #[serde(default)]
    additional_secrets: Vec<String>,
    headers: std::collections::BTreeMap<String, String>,
    body: Option<String>,
    body_repeat: Option<Repeat>,
    now: Option<i64>,
    tolerance_seconds: Option<u64>,
    expect: String,
    /// The refusal an invalid vector must get; valid vectors have none.
    expect_error: Option<ExpectError>,
    timestamp: Option<i64>,
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExpectError {
    /// The `VerifyError` variant's name.
    kind: String,
    status: u16,
    /// The header the error names, for the variants that name one.
    header: Option<String>,
}

/// A refusal's variant name and the header it names, if any: what `expect_error` states.
fn describe(error: &VerifyError) -> (String, Option<String>) {
    let header = match error {
        VerifyError::MissingHeader { header }
        | VerifyError::MalformedHeader { header, .. }
        | VerifyError::NoSupportedSignature { header }
        | VerifyError::InvalidTimestamp { header, .. } => Some(header.as_str().to_owned()),
        _ => None,
    };
    // The variant's name is what its Debug output starts with.
    let debug = format!("{error:?}");
    let kind = debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned();
    (kind, header)
}

#[derive(Debug, Deserialize)]
struct Repeat {
    unit: String,
    count: usize,
}

impl Vector {
    fn body(&self) -> Vec<u8> {
        match (&self.body, &self.body_repeat) {
            (Some(body), _) => body.clone().into_bytes(),
            (None, Some(repeat)) => repeat.unit.repeat(repeat.count).into_bytes(),
            (None, None) => panic!("{}: no body", self.name),
        }
    }

    fn scheme(&self) -> Arc<dyn Scheme> {
        match self.scheme.as_str() {
            "github" => Arc::new(GitHub),
            "stripe" => Arc::new(Stripe),
            "slack" => Arc::new(Slack),
            "standard-webhooks" | "svix" => Arc::new(StandardWebhooks),
            "shopify" => Arc::new(Shopify),
            "generic" => Arc::new(Generic),
            other => panic!("{}: unknown scheme {other}", self.name),
        }
    }

    fn secrets(&self) -> Secrets {
        std::iter::once(&self.secret)
            .chain(&self.additional_secrets)
            .map(|secret| Secret::new(secret.as_str()))
            .collect()
    }
}

fn load() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/published.json");
    let text = std::fs::read_to_string(path).expect("vectors file");
    serde_json::from_str(&text).expect("vectors parse")
}

#[tokio::test]
async fn every_published_vector_is_judged_as_published() {
    let vectors = load();
    assert!(vectors.len() >= 25, "the vector file shrank");
    let mut failures = Vec::new();
    for vector in &vectors {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let body = vector.body();
        let expected_body = Bytes::from(body.clone());
        let inner = service_fn(move |request: Request<VerifiedBody>| {
            let seen = Arc::clone(&seen);
            let expected_body = expected_body.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                let verified = request.extensions().get::<Verified>().unwrap().clone();
                assert_eq!(verified.body(), &expected_body);
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
            }
        });
        let mut layer = VerifySignatureLayer::new(vector.scheme(), vector.secrets())
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name))
            .tolerance(Duration::from_secs(vector.tolerance_seconds.unwrap_or(300)));
        if let Some(now) = vector.now {
            layer = layer.clock(move || now);
        }
        let mut request = Request::post("/")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        for (name, value) in &vector.headers {
            request.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let response = tower::Layer::layer(&layer, inner)
            .oneshot(request)
            .await
            .unwrap();
        let accepted = response.status() == StatusCode::OK;
        let expect_valid = match vector.expect.as_str() {
            "valid" => true,
            "invalid" => false,
            other => panic!("{}: unknown expect {other}", vector.name),
        };
        if accepted != expect_valid {
            failures.push(format!(
                "{}: expected {}, got {}",
                vector.name,
                vector.expect,
                response.status()
            ));
        }
        // An invalid vector must be refused for the reason it states, not merely refused: a
        // verifier that rejects everything as a mismatch would pass the check above.
        let refusal = response.extensions().get::<VerifyError>();
        match (&vector.expect_error, refusal) {
            (Some(expected), Some(error)) => {
                let (kind, header) = describe(error);
                let got = (kind, response.status().as_u16(), header);
                let want = (
                    expected.kind.clone(),
                    expected.status,
                    expected.header.clone(),
                );
                if got != want {
                    failures.push(format!(
                        "{}: expected refusal {want:?}, got {got:?} ({error})",
                        vector.name
                    ));
                }
                assert_eq!(
                    error.status(),
                    response.status(),
                    "{}: the refusal's own status",
                    vector.name
                );
            }
            (Some(expected), None) => failures.push(format!(
                "{}: expected refusal {expected:?}, got {} without a VerifyError",
                vector.name,
                response.status()
            )),
            (None, Some(error)) => failures.push(format!(
                "{}: refused ({error:?}) but the vector states no expect_error",
                vector.name
            )),
            (None, None) => {}
        }
        let expected_calls = usize::from(expect_valid);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            expected_calls,
            "{}: inner service calls",
            vector.name
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Every valid vector's signature comes out of the scheme's own `sign`.
#[test]
fn signing_reproduces_every_valid_vector() {
    let mut checked = 0;
    for vector in load().iter().filter(|v| v.expect == "valid") {
        let scheme = vector.scheme();
        // A rotation vector is signed with the secret that matches, the last one.
        let secret = vector.additional_secrets.last().unwrap_or(&vector.secret);
        let body = vector.body();
        let mut message = Message::new(&body);
        if let Some(timestamp) = vector.timestamp {
            message = message.timestamp(timestamp);
        }
        if let Some(id) = &vector.id {
            message = message.id(id);
        }
        let headers = scheme
            .sign(&Secret::new(secret.as_str()), &message)
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
        assert!(
            !headers.is_empty(),
            "{}: sign wrote no headers",
            vector.name
        );
        for (name, value) in &headers {
            // Every header `sign` writes must be in the published request: a signature header
            // under a name the vector lacks would otherwise be compared with nothing.
            let expected = vector.headers.get(name.as_str()).unwrap_or_else(|| {
                panic!(
                    "{}: sign wrote {name}, which the published request does not have",
                    vector.name
                )
            });
            // A published header may list more entries (Stripe's `v0`); ours must all be there.
            let entries =
                |text: &str| -> Vec<String> { text.split([',', ' ']).map(str::to_owned).collect() };
            let expected = entries(expected);
            for entry in entries(value.to_str().unwrap()) {
                assert!(
                    expected.contains(&entry),
                    "{}: {name} has no {entry}",
                    vector.name
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} valid vectors");
}
