//! What the layer tells the inner service about a request it let through.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderValue;

use crate::scheme::{EventInfo, Part, Scheme};

/// Proof that a request passed [`VerifySignatureLayer`](crate::VerifySignatureLayer), inserted
/// into the request's extensions: which scheme and key verified it, its id and timestamp, and
/// the exact body bytes.
///
/// Cloning is cheap (one reference count).
///
/// # Example
///
/// ```
/// use http::Request;
/// use tower_webhook::Verified;
///
/// fn describe<B>(request: &Request<B>) -> String {
///     match request.extensions().get::<Verified>() {
///         Some(verified) => format!(
///             "{} webhook, {} bytes, key #{}",
///             verified.scheme(),
///             verified.body().len(),
///             verified.key_index() + 1
///         ),
///         None => "not verified".to_owned(),
///     }
/// }
/// assert_eq!(describe(&Request::new(())), "not verified");
/// ```
#[derive(Clone)]
pub struct Verified {
    proof: Arc<Proof>,
}

/// What a verified delivery carries; built once, when its signature has matched.
struct Proof {
    scheme: Arc<dyn Scheme>,
    key_index: usize,
    key_name: Option<Arc<str>>,
    id: Option<Box<str>>,
    timestamp: Option<i64>,
    /// The scheme's event header, kept for [`Scheme::event`]; nothing is parsed before that.
    event_header: Option<HeaderValue>,
    body: Bytes,
    event: OnceLock<EventInfo>,
}

/// What a delivery claimed in its headers, kept while its body is verified.
#[derive(Debug)]
pub(crate) struct Claims {
    pub(crate) id: Option<Box<str>>,
    pub(crate) timestamp: Option<i64>,
    pub(crate) event_header: Option<HeaderValue>,
}

impl Verified {
    /// The proof for a delivery whose signature matched the key at `key_index`.
    pub(crate) fn new(
        scheme: Arc<dyn Scheme>,
        claims: Claims,
        key_index: usize,
        key_name: Option<Arc<str>>,
        body: Bytes,
        event: Option<EventInfo>,
    ) -> Self {
        Self {
            proof: Arc::new(Proof {
                scheme,
                key_index,
                key_name,
                id: claims.id,
                timestamp: claims.timestamp,
                event_header: claims.event_header,
                body,
                event: event.map_or_else(OnceLock::new, OnceLock::from),
            }),
        }
    }

    /// The scheme's name, e.g. `"github"`.
    pub fn scheme(&self) -> &str {
        self.proof.scheme.name()
    }

    /// The position (from 0) of the key that matched, in the order the keys were given.
    pub fn key_index(&self) -> usize {
        self.proof.key_index
    }

    /// The name of the key that matched, if it was given one.
    pub fn key_name(&self) -> Option<&str> {
        self.proof.key_name.as_deref()
    }

    /// The delivery id: from the scheme's id header when it has one (GitHub's
    /// `X-GitHub-Delivery`, `webhook-id`…), else from the body (Stripe's `id`, Slack's
    /// `event_id`, which are read on first use).
    ///
    /// For [`GitHub`](crate::scheme::GitHub), [`Shopify`](crate::scheme::Shopify) and
    /// [`Generic`](crate::scheme::Generic) the id header is not signed: fine for idempotency,
    /// no proof of origin. [`id_is_signed`](Self::id_is_signed) tells which.
    pub fn id(&self) -> Option<&str> {
        self.proof
            .id
            .as_deref()
            .or_else(|| self.event().id.as_deref())
    }

    /// The signed timestamp, in Unix seconds, when the scheme has one.
    pub fn timestamp(&self) -> Option<i64> {
        self.proof.timestamp
    }

    /// The exact body bytes that were verified (also the inner service's request body).
    pub fn body(&self) -> &Bytes {
        &self.proof.body
    }

    /// The event type, dot-separated (`issues.opened`, `payment_intent.succeeded`), as the
    /// scheme defines it (see [`Scheme::event`]).
    ///
    /// Resolved on first use, reading only the fields it needs, and kept: the layer itself
    /// never parses the body.
    ///
    /// GitHub and Shopify name the event in a header they do not sign (`X-GitHub-Event`,
    /// `X-Shopify-Topic`): whoever replays a captured delivery can relabel it. Handlers that
    /// decode a typed payload refuse a body of the wrong shape; do not rely on the name alone
    /// for anything sensitive.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use bytes::Bytes;
    /// # use http::{Request, Response};
    /// # use http_body_util::{BodyExt, Full};
    /// # use tower::{ServiceBuilder, ServiceExt};
    /// use tower_webhook::scheme::{Message, Scheme, Shopify};
    /// use tower_webhook::{Secret, Verified, VerifiedBody, VerifySignatureLayer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower::BoxError> {
    /// let service = ServiceBuilder::new()
    ///     .layer(VerifySignatureLayer::new(Shopify, ["secret"])?)
    ///     .service_fn(|request: Request<VerifiedBody>| async move {
    ///         let verified = request.extensions().get::<Verified>().unwrap();
    ///         let event_type = verified.event_type().unwrap_or("none").to_owned();
    ///         Ok::<_, Infallible>(Response::new(event_type))
    ///     });
    ///
    /// let body = br#"{"id":1}"#;
    /// let message = Message::new(body).event_type("orders.create");
    /// let mut request = Request::post("/").body(Full::new(Bytes::from_static(body)))?;
    /// request.headers_mut().extend(Shopify.sign(&Secret::new("secret"), &message)?);
    /// assert_eq!(request.headers()["x-shopify-topic"], "orders/create");
    ///
    /// let response = service.oneshot(request).await?;
    /// assert_eq!(response.into_body().collect().await?.to_bytes(), "orders.create");
    /// # Ok(())
    /// # }
    /// ```
    pub fn event_type(&self) -> Option<&str> {
        self.event().event_type.as_deref()
    }

    /// The JSON document the delivery carries: the body, or for a form-encoded GitHub or Slack
    /// delivery the JSON in its `payload` field.
    pub fn payload(&self) -> Cow<'_, [u8]> {
        self.proof.scheme.payload(&self.proof.body)
    }

    fn event(&self) -> &EventInfo {
        self.proof.event.get_or_init(|| {
            let scheme = &self.proof.scheme;
            scheme.event(self.proof.event_header.as_ref(), &self.payload())
        })
    }
}

// Shared with the replay guard, which keys on `id()`.
impl Verified {
    /// Whether [`id`](Self::id) is covered by the signature, so that a sender without the
    /// secret cannot choose it: true for ids in the body (Stripe, Slack) and for id headers the
    /// scheme signs (Standard Webhooks, a [`CustomScheme`](crate::scheme::CustomScheme) with
    /// `{id}` in its template); false for GitHub's, Shopify's and the generic scheme's id
    /// headers, and when there is no id. See [`replay`](crate::replay#signed-and-unsigned-ids).
    pub fn id_is_signed(&self) -> bool {
        // A token signs nothing, not even the body an id could be read from.
        if self.proof.scheme.algorithm() == crate::crypto::Algorithm::Token {
            return false;
        }
        if self.proof.id.is_some() {
            self.proof.scheme.signed_content().contains(&Part::Id)
        } else {
            self.id().is_some()
        }
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme())
            .field("key_index", &self.key_index())
            .field("key_name", &self.key_name())
            .field("id", &self.id())
            .field("timestamp", &self.timestamp())
            .field("body_len", &self.body().len())
            .finish()
    }
}
