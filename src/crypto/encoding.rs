//! How signatures are written as text.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

/// How a scheme writes its signatures as text.
///
/// # Example
///
/// ```
/// use tower_webhook::crypto::Encoding;
///
/// assert_eq!(Encoding::Hex.encode(&[0xab, 0x01]), "ab01");
/// assert_eq!(Encoding::Hex.decode("AB01"), Some(vec![0xab, 0x01]));
/// assert_eq!(Encoding::Base64.encode(b"hi?"), "aGk/");
/// assert_eq!(Encoding::Base64Url.decode("aGk_"), Some(b"hi?".to_vec()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// Hex digits (either case accepted, lowercase written).
    Hex,
    /// Standard, padded base64.
    Base64,
    /// URL-safe base64 (padding optional when read, none written).
    Base64Url,
}

impl Encoding {
    /// Decodes `text`, or `None` when it is not valid in this encoding.
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Self::Hex => hex::decode(text).ok(),
            Self::Base64 => STANDARD.decode(text).ok(),
            Self::Base64Url => URL_SAFE_NO_PAD
                .decode(text)
                .or_else(|_| URL_SAFE.decode(text))
                .ok(),
        }
    }

    /// Decodes `text` into `out`, returning the length, or `None` when it is not valid in this
    /// encoding or does not fit.
    pub(crate) fn decode_into(self, text: &str, out: &mut [u8]) -> Option<usize> {
        match self {
            Self::Hex => {
                let out = out.get_mut(..text.len() / 2)?;
                hex::decode_to_slice(text, out).ok()?;
                Some(out.len())
            }
            Self::Base64 => STANDARD.decode_slice(text, out).ok(),
            Self::Base64Url => URL_SAFE_NO_PAD
                .decode_slice(text, out)
                .or_else(|_| URL_SAFE.decode_slice(text, out))
                .ok(),
        }
    }

    /// Encodes `bytes`.
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(bytes),
            Self::Base64 => STANDARD.encode(bytes),
            Self::Base64Url => URL_SAFE_NO_PAD.encode(bytes),
        }
    }
}
