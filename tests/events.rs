//! The event type and delivery id each scheme finds in a delivery, through the layer.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_webhook::crypto::Signature;
use tower_webhook::scheme::{
    CustomScheme, EventInfo, Generic, GitHub, Message, Part, Scheme, Shopify, SignedHeaders, Slack,
    StandardWebhooks, Stripe,
};
use tower_webhook::{Secret, SignError, Verified, VerifiedBody, VerifyError, VerifySignatureLayer};

const NOW: i64 = 1_700_000_000;
const SECRET: &str = "a long random secret";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Signs `message` with `scheme`, sends it through the layer, and returns what the inner
/// service saw.
async fn deliver<S: Scheme + Clone>(
    scheme: S,
    secret: &str,
    message: Message<'_>,
    extra_headers: &[(&'static str, &str)],
) -> Verified {
    let headers = scheme.sign(&Secret::new(secret), &message).unwrap();
    let service = ServiceBuilder::new()
        .layer(
            VerifySignatureLayer::new(scheme, [secret])
                .unwrap()
                .clock(|| NOW),
        )
        .service_fn(|request: Request<VerifiedBody>| async move {
            let mut response = Response::new(Full::new(Bytes::new()));
            let verified = request.extensions().get::<Verified>().cloned();
            response.extensions_mut().insert(verified);
            Ok::<_, Infallible>(response)
        });
    let mut request = Request::post("/hook")
        .body(Full::new(Bytes::copy_from_slice(message.body)))
        .unwrap();
    request.headers_mut().extend(headers);
    for (name, value) in extra_headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    response
        .extensions()
        .get::<Option<Verified>>()
        .cloned()
        .flatten()
        .unwrap_or_else(|| panic!("refused with {status}"))
}

#[tokio::test]
async fn github_event_is_the_header_and_the_action() {
    let body = br#"{"action":"opened","issue":{"number":1}}"#;
    let message = Message::new(body).event_type("issues").id("72d3162e");
    let verified = deliver(GitHub, SECRET, message, &[]).await;
    assert_eq!(verified.event_type(), Some("issues.opened"));
    assert_eq!(verified.id(), Some("72d3162e"));
    assert!(!verified.id_is_signed(), "X-GitHub-Delivery is not signed");
}

#[tokio::test]
async fn github_event_without_action_is_the_bare_header() {
    let body = br#"{"ref":"refs/heads/main","commits":[{"message":"action: none"}]}"#;
    let verified = deliver(GitHub, SECRET, Message::new(body).event_type("push"), &[]).await;
    assert_eq!(verified.event_type(), Some("push"));
    assert_eq!(verified.id(), None);
    assert!(!verified.id_is_signed());
}

#[tokio::test]
async fn github_form_encoded_delivery_reads_the_payload_field() {
    let json = r#"{"action":"created","comment":{"body":"a+b & c=d"}}"#;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", json)
        .finish();
    assert!(body.starts_with("payload=%7B"));
    let verified = deliver(
        GitHub,
        SECRET,
        Message::new(body.as_bytes()).event_type("issue_comment"),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(verified.event_type(), Some("issue_comment.created"));
    assert_eq!(&*verified.payload(), json.as_bytes());
    assert_eq!(verified.body(), body.as_bytes(), "the body stays as signed");
}

#[tokio::test]
async fn github_without_event_header_has_no_event_type() {
    let verified = deliver(GitHub, SECRET, Message::new(br#"{"action":"x"}"#), &[]).await;
    assert_eq!(verified.event_type(), None);
}

#[tokio::test]
async fn stripe_event_type_and_id_come_from_the_signed_body() {
    let body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","data":{"object":{"id":"pi_1","type":"not this"}},"type":"payment_intent.succeeded"}"#;
    let verified = deliver(Stripe, SECRET, Message::new(body).timestamp(NOW), &[]).await;
    assert_eq!(verified.event_type(), Some("payment_intent.succeeded"));
    assert_eq!(verified.id(), Some("evt_1NG8Du2eZvKYlo2CUI79vXWy"));
    assert!(verified.id_is_signed());
    assert_eq!(verified.timestamp(), Some(NOW));
}

#[tokio::test]
async fn stripe_body_that_is_not_json_has_no_event() {
    let verified = deliver(
        Stripe,
        SECRET,
        Message::new(b"not json").timestamp(NOW),
        &[],
    )
    .await;
    assert_eq!(verified.event_type(), None);
    assert_eq!(verified.id(), None);
    assert!(!verified.id_is_signed(), "no id at all");
}

#[tokio::test]
async fn slack_event_callback_uses_the_inner_event_type() {
    let body = br#"{"token":"x","type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"hi"}}"#;
    let verified = deliver(Slack, SECRET, Message::new(body).timestamp(NOW), &[]).await;
    assert_eq!(verified.event_type(), Some("app_mention"));
    assert_eq!(verified.id(), Some("Ev08MFMKH6"));
    assert!(verified.id_is_signed());
}

#[tokio::test]
async fn slack_other_payloads_use_the_outer_type() {
    // (`url_verification`, also an outer type, is answered by the layer: see handshakes.rs.)
    let body = br#"{"type":"app_rate_limited","minute_rate_limited":1518467820}"#;
    let verified = deliver(Slack, SECRET, Message::new(body).timestamp(NOW), &[]).await;
    assert_eq!(verified.event_type(), Some("app_rate_limited"));
    assert_eq!(verified.id(), None);
}

#[tokio::test]
async fn slack_form_encoded_interaction_reads_the_payload_field() {
    let body = "payload=%7B%22type%22%3A%22block_actions%22%7D";
    let message = Message::new(body.as_bytes()).timestamp(NOW);
    let verified = deliver(Slack, SECRET, message, &[]).await;
    assert_eq!(verified.event_type(), Some("block_actions"));
}

#[tokio::test]
async fn standard_webhooks_type_from_the_body_and_id_from_the_signed_header() {
    let body = br#"{"type":"invoice.paid","data":{"id":"not this"}}"#;
    let message = Message::new(body).id("msg_2").timestamp(NOW);
    let verified = deliver(StandardWebhooks, WHSEC, message, &[]).await;
    assert_eq!(verified.event_type(), Some("invoice.paid"));
    assert_eq!(verified.id(), Some("msg_2"));
    assert!(verified.id_is_signed(), "webhook-id is signed");
}

#[tokio::test]
async fn shopify_topic_slashes_read_as_dots() {
    let message = Message::new(br#"{"id":820982911946154508}"#)
        .event_type("orders.create")
        .id("b54557e4");
    let verified = deliver(Shopify, SECRET, message, &[]).await;
    assert_eq!(verified.event_type(), Some("orders.create"));
    assert_eq!(verified.id(), Some("b54557e4"));
    assert!(!verified.id_is_signed());

    let mut headers = HeaderMap::new();
    headers.insert("x-shopify-topic", "app/uninstalled".parse().unwrap());
    let topic = headers.get(Shopify.event_header().unwrap());
    let info = Shopify.event(topic, b"{}");
    assert_eq!(info.event_type.as_deref(), Some("app.uninstalled"));
}

#[tokio::test]
async fn generic_event_field_and_unsigned_id_header() {
    let body = br#"{"event":"order.completed","resource":{"id":"ord_1","type":"order"},"data":{}}"#;
    let message = Message::new(body).timestamp(NOW).id("evt_9");
    let verified = deliver(Generic, SECRET, message, &[]).await;
    assert_eq!(verified.event_type(), Some("order.completed"));
    assert_eq!(verified.id(), Some("evt_9"));
    assert!(!verified.id_is_signed(), "X-Webhook-ID is not signed");
}

#[tokio::test]
async fn custom_scheme_event_type_from_a_header() {
    let scheme = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
        .event_type_header(HeaderName::from_static("x-acme-event"))
        .id_header(HeaderName::from_static("x-acme-delivery"));
    let message = Message::new(b"{}").event_type("build.finished").id("d-1");
    let verified = deliver(scheme, SECRET, message, &[]).await;
    assert_eq!(verified.event_type(), Some("build.finished"));
    assert_eq!(verified.id(), Some("d-1"));
    assert!(!verified.id_is_signed(), "`{{id}}` is not in the template");
}

#[tokio::test]
async fn custom_scheme_signed_id_header() {
    let scheme = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
        .id_header(HeaderName::from_static("x-acme-delivery"))
        .signed_content("{id}.{body}")
        .unwrap()
        .event_type_field("kind");
    let message = Message::new(br#"{"kind":"build.started"}"#).id("d-2");
    let verified = deliver(scheme, SECRET, message, &[]).await;
    assert_eq!(verified.event_type(), Some("build.started"));
    assert_eq!(verified.id(), Some("d-2"));
    assert!(verified.id_is_signed());
}

#[tokio::test]
async fn custom_scheme_event_type_and_id_from_json_fields() {
    let scheme = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
        .event_type_field("meta.event")
        .id_field("meta.id");
    let body = br#"{"data":{"meta":{"event":"no"}},"meta":{"id":17,"event":"build.failed"}}"#;
    let verified = deliver(scheme, SECRET, Message::new(body), &[]).await;
    assert_eq!(verified.event_type(), Some("build.failed"));
    assert_eq!(verified.id(), Some("17"));
    assert!(verified.id_is_signed(), "an id in the body is signed");
}

#[tokio::test]
async fn custom_scheme_without_event_source_has_no_event_type() {
    let scheme = CustomScheme::new(HeaderName::from_static("x-acme-signature"));
    let verified = deliver(scheme, SECRET, Message::new(br#"{"type":"x"}"#), &[]).await;
    assert_eq!(verified.event_type(), None);
}

/// GitHub, counting how often the event is resolved; with `hands_nothing_over`, its `parse`
/// hands no event header over, as a scheme that does not scan for it does.
#[derive(Clone, Default)]
struct Counting {
    calls: Arc<AtomicUsize>,
    hands_nothing_over: bool,
}

impl Scheme for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn signed_content(&self) -> &[Part] {
        GitHub.signed_content()
    }
    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let signed = GitHub.parse(headers)?;
        if self.hands_nothing_over {
            return Ok(SignedHeaders::new(signed.signatures));
        }
        Ok(signed)
    }
    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        GitHub.write_headers(headers, message, signature)
    }
    fn event_header(&self) -> Option<&HeaderName> {
        GitHub.event_header()
    }
    fn event(&self, header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        self.calls.fetch_add(1, Ordering::SeqCst);
        GitHub.event(header, payload)
    }
}

#[tokio::test]
async fn the_layer_never_resolves_the_event_and_verified_resolves_it_once() {
    let scheme = Counting::default();
    let body = br#"{"action":"closed"}"#;
    let message = Message::new(body).event_type("pull_request");
    let verified = deliver(scheme.clone(), SECRET, message, &[]).await;
    assert_eq!(scheme.calls.load(Ordering::SeqCst), 0);
    assert_eq!(verified.event_type(), Some("pull_request.closed"));
    assert_eq!(verified.id(), None);
    assert_eq!(verified.clone().event_type(), Some("pull_request.closed"));
    assert_eq!(scheme.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_layer_looks_up_an_event_header_the_scheme_did_not_hand_over() {
    let message = Message::new(br#"{"action":"opened"}"#).event_type("issues");
    let scheme = Counting {
        hands_nothing_over: true,
        ..Counting::default()
    };
    let verified = deliver(scheme.clone(), SECRET, message, &[]).await;
    assert_eq!(verified.event_type(), Some("issues.opened"));
    assert_eq!(scheme.calls.load(Ordering::SeqCst), 1);
}

mod properties {
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;
    use tower_webhook::scheme::{CustomScheme, GitHub, Scheme, Slack, Stripe};

    proptest! {
        /// Resolving an event from any bytes never panics; it finds nothing or something.
        #[test]
        fn any_body_resolves_without_panicking(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let header = HeaderValue::from_static("issues");
            let _ = GitHub.event(Some(&header), &GitHub.payload(&body));
            let _ = Slack.event(None, &Slack.payload(&body));
            let _ = Stripe.event(None, &body);
            let custom = CustomScheme::new(HeaderName::from_static("x-sig"))
                .event_type_field("a.b")
                .id_field("id");
            let _ = custom.event(None, &body);
        }
    }
}
