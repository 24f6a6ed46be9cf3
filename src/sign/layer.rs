//! The layer: the scheme, the pre-keyed HMAC of the current secret, and the limits.

use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use http::request::Parts;
use tower_layer::Layer;

use super::error::SignRequestError;
use super::id::{DeliveryId, EventType};
use super::service::SignRequest;
use crate::DEFAULT_MAX_BODY_SIZE;
use crate::clock::{Clock, SystemClock};
use crate::crypto::SigningKey;
use crate::error::InvalidSecret;
use crate::error::{ConfigError, SignError};
use crate::scheme::{Message, Scheme, key_error, sign_into};
use crate::secret::{Key, Secrets};

/// Signs outgoing requests with a webhook scheme, for any HTTP client that is a tower
/// `Service<Request<Full<Bytes>>>` (hyper-util's legacy client, or your own).
///
/// See the [module docs](crate::sign) for an example.
///
/// Each request's body is buffered once (at most [`max_body_size`](Self::max_body_size)
/// bytes), stamped with the [clock](Self::clock)'s time and a delivery id where the scheme
/// signs or sends them, and given the scheme's headers, signed with the **first** of the
/// secrets: during a rotation, put the new secret first once receivers accept it.
#[derive(Clone)]
#[must_use]
pub struct SignRequestLayer {
    config: Arc<SignConfig>,
}

#[derive(Clone)]
pub(crate) struct SignConfig {
    scheme: Arc<dyn Scheme>,
    /// Made once, here, from the first key.
    key: SigningKey,
    /// The header the scheme writes the delivery id to, if any.
    id_header: Option<HeaderName>,
    pub(crate) max_body_size: usize,
    clock: Arc<dyn Clock>,
}

impl SignRequestLayer {
    /// A layer that signs with `scheme` and the first of `secrets`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when there is no secret, the first cannot be a key for the scheme, or
    /// the scheme is misconfigured. The message never contains the secret.
    ///
    /// ```
    /// use tower_webhook::{scheme::StandardWebhooks, sign::SignRequestLayer};
    ///
    /// let error = SignRequestLayer::new(StandardWebhooks, "whsec_not base64!").unwrap_err();
    /// assert_eq!(error.to_string(), "secret #1 is not base64 after the optional `whsec_` prefix");
    /// ```
    pub fn new(scheme: impl Scheme, secrets: impl Into<Secrets>) -> Result<Self, ConfigError> {
        crate::scheme::body_position(&scheme)?;
        // Every key is checked as a signing key; the first one signs.
        let secrets = secrets.into();
        let mut keys = secrets.iter().enumerate().map(|(index, key)| {
            match key {
                Key::Secret(secret) => scheme.signing_key(secret),
                Key::Public(_) => Err(InvalidSecret::new(
                    "cannot sign: give the private key, as a secret",
                )),
            }
            .map_err(|reason| key_error(index, key, reason))
        });
        let key = keys.next().ok_or(ConfigError::NoSecrets)??;
        keys.try_for_each(|key| key.map(drop))?;
        let id_header = scheme.id_header().cloned();
        Ok(Self {
            config: Arc::new(SignConfig {
                scheme: Arc::new(scheme),
                key,
                id_header,
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// The largest body the layer will buffer and sign, in bytes (default 10 MiB). A larger
    /// body fails with [`SignRequestError::BodyTooLarge`] and is not sent.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).max_body_size = bytes;
        self
    }

    /// Where the signing time comes from (default: the system clock); see [`Clock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        Arc::make_mut(&mut self.config).clock = Arc::new(clock);
        self
    }

    /// The header this scheme carries the delivery id in, if it has one (`webhook-id`,
    /// `X-GitHub-Delivery`…). A request that already has it keeps its value.
    pub fn id_header(&self) -> Option<&HeaderName> {
        self.config.id_header.as_ref()
    }
}

impl SignConfig {
    /// Stamps, signs and writes the headers into `parts`, for the buffered `body`.
    pub(crate) fn sign(&self, parts: &mut Parts, body: &[u8]) -> Result<(), SignRequestError> {
        let from_header = match &self.id_header {
            Some(name) => match parts.headers.get(name) {
                Some(value) => Some(
                    value
                        .to_str()
                        .map_err(|_| SignError::InvalidHeaderValue {
                            header: name.clone(),
                        })?
                        .to_owned(),
                ),
                None => None,
            },
            None => None,
        };
        let id = match (from_header, parts.extensions.get::<DeliveryId>()) {
            (Some(id), _) => id,
            (None, Some(id)) => id.as_str().to_owned(),
            (None, None) => DeliveryId::generate()?.as_str().to_owned(),
        };
        let mut message = Message::new(body)
            .id(&id)
            .timestamp(self.clock.unix_now())
            .method(parts.method.as_str());
        if let Some(event_type) = parts.extensions.get::<EventType>() {
            message = message.event_type(event_type.as_str());
        }
        // A client's request carries the whole URL it goes to: what URL-signing schemes sign.
        let url = parts.uri.to_string();
        if parts.uri.scheme().is_some() {
            message = message.url(&url);
        }
        let content_type = parts.headers.get(http::header::CONTENT_TYPE).cloned();
        if let Some(content_type) = content_type.as_ref().and_then(|value| value.to_str().ok()) {
            message = message.content_type(content_type);
        }
        sign_into(
            self.scheme.as_ref(),
            &self.key,
            &message,
            &mut parts.headers,
        )?;
        Ok(())
    }
}

impl<S> Layer<S> for SignRequestLayer {
    type Service = SignRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SignRequest::from_config(inner, Arc::clone(&self.config))
    }
}

impl fmt::Debug for SignRequestLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignRequestLayer")
            .field("config", &self.config)
            .finish()
    }
}

impl fmt::Debug for SignConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignConfig")
            .field("scheme", &self.scheme.name())
            .field("key", &self.key)
            .field("id_header", &self.id_header)
            .field("max_body_size", &self.max_body_size)
            .finish_non_exhaustive()
    }
}
