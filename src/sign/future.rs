//! The response future: buffering the body, then waiting for the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Request;
use http::request::Parts;
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{Full, Limited};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::error::SignRequestError;
use super::layer::SignConfig;
use crate::error::BoxError;

pin_project! {
    /// The future of [`SignRequest`](super::SignRequest).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        Buffering {
            #[pin]
            body: Collect<Limited<B>>,
            parts: Option<Parts>,
            inner: Option<S>,
            config: Arc<SignConfig>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Failed {
            error: Option<SignRequestError>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(super) fn buffering(
        config: Arc<SignConfig>,
        parts: Parts,
        body: Collect<Limited<B>>,
        inner: S,
    ) -> Self {
        Self {
            state: State::Buffering {
                body,
                parts: Some(parts),
                inner: Some(inner),
                config,
            },
        }
    }

    pub(super) fn failed(error: SignRequestError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Buffering {
                    body,
                    parts,
                    inner,
                    config,
                } => {
                    let limit = config.max_body_size;
                    let bytes = match ready!(body.poll(cx)) {
                        Ok(collected) => collected.to_bytes(),
                        Err(error) => {
                            return Poll::Ready(Err(
                                SignRequestError::body_read(error, limit).into()
                            ));
                        }
                    };
                    let (Some(mut parts), Some(mut inner)) = (parts.take(), inner.take()) else {
                        return Poll::Ready(Err("polled after completion".into()));
                    };
                    if let Err(error) = config.sign(&mut parts, &bytes) {
                        return Poll::Ready(Err(error.into()));
                    }
                    let future = inner.call(Request::from_parts(parts, Full::new(bytes)));
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
                StateProj::Failed { error } => {
                    let error: BoxError = match error.take() {
                        Some(error) => error.into(),
                        None => "polled after completion".into(),
                    };
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
