//! Why an outgoing request could not be signed.

use std::sync::Arc;

use crate::error::{BoxError, SignError};

/// Why [`SignRequest`](super::SignRequest) could not sign a request; it comes back as the
/// service's error (boxed), and the inner service is not called.
///
/// None of these get better by trying again, so the [delivery policy](crate::deliver) never
/// retries them.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SignRequestError {
    /// The body is larger than the layer's limit.
    #[error("request body is larger than the {limit} byte signing limit")]
    BodyTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The body failed while it was being read.
    #[error("failed to read the request body: {source}")]
    BodyRead {
        /// What the body reported.
        source: Arc<BoxError>,
    },
    /// The scheme could not sign the message (e.g. a header value it cannot carry).
    #[error("could not sign the request: {0}")]
    Sign(#[from] SignError),
    /// The operating system's random source failed, so no delivery id could be made.
    #[error("the operating system's random source is unavailable")]
    RandomnessUnavailable,
}

impl SignRequestError {
    pub(crate) fn body_read(error: BoxError, limit: usize) -> Self {
        match error.downcast::<http_body_util::LengthLimitError>() {
            Ok(_) => Self::BodyTooLarge { limit },
            Err(error) => Self::BodyRead {
                source: Arc::new(error),
            },
        }
    }
}
