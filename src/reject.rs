//! Turning a refusal into a response.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use crate::error::VerifyError;

/// Builds the response for a refused request.
///
/// The default answers with [`VerifyError::to_response`]: the status and a short plain-text
/// reason. Any `Fn(&VerifyError) -> Response<Full<Bytes>>` is an `OnReject`, e.g. for a JSON
/// body, or a gRPC status when the layer guards a tonic server (gRPC clients expect HTTP 200
/// with a `grpc-status` header, not a 401):
///
/// ```
/// use bytes::Bytes;
/// use http::{Response, StatusCode};
/// use http_body_util::Full;
/// use tower_webhook::{scheme::GitHub, VerifyError, VerifySignatureLayer};
///
/// let layer = VerifySignatureLayer::new(GitHub, "secret")?.on_reject(|error: &VerifyError| {
///     let body = format!(r#"{{"error":"{}"}}"#, error.status().as_u16());
///     Response::builder()
///         .status(error.status())
///         .header("content-type", "application/json")
///         .body(Full::new(Bytes::from(body)))
///         .unwrap()
/// });
/// # Ok::<(), tower_webhook::ConfigError>(())
/// ```
pub trait OnReject: Send + Sync + 'static {
    /// The response for this refusal.
    fn on_reject(&self, error: &VerifyError) -> Response<Full<Bytes>>;
}

impl<F> OnReject for F
where
    F: Fn(&VerifyError) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    fn on_reject(&self, error: &VerifyError) -> Response<Full<Bytes>> {
        self(error)
    }
}
