//! New secrets for new endpoints, and safe ways to show or store one.

use sha2::{Digest, Sha256};

use super::Secret;

/// How many random bytes a generated secret has: as many as the HMAC-SHA256 output.
#[cfg(feature = "sign")]
const GENERATED_BYTES: usize = 32;

/// How a generated secret is written.
///
/// Every scheme here accepts both: Standard Webhooks base64-decodes what follows `whsec_`
/// (so its key is exactly the random bytes), and the other schemes use the text as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecretFormat {
    /// `whsec_` and standard base64 of the bytes, as Standard Webhooks and Svix issue them.
    #[default]
    Whsec,
    /// 64 lowercase hex digits, as `openssl rand -hex 32` prints them; the usual form for
    /// GitHub, Slack, Shopify and in-house senders.
    Hex,
}

impl SecretFormat {
    #[cfg(any(feature = "sign", test))]
    fn write(self, bytes: &[u8]) -> String {
        use base64::Engine as _;
        match self {
            Self::Whsec => format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ),
            Self::Hex => hex::encode(bytes),
        }
    }
}

/// The operating system's random source failed, so no secret (or id) could be made.
#[cfg(feature = "sign")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random source is unavailable")]
pub struct RandomnessUnavailable;

impl Secret {
    /// A new secret of 32 bytes from the operating system's random source, written as
    /// `whsec_` and base64, which every scheme here accepts.
    ///
    /// # Errors
    ///
    /// [`RandomnessUnavailable`] when the random source fails.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_webhook::{scheme::StandardWebhooks, Secret, VerifySignatureLayer};
    ///
    /// let secret = Secret::generate()?;
    /// let text = std::str::from_utf8(secret.expose()).unwrap();
    /// assert!(text.starts_with("whsec_"));
    /// assert_eq!(text.len(), 6 + 44);
    /// // Show the prefix, store the fingerprint, hand the whole text to the receiver once.
    /// assert!(secret.display_prefix().starts_with("whsec_"));
    /// assert_eq!(secret.fingerprint().len(), "sha256:".len() + 64);
    /// assert!(VerifySignatureLayer::new(StandardWebhooks, secret).is_ok());
    /// # Ok::<(), tower_webhook::RandomnessUnavailable>(())
    /// ```
    #[cfg(feature = "sign")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        Self::generate_as(SecretFormat::Whsec)
    }

    /// A new secret of 32 random bytes, written in `format`.
    ///
    /// # Errors
    ///
    /// [`RandomnessUnavailable`] when the random source fails.
    ///
    /// ```
    /// use tower_webhook::{scheme::GitHub, Secret, SecretFormat};
    ///
    /// let secret = Secret::generate_as(SecretFormat::for_scheme(&GitHub))?;
    /// assert_eq!(secret.expose().len(), 64);
    /// assert!(secret.expose().iter().all(u8::is_ascii_hexdigit));
    /// # Ok::<(), tower_webhook::RandomnessUnavailable>(())
    /// ```
    #[cfg(feature = "sign")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
    pub fn generate_as(format: SecretFormat) -> Result<Self, RandomnessUnavailable> {
        let mut bytes = zeroize::Zeroizing::new([0u8; GENERATED_BYTES]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|_| RandomnessUnavailable)?;
        Ok(Self::from_bytes(format.write(bytes.as_slice())))
    }

    /// `sha256:` and the hex SHA-256 of the secret's text: safe to store and compare, to tell
    /// which secret an endpoint has without keeping the secret itself.
    ///
    /// It reveals nothing usable about a random secret such as `generate`
    /// makes; a short, guessable secret can be found from it by trying candidates.
    ///
    /// ```
    /// use tower_webhook::Secret;
    ///
    /// assert_eq!(
    ///     Secret::new("It's a Secret to Everybody").fingerprint(),
    ///     Secret::new("It's a Secret to Everybody").fingerprint(),
    /// );
    /// assert_ne!(Secret::new("a").fingerprint(), Secret::new("b").fingerprint());
    /// ```
    pub fn fingerprint(&self) -> String {
        let digest: [u8; 32] = Sha256::digest(self.expose()).into();
        format!("sha256:{}", hex::encode(digest))
    }

    /// The first few characters, then `…`, to show in a list of endpoints (`whsec_MfKQ…`).
    ///
    /// A `whsec_` prefix is shown whole; of the rest, at most a quarter and at most four
    /// characters appear, so short secrets show less.
    ///
    /// ```
    /// use tower_webhook::Secret;
    ///
    /// let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    /// assert_eq!(secret.display_prefix(), "whsec_MfKQ…");
    /// assert_eq!(Secret::new("short").display_prefix(), "s…");
    /// assert_eq!(Secret::new("abc").display_prefix(), "…");
    /// ```
    pub fn display_prefix(&self) -> String {
        let text = String::from_utf8_lossy(self.expose());
        let (prefix, rest) = match text.strip_prefix("whsec_") {
            Some(rest) => ("whsec_", rest),
            None => ("", &*text),
        };
        let shown: String = rest
            .chars()
            .take((rest.chars().count() / 4).min(4))
            .collect();
        format!("{prefix}{shown}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_write_the_bytes() {
        assert_eq!(SecretFormat::Hex.write(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(SecretFormat::Whsec.write(b"hi"), "whsec_aGk=");
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_text() {
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(
            Secret::new("abc").fingerprint(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
