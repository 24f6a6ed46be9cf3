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

use super::body::{ResponseBody, VerifiedBody};
use super::verification::{Config, Verification};
use crate::error::{BoxError, VerifyError};
use crate::replay::GuardedCall;
use crate::scheme::Probe;
use crate::verified::Verified;

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
        // Verified, with a replay guard: it checks the id, calls, and forgets on failure.
        Guarded {
            #[pin]
            call: GuardedCall<S, Request<VerifiedBody>>,
            config: Arc<Config>,
        },
    }
}

/// What a request being read carries besides its body: its head, kept apart until
/// [`verified_request`] joins it to the verified bytes and the proof.
struct Pending<S> {
    verification: Verification,
    parts: Parts,
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
                    parts,
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
                        parts,
                        mut inner,
                    } = pending.take().expect("polled after completion");
                    let (config, verified) = match outcome {
                        Ok(()) => verification.finish(),
                        Err(error) => (verification.into_config(), Err(error)),
                    };
                    let verified = match verified {
                        Ok(verified) => verified,
                        Err(error) => {
                            let response = config.reject(error);
                            state.set(State::Refused {
                                response: Some(response),
                            });
                            continue;
                        }
                    };
                    // A provider checking the endpoint is answered here, once its request has
                    // verified; the inner service never sees it (nor the replay guard, since
                    // providers repeat their checks).
                    if let Some(answer) = handshake(&config, &parts, &verified) {
                        state.set(State::Refused {
                            response: Some(answer.map(Full::new)),
                        });
                        continue;
                    }
                    // In whole seconds, as timestamps are kept; the guard's margin covers the
                    // fraction a millisecond timestamp loses.
                    let max_age = config.tolerance.max_age();
                    let lifetime = max_age
                        .as_secs()
                        .saturating_add(u64::from(max_age.subsec_nanos() > 0));
                    let check = config.replay.as_ref().and_then(|protection| {
                        protection.check(&verified, lifetime, &*config.clock)
                    });
                    let request = verified_request(parts, verified);
                    match check {
                        Some(check) => {
                            let call = GuardedCall::new(check, inner, request);
                            state.set(State::Guarded { call, config });
                        }
                        None => {
                            let future = inner.call(request);
                            state.set(State::Calling { future });
                        }
                    }
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Guarded { call, config } => {
                    return Poll::Ready(match ready!(call.poll(cx))? {
                        Ok(response) => Ok(response.map(ResponseBody::inner)),
                        Err(error) => Ok(config.reject(error).map(ResponseBody::refusal)),
                    });
                }
            }
        }
    }
}

/// The scheme's answer to a provider's endpoint check, if the layer answers them and this
/// verified request is one.
fn handshake(config: &Config, parts: &Parts, verified: &Verified) -> Option<Response<Bytes>> {
    if !config.answer_handshakes {
        return None;
    }
    let key = config.keyring.get(verified.key_index())?;
    let probe = Probe::new(&parts.headers, verified.body(), key);
    config.scheme.handshake(&probe)
}

/// The request the inner service sees: the verified bytes as its body, the proof in its
/// extensions. The only way to make one, and it takes a [`Verified`], which only a finished
/// verification gives.
fn verified_request(parts: Parts, verified: Verified) -> Request<VerifiedBody> {
    let mut request = Request::from_parts(parts, VerifiedBody::new(verified.body().clone()));
    request.extensions_mut().insert(verified);
    request
}
