//! A verified request's call with a replay guard: check the id, call, forget on failure.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{Freshness, ReplayCheck, ReplayFuture};
use crate::error::VerifyError;

pin_project! {
    /// Asks the guard whether the id is new, calls the inner service if it is, and asks the
    /// guard to forget the id when the call fails (5xx or an error), so the sender's retry
    /// gets in. Resolves to the inner service's answer, or to the refusal to send instead.
    pub(crate) struct GuardedCall<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Checking {
            answer: ReplayFuture<Freshness>,
            pending: Option<(ReplayCheck, S, Req)>,
        },
        Calling {
            #[pin]
            future: S::Future,
            // The id the request was recorded under, when it was.
            recorded: Option<ReplayCheck>,
        },
        Forgetting {
            forget: ReplayFuture<()>,
            outcome: Option<Result<S::Response, S::Error>>,
        },
    }
}

impl<S, Req> GuardedCall<S, Req>
where
    S: Service<Req>,
{
    pub(crate) fn new(check: ReplayCheck, inner: S, request: Req) -> Self {
        let answer = check
            .protection
            .guard
            .check_and_record(check.key.clone(), check.ttl);
        Self {
            state: State::Checking {
                answer,
                pending: Some((check, inner, request)),
            },
        }
    }
}

impl<S, Req, ResBody> Future for GuardedCall<S, Req>
where
    S: Service<Req, Response = Response<ResBody>>,
{
    type Output = Result<Result<S::Response, VerifyError>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Checking { answer, pending } => {
                    let answer = ready!(answer.as_mut().poll(cx));
                    let (check, mut inner, request) =
                        pending.take().expect("polled after completion");
                    let recorded = match answer {
                        Ok(Freshness::Fresh) => Some(check),
                        Ok(Freshness::Seen) => {
                            let status = check.protection.status;
                            return Poll::Ready(Ok(Err(VerifyError::Replayed { status })));
                        }
                        Err(_error) if check.protection.fail_open => {
                            #[cfg(feature = "tracing")]
                            tracing::warn!(
                                target: "tower_webhook",
                                key = %check.key,
                                reason = %_error,
                                "replay guard failed; delivery let through unrecorded"
                            );
                            None
                        }
                        Err(source) => {
                            let error = VerifyError::ReplayGuardUnavailable { source };
                            return Poll::Ready(Ok(Err(error)));
                        }
                    };
                    let future = inner.call(request);
                    state.set(State::Calling { future, recorded });
                }
                StateProj::Calling { future, recorded } => {
                    let outcome = ready!(future.poll(cx));
                    let failed = match &outcome {
                        Ok(response) => response.status().is_server_error(),
                        Err(_) => true,
                    };
                    match recorded.take() {
                        Some(check) if failed => {
                            let forget = check.protection.guard.forget(check.key);
                            state.set(State::Forgetting {
                                forget,
                                outcome: Some(outcome),
                            });
                        }
                        _ => return Poll::Ready(outcome.map(Ok)),
                    }
                }
                StateProj::Forgetting { forget, outcome } => {
                    // Nothing better to do when forgetting fails: the record expires in time,
                    // and the handler's own answer is what the sender must see.
                    let _ = ready!(forget.as_mut().poll(cx));
                    let outcome = outcome.take().expect("polled after completion");
                    return Poll::Ready(outcome.map(Ok));
                }
            }
        }
    }
}
