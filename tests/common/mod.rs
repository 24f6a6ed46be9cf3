//! Helpers shared by the integration tests: a recording inner service, hand-made bodies, and
//! one-call request plumbing.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};
use tower_webhook::{
    BoxError, ResponseBody, Verified, VerifiedBody, VerifyError, VerifySignatureLayer,
};

/// The fixed "now" most tests run at: 2023-11-14T22:13:20Z.
pub const NOW: i64 = 1_700_000_000;

/// What the inner service saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub verified: Verified,
    /// The request body as the inner service read it.
    pub body: Bytes,
    pub headers: HeaderMap,
}

/// An inner service that records every request it gets and answers 200 "inner".
#[derive(Clone, Default)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn service(
        &self,
    ) -> impl Service<
        Request<VerifiedBody>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        let seen = Arc::clone(&self.seen);
        tower::service_fn(move |request: Request<VerifiedBody>| {
            let seen = Arc::clone(&seen);
            async move {
                let (parts, body) = request.into_parts();
                let verified = parts
                    .extensions
                    .get::<Verified>()
                    .expect("the layer inserts `Verified`")
                    .clone();
                let body = body.collect().await?.to_bytes();
                seen.lock().unwrap().push(Seen {
                    verified,
                    body,
                    headers: parts.headers,
                });
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
            }
        })
    }

    pub fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the inner service was called")
    }
}

/// Sends one request through `layer` in front of `recorder`.
pub async fn send<B>(
    layer: &VerifySignatureLayer,
    recorder: &Recorder,
    request: Request<B>,
) -> Response<ResponseBody<Full<Bytes>>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    layer
        .layer(recorder.service())
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {})
}

/// A request with these headers and a `Full` body.
pub fn request(headers: &HeaderMap, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    request_with(headers, Full::new(body.into()))
}

pub fn request_with<B>(headers: &HeaderMap, body: B) -> Request<B> {
    let mut request = Request::post("/webhook").body(body).unwrap();
    request.headers_mut().extend(headers.clone());
    request
}

/// The response body as text.
pub async fn text<B>(response: Response<B>) -> String
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The refusal the layer put into the response's extensions.
pub fn refusal<B>(response: &Response<B>) -> VerifyError {
    response
        .extensions()
        .get::<VerifyError>()
        .cloned()
        .expect("a refusal carries its VerifyError")
}

/// A body delivered as the given chunks, with no size hint unless told, that counts how often
/// it is polled and can fail instead of ending.
#[derive(Debug)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    polls: Arc<AtomicUsize>,
    hint: Option<u64>,
    fail_at_end: bool,
}

impl Chunks {
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        Self {
            chunks: chunks.into_iter().collect(),
            polls: Arc::new(AtomicUsize::new(0)),
            hint: None,
            fail_at_end: false,
        }
    }

    /// The body split into one-byte chunks.
    pub fn bytewise(body: &[u8]) -> Self {
        Self::new(body.iter().map(|byte| Bytes::copy_from_slice(&[*byte])))
    }

    /// The body split at the given (sorted or not, possibly repeated) offsets.
    pub fn split_at(body: &[u8], cuts: &[usize]) -> Self {
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (body.len() + 1)).collect();
        cuts.push(0);
        cuts.push(body.len());
        cuts.sort_unstable();
        cuts.dedup();
        Self::new(
            cuts.windows(2)
                .map(|pair| Bytes::copy_from_slice(&body[pair[0]..pair[1]])),
        )
    }

    /// Declares an exact length through `size_hint`, true or not.
    pub fn with_exact_hint(mut self, length: u64) -> Self {
        self.hint = Some(length);
        self
    }

    /// Fails with an I/O error after the last chunk instead of ending.
    pub fn failing(mut self) -> Self {
        self.fail_at_end = true;
        self
    }

    /// A handle that reads how often the body was polled.
    pub fn polls(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.polls)
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        match self.chunks.pop_front() {
            Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            None if self.fail_at_end => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            )))),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.hint {
            Some(length) => SizeHint::with_exact(length),
            None => SizeHint::default(),
        }
    }
}

/// The custom scheme the tests use where every scheme is tried: base64 after `v2=`, signing
/// `{id}:{timestamp}:{body}` from its own three headers.
pub fn acme_scheme() -> tower_webhook::scheme::CustomScheme {
    acme_scheme_base()
        .signed_content("{id}:{timestamp}:{body}")
        .expect("a valid template")
}

/// The acme scheme before its signed content is set: its headers and encoding, for a test
/// that signs other content with them.
pub fn acme_scheme_base() -> tower_webhook::scheme::CustomScheme {
    use http::HeaderName;
    use tower_webhook::crypto::Encoding;
    use tower_webhook::scheme::CustomScheme;
    CustomScheme::new(HeaderName::from_static("x-acme-signature"))
        .named("acme")
        .signature_prefix("v2=")
        .encoding(Encoding::Base64)
        .timestamp_header(HeaderName::from_static("x-acme-timestamp"))
        .id_header(HeaderName::from_static("x-acme-delivery"))
}
