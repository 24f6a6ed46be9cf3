//! The `presets` target: every preset in `scheme::PRESETS`, by name.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use tower_webhook::crypto::{Encoding, PublicKey};
use tower_webhook::scheme::{self, Message, Part, Scheme};
use tower_webhook::{Secret, Secrets, VerifySignatureLayer};

use crate::{
    Input, LIMIT, Outcome, ScriptedBody, check_parse, drive, unsendable_id, unwritable_timestamp,
};

/// Every header name a preset reads, so that arbitrary header maps mostly hold names that
/// matter to one preset or another.
const HEADERS: &[&str] = &[
    "calendly-webhook-signature",
    "content-type",
    "i-twilio-idempotency-token",
    "linear-delivery",
    "linear-event",
    "linear-signature",
    "mux-signature",
    "paddle-signature",
    "request-id",
    "sentry-hook-resource",
    "sentry-hook-signature",
    "stripe-signature",
    "svix-id",
    "svix-signature",
    "svix-timestamp",
    "twitch-eventsub-message-id",
    "twitch-eventsub-message-signature",
    "twitch-eventsub-message-timestamp",
    "twitch-eventsub-message-type",
    "twitch-eventsub-subscription-type",
    "typeform-signature",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "workos-signature",
    "x-event-key",
    "x-event-name",
    "x-github-delivery",
    "x-github-event",
    "x-gitlab-event-uuid",
    "x-gitlab-token",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-hubspot-request-timestamp",
    "x-hubspot-signature-v3",
    "x-pagerduty-signature",
    "x-paystack-signature",
    "x-request-uuid",
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-signature",
    "x-signature-ed25519",
    "x-signature-timestamp",
    "x-slack-request-timestamp",
    "x-slack-signature",
    "x-square-hmacsha256-signature",
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
    "x-twilio-signature",
    "x-vercel-signature",
    "x-wc-webhook-delivery-id",
    "x-wc-webhook-signature",
    "x-wc-webhook-topic",
    "x-webhook-id",
    "x-webhook-signature",
    "x-webhook-timestamp",
    "x-zm-request-timestamp",
    "x-zm-signature",
];

/// The URL every layer here is told senders call, and that signed messages carry.
pub const PUBLIC_URL: &str = "https://example.com/hook";

/// RFC 8032's first two Ed25519 test keys: seed and public key.
/// <https://www.rfc-editor.org/rfc/rfc8032#section-7.1>
pub const ED25519_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
pub const ED25519_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub const ED25519_OTHER_PUBLIC: &str =
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

/// Two P-256 keys made for these targets (PKCS#8 and SPKI DER in base64), used nowhere else;
/// the private keys are the ones `crate::sendgrid` signs with.
pub const P256_PRIVATE: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgisxwdnfZ/xky+jnmtAMK1J6Pc0HJV3R9bXch19TG3KChRANCAARLqSg2YSFX9k4H04FWd5zuacw7H0ajJ37gvbV+DKQHcpbj7RDUQXop0p95E7oOCGc9LukxgoB5phOmxp5JdDtm";
pub const P256_PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAES6koNmEhV/ZOB9OBVnec7mnMOx9Goyd+4L21fgykB3KW4+0Q1EF6KdKfeRO6DghnPS7pMYKAeaYTpsaeSXQ7Zg==";
pub const P256_OTHER_PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExWh0yvrdllDah3WuEGUlxOBw7LHM+d/i5Y6ySn91UHqOd0brcsG0I2KOh636181QkOY50maaPSdJZz124n9AWw==";

/// "Now" for every layer of this target: set to the signed timestamp before each delivery, so
/// that any timestamp, however far from today, is within the window.
static NOW: AtomicI64 = AtomicI64::new(0);

/// One preset, with the key that signs and two layers: one accepting another key and then the
/// signer's, one accepting the other key only.
pub struct Preset {
    pub name: &'static str,
    pub scheme: Arc<dyn Scheme>,
    signer: Secret,
    layer: VerifySignatureLayer,
    other_only: VerifySignatureLayer,
}

