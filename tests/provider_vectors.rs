//! Every vector in `tests/vectors/providers.json` (a verbatim copy of the shared provider
//! vectors), judged through the real layer, with the scheme the crate ships under the vector's
//! name: none is skipped, and a vector of a scheme the crate lacks fails the test.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use serde::Deserialize;
use tower_webhook::crypto::PublicKey;
use tower_webhook::scheme::{Scheme, SendGrid, preset};
use tower_webhook::{Key, Secret, Secrets, VerifySignatureLayer};

use common::{Recorder, refusal, request, send};

/// How many vectors of each scheme the file holds today: a vector added or lost changes a
/// count here.
const JUDGED: &[(&str, usize)] = &[
    ("hubspot", 2),
    ("paddle", 17),
    ("pagerduty", 5),
    ("sendgrid", 10),
    ("square", 9),
    ("twilio", 31),
    ("workos", 5),
];

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    scheme: String,
    secret: Option<String>,
    #[serde(default)]
    additional_secrets: Vec<String>,
    public_key: Option<String>,
    body: Option<String>,
    /// The exact body bytes, for a body that is not UTF-8; it wins over `body`.
    body_hex: Option<String>,
    headers: BTreeMap<String, String>,
    expect: String,
    now: Option<i64>,
    tolerance_seconds: Option<u64>,
    /// The endpoint's public URL, for schemes that sign it; the request goes to its path.
    url: Option<String>,
    method: Option<String>,
    content_type: Option<String>,
}

impl Vector {
    fn body(&self) -> Vec<u8> {
        match (&self.body_hex, &self.body) {
            (Some(hex), _) => hex::decode(hex)
                .unwrap_or_else(|e| panic!("{}: body_hex is not hex: {e}", self.name)),
            (None, Some(body)) => body.clone().into_bytes(),
            (None, None) => panic!("{}: no body", self.name),
        }
    }

    /// The keys the vector gives: its public key, or its secret and any older ones.
    fn keys(&self) -> Secrets {
        if let Some(public) = &self.public_key {
            return PublicKey::new(public.as_str()).into();
        }
        let secret = self
            .secret
            .as_deref()
            .unwrap_or_else(|| panic!("{}: neither a public key nor a secret", self.name));
        std::iter::once(secret)
            .chain(self.additional_secrets.iter().map(String::as_str))
            .map(|secret| Key::from(Secret::new(secret)))
            .collect()
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        headers
    }
}

fn load() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/providers.json");
    let text = std::fs::read_to_string(path).expect("vectors file");
    serde_json::from_str(&text).expect("vectors parse")
}

/// Judges one vector through the layer; `Err` says how it went wrong.
async fn judge(scheme: Arc<dyn Scheme>, vector: &Vector) -> Result<(), String> {
    let name = &vector.name;
    let body = vector.body();
    let mut layer = VerifySignatureLayer::new(scheme, vector.keys())
        .map_err(|e| format!("{name}: the layer refused its keys: {e}"))?;
    if let Some(seconds) = vector.tolerance_seconds {
        layer = layer.tolerance(Duration::from_secs(seconds));
    }
    if let Some(now) = vector.now {
        layer = layer.clock(move || now);
    }
    let mut request = request(&vector.headers(), Bytes::from(body.clone()));
    if let Some(url) = &vector.url {
        // The provider called `url`; the endpoint is told it, and is reached at its path.
        layer = layer
            .public_url(url.split('?').next().unwrap_or(url))
            .map_err(|e| format!("{name}: {e}"))?;
        let uri: Uri = url.parse().map_err(|e| format!("{name}: url: {e}"))?;
        *request.uri_mut() = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .unwrap();
    }
    if let Some(method) = &vector.method {
        *request.method_mut() = method.parse().unwrap();
    }
    let content_type = vector.content_type.as_deref().unwrap_or("application/json");
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    let recorder = Recorder::new();
    let response = send(&layer, &recorder, request).await;
    let status = response.status();
    match vector.expect.as_str() {
        "valid" => {
            if status != StatusCode::OK {
                return Err(format!(
                    "{name}: expected 200, got {status} ({})",
                    refusal(&response)
                ));
            }
            if recorder.calls() != 1 {
                return Err(format!("{name}: inner service called {}", recorder.calls()));
            }
            let seen = recorder.last();
            if seen.verified.body().as_ref() != body.as_slice() || seen.body != body {
                return Err(format!("{name}: the verified body is not the bytes sent"));
            }
        }
        "invalid" => {
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::BAD_REQUEST {
                return Err(format!("{name}: expected 401 or 400, got {status}"));
            }
            if recorder.calls() != 0 {
                return Err(format!("{name}: refused, yet the inner service was called"));
            }
        }
        other => return Err(format!("{name}: unknown expect {other:?}")),
    }
    Ok(())
}

#[tokio::test]
async fn every_vector_is_judged_by_the_scheme_of_its_name() {
    let vectors = load();
    let mut judged: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for vector in &vectors {
        let Some(scheme) = preset(&vector.scheme) else {
            failures.push(format!(
                "{}: no preset is named {:?}",
                vector.name, vector.scheme
            ));
            continue;
        };
        *judged.entry(vector.scheme.clone()).or_default() += 1;
        if let Err(failure) = judge(scheme, vector).await {
            failures.push(failure);
        }
    }
    println!(
        "provider vectors: {} judged {judged:?}",
        judged.values().sum::<usize>()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let expected: BTreeMap<String, usize> =
        JUDGED.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    assert_eq!(judged, expected, "judged vectors per scheme");
    assert_eq!(judged.values().sum::<usize>(), vectors.len());
}

/// The judge itself can fail: a valid vector with one body byte changed is refused, and an
/// invalid one relabelled valid is reported.
#[tokio::test]
async fn the_judge_notices_a_wrong_verdict() {
    let vectors = load();
    let valid = vectors
        .iter()
        .find(|v| v.scheme == "sendgrid" && v.expect == "valid")
        .expect("a valid sendgrid vector");
    let mut tampered = Vector {
        name: format!("{} (body changed)", valid.name),
        scheme: valid.scheme.clone(),
        secret: valid.secret.clone(),
        additional_secrets: valid.additional_secrets.clone(),
        public_key: valid.public_key.clone(),
        body: None,
        body_hex: Some(hex::encode([valid.body(), b" ".to_vec()].concat())),
        headers: valid.headers.clone(),
        expect: "valid".to_owned(),
        now: valid.now,
        tolerance_seconds: valid.tolerance_seconds,
        url: valid.url.clone(),
        method: valid.method.clone(),
        content_type: valid.content_type.clone(),
    };
    assert!(judge(Arc::new(SendGrid), valid).await.is_ok());
    assert!(judge(Arc::new(SendGrid), &tampered).await.is_err());
    tampered.expect = "invalid".to_owned();
    assert!(judge(Arc::new(SendGrid), &tampered).await.is_ok());
}
