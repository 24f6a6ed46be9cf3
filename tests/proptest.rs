//! Properties over random input: every scheme verifies what it signed, however the body is
//! chunked; any single-bit change is refused; and no header, however odd, makes anything panic.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use common::{Chunks, NOW, Recorder, request, request_with, send};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;
use tower_webhook::crypto::Encoding;
use tower_webhook::scheme::{
    CustomScheme, Generic, GitHub, Message, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{Secret, VerifySignatureLayer};

/// One scheme under test, and what its headers mean.
struct Case {
    scheme: Arc<dyn Scheme>,
    signature: &'static str,
    /// Where a separate timestamp header is (Stripe's is inside its signature header).
    timestamp: Option<&'static str>,
    /// The id header, when the scheme signs the id (GitHub's, Shopify's and the generic
    /// scheme's ids are not signed, so changing them is not refused).
    signed_id: Option<&'static str>,
    hex: bool,
    base64_secret: bool,
}

fn cases() -> Vec<Case> {
    let custom = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
        .signature_prefix("v2=")
        .encoding(Encoding::Base64)
        .timestamp_header(HeaderName::from_static("x-acme-timestamp"))
        .id_header(HeaderName::from_static("x-acme-delivery"))
        .signed_content("<{id}|{timestamp}|{body}|end>")
        .unwrap();
    let case = |scheme: Arc<dyn Scheme>, signature, timestamp, signed_id, hex| Case {
        scheme,
        signature,
        timestamp,
        signed_id,
        hex,
        base64_secret: false,
    };
    vec![
        case(Arc::new(GitHub), "x-hub-signature-256", None, None, true),
        case(Arc::new(Stripe), "stripe-signature", None, None, true),
        case(
            Arc::new(Slack),
            "x-slack-signature",
            Some("x-slack-request-timestamp"),
            None,
            true,
        ),
        Case {
            base64_secret: true,
            ..case(
                Arc::new(StandardWebhooks),
                "webhook-signature",
                Some("webhook-timestamp"),
                Some("webhook-id"),
                false,
            )
        },
        case(
            Arc::new(Shopify),
            "x-shopify-hmac-sha256",
            None,
            None,
            false,
        ),
        case(
            Arc::new(Generic),
            "x-webhook-signature",
            Some("x-webhook-timestamp"),
            None,
            true,
        ),
        case(
            Arc::new(custom),
            "x-acme-signature",
            Some("x-acme-timestamp"),
            Some("x-acme-delivery"),
            false,
        ),
    ]
}

/// The secret as the provider would show it to a user of `case`'s scheme.
fn secret_text(case: &Case, raw: &[u8]) -> String {
    if case.base64_secret {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    } else {
        // Visible ASCII, so no leading or trailing whitespace.
        raw.iter()
            .map(|byte| char::from(b'!' + byte % 94))
            .collect()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn layer(case: &Case, secret: &str) -> VerifySignatureLayer {
    VerifySignatureLayer::new(Arc::clone(&case.scheme), secret)
        .unwrap()
        .clock(|| NOW)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What a single-bit change hits.
#[derive(Debug, Clone)]
enum Target {
    Body,
    Signature,
    Timestamp,
    Id,
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_scheme_verifies_what_it_signs_however_the_body_is_chunked(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        raw_secret in proptest::collection::vec(any::<u8>(), 1..48),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        id in "[A-Za-z0-9_-]{1,24}",
        offset in -300i64..=300,
    ) {
        runtime().block_on(async {
            for case in cases() {
                let secret = secret_text(&case, &raw_secret);
                let message = Message::new(&body).id(&id).timestamp(NOW + offset);
                let headers = case.scheme.sign(&Secret::new(secret.as_str()), &message).unwrap();
                let recorder = Recorder::new();
                let chunks = Chunks::split_at(&body, &cuts);
                let response = send(&layer(&case, &secret), &recorder, request_with(&headers, chunks)).await;
                prop_assert_eq!(response.status(), StatusCode::OK, "{}", case.scheme.name());
                let seen = recorder.last();
                prop_assert_eq!(&seen.body[..], &body[..]);
                prop_assert_eq!(&seen.verified.body()[..], &body[..]);
                if case.timestamp.is_some() || case.scheme.name() == "stripe" {
                    prop_assert_eq!(seen.verified.timestamp(), Some(NOW + offset));
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn any_single_bit_change_is_refused(
        body in proptest::collection::vec(any::<u8>(), 1..300),
        raw_secret in proptest::collection::vec(any::<u8>(), 1..32),
        id in "[A-Za-z0-9_]{1,16}",
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Signature),
            Just(Target::Timestamp),
            Just(Target::Id),
        ],
        position in any::<usize>(),
        bit in 0u8..8,
    ) {
        runtime().block_on(async {
            for case in cases() {
                let secret = secret_text(&case, &raw_secret);
                let message = Message::new(&body).id(&id).timestamp(NOW);
                let mut headers = case.scheme.sign(&Secret::new(secret.as_str()), &message).unwrap();
                let mut sent = body.clone();
                let header = match target {
                    Target::Body => None,
                    Target::Signature => Some(case.signature),
                    // Stripe's timestamp is inside its signature header.
                    Target::Timestamp => Some(case.timestamp.unwrap_or(case.signature)),
                    Target::Id => match case.signed_id {
                        Some(id) => Some(id),
                        None => continue,
                    },
                };
                match header {
                    None => sent[position % body.len()] ^= 1 << bit,
                    Some(name) => {
                        let mut value = headers[name].as_bytes().to_vec();
                        let at = position % value.len();
                        let before = value[at];
                        value[at] ^= 1 << bit;
                        // Hex is read in either case: `a` and `A` are the same digit.
                        if case.hex && before.eq_ignore_ascii_case(&value[at]) {
                            continue;
                        }
                        let Ok(value) = HeaderValue::from_bytes(&value) else {
                            continue;
                        };
                        headers.insert(HeaderName::from_static(name), value);
                    }
                }
                let recorder = Recorder::new();
                let response = send(&layer(&case, &secret), &recorder, request(&headers, sent)).await;
                prop_assert!(
                    response.status().is_client_error(),
                    "{} accepted a change to {:?}: {:?}", case.scheme.name(), target, headers
                );
                prop_assert_eq!(recorder.calls(), 0);
            }
            Ok(())
        })?;
    }

    #[test]
    fn arbitrary_header_bytes_never_panic(
        values in proptest::collection::vec(header_value(), 1..6),
        names in proptest::collection::vec(0usize..24, 1..6),
        random_names in proptest::collection::vec("[a-z0-9-]{1,24}", 6),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let known = known_header_names();
        let mut headers = HeaderMap::new();
        for ((name, value), random) in names.iter().zip(&values).zip(&random_names) {
            // Mostly names some scheme reads, now and then any name at all.
            let name = match known.get(*name) {
                Some(known) => HeaderName::from_static(known),
                None => HeaderName::from_bytes(random.as_bytes()).unwrap(),
            };
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(name, value);
            }
        }
        check_never_panics(&headers, &body)?;
    }

    #[test]
    fn mangled_signature_headers_never_panic(
        stripe in "(t=[0-9+-]{0,22}|v[0-9a]=[0-9a-fA-F]{0,66}|[a-z ]{0,3}=?|,| ){0,12}",
        standard in "(v1a?,[A-Za-z0-9+/=]{0,46}|v1,|,| |[a-z0-9]{0,4}){0,12}",
        prefixed in "(sha256=|v0=|v2=)?[0-9a-fA-F=A-Za-z+/]{0,70}",
        timestamp in "[0-9 +-]{0,24}",
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("stripe-signature", &stripe),
            ("webhook-signature", &standard),
            ("svix-signature", &standard),
            ("x-hub-signature-256", &prefixed),
            ("x-slack-signature", &prefixed),
            ("x-webhook-signature", &prefixed),
            ("x-shopify-hmac-sha256", &prefixed),
            ("x-acme-signature", &prefixed),
            ("webhook-timestamp", &timestamp),
            ("x-slack-request-timestamp", &timestamp),
            ("x-webhook-timestamp", &timestamp),
            ("x-acme-timestamp", &timestamp),
            ("webhook-id", &timestamp),
            ("x-acme-delivery", &timestamp),
        ] {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        }
        check_never_panics(&headers, b"{}")?;
    }
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            any::<u8>(),
            proptest::sample::select(b",= .t0123456789abcdefv-+/whsec_".to_vec()),
        ],
        0..90,
    )
}

fn known_header_names() -> Vec<&'static str> {
    vec![
        "stripe-signature",
        "webhook-signature",
        "webhook-timestamp",
        "webhook-id",
        "svix-signature",
        "svix-timestamp",
        "svix-id",
        "x-hub-signature-256",
        "x-github-delivery",
        "x-slack-signature",
        "x-slack-request-timestamp",
        "x-shopify-hmac-sha256",
        "x-shopify-webhook-id",
        "x-webhook-signature",
        "x-webhook-timestamp",
        "x-webhook-id",
        "x-acme-signature",
        "x-acme-timestamp",
        "x-acme-delivery",
        "content-length",
        "x-unrelated",
    ]
}

/// Parses with every scheme and sends through every scheme's layer: a 4xx (or, by a miracle,
/// a 200) is fine, a panic is not.
fn check_never_panics(headers: &HeaderMap, body: &[u8]) -> Result<(), TestCaseError> {
    runtime().block_on(async {
        for case in cases() {
            let _ = case.scheme.parse(headers);
            let secret = secret_text(&case, b"a fixed secret");
            let response = send(
                &layer(&case, &secret),
                &Recorder::new(),
                request(headers, Bytes::copy_from_slice(body)),
            )
            .await;
            prop_assert!(
                response.status().is_client_error() || response.status() == StatusCode::OK,
                "{}: {}",
                case.scheme.name(),
                response.status()
            );
        }
        Ok(())
    })
}
