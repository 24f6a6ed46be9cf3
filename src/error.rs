//! Why a webhook was refused, why a configuration was refused, and why signing failed.

use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use http_body_util::Full;

/// Boxed error type used where a body's own error is carried.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every reason [`VerifySignatureLayer`](crate::VerifySignatureLayer) refuses a request.
///
/// Each reason has a [status](Self::status) and a short message that never contains a secret or
/// the expected signature. The layer answers with [`VerifyError::to_response`] (or your
/// [`on_reject`](crate::VerifySignatureLayer::on_reject) hook) and puts the error itself into
/// the response's extensions, so outer layers can log or count it.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use tower_webhook::VerifyError;
///
/// let error = VerifyError::SignatureMismatch;
/// assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(error.to_string(), "signature does not match");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header the scheme needs is absent (400).
    #[error("missing `{header}` header")]
    MissingHeader {
        /// The header.
        header: HeaderName,
    },
    /// A header is present but cannot be read (400).
    #[error("malformed `{header}` header: {reason}")]
    MalformedHeader {
        /// The header.
        header: HeaderName,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signature header holds no signature of a version this scheme supports (401).
    #[error("`{header}` holds no signature of a supported version")]
    NoSupportedSignature {
        /// The header.
        header: HeaderName,
    },
    /// The scheme signs a timestamp or an id that its parser did not read from the request
    /// (400). Only a [`Scheme`](crate::scheme::Scheme) implemented outside this crate can get
    /// here; the verifier refuses rather than sign an empty stand-in.
    #[error("the scheme signs a {part} that the request does not carry")]
    MissingSignedPart {
        /// `"timestamp"` or `"id"`.
        part: &'static str,
    },
    /// No signature matches any configured secret (401).
    #[error("signature does not match")]
    SignatureMismatch,
    /// No signature matches, for a scheme that signs the URL it called (401): that URL is
    /// often the culprit, so the message says where it comes from.
    #[error(
        "signature does not match; the signed URL is the public one you configure \
         (check `.public_url`)"
    )]
    SignedUrlMismatch,
    /// The scheme signs the URL the sender called, and the layer has not been told it (500:
    /// the endpoint's fault, not the sender's). See
    /// [`VerifySignatureLayer::public_url`](crate::VerifySignatureLayer::public_url).
    #[error("this endpoint does not know its public URL, which the scheme signs")]
    NoPublicUrl,
    /// The body cannot be read the way the scheme signs it, e.g. a form that is not UTF-8
    /// (400).
    #[error("malformed body: {reason}")]
    MalformedBody {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is not a number of seconds the crate can use (400).
    #[error("invalid timestamp in `{header}`: {reason}")]
    InvalidTimestamp {
        /// The header it was read from.
        header: HeaderName,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is older than the tolerance allows (401).
    #[error("timestamp is {age_seconds} s old; at most {tolerance_seconds} s is allowed")]
    TimestampTooOld {
        /// How old it is.
        age_seconds: u64,
        /// The tolerance in force.
        tolerance_seconds: u64,
    },
    /// The timestamp is further in the future than the tolerance allows (401).
    #[error(
        "timestamp is {ahead_seconds} s in the future; at most {tolerance_seconds} s is allowed"
    )]
    TimestampTooNew {
        /// How far ahead it is.
        ahead_seconds: u64,
        /// The tolerance in force.
        tolerance_seconds: u64,
    },
    /// The body is larger than the limit (413).
    #[error("body is larger than the {limit} byte limit")]
    BodyTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The body failed while it was being read (400).
    #[error("failed to read the request body: {source}")]
    BodyRead {
        /// What the body reported.
        source: Arc<BoxError>,
    },
    /// The delivery verified, but its id was already accepted inside its lifetime: a replay or
    /// a duplicate (409 unless the layer's
    /// [`ReplayProtection::status`](crate::replay::ReplayProtection::status) says otherwise).
    #[error("this delivery was already received")]
    Replayed {
        /// The status the layer answers replays with.
        status: StatusCode,
    },
    /// The replay guard could not say whether the delivery is new, so it was not accepted
    /// (503; the sender retries later). See [`replay`](crate::replay#when-the-guard-fails).
    ///
    /// The message says nothing about the store: the reason is in `source`, for your logs,
    /// not in the response the sender sees.
    #[error("replay check unavailable; try again later")]
    ReplayGuardUnavailable {
        /// Why the guard failed.
        #[source]
        source: ReplayError,
    },
}

