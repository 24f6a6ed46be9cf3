//! An oracle apart from the crate: for every scheme, the signature headers are built here by
//! hand, from the provider's documented format, with the `hmac`, `sha2`, `base64` and `hex`
//! crates. The layer must accept exactly those requests (and refuse them with one byte of the
//! body changed), and `Scheme::sign` must write exactly those header values.
//!
//! Nothing here calls into the crate to compute a tag, so a verifier and a signer that agree
//! with each other but not with the provider fail these tests.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Chunks, NOW, Recorder, refusal, request, request_with, send};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sha2::Sha256;
use tower_webhook::crypto::Encoding;
use tower_webhook::scheme::{
    CustomScheme, Generic, GitHub, Message, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{Secret, VerifyError, VerifySignatureLayer};

/// The timestamp the hand-built deliveries carry: inside the window, yet not the clock's own
/// value, so a verifier that signs its clock instead of the header's digits fails.
const TS: i64 = NOW - 7;

/// Body lengths around the 64-byte SHA-256 block (with and without the text some schemes put
/// in front of the body), one byte, none, and one longer than any single read.
const LENGTHS: &[usize] = &[0, 1, 31, 55, 56, 63, 64, 65, 119, 128, 1000, 70_001];

/// A Standard Webhooks secret; its base64 is also valid so a scheme that decodes it by
/// mistake (Stripe) still gets a key, just the wrong one.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn hmac_sha256(key: &[u8], content: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(content);
    mac.finalize().into_bytes().to_vec()
}

/// Every byte value, in an order that is not the identity, so each position differs.
fn body_of(length: usize) -> Vec<u8> {
    (0..length).map(|i| (i * 7 + 3) as u8).collect()
}

/// One delivery built by hand as its provider documents it, and the message `sign` is given
/// to produce the same headers.
struct Case {
    label: String,
    scheme: Arc<dyn Scheme>,
    secret: &'static str,
    body: Vec<u8>,
    headers: HeaderMap,
    id: Option<&'static str>,
    timestamp: Option<i64>,
    event_type: Option<&'static str>,
}

impl Case {
    fn new(scheme: impl Scheme, secret: &'static str, body: &[u8]) -> Self {
        Self {
            label: format!("{} ({} bytes)", scheme.name(), body.len()),
            scheme: Arc::new(scheme),
            secret,
            body: body.to_vec(),
            headers: HeaderMap::new(),
            id: None,
            timestamp: None,
            event_type: None,
        }
    }

    fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        let previous = self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_ref()).unwrap(),
        );
        assert!(previous.is_none(), "{name} set twice");
        self
    }

    fn id(mut self, id: &'static str) -> Self {
        self.id = Some(id);
        self
    }

    fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    fn event_type(mut self, event_type: &'static str) -> Self {
        self.event_type = Some(event_type);
        self
    }

    fn layer(&self) -> VerifySignatureLayer {
        VerifySignatureLayer::new(Arc::clone(&self.scheme), self.secret)
            .unwrap_or_else(|e| panic!("{}: {e}", self.label))
            .clock(|| NOW)
    }

    fn message(&self) -> Message<'_> {
        let mut message = Message::new(&self.body);
        if let Some(id) = self.id {
            message = message.id(id);
        }
        if let Some(timestamp) = self.timestamp {
            message = message.timestamp(timestamp);
        }
        if let Some(event_type) = self.event_type {
            message = message.event_type(event_type);
        }
        message
    }
}

/// Bodies one byte away from `body`: a flipped bit in the middle and at the end, one byte
/// more, and one byte fewer.
fn tampered(body: &[u8]) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    if !body.is_empty() {
        for at in [body.len() / 2, body.len() - 1] {
            let mut changed = body.to_vec();
            changed[at] ^= 0x01;
            bodies.push(changed);
        }
        bodies.push(body[..body.len() - 1].to_vec());
    }
    let mut longer = body.to_vec();
    longer.push(b'x');
    bodies.push(longer);
    bodies
}

