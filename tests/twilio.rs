//! Twilio's request validation beyond the published vectors: which part of a request ties its
//! body to the signature, GET requests, and the URL the layer is told.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use tower_webhook::scheme::{Message, Scheme, Twilio};
use tower_webhook::{Secret, VerifyError, VerifySignatureLayer};

use common::{Recorder, refusal, request, send};

const TOKEN: &str = "12345";
const PUBLIC: &str = "https://mycompany.com/myapp.php";

/// Twilio's signature over `signed`, computed here apart from the crate.
fn signature(signed: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn layer() -> VerifySignatureLayer {
    VerifySignatureLayer::new(Twilio, TOKEN)
        .unwrap()
        .public_url(PUBLIC)
        .unwrap()
}

/// Sends `body` to `path_and_query` with the given signature and content type.
async fn deliver(
    method: Method,
    path_and_query: &str,
    content_type: Option<&str>,
    signature: &str,
    body: &'static [u8],
) -> (StatusCode, Option<VerifyError>, Recorder) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-twilio-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    if let Some(content_type) = content_type {
        headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
    }
    let mut request = request(&headers, Bytes::from_static(body));
    *request.method_mut() = method;
    *request.uri_mut() = path_and_query.parse().unwrap();
    let recorder = Recorder::new();
    let response = send(&layer(), &recorder, request).await;
    let status = response.status();
    let error = (status != StatusCode::OK).then(|| refusal(&response));
    (status, error, recorder)
}

#[tokio::test]
async fn a_json_delivery_cannot_be_resent_as_an_empty_form() {
    let body: &'static [u8] = br#"{"property": "value"}"#;
    let hash = hex::encode(Sha256::digest(body));
    let query = format!("bodySHA256={hash}");
    let signed = signature(&format!("{PUBLIC}?{query}"));
    let path = format!("/myapp.php?{query}");

    let (status, _, recorder) =
        deliver(Method::POST, &path, Some("application/json"), &signed, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recorder.last().body, body);

    // The signature covers the URL alone: claiming the body is an (empty) form must not skip
    // the hash the URL carries.
    for forged in [&b""[..], b"&", b"&&&&"] {
        let forged: &'static [u8] = Box::leak(forged.to_vec().into_boxed_slice());
        for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
            let (status, error, recorder) =
                deliver(Method::POST, &path, Some(content_type), &signed, forged).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{forged:?} as {content_type}"
            );
            assert!(
                matches!(error, Some(VerifyError::SignedUrlMismatch)),
                "{error:?}"
            );
            assert_eq!(recorder.calls(), 0);
        }
    }
}

#[tokio::test]
async fn get_requests_sign_the_url_alone() {
    let query = "CallSid=CA1234567890ABCDE&From=%2B14158675309";
    let signed = signature(&format!("{PUBLIC}?{query}"));
    let path = format!("/myapp.php?{query}");
    let (status, error, _) = deliver(Method::GET, &path, None, &signed, b"").await;
    assert_eq!(status, StatusCode::OK, "{error:?}");
    // The same signature for another query is refused.
    let other = "/myapp.php?CallSid=CA1234567890ABCDF&From=%2B14158675309";
    let (status, _, _) = deliver(Method::GET, other, None, &signed, b"").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_form_without_a_content_type_is_still_read_as_a_form() {
    let body: &'static [u8] = b"To=%2B18005551212&From=%2B14158675309";
    let signed = signature(&format!("{PUBLIC}From+14158675309To+18005551212"));
    let (status, error, _) = deliver(Method::POST, "/myapp.php", None, &signed, body).await;
    assert_eq!(status, StatusCode::OK, "{error:?}");
}

#[tokio::test]
async fn a_form_that_is_not_utf8_is_refused_as_malformed() {
    let (status, error, _) = deliver(
        Method::POST,
        "/myapp.php",
        Some("application/x-www-form-urlencoded"),
        &signature(PUBLIC),
        b"Body=%FF%FE",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        matches!(error, Some(VerifyError::MalformedBody { .. })),
        "{error:?}"
    );
}

#[test]
fn signing_follows_the_same_rules() {
    let secret = Secret::new(TOKEN);
    let json = br#"{"a":1}"#;
    // JSON without its hash in the URL cannot be signed; with a wrong hash neither.
    let message = Message::new(json)
        .url(PUBLIC)
        .content_type("application/json");
    assert!(Twilio.sign(&secret, &message).is_err());
    let wrong = format!("{PUBLIC}?bodySHA256={}", "00".repeat(32));
    assert!(Twilio.sign(&secret, &message.url(&wrong)).is_err());
    let right = format!("{PUBLIC}?bodySHA256={}", hex::encode(Sha256::digest(json)));
    let headers = Twilio.sign(&secret, &message.url(&right)).unwrap();
    assert_eq!(headers["x-twilio-signature"], signature(&right).as_str());
    // A form signs its sorted fields.
    let form = Message::new(b"b=2&a=1").url(PUBLIC);
    let headers = Twilio.sign(&secret, &form).unwrap();
    assert_eq!(
        headers["x-twilio-signature"],
        signature(&format!("{PUBLIC}a1b2")).as_str()
    );
}

#[tokio::test]
async fn a_shared_key_signs_the_same_content_with_hmac_sha256() {
    use tower_webhook::scheme::TwilioSharedKey;
    let key = "shared-key-0123456789";
    let body: &'static [u8] = b"To=%2B18005551212&From=%2B14158675309";
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{PUBLIC}From+14158675309To+18005551212").as_bytes());
    let signed = STANDARD.encode(mac.finalize().into_bytes());
    let layer = VerifySignatureLayer::new(TwilioSharedKey, key)
        .unwrap()
        .public_url(PUBLIC)
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-twilio-signature",
        HeaderValue::from_str(&signed).unwrap(),
    );
    let mut request = request(&headers, Bytes::from_static(body));
    *request.uri_mut() = "/myapp.php".parse().unwrap();
    let recorder = Recorder::new();
    assert_eq!(
        send(&layer, &recorder, request).await.status(),
        StatusCode::OK
    );
    // The auth token's SHA-1 scheme does not take it.
    let (status, _, _) = deliver(Method::POST, "/myapp.php", None, &signed, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn either_order_of_fields_outside_the_basic_plane_verifies() {
    // U+FF5E sorts before U+1F600 by code point and after it by UTF-16 code unit.
    let body: &'static [u8] = b"Tag=%EF%BD%9E&Tag=%F0%9F%98%80";
    for signed in [
        format!("{PUBLIC}Tag\u{ff5e}Tag\u{1f600}"),
        format!("{PUBLIC}Tag\u{1f600}Tag\u{ff5e}"),
    ] {
        let (status, error, _) =
            deliver(Method::POST, "/myapp.php", None, &signature(&signed), body).await;
        assert_eq!(status, StatusCode::OK, "{signed}: {error:?}");
    }
}