impl VerifyError {
    /// The HTTP status this refusal answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingHeader { .. }
            | Self::MalformedHeader { .. }
            | Self::InvalidTimestamp { .. }
            | Self::MissingSignedPart { .. }
            | Self::MalformedBody { .. }
            | Self::BodyRead { .. } => StatusCode::BAD_REQUEST,
            Self::NoPublicUrl => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NoSupportedSignature { .. }
            | Self::SignatureMismatch
            | Self::SignedUrlMismatch
            | Self::TimestampTooOld { .. }
            | Self::TimestampTooNew { .. } => StatusCode::UNAUTHORIZED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Replayed { status } => *status,
            Self::ReplayGuardUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The default refusal: the status, and the message as a `text/plain` body.
    pub fn to_response(&self) -> http::Response<Full<Bytes>> {
        let mut response = http::Response::new(Full::new(Bytes::from(self.to_string())));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }

    pub(crate) fn body_read(error: impl Into<BoxError>, limit: usize) -> Self {
        let error = error.into();
        // An outer `Limited` body reports its limit as an error; that is still "too large".
        match error.downcast::<http_body_util::LengthLimitError>() {
            Ok(_) => Self::BodyTooLarge { limit },
            Err(error) => Self::BodyRead {
                source: Arc::new(error),
            },
        }
    }
}

impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        let (parts, body) = self.to_response().into_parts();
        Response::from_parts(parts, axum_core::body::Body::new(body))
    }
}

/// Why a [`ReplayGuard`](crate::replay::ReplayGuard) could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Every slot holds an id that has not expired yet.
    #[error("replay guard is full: {capacity} ids are still live")]
    Full {
        /// The guard's capacity.
        capacity: usize,
    },
    /// The store failed (connection lost, timeout, unexpected reply).
    #[error("replay store failed: {0}")]
    Store(Arc<BoxError>),
}

impl ReplayError {
    /// A store failure with this cause.
    pub fn store(error: impl Into<BoxError>) -> Self {
        Self::Store(Arc::new(error.into()))
    }
}

/// A secret or key that a scheme cannot use, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidSecret {
    reason: &'static str,
}

impl InvalidSecret {
    /// A refusal with this reason, phrased to follow "secret #1 " (e.g. `"is empty"`).
    pub fn new(reason: &'static str) -> Self {
        Self { reason }
    }