/// The layer accepts the hand-built delivery, whole or in chunks, and hands on its exact
/// bytes; it refuses every one-byte change of the body; `sign` writes the same headers.
async fn check(case: Case) {
    let label = &case.label;
    let layer = case.layer();
    let recorder = Recorder::new();

    let response = send(&layer, &recorder, request(&case.headers, case.body.clone())).await;
    assert_eq!(response.status(), StatusCode::OK, "{label}: whole body");
    assert_eq!(recorder.calls(), 1, "{label}: inner called once");
    let seen = recorder.last();
    assert_eq!(seen.body, case.body, "{label}: the body handed on");
    assert_eq!(seen.verified.body(), &case.body, "{label}: Verified::body");
    assert_eq!(seen.verified.scheme(), case.scheme.name(), "{label}");
    assert_eq!(seen.verified.timestamp(), case.timestamp, "{label}");

    // The same bytes cut across chunk and block boundaries: the hash must run across them.
    let chunks = Chunks::split_at(&case.body, &[1, 2, 63, 64, 65, 1000]);
    let response = send(&layer, &recorder, request_with(&case.headers, chunks)).await;
    assert_eq!(response.status(), StatusCode::OK, "{label}: chunked body");
    assert_eq!(
        recorder.calls(),
        2,
        "{label}: inner called for the chunked body"
    );
    assert_eq!(
        recorder.last().body,
        case.body,
        "{label}: chunked body handed on"
    );

    for body in tampered(&case.body) {
        let response = send(&layer, &recorder, request(&case.headers, body.clone())).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{label}: tampered body of {} bytes",
            body.len()
        );
        assert!(
            matches!(refusal(&response), VerifyError::SignatureMismatch),
            "{label}: {:?}",
            refusal(&response)
        );
    }
    assert_eq!(recorder.calls(), 2, "{label}: tampered bodies reach nobody");

    let signed = case
        .scheme
        .sign(&Secret::new(case.secret), &case.message())
        .unwrap_or_else(|e| panic!("{label}: sign: {e}"));
    let names = |headers: &HeaderMap| {
        let mut names: Vec<String> = headers.keys().map(|n| n.as_str().to_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&signed),
        names(&case.headers),
        "{label}: sign writes exactly the documented headers"
    );
    for (name, expected) in &case.headers {
        let written = signed.get_all(name).iter().collect::<Vec<_>>();
        assert_eq!(
            written,
            [expected],
            "{label}: sign's {name} differs from the hand-built value"
        );
    }
}

/// Shopify: `X-Shopify-Hmac-Sha256` is the base64 HMAC of the raw body; the topic travels with
/// slashes.
fn shopify(body: &[u8]) -> Case {
    let secret = "shpss_0123456789abcdef0123456789abcdef";
    let signature = BASE64.encode(hmac_sha256(secret.as_bytes(), body));
    Case::new(Shopify, secret, body)
        .header("x-shopify-hmac-sha256", signature)
        .header(
            "x-shopify-webhook-id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        )
        .header("x-shopify-topic", "orders/create")
        .id("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        .event_type("orders.create")
}

/// The generic scheme: `X-Webhook-Signature: sha256=<hex>` over `{ts}.{body}`, the id unsigned.
fn generic(body: &[u8]) -> Case {
    let secret = "generic-oracle-secret";
    let content = [format!("{TS}.").as_bytes(), body].concat();
    let signature = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &content))
    );
    Case::new(Generic, secret, body)
        .header("x-webhook-signature", signature)
        .header("x-webhook-timestamp", TS.to_string())
        .header("x-webhook-id", "evt_oracle_1")
        .id("evt_oracle_1")
        .timestamp(TS)
}

/// Slack: `X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`.
fn slack(body: &[u8]) -> Case {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let content = [format!("v0:{TS}:").as_bytes(), body].concat();
    let signature = format!(
        "v0={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &content))
    );
    Case::new(Slack, secret, body)
        .header("x-slack-signature", signature)
        .header("x-slack-request-timestamp", TS.to_string())
        .timestamp(TS)
}

/// Stripe: `t=<ts>,v1=<hex>` over `{t}.{body}`, keyed with the whole `whsec_` string.
fn stripe(body: &[u8]) -> Case {
    let content = [format!("{TS}.").as_bytes(), body].concat();
    let signature = hex::encode(hmac_sha256(WHSEC.as_bytes(), &content));
    Case::new(Stripe, WHSEC, body)
        .header("stripe-signature", format!("t={TS},v1={signature}"))
        .timestamp(TS)
}

