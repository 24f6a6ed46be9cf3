//! Secrets at rest: sealed with XChaCha20-Poly1305 under a key the database never holds.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::error::DispatchError;
use crate::Secret;

/// The format byte in front of every sealed value, so a later format can be told apart.
const VERSION: u8 = 1;
const NONCE: usize = 24;

/// The key that seals endpoints' secrets before they reach the store.
///
/// XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`): its 192-bit nonces are safe to pick at
/// random for every seal, and each sealed value is bound to its endpoint's id, so secrets moved
/// from one endpoint's row to another's do not open. Losing the key loses the secrets (the
/// endpoints must be given them again); keep it apart from database backups.
///
/// ```
/// use tower_webhook::dispatch::StorageKey;
///
/// let key = StorageKey::generate()?;
/// assert_eq!(format!("{key:?}"), "StorageKey(..)");
/// let again = StorageKey::from_hex(&key.to_hex())?;
/// # Ok::<(), tower_webhook::dispatch::DispatchError>(())
/// ```
#[derive(Clone)]
pub struct StorageKey {
    key: Zeroizing<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct SealedSecret {
    #[serde(with = "base64_bytes")]
    value: Vec<u8>,
    name: Option<String>,
}

impl Drop for SealedSecret {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl StorageKey {
    /// A new random key from the operating system.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Randomness`] when the random source fails.
    pub fn generate() -> Result<Self, DispatchError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|_| DispatchError::Randomness)?;
        Ok(Self { key })
    }

    /// A key from its 64 hex digits (as [`to_hex`](Self::to_hex) writes, and the key file
    /// holds).
    ///
    /// # Errors
    ///
    /// [`DispatchError::KeyFile`] when the text is not 64 hex digits (the message does not
    /// repeat it).
    pub fn from_hex(text: &str) -> Result<Self, DispatchError> {
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), key.as_mut()).map_err(|_| DispatchError::KeyFile {
            path: "(given)".into(),
            reason: "a storage key is 64 hex digits".into(),
        })?;
        Ok(Self { key })
    }

    /// The key as 64 hex digits. Treat the text as the secret it is.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.key.as_ref()))
    }

    /// Reads the key from `path`, or, when there is no such file, creates it with a new key,
    /// readable by its owner only (mode 0600 on Unix). Returns the key and whether it was
    /// created, so the caller can say so.
    ///
    /// ```
    /// use tower_webhook::dispatch::StorageKey;
    ///
    /// let dir = std::env::temp_dir().join(format!("storage-key-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("deliveries.db.key");
    /// let (first, created) = StorageKey::load_or_create(&path)?;
    /// assert!(created);
    /// let (again, created) = StorageKey::load_or_create(&path)?;
    /// assert!(!created);
    /// assert_eq!(*first.to_hex(), *again.to_hex());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), tower_webhook::dispatch::DispatchError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`DispatchError::KeyFile`] when the file cannot be read or created, or does not hold a
    /// key.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<(Self, bool), DispatchError> {
        let path = path.as_ref();
        let failed = |reason: String| DispatchError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        // Written whole to a file of its own, then linked into place: another process never
        // reads a half-written key, and a crash never leaves an empty one.
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(format!(
            ".{}-{:x}.tmp",
            std::process::id(),
            getrandom::u64().unwrap_or(0)
        ));
        let temporary = std::path::PathBuf::from(temporary);
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let key = Self::generate()?;
        let written = options.open(&temporary).and_then(|mut file| {
            file.write_all(key.to_hex().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        });
        let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok((key, true)),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                Ok((Self::load(path)?, false))
            }
            Err(error) => Err(failed(error.to_string())),
        }
    }

    /// Reads the key from `path` (64 hex digits).
    ///
    /// # Errors
    ///
    /// [`DispatchError::KeyFile`] when the file cannot be read or does not hold a key.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DispatchError> {
        let path = path.as_ref();
        let failed = |reason: String| DispatchError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let mut text = Zeroizing::new(String::new());
        std::fs::File::open(path)
            .and_then(|mut file| file.read_to_string(&mut text))
            .map_err(|error| failed(error.to_string()))?;
        Self::from_hex(&text).map_err(|_| failed("does not hold 64 hex digits".into()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(self.key.as_ref()).expect("the key is 32 bytes")
    }

    /// Seals `secrets` for the endpoint `endpoint_id`.
    pub(crate) fn seal(
        &self,
        endpoint_id: &str,
        secrets: &[Secret],
    ) -> Result<Vec<u8>, DispatchError> {
        let list: Vec<SealedSecret> = secrets
            .iter()
            .map(|secret| SealedSecret {
                value: secret.expose().to_vec(),
                name: secret.name().map(str::to_owned),
            })
            .collect();
        let plain = Zeroizing::new(serde_json::to_vec(&list).map_err(DispatchError::Payload)?);
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(|_| DispatchError::Randomness)?;
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: endpoint_id.as_bytes(),
                },
            )
            .map_err(|_| DispatchError::Sealed {
                endpoint: endpoint_id.to_owned(),
            })?;
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) sealed for `endpoint_id`.
    pub(crate) fn open(
        &self,
        endpoint_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<Secret>, DispatchError> {
        let refused = || DispatchError::Sealed {
            endpoint: endpoint_id.to_owned(),
        };
        let (&version, rest) = sealed.split_first().ok_or_else(refused)?;
        if version != VERSION || rest.len() < NONCE {
            return Err(refused());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE);
        let nonce = XNonce::try_from(nonce).map_err(|_| refused())?;
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &nonce,
                    Payload {
                        msg: ciphertext,
                        aad: endpoint_id.as_bytes(),
                    },
                )
                .map_err(|_| refused())?,
        );
        let list: Vec<SealedSecret> = serde_json::from_slice(&plain).map_err(|_| refused())?;
        Ok(list
            .iter()
            .map(|sealed| {
                let secret = Secret::from_bytes(sealed.value.clone());
                match &sealed.name {
                    Some(name) => secret.named(name.as_str()),
                    None => secret,
                }
            })
            .collect())
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey(..)")
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Zeroizing::new(STANDARD.encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_endpoint() {
        let key = StorageKey::generate().unwrap();
        let secrets = [
            Secret::new("whsec_first").named("2026"),
            Secret::new("second"),
        ];
        let sealed = key.seal("ep_1", &secrets).unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"whsec_first"));
        let opened = key.open("ep_1", &sealed).unwrap();
        assert_eq!(opened.len(), 2);
        assert_eq!(opened[0].expose(), b"whsec_first");
        assert_eq!(opened[0].name(), Some("2026"));
        assert_eq!(opened[1].expose(), b"second");
        assert!(key.open("ep_2", &sealed).is_err(), "bound to its endpoint");
        let other = StorageKey::generate().unwrap();
        assert!(other.open("ep_1", &sealed).is_err(), "bound to its key");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open("ep_1", &altered).is_err(), "authenticated");
        assert!(key.open("ep_1", &[]).is_err());
        assert!(key.open("ep_1", &[VERSION]).is_err());
    }

    #[test]
    fn the_same_secrets_seal_differently_each_time() {
        let key = StorageKey::generate().unwrap();
        let secrets = [Secret::new("s")];
        assert_ne!(
            key.seal("ep", &secrets).unwrap(),
            key.seal("ep", &secrets).unwrap()
        );
    }
}
