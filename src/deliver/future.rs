//! The response future: the retrying, then the report.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;

use super::policy::Record;
use super::report::{DeliveryFailed, DeliveryReport};
use crate::error::BoxError;
use crate::sign::DeliveryId;

pin_project! {
    /// The future of [`Deliver`](super::Deliver), around the retrying future `F`.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running {
            #[pin]
            future: F,
            record: Arc<Mutex<Record>>,
            id: DeliveryId,
            started: Instant,
        },
        Failed {
            error: Option<BoxError>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn running(
        future: F,
        record: Arc<Mutex<Record>>,
        id: DeliveryId,
        started: Instant,
    ) -> Self {
        Self {
            state: State::Running {
                future,
                record,
                id,
                started,
            },
        }
    }

    pub(super) fn failed(error: BoxError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<F, ResBody> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, BoxError>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running {
                future,
                record,
                id,
                started,
            } => {
                let result = ready!(future.poll(cx));
                let record = record.lock().unwrap_or_else(PoisonError::into_inner);
                let report = DeliveryReport {
                    id: id.clone(),
                    status: record.status,
                    attempts: record.attempts,
                    elapsed: started.elapsed(),
                    last_error: record.last_error.clone(),
                };
                Poll::Ready(match result {
                    Ok(mut response) => {
                        response.extensions_mut().insert(report);
                        Ok(response)
                    }
                    Err(error) => Err(DeliveryFailed::new(report, error).into()),
                })
            }
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "polled after completion".into()))),
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