/// Standard Webhooks: the key is the base64 after `whsec_`; `v1,<base64>` over
/// `{id}.{ts}.{body}`.
fn standard_webhooks(body: &[u8]) -> Case {
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let key = BASE64
        .decode(WHSEC.strip_prefix("whsec_").unwrap())
        .unwrap();
    let content = [format!("{id}.{TS}.").as_bytes(), body].concat();
    let signature = format!("v1,{}", BASE64.encode(hmac_sha256(&key, &content)));
    Case::new(StandardWebhooks, WHSEC, body)
        .header("webhook-id", id)
        .header("webhook-timestamp", TS.to_string())
        .header("webhook-signature", signature)
        .id(id)
        .timestamp(TS)
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body; the event header carries the
/// event's first segment.
fn github(body: &[u8]) -> Case {
    let secret = "It's a Secret to Everybody";
    let signature = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    );
    Case::new(GitHub, secret, body)
        .header("x-hub-signature-256", signature)
        .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("x-github-event", "issues")
        .id("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .event_type("issues.opened")
}

/// A custom scheme with every part: base64 after `v2=`, `{id}:{timestamp}:{body}`, and an
/// event header.
fn custom_acme(body: &[u8]) -> Case {
    let scheme = common::acme_scheme().event_type_header(HeaderName::from_static("x-acme-event"));
    let secret = "acme-oracle-secret";
    let content = [format!("d-17:{TS}:").as_bytes(), body].concat();
    let signature = format!(
        "v2={}",
        BASE64.encode(hmac_sha256(secret.as_bytes(), &content))
    );
    let mut case = Case::new(scheme, secret, body)
        .header("x-acme-signature", signature)
        .header("x-acme-timestamp", TS.to_string())
        .header("x-acme-delivery", "d-17")
        .header("x-acme-event", "invoice.paid")
        .id("d-17")
        .timestamp(TS)
        .event_type("invoice.paid");
    case.label = format!("custom acme ({} bytes)", body.len());
    case
}

/// A custom scheme whose template has text after the body, in hex with a `sha256=` prefix.
fn custom_suffix(body: &[u8]) -> Case {
    let scheme = CustomScheme::new(HeaderName::from_static("x-hook-signature"))
        .named("hook")
        .signature_prefix("sha256=")
        .encoding(Encoding::Hex)
        .timestamp_header(HeaderName::from_static("x-hook-time"))
        .signed_content("v1:{timestamp}:{body}:end")
        .unwrap();
    let secret = "hook-oracle-secret";
    let content = [format!("v1:{TS}:").as_bytes(), body, b":end"].concat();
    let signature = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &content))
    );
    Case::new(scheme, secret, body)
        .header("x-hook-signature", signature)
        .header("x-hook-time", TS.to_string())
        .timestamp(TS)
}

/// A custom scheme left at its defaults: bare hex over the body alone.
fn custom_plain(body: &[u8]) -> Case {
    let scheme = CustomScheme::new(HeaderName::from_static("x-plain-signature"));
    let secret = "plain-oracle-secret";
    let signature = hex::encode(hmac_sha256(secret.as_bytes(), body));
    Case::new(scheme, secret, body).header("x-plain-signature", signature)
}

async fn check_every_length(build: fn(&[u8]) -> Case) {
    for &length in LENGTHS {
        check(build(&body_of(length))).await;
    }
}

#[tokio::test]
async fn shopify_matches_the_oracle() {
    check_every_length(shopify).await;
}

#[tokio::test]
async fn generic_matches_the_oracle() {
    check_every_length(generic).await;
}

#[tokio::test]
async fn slack_matches_the_oracle() {
    check_every_length(slack).await;
}

#[tokio::test]
async fn stripe_matches_the_oracle() {
    check_every_length(stripe).await;
}

#[tokio::test]
async fn standard_webhooks_matches_the_oracle() {
    check_every_length(standard_webhooks).await;
}

#[tokio::test]
async fn github_matches_the_oracle() {
    check_every_length(github).await;
}

#[tokio::test]
async fn custom_schemes_match_the_oracle() {
    check_every_length(custom_acme).await;
    check_every_length(custom_suffix).await;
    check_every_length(custom_plain).await;
}

