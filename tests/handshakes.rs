//! Providers' endpoint checks, answered by the layer itself (the default): Slack's
//! `url_verification`, Twitch's `webhook_callback_verification`, Zoom's
//! `endpoint.url_validation`, Discord's pings and Meta's `hub.challenge`. Each probe is signed
//! here by hand, as its provider documents, never with the crate's signer; a signed probe is
//! answered only once it verifies, and never reaches the inner service.

mod common;

use bytes::Bytes;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, KeyInit, Mac};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use sha2::Sha256;
use tower_webhook::crypto::PublicKey;
use tower_webhook::scheme::{Discord, Meta, Slack, Twitch, Zoom};
use tower_webhook::{ResponseBody, Secrets, VerifyError, VerifySignatureLayer};

use common::{NOW, Recorder, request, send};

fn hmac_sha256_hex(key: &str, data: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

fn headers<const N: usize>(pairs: [(&str, String); N]) -> HeaderMap {
    pairs
        .into_iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            )
        })
        .collect()
}

/// What came back: status, content type, body, the refusal if one was recorded, and whether
/// the inner service ran.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Bytes,
    error: Option<VerifyError>,
    inner_calls: usize,
}

async fn answer(response: Response<ResponseBody<Full<Bytes>>>, recorder: &Recorder) -> Answer {
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned());
    let error = response.extensions().get::<VerifyError>().cloned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        body,
        error,
        inner_calls: recorder.calls(),
    }
}

async fn post(layer: &VerifySignatureLayer, headers: &HeaderMap, body: impl Into<Bytes>) -> Answer {
    let recorder = Recorder::new();
    let response = send(layer, &recorder, request(headers, body)).await;
    answer(response, &recorder).await
}

/// Asserts the layer answered the probe itself: this status, content type and body (when
/// given; JSON bodies are compared parsed by the caller), no refusal recorded, the inner
/// service not called.
fn answered(got: &Answer, status: StatusCode, content_type: Option<&str>, body: Option<&[u8]>) {
    assert_eq!(got.status, status, "{:?}", got.error);
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.inner_calls, 0, "the inner service saw the probe");
    match content_type {
        Some(expected) => {
            let sent = got.content_type.as_deref().unwrap_or("none");
            assert!(sent.starts_with(expected), "content type {sent}");
        }
        None => assert_eq!(got.content_type, None),
    }
    if let Some(body) = body {
        assert_eq!(got.body, body);
    }
}

/// Asserts the request reached the inner service (which answers 200 "inner").
fn passed_on(got: &Answer) {
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.error);
    assert_eq!(got.inner_calls, 1);
    assert_eq!(got.body, "inner");
}

/// Asserts a refusal with `status`, not answered, not passed on.
fn refused(got: &Answer, status: StatusCode) -> &VerifyError {
    assert_eq!(got.status, status, "{:?}", got.error);
    assert_eq!(got.inner_calls, 0);
    got.error.as_ref().expect("a refusal carries its error")
}

// ---------------------------------------------------------------------------------------------
// Slack: https://api.slack.com/events/url_verification
// ---------------------------------------------------------------------------------------------

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_CHALLENGE: &str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";

