//! What the layer tells the inner service about a request it let through.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::scheme::Scheme;

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
    inner: Arc<Inner>,
}

struct Inner {
    scheme: Arc<dyn Scheme>,
    key_index: usize,
    key_name: Option<Arc<str>>,
    id: Option<Box<str>>,
    timestamp: Option<i64>,
    body: Bytes,
}

impl Verified {
    pub(crate) fn new(
        scheme: Arc<dyn Scheme>,
        key_index: usize,
        key_name: Option<Arc<str>>,
        id: Option<Box<str>>,
        timestamp: Option<i64>,
        body: Bytes,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                scheme,
                key_index,
                key_name,
                id,
                timestamp,
                body,
            }),
        }
    }

    /// The scheme's name, e.g. `"github"`.
    pub fn scheme(&self) -> &str {
        self.inner.scheme.name()
    }

    /// The position (from 0) of the secret that matched, in the order the secrets were given.
    pub fn key_index(&self) -> usize {
        self.inner.key_index
    }

    /// The name of the secret that matched, if it was given one.
    pub fn key_name(&self) -> Option<&str> {
        self.inner.key_name.as_deref()
    }

    /// The delivery id, when the scheme has one and the request carried it.
    ///
    /// For [`GitHub`](crate::scheme::GitHub) and [`Shopify`](crate::scheme::Shopify) the id
    /// header is not signed: fine for idempotency, no proof of origin.
    pub fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// The signed timestamp, in Unix seconds, when the scheme has one.
    pub fn timestamp(&self) -> Option<i64> {
        self.inner.timestamp
    }

    /// The exact body bytes that were verified (also the inner service's request body).
    pub fn body(&self) -> &Bytes {
        &self.inner.body
    }
}

impl Verified {
    /// Whether the [id](Self::id) is covered by the signature, so that it proves which
    /// delivery this is: true for [`StandardWebhooks`](crate::scheme::StandardWebhooks) and a
    /// [`CustomScheme`](crate::scheme::CustomScheme) that signs `{id}`, false for GitHub,
    /// Shopify and the generic scheme, whose id header anyone can change. See
    /// [`replay`](crate::replay#signed-and-unsigned-ids).
    pub fn id_is_signed(&self) -> bool {
        self.inner
            .scheme
            .signed_content()
            .contains(&crate::scheme::Part::Id)
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