/// The documented multi-signature forms, built by hand: any entry may match, and entries of
/// other versions are skipped. Also the key rules that tell Stripe's secrets from Standard
/// Webhooks' apart.
#[tokio::test]
async fn documented_signature_lists_and_keys_match_the_oracle() {
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let recorder = Recorder::new();

    // Stripe during a roll: one `v1` per secret, plus a test-mode `v0`.
    let content = [format!("{TS}.").as_bytes(), body].concat();
    let right = hex::encode(hmac_sha256(WHSEC.as_bytes(), &content));
    let other = hex::encode(hmac_sha256(b"whsec_the_other_secret", &content));
    let layer = VerifySignatureLayer::new(Stripe, WHSEC)
        .unwrap()
        .clock(|| NOW);
    let mut headers = HeaderMap::new();
    let value = format!("t={TS},v1={other},v1={right},v0={other}");
    headers.insert("stripe-signature", value.parse().unwrap());
    let response = send(&layer, &recorder, request(&headers, &body[..])).await;
    assert_eq!(response.status(), StatusCode::OK, "stripe list");

    // Stripe keyed with the base64-decoded secret (Standard Webhooks' rule) must not verify.
    let decoded = BASE64
        .decode(WHSEC.strip_prefix("whsec_").unwrap())
        .unwrap();
    let wrong_key = hex::encode(hmac_sha256(&decoded, &content));
    let value = format!("t={TS},v1={wrong_key}");
    headers.insert("stripe-signature", value.parse().unwrap());
    let response = send(&layer, &recorder, request(&headers, &body[..])).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "stripe, decoded key"
    );

    // Standard Webhooks: a space-separated list with an unknown version and a wrong `v1`.
    let id = "msg_list";
    let content = [format!("{id}.{TS}.").as_bytes(), body].concat();
    let right = BASE64.encode(hmac_sha256(&decoded, &content));
    let other = BASE64.encode(hmac_sha256(b"another key", &content));
    let list = format!("v1a,{other} v1,{other} v1,{right}");
    let layer = VerifySignatureLayer::new(StandardWebhooks, WHSEC)
        .unwrap()
        .clock(|| NOW);
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", id.parse().unwrap());
    headers.insert("webhook-timestamp", TS.into());
    headers.insert("webhook-signature", list.parse().unwrap());
    let response = send(&layer, &recorder, request(&headers, &body[..])).await;
    assert_eq!(response.status(), StatusCode::OK, "standard webhooks list");

    // Svix's branded names carry the same signature.
    let mut svix = HeaderMap::new();
    svix.insert("svix-id", id.parse().unwrap());
    svix.insert("svix-timestamp", TS.into());
    svix.insert("svix-signature", format!("v1,{right}").parse().unwrap());
    let response = send(&layer, &recorder, request(&svix, &body[..])).await;
    assert_eq!(response.status(), StatusCode::OK, "svix names");

    // The `whsec_` prefix is optional: the bare base64 is the same key.
    let bare = VerifySignatureLayer::new(StandardWebhooks, WHSEC.strip_prefix("whsec_").unwrap())
        .unwrap()
        .clock(|| NOW);
    let response = send(&bare, &recorder, request(&headers, &body[..])).await;
    assert_eq!(response.status(), StatusCode::OK, "secret without whsec_");

    // Keyed with the whole `whsec_` string (Stripe's rule) must not verify.
    let wrong_key = BASE64.encode(hmac_sha256(WHSEC.as_bytes(), &content));
    headers.insert(
        "webhook-signature",
        format!("v1,{wrong_key}").parse().unwrap(),
    );
    let response = send(&layer, &recorder, request(&headers, &body[..])).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "standard webhooks, undecoded key"
    );

    assert_eq!(
        recorder.calls(),
        4,
        "only the four correctly keyed deliveries get through"
    );
}

/// Hex in capitals is the same tag (`Encoding::Hex` accepts either case); the signed timestamp
/// is its text as sent, not the number written again.
#[tokio::test]
async fn signed_text_is_the_header_as_sent() {
    let body = b"Hello, World!";
    let recorder = Recorder::new();

    let secret = "It's a Secret to Everybody";
    let upper = hex::encode_upper(hmac_sha256(secret.as_bytes(), body));
    let layer = VerifySignatureLayer::new(GitHub, secret).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-hub-signature-256",
        format!("sha256={upper}").parse().unwrap(),
    );
    let response = send(&layer, &recorder, request(&headers, &body[..])).await;
    assert_eq!(response.status(), StatusCode::OK, "upper-case hex");

    // Signed over `{ts}.{body}` with the digits as sent; the same number written with a
    // leading zero is other text, so the signature must not match it.
    let secret = "generic-oracle-secret";
    let content = [format!("0{TS}.").as_bytes(), &body[..]].concat();
    let signature = hex::encode(hmac_sha256(secret.as_bytes(), &content));
    let layer = VerifySignatureLayer::new(Generic, secret)
        .unwrap()
        .clock(|| NOW);
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-webhook-signature",
        format!("sha256={signature}").parse().unwrap(),
    );
    headers.insert("x-webhook-timestamp", format!("0{TS}").parse().unwrap());
    let accepted = send(&layer, &recorder, request(&headers, &body[..])).await;
    headers.insert("x-webhook-timestamp", TS.into());
    let refused = send(&layer, &recorder, request(&headers, &body[..])).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "re-written digits"
    );
    // `Part::Timestamp` is documented as the digits exactly as sent.
    assert_eq!(accepted.status(), StatusCode::OK, "the digits as sent");
}
