//! The service: one delivery per request, as many attempts as the policy allows.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::retry::Retry;
use tower::retry::future::ResponseFuture as RetryFuture;
use tower::timeout::Timeout;
use tower_service::Service;

use super::future::ResponseFuture;
use super::policy::{DeliveryPolicy, Record};
use crate::error::BoxError;
use crate::sign::DeliveryId;

/// Delivers requests with retries; made by [`DeliverLayer`](super::DeliverLayer).
///
/// Its response carries a [`DeliveryReport`](super::DeliveryReport) in its extensions
/// (whatever the status: check [`is_delivered`](super::DeliveryReport::is_delivered)); when
/// the last attempt got no response at all, the error is a
/// [`DeliveryFailed`](super::DeliveryFailed) with the report.
#[derive(Debug, Clone)]
#[must_use]
pub struct Deliver<S> {
    inner: Timeout<S>,
    policy: DeliveryPolicy,
}

impl<S> Deliver<S> {
    pub(crate) fn from_parts(inner: Timeout<S>, policy: DeliveryPolicy) -> Self {
        Self { inner, policy }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S, B, ResBody> Service<Request<B>> for Deliver<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    B: Clone,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<RetryFuture<DeliveryPolicy, Timeout<S>, Request<B>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);

        // Fixed before the first attempt, so that every attempt carries the same id.
        let id = match request.extensions().get::<DeliveryId>() {
            Some(id) => id.clone(),
            None => match DeliveryId::generate() {
                Ok(id) => {
                    request.extensions_mut().insert(id.clone());
                    id
                }
                Err(error) => return ResponseFuture::failed(error.into()),
            },
        };
        let record = Arc::new(Mutex::new(Record::default()));
        let started = Instant::now();
        // `inner` is the instance `poll_ready` prepared; `Retry` calls it at once and polls
        // its own clones for readiness before later attempts.
        let mut retry = Retry::new(self.policy.recording(Arc::clone(&record)), inner);
        ResponseFuture::running(retry.call(request), record, id, started)
    }
}
