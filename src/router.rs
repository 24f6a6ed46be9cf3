//! Dispatch verified webhooks by event type: `issues.opened` to one handler, `order.*` to
//! another, everything else to a fallback.
//!
//! [`EventRouter`] is a tower [`Service`] that reads [`Verified::event_type`] and calls the
//! handler of the most specific [`Pattern`] that matches: an exact match first, then the
//! pattern with the longer literal prefix, then the one with fewer wildcards (the bare `*`
//! last); registration order breaks ties. Deliveries nothing matches (or with no event type)
//! go to the fallback, which by default answers `200 ignored`, since providers retry errors.
//!
//! Mount it behind [`VerifySignatureLayer`](crate::VerifySignatureLayer), e.g. in an axum
//! `Router` with `route_service`. Without the layer in front every request answers 500.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # mod example {
//! use axum::Router;
//! use bytes::Bytes;
//! use http::{Request, StatusCode};
//! use http_body_util::BodyExt;
//! use serde::Deserialize;
//! use tower::ServiceExt;
//! use tower_webhook::scheme::{GitHub, Message, Scheme};
//! use tower_webhook::{EventRouter, Secret, VerifySignatureLayer, WebhookEvent};
//!
//! #[derive(Deserialize)]
//! struct Issue {
//!     issue: IssueFields,
//! }
//! #[derive(Deserialize)]
//! struct IssueFields {
//!     number: u64,
//! }
//!
//! async fn issue_opened(event: WebhookEvent<Issue>) -> String {
//!     format!("issue #{} opened", event.payload.issue.number)
//! }
//!
//! async fn anything_else(event: WebhookEvent<serde_json::Value>) -> String {
//!     format!("got {}", event.event_type.unwrap_or_default())
//! }
//!
//! pub async fn run() -> Result<(), tower::BoxError> {
//!     let events = EventRouter::new()
//!         .on("issues.opened", issue_opened)
//!         .on("*", anything_else);
//!     let app = Router::new()
//!         .route_service("/github", events)
//!         .layer(VerifySignatureLayer::new(GitHub, ["secret"])?);
//!
//!     let body = br#"{"action":"opened","issue":{"number":7}}"#;
//!     let message = Message::new(body).event_type("issues");
//!     let mut request = Request::post("/github").body(axum::body::Body::from(&body[..]))?;
//!     request.headers_mut().extend(GitHub.sign(&Secret::new("secret"), &message)?);
//!
//!     let response = app.oneshot(request).await?;
//!     assert_eq!(response.status(), StatusCode::OK);
//!     let text = response.into_body().collect().await?.to_bytes();
//!     assert_eq!(text, Bytes::from("issue #7 opened"));
//!     Ok(())
//! }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! # #[cfg(feature = "axum")]
//! # example::run().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Handlers (`on`, `fallback`) need the `axum` feature; any tower service that answers
//! with something [`IntoResponse`] works without it (`on_service`, `fallback_service`).

use std::cmp::Ordering;
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Request, StatusCode};
use tower_service::Service;

use crate::error::BoxError;
use crate::pattern::{Pattern, more_specific};
use crate::rejection::MissingVerified;
use crate::verified::Verified;

/// Dispatches verified webhooks to handlers by event type.
///
/// See the [module docs](crate::router) for an example and the matching rules.
#[derive(Clone)]
#[must_use]
pub struct EventRouter {
    routes: Arc<Vec<(Pattern, Route)>>,
    fallback: Route,
}

type Route = Arc<dyn ErasedRoute>;

impl EventRouter {
    /// A router with no routes, whose fallback answers `200 ignored`.
    pub fn new() -> Self {
        Self {
            routes: Arc::new(Vec::new()),
            fallback: Arc::new(ServiceRoute(Ignored)),
        }
    }

    /// Sends event types matching `pattern` to `service`, a tower service such as an axum
    /// `Router` or `HandlerService` (a handler with state: `handler.with_state(state)`).
    ///
    /// # Panics
    ///
    /// When `pattern` is not a valid [`Pattern`], with the [`PatternError`](crate::PatternError)'s message, as
    /// axum's `Router::route` panics on a bad path: routes are written in code, and a typo
    /// should stop the program at start-up. Check patterns that come from configuration with
    /// [`Pattern::new`] first.
    #[track_caller]
    pub fn on_service<S>(mut self, pattern: &str, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        // A `match`, not a closure: `#[track_caller]` does not reach into closures.
        let pattern = match Pattern::new(pattern) {
            Ok(pattern) => pattern,
            Err(error) => panic!("{error}"),
        };
        Arc::make_mut(&mut self.routes).push((pattern, Arc::new(ServiceRoute(service))));
        self
    }