/// The signing secret, the other key and the signer's verifying key for a preset.
fn keys(name: &str) -> (Secret, Secrets, Secrets) {
    let plain = |signer: &str, other: &str| {
        (
            Secret::new(signer),
            Secrets::new().with(other),
            Secrets::new().with(signer),
        )
    };
    match name {
        "standard-webhooks" | "svix" | "clerk" | "resend" => plain(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ),
        // Standard Webhooks' `v1a`: an Ed25519 pair as `whsk_`/`whpk_`.
        "standard-webhooks-v1a" => (
            Secret::new(format!(
                "whsk_{}",
                Encoding::Base64.encode(&hex(ED25519_SEED))
            )),
            Secrets::new().with(PublicKey::new(format!(
                "whpk_{}",
                Encoding::Base64.encode(&hex(ED25519_OTHER_PUBLIC))
            ))),
            Secrets::new().with(PublicKey::new(format!(
                "whpk_{}",
                Encoding::Base64.encode(&hex(ED25519_PUBLIC))
            ))),
        ),
        "discord" => (
            Secret::new(ED25519_SEED),
            Secrets::new().with(PublicKey::new(ED25519_OTHER_PUBLIC)),
            Secrets::new().with(PublicKey::new(ED25519_PUBLIC)),
        ),
        "sendgrid" => (
            Secret::new(P256_PRIVATE),
            Secrets::new().with(PublicKey::new(P256_OTHER_PUBLIC)),
            Secrets::new().with(PublicKey::new(P256_PUBLIC)),
        ),
        "gitlab" => plain("gitlab-token-first", "gitlab-token-other"),
        _ => plain("first secret", "second secret"),
    }
}

pub fn hex(text: &str) -> Vec<u8> {
    Encoding::Hex.decode(text).expect("hex")
}

fn layer(scheme: &Arc<dyn Scheme>, keys: Secrets) -> VerifySignatureLayer {
    VerifySignatureLayer::new(Arc::clone(scheme), keys)
        .expect("valid keys")
        .public_url(PUBLIC_URL)
        .expect("a valid URL")
        .clock(|| NOW.load(Ordering::Relaxed))
        .max_body_size(LIMIT)
}

impl Preset {
    fn new(name: &'static str) -> Self {
        let scheme = scheme::preset(name.strip_suffix("-v1a").unwrap_or(name))
            .unwrap_or_else(|| panic!("{name} is a preset"));
        let (signer, other, own) = keys(name);
        let both = other.iter().chain(own.iter()).cloned();
        let both = both.fold(Secrets::new(), Secrets::with);
        Self {
            layer: layer(&scheme, both),
            other_only: layer(&scheme, other),
            name,
            scheme,
            signer,
        }
    }
}

/// Every name in `scheme::PRESETS`, and Standard Webhooks' `v1a` besides.
pub fn presets() -> Vec<Preset> {
    scheme::PRESETS
        .iter()
        .copied()
        .chain(["standard-webhooks-v1a"])
        .map(Preset::new)
        .collect()
}

/// The `presets` target. The first byte picks a preset; then either its parser reads arbitrary
/// headers (see [`check_parse`]), the layer gets arbitrary headers and body at an arbitrary
/// "now", or a message signed with `Scheme::sign` (any body, id and timestamp) goes through
/// the layer: when signing succeeds it must be accepted, with the second key, the timestamp
/// signed and the body sent; refused by a layer without the signer's key; and refused once a
/// body byte changes, for the presets whose signature covers the body's bytes.
pub fn fuzz_presets(presets: &[Preset], data: &[u8]) {
    let mut input = Input::new(data);
    let preset = &presets[usize::from(input.byte()) % presets.len()];
    match input.byte() % 4 {
        0 => {
            let headers = arbitrary_headers(&mut input);
            check_parse(preset.scheme.as_ref(), &headers, None);
        }
        1 => {
            NOW.store(input.i64(), Ordering::Relaxed);
            let headers = arbitrary_headers(&mut input);
            let body = Bytes::copy_from_slice(input.bytes());
            let body = ScriptedBody::chunked(&mut input, &body);
            let mut request = Request::post("/hook").body(body).expect("a valid request");
            *request.headers_mut() = headers;
            drive(&preset.layer, request);
        }
        _ => round_trip(preset, &mut input),
    }
}

