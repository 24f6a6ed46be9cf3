//! Why an extractor refused a request: each refusal is a type with a status and a plain reason.

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

/// A rejection type in the shape of axum-core's: `status()`, `body_text()`, `IntoResponse`,
/// `Display` and `Error`, marked `#[non_exhaustive]`. Written here rather than imported, since
/// axum-core's own macros are private API.
macro_rules! define_rejection {
    // What every rejection shares: the response and the `Display`, both from `body_text()`.
    (@respond $name:ident) => {
        impl IntoResponse for $name {
            fn into_response(self) -> Response {
                #[cfg(feature = "tracing")]
                tracing::trace!(
                    target: "tower_webhook::rejection",
                    status = self.status().as_u16(),
                    reason = %self.body_text(),
                    "rejecting request"
                );
                (self.status(), self.body_text()).into_response()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.body_text())
            }
        }
    };

    (
        #[status = $status:ident]
        #[body = $body:literal]
        $(#[$meta:meta])*
        pub struct $name:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        #[non_exhaustive]
        pub struct $name;

        impl $name {
            /// The reason, as sent in the response body.
            pub fn body_text(&self) -> String {
                $body.to_owned()
            }

            /// The status the response has.
            pub fn status(&self) -> StatusCode {
                StatusCode::$status
            }
        }

        define_rejection!(@respond $name);

        impl std::error::Error for $name {}
    };

    (
        #[status = $status:ident]
        #[body = $body:literal]
        $(#[$meta:meta])*
        pub struct $name:ident (serde_json::Error);
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub struct $name(serde_json::Error);

        impl $name {
            pub(crate) fn from_err(error: serde_json::Error) -> Self {
                Self(error)
            }

            /// The reason, as sent in the response body: ours, then serde's.
            pub fn body_text(&self) -> String {
                format!(concat!($body, ": {}"), self.0)
            }

            /// The status the response has.
            pub fn status(&self) -> StatusCode {
                StatusCode::$status
            }
        }

        define_rejection!(@respond $name);

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
    };
}

/// An enum of rejections, in the shape of axum-core's composite rejections: one variant and
/// one `From` per rejection, `#[non_exhaustive]`.
macro_rules! composite_rejection {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($variant:ident),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum $name {
            $(
                #[doc = concat!("See [`", stringify!($variant), "`].")]
                $variant($variant),
            )+
        }

        impl $name {
            /// The reason, as sent in the response body.
            pub fn body_text(&self) -> String {
                match self {
                    $(Self::$variant(inner) => inner.body_text(),)+
                }
            }

            /// The status the response has.
            pub fn status(&self) -> StatusCode {
                match self {
                    $(Self::$variant(inner) => inner.status(),)+
                }
            }
        }

        impl IntoResponse for $name {
            fn into_response(self) -> Response {
                match self {
                    $(Self::$variant(inner) => inner.into_response(),)+
                }
            }
        }

        $(
            impl From<$variant> for $name {
                fn from(inner: $variant) -> Self {
                    Self::$variant(inner)
                }
            }
        )+

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Self::$variant(inner) => write!(f, "{inner}"),)+
                }
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $(Self::$variant(inner) => inner.source(),)+
                }
            }
        }
    };
}

define_rejection! {
    #[status = INTERNAL_SERVER_ERROR]
    #[body = "No `Verified` extension on the request: is `VerifySignatureLayer` in front of this handler?"]
    /// The request carries no [`Verified`](crate::Verified): no
    /// [`VerifySignatureLayer`](crate::VerifySignatureLayer) is in front of the handler.
    ///
    /// That is a server misconfiguration, so it answers 500 (as axum's `MissingExtension`
    /// does), and the handler never treats the request as verified.
    pub struct MissingVerified;
}

define_rejection! {
    #[status = BAD_REQUEST]
    #[body = "Failed to parse the webhook payload as JSON"]
    /// The verified payload is not valid JSON (400).
    pub struct PayloadSyntaxError(serde_json::Error);
}

define_rejection! {
    #[status = UNPROCESSABLE_ENTITY]
    #[body = "Failed to deserialize the webhook payload"]
    /// The verified payload is JSON, but not of the shape the handler asked for (422).
    pub struct PayloadDataError(serde_json::Error);
}

composite_rejection! {
    /// Why [`WebhookEvent<T>`](crate::WebhookEvent) refused a request.
    ///
    /// # Example
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_webhook::rejection::{MissingVerified, WebhookEventRejection};
    ///
    /// let rejection = WebhookEventRejection::from(MissingVerified::default());
    /// assert_eq!(rejection.status(), StatusCode::INTERNAL_SERVER_ERROR);
    /// assert!(rejection.body_text().contains("VerifySignatureLayer"));
    /// ```
    pub enum WebhookEventRejection {
        MissingVerified,
        PayloadSyntaxError,
        PayloadDataError,
    }
}

impl WebhookEventRejection {
    /// Sorts a serde error into a syntax error (400) or a wrong shape (422).
    pub(crate) fn from_json(error: serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => PayloadDataError::from_err(error).into(),
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => PayloadSyntaxError::from_err(error).into(),
        }
    }
}
