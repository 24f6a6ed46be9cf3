//! Providers' endpoint checks, which a scheme answers itself.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri, header};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::crypto::{Encoding, Signature, VerifyingKey};
use crate::secret::Secret;

/// A verified request that may be a provider checking the endpoint, as
/// [`Scheme::handshake`](super::Scheme::handshake) sees it.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::Response;
/// use tower_webhook::scheme::Probe;
///
/// // Answer a probe whose body is `ping` with `pong`, as a scheme's `handshake` would.
/// fn answer(probe: &Probe<'_>) -> Option<Response<Bytes>> {
///     (probe.body() == b"ping").then(|| Response::new(Bytes::from_static(b"pong")))
/// }
/// ```
#[derive(Debug)]
pub struct Probe<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
    key: &'a VerifyingKey,
}

impl<'a> Probe<'a> {
    pub(crate) fn new(headers: &'a HeaderMap, body: &'a [u8], key: &'a VerifyingKey) -> Self {
        Self { headers, body, key }
    }

    /// The request's headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The verified body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The HMAC of `bytes` under the key that verified the request (Zoom's answer is the
    /// HMAC of a token it sends); `None` when that key is not an HMAC key.
    pub fn mac(&self, bytes: &[u8]) -> Option<Signature> {
        self.key.mac(bytes)
    }
}

/// A `200` answer with `body` as plain text, which no browser may read as anything else (the
/// text is the sender's own).
fn plain_text(body: String) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Whether `body` holds `marker`: every verified delivery is offered to the handshake, and only
/// a body naming the check is worth parsing (a check written with JSON escapes goes on to the
/// inner service, as it would with handshakes off).
fn mentions(body: &[u8], marker: &[u8]) -> bool {
    body.windows(marker.len()).any(|window| window == marker)
}

/// Meta's (and WebSub's) subscription check: `GET ?hub.mode=subscribe&hub.challenge=…
/// &hub.verify_token=…`, answered with the challenge when the token is `token`, with 403
/// otherwise; `None` for a request without `hub.mode`, which is verified as usual.
/// <https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests>
pub(crate) fn hub_challenge(uri: &Uri, token: &Secret) -> Option<Response<Bytes>> {
    let query = uri.query()?;
    let (mut mode, mut challenge, mut sent) = (None, None, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "hub.mode" => mode = Some(value),
            "hub.challenge" => challenge = Some(value),
            "hub.verify_token" => sent = Some(value),
            _ => {}
        }
    }
    let mode = mode?;
    // Digests, so that neither the token's bytes nor its length are compared directly.
    let matches = sent.is_some_and(|sent| {
        Sha256::digest(sent.as_bytes())
            .ct_eq(&Sha256::digest(token.expose()))
            .into()
    });
    Some(match (&*mode, challenge) {
        ("subscribe", Some(challenge)) if matches => plain_text(challenge.into_owned()),
        _ => {
            let mut refused = plain_text("verify token does not match".to_owned());
            *refused.status_mut() = StatusCode::FORBIDDEN;
            refused
        }
    })
}

#[derive(Deserialize)]
struct Challenge<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    challenge: Option<Cow<'a, str>>,
}

/// Slack's Events API `url_verification`: the challenge back, as text.
/// <https://api.slack.com/events/url_verification>
pub(crate) fn slack(probe: &Probe<'_>) -> Option<Response<Bytes>> {
    if !mentions(probe.body(), b"url_verification") {
        return None;
    }
    let body: Challenge<'_> = serde_json::from_slice(probe.body()).ok()?;
    match (body.kind.as_deref(), body.challenge) {
        (Some("url_verification"), Some(challenge)) => Some(plain_text(challenge.into_owned())),
        _ => None,
    }
}

/// Twitch EventSub's `webhook_callback_verification`: the challenge back, as text.
/// <https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request>
pub(crate) fn twitch(probe: &Probe<'_>) -> Option<Response<Bytes>> {
    let kind = probe.headers().get("twitch-eventsub-message-type")?;
    if kind != "webhook_callback_verification" {
        return None;
    }
    let body: Challenge<'_> = serde_json::from_slice(probe.body()).ok()?;
    Some(plain_text(body.challenge?.into_owned()))
}

/// Zoom's `endpoint.url_validation`: the plain token and its HMAC-SHA256, in hex, under the
/// endpoint's secret token.
/// <https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint>
pub(crate) fn zoom(probe: &Probe<'_>) -> Option<Response<Bytes>> {
    #[derive(Deserialize)]
    struct Validation<'a> {
        #[serde(borrow)]
        event: Cow<'a, str>,
        #[serde(borrow)]
        payload: Payload<'a>,
    }
    #[derive(Deserialize)]
    struct Payload<'a> {
        #[serde(borrow, rename = "plainToken")]
        plain_token: Cow<'a, str>,
    }
    if !mentions(probe.body(), b"endpoint.url_validation") {
        return None;
    }
    let body: Validation<'_> = serde_json::from_slice(probe.body()).ok()?;
    if body.event != "endpoint.url_validation" {
        return None;
    }
    let token = body.payload.plain_token;
    let encrypted = probe.mac(token.as_bytes())?.encode(Encoding::Hex);
    Some(json(
        StatusCode::OK,
        &serde_json::json!({ "plainToken": token, "encryptedToken": encrypted }),
    ))
}

/// Discord's pings: an interaction `PING` (`{"type": 1}`, no `event`) is answered
/// `{"type": 1}`; a Webhook Events `PING` (`{"type": 0}`) with 204.
/// <https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint>
pub(crate) fn discord(probe: &Probe<'_>) -> Option<Response<Bytes>> {
    #[derive(Deserialize)]
    struct Ping {
        #[serde(rename = "type")]
        kind: u8,
        event: Option<serde::de::IgnoredAny>,
    }
    let ping: Ping = serde_json::from_slice(probe.body()).ok()?;
    match (ping.kind, ping.event) {
        (1, None) => Some(json(StatusCode::OK, &serde_json::json!({ "type": 1 }))),
        (0, _) => {
            let mut response = Response::new(Bytes::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Some(response)
        }
        _ => None,
    }
}
