//! Every vector in `tests/vectors/providers.json` (a verbatim copy of the shared provider
//! vectors) whose scheme the crate supports, judged through the real layer; the vectors of
//! schemes not supported yet are named below, so that none is skipped without saying so.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use tower_webhook::crypto::PublicKey;
use tower_webhook::scheme::{
    Discord, Generic, GitHub, Scheme, SendGrid, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{Key, Secret, Secrets, VerifySignatureLayer};

use common::{Recorder, refusal, request, send};

/// Schemes that vectors exist for but the crate does not verify yet, with how many vectors
/// each has: a new vector of one of them changes its count here, and a scheme in neither this
/// list nor the crate fails the test, so nothing is left out silently.
const NOT_YET_SUPPORTED: &[(&str, usize)] = &[
    ("twilio", 31),
    ("square", 9),
    ("hubspot", 2),
    ("paddle", 17),
    ("pagerduty", 5),
    ("workos", 5),
];

/// How many vectors of each supported scheme the file holds today.
const JUDGED: &[(&str, usize)] = &[("sendgrid", 10)];

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

/// Every scheme the crate ships, found by the name it reports: a vector whose `scheme` is one
/// of these is judged, whatever it is.
fn crate_schemes() -> Vec<Arc<dyn Scheme>> {
    vec![
        Arc::new(GitHub),
        Arc::new(Stripe),
        Arc::new(Slack),
        Arc::new(StandardWebhooks),
        Arc::new(Shopify),
        Arc::new(Generic),
        Arc::new(Discord),
        Arc::new(SendGrid),
    ]
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
    let recorder = Recorder::new();
    let response = send(
        &layer,
        &recorder,
        request(&vector.headers(), Bytes::from(body.clone())),
    )
    .await;
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
async fn every_vector_of_a_supported_scheme_is_judged_and_the_rest_are_known() {
    let vectors = load();
    let schemes = crate_schemes();
    let mut judged: BTreeMap<String, usize> = BTreeMap::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for vector in &vectors {
        let scheme = schemes.iter().find(|s| s.name() == vector.scheme);
        if let Some(scheme) = scheme {
            *judged.entry(vector.scheme.clone()).or_default() += 1;
            if let Err(failure) = judge(Arc::clone(scheme), vector).await {
                failures.push(failure);
            }
        } else if NOT_YET_SUPPORTED.iter().any(|(s, _)| *s == vector.scheme) {
            *skipped.entry(vector.scheme.clone()).or_default() += 1;
        } else {
            failures.push(format!(
                "{}: scheme {:?} is neither in the crate nor in NOT_YET_SUPPORTED",
                vector.name, vector.scheme
            ));
        }
    }
    let total_judged: usize = judged.values().sum();
    let total_skipped: usize = skipped.values().sum();
    println!(
        "provider vectors: {total_judged} judged {judged:?}, {total_skipped} skipped \
         (not yet supported) {skipped:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(total_judged + total_skipped, vectors.len());

    let expected_judged: BTreeMap<String, usize> =
        JUDGED.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    assert_eq!(judged, expected_judged, "judged vectors per scheme");
    assert_eq!(judged.get("sendgrid"), Some(&10));
    let expected_skipped: BTreeMap<String, usize> = NOT_YET_SUPPORTED
        .iter()
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    assert_eq!(
        skipped, expected_skipped,
        "vectors of schemes not yet supported (update NOT_YET_SUPPORTED when one is added)"
    );
}

/// The skip list must not hide a scheme the crate has since learned: once one of them is
/// added, its vectors must be judged, not skipped.
#[test]
fn no_scheme_is_both_supported_and_skipped() {
    let schemes = crate_schemes();
    for (name, _) in NOT_YET_SUPPORTED {
        assert!(
            !schemes.iter().any(|s| s.name() == *name),
            "{name} is supported now: move it from NOT_YET_SUPPORTED to JUDGED"
        );
    }
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
    };
    assert!(judge(Arc::new(SendGrid), valid).await.is_ok());
    assert!(judge(Arc::new(SendGrid), &tampered).await.is_err());
    tampered.expect = "invalid".to_owned();
    assert!(judge(Arc::new(SendGrid), &tampered).await.is_ok());
}
