//! The service: buffers each request's body, then signs and sends it on.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower_service::Service;

use super::error::SignRequestError;
use super::future::ResponseFuture;
use super::layer::{SignConfig, SignRequestLayer};
use crate::error::{BoxError, ConfigError};
use crate::scheme::Scheme;
use crate::secret::Secrets;

/// Signs each outgoing request, then calls the inner client with `Request<Full<Bytes>>`.
///
/// Made by [`SignRequestLayer`]; see the [module docs](crate::sign) for an example. Its error
/// is a [`BoxError`]: a [`SignRequestError`] when signing failed (the client was not called),
/// otherwise the client's own error.
#[derive(Clone)]
#[must_use]
pub struct SignRequest<S> {
    inner: S,
    config: Arc<SignConfig>,
}

impl<S> SignRequest<S> {
    /// Wraps `inner` with a signer for `scheme` and the first of `secrets`.
    ///
    /// # Errors
    ///
    /// As [`SignRequestLayer::new`].
    pub fn new(
        inner: S,
        scheme: impl Scheme,
        secrets: impl Into<Secrets>,
    ) -> Result<Self, ConfigError> {
        Ok(tower_layer::Layer::layer(
            &SignRequestLayer::new(scheme, secrets)?,
            inner,
        ))
    }

    /// The layer, for use with `ServiceBuilder`.
    ///
    /// # Errors
    ///
    /// As [`SignRequestLayer::new`].
    pub fn layer(
        scheme: impl Scheme,
        secrets: impl Into<Secrets>,
    ) -> Result<SignRequestLayer, ConfigError> {
        SignRequestLayer::new(scheme, secrets)
    }

    pub(crate) fn from_config(inner: S, config: Arc<SignConfig>) -> Self {
        Self { inner, config }
    }

    define_inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for SignRequest<S>
where
    S: Service<Request<Full<Bytes>>> + Clone,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Call the instance `poll_ready` prepared; leave a fresh clone behind for the next.
        // https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);

        let limit = self.config.max_body_size;
        let (parts, body) = request.into_parts();
        if body.size_hint().lower() > limit as u64 {
            return ResponseFuture::failed(SignRequestError::BodyTooLarge { limit });
        }
        let body = Limited::new(body, limit).collect();
        ResponseFuture::buffering(Arc::clone(&self.config), parts, body, inner)
    }
}

impl<S: fmt::Debug> fmt::Debug for SignRequest<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignRequest")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}
