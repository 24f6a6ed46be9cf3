//! What the layer tells the inner service about a request it let through.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderValue;

use crate::scheme::{EventInfo, Part, Scheme};
use crate::verify::Hashing;

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
    delivery: Arc<Delivery>,
}

/// One request's delivery: what it claimed in its headers, how its verification went, and,
/// once verified, the proof that [`Verified`] shows.
///
/// The verification runs in this allocation and the proof is handed on in it, so the usual
/// request (one secret, an id of at most 48 bytes, a body in one frame, nothing signed after
/// the body) allocates once for both. The price: a proof a handler keeps carries the emptied
/// slot of the hashing, about half of this struct's ≈ 500 bytes.
pub(crate) struct Delivery {
    pub(crate) scheme: Arc<dyn Scheme>,
    pub(crate) id: Option<ReceivedId>,
    pub(crate) timestamp: Option<i64>,
    /// The scheme's event header, kept for [`Scheme::event`]; nothing is parsed before that.
    pub(crate) event_header: Option<HeaderValue>,
    /// The hashing, while the body streams. Its HMAC states are derived from the secrets, so it
    /// is dropped (and they are zeroised) as soon as the verdict is in: a `Verified` that a
    /// handler keeps must not keep anything of the keys.
    pub(crate) hashing: Option<Hashing>,
    /// Set once the signature matched.
    pub(crate) key_index: usize,
    pub(crate) key_name: Option<Arc<str>>,
    pub(crate) body: Bytes,
    pub(crate) event: OnceLock<EventInfo>,
}

/// The delivery id a request came with (not `sign::DeliveryId`, which a sender makes), inline
/// when it is as short as every scheme's ids are (UUIDs, `msg_…`), so that keeping it costs no
/// allocation of its own.
pub(crate) enum ReceivedId {
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    Heap(Box<str>),
}

const INLINE_ID: usize = 48;

impl ReceivedId {
    /// Puts `id` into `slot`, written where the slot lies: built apart and moved in, its
    /// bytes were stored in pieces by `memcpy` and at once loaded again whole, a load that
    /// waits for those stores to reach the cache (Standard Webhooks at 1 KiB went from 1.302
    /// to 1.276 of the floor this way, generic from 1.283 to 1.259).
    pub(crate) fn put(slot: &mut Option<Self>, id: &str) {
        if id.len() > INLINE_ID {
            *slot = Some(Self::Heap(id.into()));
            return;
        }
        if let Self::Inline { bytes, .. } = slot.insert(Self::Inline {
            len: id.len() as u8,
            bytes: [0; INLINE_ID],
        }) {
            bytes[..id.len()].copy_from_slice(id.as_bytes());
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).expect("copied from a str")
            }
            Self::Heap(id) => id,
        }
    }
}

impl Verified {
    /// Whether the proof still carries the hashing, for the test that it does not.
    #[cfg(test)]
    pub(crate) fn still_hashing(&self) -> bool {
        self.delivery.hashing.is_some()
    }

    pub(crate) fn new(delivery: Arc<Delivery>) -> Self {
        Self { delivery }
    }

    /// The scheme's name, e.g. `"github"`.
    pub fn scheme(&self) -> &str {
        self.delivery.scheme.name()
    }

    /// The position (from 0) of the secret that matched, in the order the secrets were given.
    pub fn key_index(&self) -> usize {
        self.delivery.key_index
    }

    /// The name of the secret that matched, if it was given one.
    pub fn key_name(&self) -> Option<&str> {
        self.delivery.key_name.as_deref()
    }

    /// The delivery id: from the scheme's id header when it has one (GitHub's
    /// `X-GitHub-Delivery`, `webhook-id`…), else from the body (Stripe's `id`, Slack's
    /// `event_id`, which are read on first use).
    ///
    /// For [`GitHub`](crate::scheme::GitHub), [`Shopify`](crate::scheme::Shopify) and
    /// [`Generic`](crate::scheme::Generic) the id header is not signed: fine for idempotency,
    /// no proof of origin. [`id_is_signed`](Self::id_is_signed) tells which.
    pub fn id(&self) -> Option<&str> {
        self.delivery
            .id
            .as_ref()
            .map(ReceivedId::as_str)
            .or_else(|| self.event().id.as_deref())
    }

    /// The signed timestamp, in Unix seconds, when the scheme has one.
    pub fn timestamp(&self) -> Option<i64> {
        self.delivery.timestamp
    }

    /// The exact body bytes that were verified (also the inner service's request body).
    pub fn body(&self) -> &Bytes {
        &self.delivery.body
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
        self.delivery.scheme.payload(&self.delivery.body)
    }

    fn event(&self) -> &EventInfo {
        self.delivery.event.get_or_init(|| {
            let scheme = &self.delivery.scheme;
            scheme.event(self.delivery.event_header.as_ref(), &self.payload())
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
        if self.delivery.id.is_some() {
            self.delivery.scheme.signed_content().contains(&Part::Id)
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
