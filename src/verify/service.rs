//! The service: starts each request's verification and hands verified requests on.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::body::{ResponseBody, VerifiedBody};
use super::future::ResponseFuture;
use super::verification::{Config, Head, Verification};
use crate::error::{BoxError, ConfigError};
use crate::scheme::Scheme;
use crate::secret::Secrets;

/// Verifies webhook signatures, then calls the inner service with the verified request.
///
/// Made by [`VerifySignatureLayer`](super::VerifySignatureLayer); see the [crate docs](crate) for an example.
///
/// The inner service receives `Request<VerifiedBody>` carrying a
/// [`Verified`](crate::Verified) extension. Refusals never reach it: they are answered here,
/// as `Response<ResponseBody<_>>`, and never turned into a service error.
#[derive(Clone)]
#[must_use]
pub struct VerifySignature<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> VerifySignature<S> {
    /// Wraps `inner` with a verifier for `scheme` and `secrets`; the same as
    /// [`VerifySignatureLayer`](super::VerifySignatureLayer) applied to `inner`.
    ///
    /// # Errors
    ///
    /// As [`VerifySignatureLayer::new`](super::VerifySignatureLayer::new).
    pub fn new(
        inner: S,
        scheme: impl Scheme,
        secrets: impl Into<Secrets>,
    ) -> Result<Self, ConfigError> {
        let config = Config::new(Arc::new(scheme), &secrets.into())?;
        Ok(Self::from_config(inner, Arc::new(config)))
    }

    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for VerifySignature<S>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        if config.answer_handshakes {
            let (method, uri, headers) = (request.method(), request.uri(), request.headers());
            if let Some(answer) = config.scheme.unsigned_handshake(method, uri, headers) {
                return ResponseFuture::refused(answer.map(Full::new));
            }
        }
        let size_hint = request.body().size_hint().exact();
        match Verification::begin(&self.config, Head::of(&request), size_hint) {
            Ok(verification) => {
                // The instance that `poll_ready` prepared is the one that must be called; keep
                // it for this request and leave a fresh clone behind for the next.
                // https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let (parts, body) = request.into_parts();
                ResponseFuture::verifying(verification, parts, body, inner)
            }
            // Refused on its headers: the inner service is not called, so the ready instance
            // (with whatever `poll_ready` reserved for it) stays for the next request and
            // nothing is cloned. In axum a clone of the wrapped route is an allocation, which a
            // flood of malformed or stale requests would otherwise pay for.
            Err(error) => ResponseFuture::refused(self.config.reject(error)),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for VerifySignature<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifySignature")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}
