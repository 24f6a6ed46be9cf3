//! The response future: reads and verifies the body, then runs the inner service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::{ResponseBody, VerifiedBody};
use crate::error::{BoxError, VerifyError};
use crate::replay::{Freshness, ReplayCheck, ReplayFuture, ReplayGuard};
use crate::verified::Verified;
use crate::verify::{Config, Verification};

/// How many body frames one poll reads before it yields. A body that is always ready (an
/// endless run of empty frames, say) would otherwise keep the task busy forever, and no timeout
/// around the layer could fire.
const FRAMES_PER_POLL: usize = 64;

pin_project! {
    /// Response future of [`VerifySignature`](crate::VerifySignature).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<VerifiedBody>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<VerifiedBody>>,
    {
        Refused {
            response: Option<Response<Full<Bytes>>>,
        },
        Reading {
            #[pin]
            body: B,
            pending: Option<Pending<S>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        // Verified; waiting for the replay guard to say whether the id is new.
        Guarding {
            check: ReplayFuture<Freshness>,
            // Boxed: only a layer with a replay guard gets here, and inline the request it
            // holds would make every request's future 300 bytes larger to move.
            pending: Option<Box<Guarded<S>>>,
        },
        // As `Calling`, for a request whose id was recorded: forgotten again if it fails.
        CallingRecorded {
            #[pin]
            future: S::Future,
            recorded: Option<Recorded>,
        },
        // The handler failed; the guard is dropping the id so the sender's retry gets in.
        Forgetting {
            forget: ReplayFuture<()>,
            outcome: Option<Result<S::Response, S::Error>>,
        },
    }
}

/// A verified request waiting for the replay guard.
struct Guarded<S> {
    request: Request<VerifiedBody>,
    verified: Verified,
    inner: S,
    recorded: Recorded,
    config: Arc<Config>,
}

/// The id a request was recorded under.
struct Recorded {
    guard: Arc<dyn ReplayGuard>,
    key: String,
}

/// What a request in the reading state carries besides its body.
///
/// The request to hand on is put together when the headers pass, with an empty body in place
/// of the one being read: assembling it from its head at the end copied the head twice more.
/// It must reach the inner service only through [`hand_on`], which gives it its verified body
/// and the proof. (A wrapper type whose only way out is `hand_on` cost one more copy of the
/// request; the tests that check the body and the proof in every path, with and without a
/// replay guard, stand guard instead.)
struct Pending<S> {
    verification: Verification,
    request: Request<VerifiedBody>,
    inner: S,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<VerifiedBody>>,
{
    pub(crate) fn refused(response: Response<Full<Bytes>>) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }

    pub(crate) fn verifying(verification: Verification, parts: Parts, body: B, inner: S) -> Self {
        Self {
            state: State::Reading {
                body,
                pending: Some(Pending {
                    verification,
                    request: Request::from_parts(parts, VerifiedBody::default()),
                    inner,
                }),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let mut frames = 0;
        loop {
            match state.as_mut().project() {
                StateProj::Refused { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::refusal)));
                }
                StateProj::Reading { mut body, pending } => {
                    if frames == FRAMES_PER_POLL {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    frames += 1;
                    let verification = &mut pending
                        .as_mut()
                        .expect("polled after completion")
                        .verification;
                    let outcome = match ready!(body.as_mut().poll_frame(cx)) {
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(data) => match verification.update(data) {
                                Ok(()) => continue,
                                Err(error) => Err(error),
                            },
                            // Trailers are not signed by any scheme; they are dropped.
                            Err(_trailers) => continue,
                        },
                        Some(Err(error)) => Err(VerifyError::body_read(
                            error,
                            verification.config().max_body_size,
                        )),
                        None => Ok(()),
                    };
                    let Pending {
                        verification,
                        mut request,
                        mut inner,
                    } = pending.take().expect("polled after completion");
                    let (config, verified) = match outcome {
                        Ok(()) => verification.finish(),
                        Err(error) => (verification.into_config(), Err(error)),
                    };
                    let check = verified.as_ref().ok().and_then(|verified| {
                        config
                            .replay
                            .check(verified, config.tolerance_seconds, &*config.clock)
                    });
                    match (verified, check) {
                        (Ok(verified), Some(ReplayCheck { guard, key, ttl })) => {
                            state.set(State::Guarding {
                                check: guard.check_and_record(key.clone(), ttl),
                                pending: Some(Box::new(Guarded {
                                    request,
                                    verified,
                                    inner,
                                    recorded: Recorded { guard, key },
                                    config,
                                })),
                            });
                        }
                        (Ok(verified), None) => {
                            hand_on(&mut request, verified);
                            let future = inner.call(request);
                            state.set(State::Calling { future });
                        }
                        (Err(error), _) => {
                            state.set(State::Refused {
                                response: Some(config.reject(error)),
                            });
                        }
                    }
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Guarding { check, pending } => {
                    let answer = ready!(check.as_mut().poll(cx));
                    let Guarded {
                        mut request,
                        verified,
                        mut inner,
                        recorded,
                        config,
                    } = *pending.take().expect("polled after completion");
                    let recorded = match answer {
                        Ok(Freshness::Fresh) => Some(recorded),
                        Ok(Freshness::Seen) => {
                            let error = VerifyError::Replayed {
                                status: config.replay.status,
                            };
                            state.set(State::Refused {
                                response: Some(config.reject(error)),
                            });
                            continue;
                        }
                        Err(_error) if config.replay.fail_open => {
                            #[cfg(feature = "tracing")]
                            tracing::warn!(
                                target: "tower_webhook",
                                scheme = verified.scheme(),
                                reason = %_error,
                                "replay guard failed; delivery let through unrecorded"
                            );
                            None
                        }
                        Err(source) => {
                            let error = VerifyError::ReplayGuardUnavailable { source };
                            state.set(State::Refused {
                                response: Some(config.reject(error)),
                            });
                            continue;
                        }
                    };
                    hand_on(&mut request, verified);
                    let future = inner.call(request);
                    state.set(State::CallingRecorded { future, recorded });
                }
                StateProj::CallingRecorded { future, recorded } => {
                    let outcome = ready!(future.poll(cx));
                    let failed = match &outcome {
                        Ok(response) => response.status().is_server_error(),
                        Err(_) => true,
                    };
                    match recorded.take() {
                        Some(Recorded { guard, key }) if failed => {
                            state.set(State::Forgetting {
                                forget: guard.forget(key),
                                outcome: Some(outcome),
                            });
                        }
                        _ => return Poll::Ready(outcome.map(|r| r.map(ResponseBody::inner))),
                    }
                }
                StateProj::Forgetting { forget, outcome } => {
                    // Nothing better to do when forgetting fails: the record expires in time,
                    // and the handler's own answer is what the sender must see.
                    let _ = ready!(forget.as_mut().poll(cx));
                    let outcome = outcome.take().expect("polled after completion");
                    return Poll::Ready(outcome.map(|r| r.map(ResponseBody::inner)));
                }
            }
        }
    }
}

/// Makes the request what the inner service sees: the verified bytes as its body, and the
/// proof in its extensions. In place: the request is 256 bytes, and each move copies them.
fn hand_on(request: &mut Request<VerifiedBody>, verified: Verified) {
    *request.body_mut() = VerifiedBody::new(verified.body().clone());
    request.extensions_mut().insert(verified);
}