    /// The reason.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Why a layer or a scheme could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No key was given.
    #[error("no keys: at least one secret or public key is required")]
    NoSecrets,
    /// A secret cannot be used with the scheme.
    #[error("secret {which} {reason}")]
    InvalidSecret {
        /// Which secret: its position (from 1) and name, never its value.
        which: String,
        /// What is wrong with it.
        reason: InvalidSecret,
    },
    /// A public key cannot be used with the scheme.
    #[error("public key {which} {reason}")]
    InvalidPublicKey {
        /// Which key: its position (from 1) and name.
        which: String,
        /// What is wrong with it.
        reason: InvalidSecret,
    },
    /// A custom scheme's signed-content template cannot be used.
    #[error("signed content `{template}`: {reason}")]
    InvalidSignedContent {
        /// The template as given.
        template: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A scheme is configured with an algorithm it cannot use.
    #[error("{algorithm} cannot be used here: {reason}")]
    UnsupportedAlgorithm {
        /// The algorithm's name.
        algorithm: String,
        /// Why not.
        reason: &'static str,
    },
    /// A custom scheme's signature prefix holds bytes no header value may carry.
    #[error("signature prefix {prefix:?} is not visible ASCII")]
    InvalidSignaturePrefix {
        /// The prefix as given.
        prefix: String,
    },
    /// A custom scheme's signature list could not be read back as written.
    #[error("signature list `{shape}` cannot be read back: {reason}")]
    InvalidSignatureList {
        /// The shape, as one entry would be written.
        shape: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The public URL given to the layer cannot be the URL a sender calls.
    #[error("invalid public URL: {reason}")]
    InvalidPublicUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why an outgoing message could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The secret cannot be used with the scheme.
    #[error("secret {0}")]
    InvalidSecret(#[from] InvalidSecret),
    /// The scheme is misconfigured.
    #[error("{0}")]
    Config(ConfigError),
    /// The scheme signs a field the message does not have.
    #[error("the {scheme} scheme needs the message's {field}")]
    MissingField {
        /// The scheme's name.
        scheme: String,
        /// The missing field (`"id"`, `"timestamp"`).
        field: &'static str,
    },
    /// The message's timestamp is before 1970: no receiver's timestamp window accepts it, and
    /// this crate's verifier reads Unix seconds as digits only.
    #[error("the timestamp {timestamp} is before 1970: no receiver would accept it")]
    NegativeTimestamp {
        /// The timestamp given.
        timestamp: i64,
    },
    /// The scheme's headers, once written, do not read back as the signature, id and timestamp
    /// just signed: its writer and its parser disagree, so no receiver could verify what it
    /// sends.
    #[error("the {scheme} scheme cannot read back what it writes: {reason}")]
    Unreadable {
        /// The scheme's name.
        scheme: String,
        /// What reading back found.
        reason: String,
    },
    /// A field cannot be sent as a header value.
    #[error("the value for `{header}` is not a valid header value")]
    InvalidHeaderValue {
        /// The header.
        header: HeaderName,
    },
    /// The message cannot be signed the way the scheme signs: a Twilio form that is not
    /// UTF-8, or a Twilio JSON body whose URL lacks its `bodySHA256`.
    #[error("the {scheme} scheme cannot sign this message: {reason}")]
    Unsignable {
        /// The scheme's name.
        scheme: String,
        /// Why not.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_reason() {
        let header = HeaderName::from_static("x-sig");
        let cases = [
            (
                VerifyError::MissingHeader {
                    header: header.clone(),
                },
                400,
            ),
            (
                VerifyError::MalformedHeader {
                    header: header.clone(),
                    reason: "r",
                },
                400,
            ),
            (
                VerifyError::NoSupportedSignature {
                    header: header.clone(),
                },
                401,
            ),
            (VerifyError::SignatureMismatch, 401),
            (
                VerifyError::InvalidTimestamp {
                    header: header.clone(),
                    reason: "r",
                },
                400,
            ),
            (
                VerifyError::TimestampTooOld {
                    age_seconds: 1,
                    tolerance_seconds: 0,
                },
                401,
            ),
            (
                VerifyError::TimestampTooNew {
                    ahead_seconds: 1,
                    tolerance_seconds: 0,
                },
                401,
            ),
            (VerifyError::BodyTooLarge { limit: 1 }, 413),
            (VerifyError::body_read("boom", 1), 400),
            (
                VerifyError::Replayed {
                    status: StatusCode::CONFLICT,
                },
                409,
            ),
            (
                VerifyError::ReplayGuardUnavailable {
                    source: ReplayError::Full { capacity: 1 },
                },
                503,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error}");
            let response = error.to_response();
            assert_eq!(response.status().as_u16(), status);
        }
    }

    fn outer_limit_error() -> BoxError {
        use http_body::Body;
        use http_body_util::{Full, Limited};
        let body = Limited::new(Full::new(Bytes::from_static(b"too long")), 2);
        let mut body = std::pin::pin!(body);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match body.as_mut().poll_frame(&mut cx) {
            std::task::Poll::Ready(Some(Err(error))) => error,
            _ => panic!("Limited should refuse at once"),
        }
    }

    #[test]
    fn an_outer_length_limit_counts_as_too_large() {
        let error = VerifyError::body_read(outer_limit_error(), 10);
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