    /// Sends deliveries no pattern matches, and those without an event type, to `service`.
    pub fn fallback_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.fallback = Arc::new(ServiceRoute(service));
        self
    }

    /// The pattern whose route would handle `event_type`, or `None` for the fallback.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use tower::service_fn;
    /// use tower_webhook::EventRouter;
    ///
    /// let ok = service_fn(|_| async { Ok::<_, Infallible>("ok") });
    /// let router = EventRouter::new()
    ///     .on_service("*", ok)
    ///     .on_service("order", ok)
    ///     .on_service("order.*", ok)
    ///     .on_service("order.completed", ok);
    /// let chosen = |event: &str| router.pattern_for(event).map(|p| p.as_str().to_owned());
    /// assert_eq!(chosen("order.completed").as_deref(), Some("order.completed"));
    /// assert_eq!(chosen("order.item.added").as_deref(), Some("order"));
    /// assert_eq!(chosen("user.created").as_deref(), Some("*"));
    /// ```
    pub fn pattern_for(&self, event_type: &str) -> Option<&Pattern> {
        self.entry_for(event_type).map(|(pattern, _)| pattern)
    }

    fn entry_for(&self, event_type: &str) -> Option<&(Pattern, Route)> {
        let mut best: Option<&(Pattern, Route)> = None;
        for entry in self.routes.iter() {
            if !entry.0.matches(event_type) {
                continue;
            }
            match best {
                // Only a strictly more specific pattern displaces an earlier registration.
                Some(chosen)
                    if more_specific(&entry.0, &chosen.0, event_type) != Ordering::Greater => {}
                _ => best = Some(entry),
            }
        }
        best
    }

    fn route_for(&self, event_type: Option<&str>) -> &Route {
        match event_type.and_then(|event_type| self.entry_for(event_type)) {
            Some((_, route)) => route,
            None => &self.fallback,
        }
    }
}

#[cfg(feature = "axum")]
impl EventRouter {
    /// Sends event types matching `pattern` to an axum handler, whose extractors can be
    /// [`WebhookEvent<T>`](crate::WebhookEvent), [`Verified`], headers and the rest.
    ///
    /// For a handler that needs state, use [`on_service`](Self::on_service) with
    /// `handler.with_state(state)`.
    ///
    /// # Panics
    ///
    /// When `pattern` is not a valid [`Pattern`]; see [`on_service`](Self::on_service).
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    #[track_caller]
    pub fn on<H, T>(self, pattern: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, ()>,
        T: 'static,
    {
        self.on_service(pattern, axum::handler::Handler::with_state(handler, ()))
    }

    /// Sends deliveries no pattern matches, and those without an event type, to an axum
    /// handler.
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn fallback<H, T>(self, handler: H) -> Self
    where
        H: axum::handler::Handler<T, ()>,
        T: 'static,
    {
        self.fallback_service(axum::handler::Handler::with_state(handler, ()))
    }
}

impl Default for EventRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EventRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRouter")
            .field(
                "patterns",
                &self.routes.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for EventRouter
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EventRouterFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request = request.map(Body::new);
        let inner = match request.extensions().get::<Verified>() {
            Some(verified) => self.route_for(verified.event_type()).call(request),
            None => Box::pin(std::future::ready(MissingVerified.into_response())),
        };
        EventRouterFuture { inner }
    }
}

/// The response future of [`EventRouter`].
#[must_use = "futures do nothing unless polled"]
pub struct EventRouterFuture {
    inner: BoxFuture,
}

impl Future for EventRouterFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}

impl fmt::Debug for EventRouterFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRouterFuture").finish_non_exhaustive()
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A registered service with its type erased, so routes of different types share a list.
trait ErasedRoute: Send + Sync {
    fn call(&self, request: Request<Body>) -> BoxFuture;
}

struct ServiceRoute<S>(S);

impl<S> ErasedRoute for ServiceRoute<S>
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    fn call(&self, request: Request<Body>) -> BoxFuture {
        // A clone per request, made ready before it is called, as `ServiceExt::oneshot` does.
        let mut service = self.0.clone();
        Box::pin(async move {
            let Ok(()) = poll_fn(|cx| service.poll_ready(cx)).await;
            let Ok(response) = service.call(request).await;
            response.into_response()
        })
    }
}

/// The default fallback: `200 ignored`, so the provider does not retry an event nobody handles.
#[derive(Clone, Copy)]
struct Ignored;

impl Service<Request<Body>> for Ignored {
    type Response = (StatusCode, &'static str);
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Body>) -> Self::Future {
        std::future::ready(Ok((StatusCode::OK, "ignored")))
    }
}