fn slack_probe() -> String {
    format!(r#"{{"type":"url_verification","challenge":"{SLACK_CHALLENGE}"}}"#)
}

/// Slack's signature: `v0=` hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
fn slack_headers(secret: &str, body: &str) -> HeaderMap {
    let signature = hmac_sha256_hex(secret, format!("v0:{NOW}:{body}").as_bytes());
    headers([
        ("x-slack-request-timestamp", NOW.to_string()),
        ("x-slack-signature", format!("v0={signature}")),
    ])
}

fn slack_layer() -> VerifySignatureLayer {
    VerifySignatureLayer::new(Slack, SLACK_SECRET)
        .unwrap()
        .clock(|| NOW)
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_its_challenge() {
    let body = slack_probe();
    let got = post(&slack_layer(), &slack_headers(SLACK_SECRET, &body), body).await;
    answered(
        &got,
        StatusCode::OK,
        Some("text/plain"),
        Some(SLACK_CHALLENGE.as_bytes()),
    );
}

#[tokio::test]
async fn slack_url_verification_signed_wrongly_is_refused_not_answered() {
    let body = slack_probe();
    let got = post(
        &slack_layer(),
        &slack_headers("another-signing-secret", &body),
        body,
    )
    .await;
    let error = refused(&got, StatusCode::UNAUTHORIZED);
    assert!(matches!(error, VerifyError::SignatureMismatch), "{error}");
    assert!(
        !got.body
            .windows(10)
            .any(|w| w == &SLACK_CHALLENGE.as_bytes()[..10])
    );
}

#[tokio::test]
async fn slack_events_other_than_the_check_reach_the_service() {
    let body = r#"{"type":"event_callback","challenge":"not-a-probe","event":{"type":"app_mention"},"event_id":"Ev1"}"#;
    let got = post(&slack_layer(), &slack_headers(SLACK_SECRET, body), body).await;
    passed_on(&got);
}

// ---------------------------------------------------------------------------------------------
// Twitch: https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request
// ---------------------------------------------------------------------------------------------

const TWITCH_SECRET: &str = "s3cre77890ab";
const TWITCH_CHALLENGE: &str = "pogchamp-kappa-360noscope-vohiyo";
const TWITCH_ID: &str = "e76c6bd4-55c9-4987-8304-da1588d8988b";
/// One second and a fraction before `NOW`, written with nanoseconds as Twitch does.
const TWITCH_TIMESTAMP: &str = "2023-11-14T22:13:19.123456789Z";

fn twitch_probe() -> String {
    format!(
        r#"{{"challenge":"{TWITCH_CHALLENGE}","subscription":{{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"2","cost":1,"condition":{{"broadcaster_user_id":"12826","moderator_user_id":"12826"}},"transport":{{"method":"webhook","callback":"https://example.com/webhooks/callback"}},"created_at":"2019-11-16T10:11:12.634234626Z"}}}}"#
    )
}

/// Twitch's headers: `sha256=` hex HMAC-SHA256 of message id ‖ timestamp ‖ body.
fn twitch_headers(secret: Option<&str>, message_type: &str, body: &str) -> HeaderMap {
    let mut headers = headers([
        ("twitch-eventsub-message-id", TWITCH_ID.to_owned()),
        (
            "twitch-eventsub-message-timestamp",
            TWITCH_TIMESTAMP.to_owned(),
        ),
        ("twitch-eventsub-message-type", message_type.to_owned()),
        (
            "twitch-eventsub-subscription-type",
            "channel.follow".to_owned(),
        ),
    ]);
    if let Some(secret) = secret {
        let signed = format!("{TWITCH_ID}{TWITCH_TIMESTAMP}{body}");
        let signature = hmac_sha256_hex(secret, signed.as_bytes());
        headers.insert(
            "twitch-eventsub-message-signature",
            format!("sha256={signature}").parse().unwrap(),
        );
    }
    headers
}

fn twitch_layer() -> VerifySignatureLayer {
    VerifySignatureLayer::new(Twitch, TWITCH_SECRET)
        .unwrap()
        .clock(|| NOW)
}

#[tokio::test]
async fn twitch_callback_verification_is_answered_with_the_challenge_exactly() {
    let body = twitch_probe();
    let signed = twitch_headers(Some(TWITCH_SECRET), "webhook_callback_verification", &body);
    let got = post(&twitch_layer(), &signed, body).await;
    answered(
        &got,
        StatusCode::OK,
        Some("text/plain"),
        Some(TWITCH_CHALLENGE.as_bytes()),
    );
}

#[tokio::test]
async fn twitch_notification_with_the_same_body_reaches_the_service() {
    let body = twitch_probe();
    let signed = twitch_headers(Some(TWITCH_SECRET), "notification", &body);
    passed_on(&post(&twitch_layer(), &signed, body).await);
}

#[tokio::test]
async fn twitch_unsigned_or_wrongly_signed_probes_are_refused() {
    let body = twitch_probe();
    let kind = "webhook_callback_verification";
    // Without a signature header the request is malformed (400), as for every scheme.
    let got = post(
        &twitch_layer(),
        &twitch_headers(None, kind, &body),
        body.clone(),
    )
    .await;
    let error = refused(&got, StatusCode::BAD_REQUEST);
    assert!(
        matches!(error, VerifyError::MissingHeader { header } if header == "twitch-eventsub-message-signature"),
        "{error}"
    );
    let wrong = twitch_headers(Some("s3cre77890ac"), kind, &body);
    let got = post(&twitch_layer(), &wrong, body).await;
    let error = refused(&got, StatusCode::UNAUTHORIZED);
    assert!(matches!(error, VerifyError::SignatureMismatch), "{error}");
    assert_ne!(got.body, TWITCH_CHALLENGE);
}

// ---------------------------------------------------------------------------------------------
// Zoom: https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint
// ---------------------------------------------------------------------------------------------

const ZOOM_SECRET: &str = "zoom-secret-token";
const ZOOM_OLD_SECRET: &str = "zoom-older-secret-token";
const ZOOM_PLAIN_TOKEN: &str = "qgg8vlvZRS6UYooatFL8Aw";
const ZOOM_PROBE: &str = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;

/// Zoom's headers: `v0=` hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
fn zoom_headers(secret: &str, body: &str) -> HeaderMap {
    let signature = hmac_sha256_hex(secret, format!("v0:{NOW}:{body}").as_bytes());
    headers([
        ("x-zm-request-timestamp", NOW.to_string()),
        ("x-zm-signature", format!("v0={signature}")),
    ])
}

fn zoom_layer(secrets: impl Into<Secrets>) -> VerifySignatureLayer {
    VerifySignatureLayer::new(Zoom, secrets)
        .unwrap()
        .clock(|| NOW)
}

/// The answer's JSON: `plainToken` and `encryptedToken`, and nothing else.
fn zoom_answer(got: &Answer) -> (String, String) {
    answered(got, StatusCode::OK, Some("application/json"), None);
    let value: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    let object = value.as_object().expect("a JSON object");
    assert_eq!(object.len(), 2, "{value}");
    let field = |name: &str| object[name].as_str().expect("a string").to_owned();
    (field("plainToken"), field("encryptedToken"))
}

#[tokio::test]
async fn zoom_url_validation_is_answered_with_the_token_and_its_hmac() {
    let got = post(
        &zoom_layer(ZOOM_SECRET),
        &zoom_headers(ZOOM_SECRET, ZOOM_PROBE),
        ZOOM_PROBE,
    )
    .await;
    let (plain, encrypted) = zoom_answer(&got);
    assert_eq!(plain, ZOOM_PLAIN_TOKEN);
    assert_eq!(
        encrypted,
        hmac_sha256_hex(ZOOM_SECRET, ZOOM_PLAIN_TOKEN.as_bytes())
    );
}

/// With two secret tokens configured (a rotation), the token is HMACed with the one that
/// verified the probe: Zoom checks the answer with the token it signed with.
#[tokio::test]
async fn zoom_answers_with_the_secret_that_verified() {
    let layer = zoom_layer([ZOOM_OLD_SECRET, ZOOM_SECRET]);
    for secret in [ZOOM_SECRET, ZOOM_OLD_SECRET] {
        let got = post(&layer, &zoom_headers(secret, ZOOM_PROBE), ZOOM_PROBE).await;
        let (_, encrypted) = zoom_answer(&got);
        assert_eq!(
            encrypted,
            hmac_sha256_hex(secret, ZOOM_PLAIN_TOKEN.as_bytes()),
            "{secret}"
        );
    }
}

#[tokio::test]
async fn zoom_url_validation_signed_wrongly_is_refused() {
    let got = post(
        &zoom_layer(ZOOM_SECRET),
        &zoom_headers(ZOOM_OLD_SECRET, ZOOM_PROBE),
        ZOOM_PROBE,
    )
    .await;
    let error = refused(&got, StatusCode::UNAUTHORIZED);
    assert!(matches!(error, VerifyError::SignatureMismatch), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Discord: https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint
// and https://discord.com/developers/docs/events/webhook-events
// ---------------------------------------------------------------------------------------------

fn discord_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0xd1; 32])
}

/// Discord's headers: hex Ed25519 signature of timestamp ‖ body.
fn discord_headers(key: &ed25519_dalek::SigningKey, body: &str) -> HeaderMap {
    let signed = format!("{NOW}{body}");
    let signature = hex::encode(key.sign(signed.as_bytes()).to_bytes());
    headers([
        ("x-signature-timestamp", NOW.to_string()),
        ("x-signature-ed25519", signature),
    ])
}

fn discord_layer() -> VerifySignatureLayer {
    let public = hex::encode(discord_key().verifying_key().as_bytes());
    VerifySignatureLayer::new(Discord, PublicKey::new(public))
        .unwrap()
        .clock(|| NOW)
}

async fn discord(body: &str) -> Answer {
    post(
        &discord_layer(),
        &discord_headers(&discord_key(), body),
        body.to_owned(),
    )
    .await
}

#[tokio::test]
async fn discord_interaction_ping_is_answered_with_a_pong() {
    // The smallest PING, and one with the fields an interaction carries besides its type.
    let full = r#"{"application_id":"1234560123453231555","id":"1234560123453231556","token":"aW50ZXJhY3Rpb246MTIzNDU2","type":1,"user":{"id":"53908232506183680","username":"Mason"},"version":1}"#;
    for ping in [r#"{"type":1}"#, full] {
        let got = discord(ping).await;
        answered(&got, StatusCode::OK, Some("application/json"), None);
        let value: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(value, serde_json::json!({ "type": 1 }), "{ping}");
    }
}

#[tokio::test]
async fn discord_webhook_events_ping_is_answered_with_204() {
    let got = discord(r#"{"version":1,"application_id":"1234560123453231555","type":0}"#).await;
    answered(&got, StatusCode::NO_CONTENT, None, Some(b""));
}

#[tokio::test]
async fn discord_events_and_commands_reach_the_service() {
    let event = r#"{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"integration_type":1}}}"#;
    passed_on(&discord(event).await);
    let command = r#"{"type":2,"id":"786008729715212338","data":{"name":"cardsearch"}}"#;
    passed_on(&discord(command).await);
}

#[tokio::test]
async fn discord_ping_signed_by_another_key_is_refused() {
    let other = ed25519_dalek::SigningKey::from_bytes(&[0xd2; 32]);
    let body = r#"{"type":1}"#;
    let got = post(&discord_layer(), &discord_headers(&other, body), body).await;
    let error = refused(&got, StatusCode::UNAUTHORIZED);
    assert!(matches!(error, VerifyError::SignatureMismatch), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Meta: https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
// ---------------------------------------------------------------------------------------------

const META_SECRET: &str = "meta-app-secret";
const META_TOKEN: &str = "my-verify-token";

fn meta_layer(verify_token: Option<&str>) -> VerifySignatureLayer {
    let scheme = match verify_token {
        Some(token) => Meta.to_custom().verify_token(token),
        None => Meta.to_custom(),
    };
    VerifySignatureLayer::new(scheme, META_SECRET).unwrap()
}

async fn get(layer: &VerifySignatureLayer, uri: &str) -> Answer {
    let recorder = Recorder::new();
    let request = Request::get(uri).body(Full::new(Bytes::new())).unwrap();
    let response = send(layer, &recorder, request).await;
    answer(response, &recorder).await
}

const META_PROBE: &str =
    "/hook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my-verify-token";

#[tokio::test]
async fn meta_subscription_check_is_answered_with_the_challenge() {
    let got = get(&meta_layer(Some(META_TOKEN)), META_PROBE).await;
    answered(
        &got,
        StatusCode::OK,
        Some("text/plain"),
        Some(b"1158201444"),
    );
}

#[tokio::test]
async fn meta_subscription_check_with_a_wrong_token_gets_403() {
    let layer = meta_layer(Some(META_TOKEN));
    for uri in [
        "/hook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my-verify-tokem",
        "/hook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my-verify-token2",
        "/hook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=",
        "/hook?hub.mode=subscribe&hub.challenge=1158201444",
        // Only `subscribe` is a subscription check.
        "/hook?hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=my-verify-token",
    ] {
        let got = get(&layer, uri).await;
        assert_eq!(got.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(got.inner_calls, 0, "{uri}");
        assert!(
            !got.body.windows(10).any(|w| w == b"1158201444"),
            "{uri}: the challenge was echoed"
        );
    }
}

/// A GET without `hub.mode` is no subscription check: it is verified like any delivery, and
/// carries no signature. So is the check itself when no verify token is configured, or when it
/// comes as a POST. A missing signature header is a malformed request (400), as for every
/// scheme.
#[tokio::test]
async fn meta_requests_that_are_not_a_configured_check_are_verified_as_usual() {
    let with_token = meta_layer(Some(META_TOKEN));
    let without = meta_layer(None);
    let post_probe = async {
        let recorder = Recorder::new();
        let request = Request::post(META_PROBE)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        answer(send(&with_token, &recorder, request).await, &recorder).await
    };
    for (case, got) in [
        (
            "no hub.mode",
            get(&with_token, "/hook?hub.challenge=1&foo=bar").await,
        ),
        (
            "no verify token configured",
            get(&without, META_PROBE).await,
        ),
        ("a POST", post_probe.await),
    ] {
        let error = refused(&got, StatusCode::BAD_REQUEST);
        assert!(
            matches!(error, VerifyError::MissingHeader { header } if header == "x-hub-signature-256"),
            "{case}: {error}"
        );
    }
}

/// A verify token does not loosen verification of deliveries.
#[tokio::test]
async fn meta_signed_deliveries_still_verify_with_a_verify_token_configured() {
    let body = r#"{"object":"page","entry":[]}"#;
    let signature = hmac_sha256_hex(META_SECRET, body.as_bytes());
    let signed = headers([("x-hub-signature-256", format!("sha256={signature}"))]);
    passed_on(&post(&meta_layer(Some(META_TOKEN)), &signed, body).await);
    let wrong = hmac_sha256_hex(META_TOKEN, body.as_bytes());
    let wrong = headers([("x-hub-signature-256", format!("sha256={wrong}"))]);
    let got = post(&meta_layer(Some(META_TOKEN)), &wrong, body).await;
    refused(&got, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// With `.answer_handshakes(false)`.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_answers_every_signed_probe_reaches_the_service() {
    let off = |layer: VerifySignatureLayer| layer.answer_handshakes(false);

    let body = slack_probe();
    passed_on(
        &post(
            &off(slack_layer()),
            &slack_headers(SLACK_SECRET, &body),
            body,
        )
        .await,
    );

    let body = twitch_probe();
    let signed = twitch_headers(Some(TWITCH_SECRET), "webhook_callback_verification", &body);
    passed_on(&post(&off(twitch_layer()), &signed, body).await);

    let signed = zoom_headers(ZOOM_SECRET, ZOOM_PROBE);
    passed_on(&post(&off(zoom_layer(ZOOM_SECRET)), &signed, ZOOM_PROBE).await);

    for body in [r#"{"type":1}"#, r#"{"type":0}"#] {
        let signed = discord_headers(&discord_key(), body);
        passed_on(&post(&off(discord_layer()), &signed, body).await);
    }

    // Meta's check is unsigned: not answered, it is verified like any request and refused.
    let got = get(&off(meta_layer(Some(META_TOKEN))), META_PROBE).await;
    let error = refused(&got, StatusCode::BAD_REQUEST);
    assert!(
        matches!(error, VerifyError::MissingHeader { .. }),
        "{error}"
    );
}