fn arbitrary_headers(input: &mut Input<'_>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for _ in 0..input.byte() % 10 {
        let pick = usize::from(input.byte());
        let name = match HEADERS.get(pick) {
            Some(name) => HeaderName::from_static(name),
            None if pick >= 0xF0 => match HeaderName::from_bytes(input.short_bytes()) {
                Ok(name) => name,
                Err(_) => continue,
            },
            None => HeaderName::from_static(HEADERS[pick % HEADERS.len()]),
        };
        if let Ok(value) = HeaderValue::from_bytes(input.bytes()) {
            headers.append(name, value);
        }
    }
    headers
}

fn round_trip(preset: &Preset, input: &mut Input<'_>) {
    let scheme = preset.scheme.as_ref();
    let flags = input.byte();
    let mut timestamp = input.i64() & i64::MAX;
    let id = String::from_utf8_lossy(input.short_bytes()).into_owned();
    let mut body = input.bytes().to_vec();
    if scheme.timestamp_in_body() {
        // Linear's `webhookTimestamp`, in milliseconds: the body must carry it.
        timestamp %= i64::MAX / 1000;
        let millis = timestamp * 1000 + i64::from(input.u16() % 1000);
        body = format!(
            r#"{{"webhookTimestamp":{millis},"data":"{}"}}"#,
            Encoding::Hex.encode(&body)
        )
        .into_bytes();
    }
    let message = Message::new(&body)
        .id(&id)
        .timestamp(timestamp)
        .url(PUBLIC_URL);
    let format = scheme.timestamp_format();
    let headers = match scheme.sign(&preset.signer, &message) {
        Ok(headers) => headers,
        Err(error) => {
            let twilio_form =
                preset.name.starts_with("twilio") && !crate::twilio::form_is_utf8(&body);
            assert!(
                unsendable_id(&id) || unwritable_timestamp(format, timestamp) || twilio_form,
                "{}: signing {id:?} at {timestamp} failed: {error}",
                preset.name
            );
            return;
        }
    };
    NOW.store(timestamp, Ordering::Relaxed);
    let body = Bytes::from(body);
    let request = |body: &Bytes, input: &mut Input<'_>| {
        let body = match flags & 1 {
            0 => ScriptedBody::whole(body),
            _ => ScriptedBody::chunked(input, body),
        };
        let fails = body.fails();
        let mut request = Request::post("/hook").body(body).expect("a valid request");
        *request.headers_mut() = headers.clone();
        if preset.name.starts_with("twilio") {
            // Signed as a form (the default): sent as one.
            request.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        (request, fails)
    };

    let (sent, fails) = request(&body, input);
    match drive(&preset.layer, sent) {
        Outcome::Accepted(verified, received) => {
            assert!(!fails, "a body that failed was accepted");
            assert_eq!(received, body);
            assert_eq!(
                verified.key_index(),
                1,
                "{}: the other key matched",
                preset.name
            );
            let content = scheme.signed_content();
            if content.contains(&Part::Timestamp) || scheme.timestamp_in_body() {
                assert_eq!(verified.timestamp(), Some(timestamp));
            }
            if scheme.id_header().is_some() {
                assert_eq!(verified.id(), Some(id.as_str()), "{}", preset.name);
            }
        }
        // A provider's check (a Zoom validation, a Discord ping) answered by the layer.
        Outcome::Answered => {}
        Outcome::Refused(error) => assert!(
            fails || body.len() > LIMIT,
            "{}: a signed delivery was refused: {error}",
            preset.name
        ),
    }

    let (sent, _) = request(&body, input);
    assert!(
        !drive(&preset.other_only, sent).is_accepted(),
        "{}: accepted without the signer's key",
        preset.name
    );

    // Twilio signs the decoded form (where `+` and `%20` are both a space), GitLab no body.
    let signs_bytes = !preset.name.starts_with("twilio") && preset.name != "gitlab";
    if signs_bytes && !body.is_empty() && flags & 2 == 2 {
        let mut changed = body.to_vec();
        let at = usize::from(input.u16()) % changed.len();
        changed[at] ^= input.byte().max(1);
        let (sent, _) = request(&Bytes::from(changed), input);
        assert!(
            !drive(&preset.layer, sent).is_accepted(),
            "{}: accepted with a changed body",
            preset.name
        );
    }
}
