//! Header-parsing pieces shared by the schemes.

use base64::Engine as _;
use http::{HeaderMap, HeaderName};

use crate::error::{InvalidSecret, VerifyError};
use crate::secret::Secret;

/// An HMAC-SHA256 tag: the decoded bytes of one signature.
pub type Tag = [u8; 32];

/// How many entries of a signature list are looked at; a longer list is refused.
///
/// Real senders put one to three signatures in a header (rotation); the cap keeps the work for a
/// hostile header bounded.
pub const MAX_SIGNATURE_ENTRIES: usize = 32;

/// How many signatures of supported versions one request may carry.
const MAX_SIGNATURES: usize = 8;

/// The signatures found in a request's headers, stored inline (no allocation per request).
#[derive(Clone, Default)]
pub struct Signatures {
    tags: [Tag; MAX_SIGNATURES],
    len: usize,
}

impl Signatures {
    /// No signatures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A single signature.
    pub fn one(tag: Tag) -> Self {
        let mut signatures = Self::new();
        signatures.tags[0] = tag;
        signatures.len = 1;
        signatures
    }

    /// Adds a signature.
    ///
    /// # Errors
    ///
    /// Returns the tag back when the list is full.
    pub fn push(&mut self, tag: Tag) -> Result<(), Tag> {
        match self.tags.get_mut(self.len) {
            Some(slot) => {
                *slot = tag;
                self.len += 1;
                Ok(())
            }
            None => Err(tag),
        }
    }

    /// The signatures, in header order.
    pub fn as_slice(&self) -> &[Tag] {
        &self.tags[..self.len]
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl std::fmt::Debug for Signatures {
    // The signatures a client sent are not secret, but they are noise in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signatures")
            .field("len", &self.len)
            .finish()
    }
}

/// A timestamp read from a header: its text as sent (that is what gets signed) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp<'h> {
    raw: &'h str,
    unix_seconds: i64,
}

impl<'h> Timestamp<'h> {
    /// Parses Unix seconds written as ASCII digits, as every scheme sends them.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidTimestamp`] for an empty value, a sign, anything but digits, or a
    /// number beyond `i64`.
    pub fn parse(raw: &'h str, header: &HeaderName) -> Result<Self, VerifyError> {
        let invalid = |reason| VerifyError::InvalidTimestamp {
            header: header.clone(),
            reason,
        };
        if raw.is_empty() {
            return Err(invalid("empty"));
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("not a whole number of seconds"));
        }
        let unix_seconds = raw.parse::<i64>().map_err(|_| invalid("out of range"))?;
        Ok(Self { raw, unix_seconds })
    }

    /// The text exactly as sent.
    pub fn raw(&self) -> &'h str {
        self.raw
    }

    /// The value in Unix seconds.
    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }
}

/// The value of a header that may be sent at most once.
///
/// A repeated signature or timestamp header is refused rather than one of its values picked:
/// proxies and frameworks disagree on which one wins.
pub(crate) fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h str>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(VerifyError::MalformedHeader {
            header: name.clone(),
            reason: "sent more than once",
        });
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| VerifyError::MalformedHeader {
            header: name.clone(),
            reason: "not visible ASCII",
        })
}

/// Like [`single_header`], for a header the scheme cannot do without.
pub(crate) fn required_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<&'h str, VerifyError> {
    single_header(headers, name)?.ok_or_else(|| VerifyError::MissingHeader {
        header: name.clone(),
    })
}

/// How a scheme writes its signatures as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// 64 hex digits (either case accepted, lowercase sent).
    Hex,
    /// Standard, padded base64 (44 characters).
    Base64,
}

impl Encoding {
    /// Decodes one signature, or `None` when it is not a 32-byte value in this encoding.
    pub fn decode(self, text: &str) -> Option<Tag> {
        match self {
            Self::Hex => decode_hex_tag(text),
            Self::Base64 => decode_base64_tag(text),
        }
    }

    /// Encodes one signature.
    pub fn encode(self, tag: &Tag) -> String {
        match self {
            Self::Hex => encode_hex(tag),
            Self::Base64 => encode_base64(tag),
        }
    }

    fn expectation(self) -> &'static str {
        match self {
            Self::Hex => "the signature is not 64 hex digits",
            Self::Base64 => "the signature is not base64 of 32 bytes",
        }
    }
}

