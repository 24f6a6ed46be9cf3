//! The configured secrets, each turned into an HMAC state keyed once, when the layer is built.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{ConfigError, SignError};
use crate::mac::{MacKey, MacState};
use crate::scheme::{Message, Part, Scheme, Tag, require_id, require_timestamp};
use crate::secret::Secrets;

pub(crate) type HmacSha256 = Hmac<Sha256>;

pub(crate) fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC hashes long keys and pads short ones: every length is a valid key.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

pub(crate) fn finalize(mac: HmacSha256) -> Tag {
    mac.finalize().into_bytes().into()
}

/// Signs a whole message with a keyed HMAC state and writes the scheme's headers for it: the
/// sending side, shared by [`Scheme::sign`] and `SignRequestLayer`.
pub(crate) fn write_signed<S: Scheme + ?Sized>(
    scheme: &S,
    mut mac: HmacSha256,
    message: &Message<'_>,
    headers: &mut HeaderMap,
) -> Result<(), SignError> {
    for part in scheme.signed_content() {
        match part {
            Part::Body => mac.update(message.body),
            Part::Literal(text) => mac.update(text.as_bytes()),
            Part::Id => mac.update(require_id(message, scheme.name())?.as_bytes()),
            Part::Timestamp => {
                let timestamp = require_timestamp(message, scheme.name())?;
                mac.update(timestamp.to_string().as_bytes());
            }
        }
    }
    scheme.write_headers(headers, message, &finalize(mac))
}

/// One request's HMAC states, one per secret in secret order.
///
/// The first is kept inline: with a single secret, the usual case, a request allocates
/// nothing for its HMAC state.
pub(crate) struct Macs {
    first: MacState,
    rest: Vec<MacState>,
}

impl Macs {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.first.update(bytes);
        self.rest.iter_mut().for_each(|mac| mac.update(bytes));
    }

    /// [`update`](Self::update) for a short piece of signed text before the body (see
    /// [`MacState::update_text`]).
    pub(crate) fn update_text(&mut self, text: &[u8]) {
        self.first.update_text(text);
        // The other secrets' states take the plain path: rotation is the rare case, and the
        // fast path inlined there too made the usual one-secret code longer (callgrind: 7-10
        // instructions more per request for Stripe, Slack and Standard Webhooks).
        for mac in &mut self.rest {
            mac.update(text);
        }
    }

    /// Absorbs `suffix` into every state and hands each tag, with its secret's position, to
    /// `each`, in secret order. The states are finished where they are: each is about 110
    /// bytes, and moving them out to consume them costs a copy apiece.
    pub(crate) fn finish(
        &mut self,
        keyring: &Keyring,
        suffix: &[u8],
        mut each: impl FnMut(usize, &Tag),
    ) {
        debug_assert_eq!(
            self.rest.len() + 1,
            keyring.keys.len(),
            "one state per secret"
        );
        self.first.update(suffix);
        each(0, &keyring.keys[0].mac.finish(&mut self.first));
        for ((index, mac), key) in self.rest.iter_mut().enumerate().zip(&keyring.keys[1..]) {
            mac.update(suffix);
            each(index + 1, &key.mac.finish(mac));
        }
    }
}

/// One pre-keyed HMAC per secret; each request starts its own states from them.
#[derive(Clone)]
pub(crate) struct Keyring {
    keys: Box<[Key]>,
}

#[derive(Clone)]
struct Key {
    mac: MacKey,
    name: Option<Arc<str>>,
}

/// Each configured secret turned into its HMAC key by `scheme`, in order: the check both sides
/// make when they are built. An error names a secret by position and name, never by value.
pub(crate) fn derive_keys(
    scheme: &dyn Scheme,
    secrets: &Secrets,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ConfigError> {
    if secrets.is_empty() {
        return Err(ConfigError::NoSecrets);
    }
    secrets
        .iter()
        .enumerate()
        .map(|(index, secret)| {
            scheme
                .key(secret)
                .map_err(|reason| ConfigError::InvalidSecret {
                    which: match secret.name() {
                        Some(name) => format!("#{} ({name:?})", index + 1),
                        None => format!("#{}", index + 1),
                    },
                    reason,
                })
        })
        .collect()
}

impl Keyring {
    pub(crate) fn new(scheme: &dyn Scheme, secrets: &Secrets) -> Result<Self, ConfigError> {
        let keys = derive_keys(scheme, secrets)?
            .iter()
            .zip(secrets.iter())
            .map(|(key, secret)| Key {
                mac: MacKey::new(key),
                name: secret.name_arc(),
            })
            .collect();
        Ok(Self { keys })
    }

    /// Fresh HMAC states for one request, in secret order.
    // Inlined for the same reason as `MacKey::start`: the states go straight into place.
    #[inline(always)]
    pub(crate) fn macs(&self) -> Macs {
        let (first, rest) = self
            .keys
            .split_first()
            .expect("a keyring has at least one secret");
        Macs {
            first: first.mac.start(),
            rest: rest.iter().map(|key| key.mac.start()).collect(),
        }
    }

    pub(crate) fn name(&self, index: usize) -> Option<&Arc<str>> {
        self.keys.get(index).and_then(|key| key.name.as_ref())
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|key| match &key.name {
                Some(name) => format!("{name}: ***"),
                None => "***".to_owned(),
            }))
            .finish()
    }
}
