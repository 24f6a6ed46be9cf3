//! What happened to a delivery: each attempt, and the outcome.

use std::fmt;
use std::time::Duration;

use http::{Response, StatusCode};

use crate::error::BoxError;
use crate::sign::DeliveryId;

/// One attempt of a delivery, as passed to
/// [`DeliveryPolicy::on_attempt`](super::DeliveryPolicy::on_attempt).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Attempt {
    /// Which attempt this was, from 1.
    pub number: u32,
    /// The receiver's status, when it answered.
    pub status: Option<StatusCode>,
    /// Why there was no answer (connection error, timeout…), when there was none.
    pub error: Option<String>,
    /// How long until the next attempt; `None` when this was the last.
    pub retry_in: Option<Duration>,
}

/// The outcome of a delivery through [`Deliver`](super::Deliver).
///
/// On a response, it is in the response's extensions; on an error, in [`DeliveryFailed`].
/// [`DeliveryReport::of`] finds it in either.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The [`DeliveryId`] the attempts were signed with (unless the request came with its own
    /// id header, which the signing layer keeps instead).
    pub id: DeliveryId,
    /// The last attempt's status, if the receiver answered it.
    pub status: Option<StatusCode>,
    /// How many attempts were made.
    pub attempts: u32,
    /// From the first attempt to the outcome, waits included.
    pub elapsed: Duration,
    /// The most recent error of any attempt (connection error, timeout…).
    pub last_error: Option<String>,
}

impl DeliveryReport {
    /// Whether the receiver accepted the delivery (a 2xx status).
    pub fn is_delivered(&self) -> bool {
        self.status.is_some_and(|status| status.is_success())
    }

    /// The report of a delivery's result, from the response or from the error.
    pub fn of<B>(result: &Result<Response<B>, BoxError>) -> Option<&Self> {
        match result {
            Ok(response) => response.extensions().get::<Self>(),
            Err(error) => error
                .downcast_ref::<DeliveryFailed>()
                .map(DeliveryFailed::report),
        }
    }
}

/// A delivery that got no answer on its last attempt, with its report.
#[derive(Debug)]
pub struct DeliveryFailed {
    report: DeliveryReport,
    source: BoxError,
}

impl DeliveryFailed {
    pub(crate) fn new(report: DeliveryReport, source: BoxError) -> Self {
        Self { report, source }
    }

    /// What happened.
    pub fn report(&self) -> &DeliveryReport {
        &self.report
    }
}

impl fmt::Display for DeliveryFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = self.report.attempts;
        write!(
            f,
            "delivery {} failed after {attempts} attempt{}: {}",
            self.report.id,
            if attempts == 1 { "" } else { "s" },
            error_chain(&*self.source)
        )
    }
}

impl std::error::Error for DeliveryFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// An error and its sources, joined with `: `, as clients' top-level messages
/// ("client error (Connect)") say little alone.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(error) = source {
        let next = error.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = error.source();
    }
    text
}