/// The one signature of a header written `<prefix><encoded tag>`, such as `sha256=<hex>`.
///
/// A value without the prefix is another version of the scheme, which this crate does not
/// support: a 401, as a forged signature would get.
pub(crate) fn prefixed_signature(
    headers: &HeaderMap,
    name: &HeaderName,
    prefix: &str,
    encoding: Encoding,
) -> Result<Tag, VerifyError> {
    let value = required_header(headers, name)?;
    let Some(encoded) = value.strip_prefix(prefix) else {
        return Err(VerifyError::NoSupportedSignature {
            header: name.clone(),
        });
    };
    encoding
        .decode(encoded)
        .ok_or_else(|| VerifyError::MalformedHeader {
            header: name.clone(),
            reason: encoding.expectation(),
        })
}

/// Decodes 64 hex digits (either case).
pub(crate) fn decode_hex_tag(text: &str) -> Option<Tag> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    // One table look-up per digit and a single validity check at the end: this runs on every
    // request, and a branch per digit costs as much as hashing a few hundred body bytes.
    let mut tag = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in tag.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        invalid |= (high | low) & 0xf0;
        *byte = (high << 4) | (low & 0x0f);
    }
    (invalid == 0).then_some(tag)
}

/// The value of each hex digit, and `0xff` for every other byte.
const HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decodes standard, padded base64 of exactly 32 bytes.
pub(crate) fn decode_base64_tag(text: &str) -> Option<Tag> {
    // 32 bytes are 44 characters; refusing anything else first keeps the decode bounded.
    if text.len() != 44 {
        return None;
    }
    let mut buffer = [0u8; 33];
    let len = base64::engine::general_purpose::STANDARD
        .decode_slice(text, &mut buffer)
        .ok()?;
    buffer[..len].try_into().ok()
}

pub(crate) fn encode_hex(tag: &Tag) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(64);
    for byte in tag {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

pub(crate) fn encode_base64(tag: &Tag) -> String {
    base64::engine::general_purpose::STANDARD.encode(tag)
}

/// Refuses secrets that are empty or carry whitespace from a careless paste.
pub(crate) fn check_plain_secret(secret: &Secret) -> Result<(), InvalidSecret> {
    let bytes = secret.expose();
    if bytes.is_empty() {
        return Err(InvalidSecret::new("is empty"));
    }
    let first = bytes[0];
    let last = bytes[bytes.len() - 1];
    if first.is_ascii_whitespace() || last.is_ascii_whitespace() {
        return Err(InvalidSecret::new(
            "starts or ends with whitespace (pasted with a newline?)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_in_either_case() {
        let tag: Tag = std::array::from_fn(|i| (i * 37) as u8);
        let lower = encode_hex(&tag);
        assert_eq!(decode_hex_tag(&lower), Some(tag));
        assert_eq!(decode_hex_tag(&lower.to_uppercase()), Some(tag));
    }

    #[test]
    fn hex_refuses_wrong_length_and_digits() {
        assert_eq!(decode_hex_tag(""), None);
        assert_eq!(decode_hex_tag(&"a".repeat(63)), None);
        assert_eq!(decode_hex_tag(&"a".repeat(66)), None);
        assert_eq!(decode_hex_tag(&"g".repeat(64)), None);
        // Multi-byte UTF-8 must not be split into "digits".
        assert_eq!(decode_hex_tag(&"é".repeat(32)), None);
    }

    #[test]
    fn base64_round_trips_and_refuses_other_lengths() {
        let tag: Tag = std::array::from_fn(|i| (255 - i) as u8);
        let text = encode_base64(&tag);
        assert_eq!(decode_base64_tag(&text), Some(tag));
        assert_eq!(decode_base64_tag(&text[..43]), None);
        assert_eq!(decode_base64_tag(&format!("{text}=")), None);
        assert_eq!(decode_base64_tag(&"*".repeat(44)), None);
    }

    #[test]
    fn timestamp_accepts_digits_only() {
        let header = HeaderName::from_static("x-ts");
        assert_eq!(
            Timestamp::parse("1614265330", &header)
                .unwrap()
                .unix_seconds(),
            1614265330
        );
        for bad in ["", "-1", "+1", " 1", "1 ", "1.5", "0x10", "１"] {
            assert!(
                matches!(
                    Timestamp::parse(bad, &header),
                    Err(VerifyError::InvalidTimestamp { .. })
                ),
                "{bad:?} should be refused"
            );
        }
        assert!(Timestamp::parse("9223372036854775807", &header).is_ok());
        assert!(Timestamp::parse("9223372036854775808", &header).is_err());
        assert!(Timestamp::parse(&"9".repeat(400), &header).is_err());
    }

    #[test]
    fn signatures_hold_a_bounded_number() {
        let mut signatures = Signatures::new();
        for i in 0..MAX_SIGNATURES {
            signatures.push([i as u8; 32]).unwrap();
        }
        assert!(signatures.push([0; 32]).is_err());
        assert_eq!(signatures.len(), MAX_SIGNATURES);
    }
}
