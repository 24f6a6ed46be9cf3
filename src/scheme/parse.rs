//! Header-parsing pieces shared by the schemes.

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};

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

/// The signatures found in a request's headers.
///
/// Nearly every request carries one, kept inline; a list (a sender rotating its secrets) is
/// stored on the heap. Small on purpose: it travels from the parser into each request's state.
#[derive(Clone, Default)]
pub struct Signatures {
    tags: Tags,
}

#[derive(Clone, Default)]
enum Tags {
    #[default]
    None,
    One(AlignedTag),
    Many(Vec<Tag>),
}

/// A tag at an eight-byte boundary. It is copied from the decoder through the parser into
/// each request's state; at an odd offset (behind a one-byte discriminant) the compiler copied
/// it in overlapping 4-byte pieces, and the next load of those bytes waited for the stores to
/// reach the cache instead of taking them from the store buffer (perf: half the samples of
/// `Generic::parse` on four such loads).
#[derive(Clone, Copy)]
#[repr(align(8))]
pub(crate) struct AlignedTag(pub(crate) Tag);

impl Signatures {
    /// No signatures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A single signature.
    pub fn one(tag: Tag) -> Self {
        Self::one_aligned(AlignedTag(tag))
    }

    pub(crate) fn one_aligned(tag: AlignedTag) -> Self {
        Self {
            tags: Tags::One(tag),
        }
    }

    /// Adds a signature.
    ///
    /// # Errors
    ///
    /// Returns the tag back when the list is full.
    pub fn push(&mut self, tag: Tag) -> Result<(), Tag> {
        match &mut self.tags {
            Tags::None => self.tags = Tags::One(AlignedTag(tag)),
            Tags::One(first) => self.tags = Tags::Many(vec![first.0, tag]),
            Tags::Many(tags) if tags.len() < MAX_SIGNATURES => tags.push(tag),
            Tags::Many(_) => return Err(tag),
        }
        Ok(())
    }

    /// The signatures, in header order.
    pub fn as_slice(&self) -> &[Tag] {
        match &self.tags {
            Tags::None => &[],
            Tags::One(tag) => std::slice::from_ref(&tag.0),
            Tags::Many(tags) => tags,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl std::fmt::Debug for Signatures {
    // The signatures a client sent are not secret, but they are noise in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signatures")
            .field("len", &self.len())
            .finish()
    }
}

/// A timestamp read from a header: its text as sent (that is what gets signed) and its value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Timestamp<'h> {
    /// ASCII digits only, whichever way it was made: kept as bytes so that the usual timestamp,
    /// read straight from a header's bytes, needs no UTF-8 check (89 instructions for ten
    /// digits, callgrind) before it is hashed.
    raw: &'h [u8],
    unix_seconds: i64,
}

impl std::fmt::Debug for Timestamp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timestamp")
            .field("raw", &self.raw())
            .field("unix_seconds", &self.unix_seconds)
            .finish()
    }
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
        // Digits only: no sign, no spaces, which `str::parse` would take.
        let digits = raw.as_bytes();
        let not_a_number = || invalid("not a whole number of seconds");
        let unix_seconds = match short_number(digits) {
            Some(value) => value,
            None if digits.len() <= MAX_SHORT_DIGITS => return Err(not_a_number()),
            None => {
                // Digits only, so the standard parser (which would take a `+`) can only find
                // the number too large.
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(not_a_number());
                }
                raw.parse().map_err(|_| invalid("out of range"))?
            }
        };
        Ok(Self {
            raw: digits,
            unix_seconds,
        })
    }

    /// The usual timestamp, read straight from a header's bytes: one to eighteen digits.
    /// `None` for anything else, which [`parse`](Self::parse) then reads to say what is wrong.
    pub(crate) fn from_digits(bytes: &'h [u8]) -> Option<Self> {
        Some(Self {
            raw: bytes,
            unix_seconds: short_number(bytes)?,
        })
    }

    /// The text exactly as sent.
    pub fn raw(&self) -> &'h str {
        std::str::from_utf8(self.raw).expect("a timestamp is made of ASCII digits only")
    }

    /// The text exactly as sent, as the bytes that are signed.
    pub(crate) fn raw_bytes(&self) -> &'h [u8] {
        self.raw
    }

    /// The value in Unix seconds.
    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }
}

/// Eighteen digits always fit in an `i64`.
const MAX_SHORT_DIGITS: usize = 18;

/// One to eighteen ASCII digits as a number, read and checked in one pass: a byte that is not
/// a digit spoils the value, which is then thrown away.
fn short_number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > MAX_SHORT_DIGITS {
        return None;
    }
    let (value, all_digits) = digits.iter().fold((0i64, true), |(value, ok), byte| {
        let digit = byte.wrapping_sub(b'0');
        (
            value.wrapping_mul(10).wrapping_add(i64::from(digit)),
            ok & (digit <= 9),
        )
    });
    all_digits.then_some(value)
}

/// Reads the headers named in `names` in one pass over the map.
///
/// A webhook request carries a dozen headers or so, and comparing each of their names with the
/// two or three a scheme wants costs less than hashing each wanted name for a look-up
/// (measured for GitHub's three plus `Content-Length`: 16 ns against 99 ns with 5 headers in
/// the map, 51 ns against 95 ns with 13, 82 ns against 117 ns with 25).
pub(crate) fn scan<'h, const N: usize>(
    headers: &'h HeaderMap,
    names: [&HeaderName; N],
) -> [Found<'h>; N] {
    scan_spelled(headers, names.map(|name| name.as_str().as_bytes()))
}

/// [`scan`] for a scheme whose headers are configured, some of them not at all: a `None` name
/// finds nothing.
pub(crate) fn scan_optional<'h, const N: usize>(
    headers: &'h HeaderMap,
    names: [Option<&HeaderName>; N],
) -> [Found<'h>; N] {
    // No header's name is empty.
    scan_spelled(
        headers,
        names.map(|name| name.map_or(&b""[..], |n| n.as_str().as_bytes())),
    )
}

// Names compared as bytes, each header's spelled out once: `HeaderName`'s own comparison
// calls `memcmp` for every pair of names of equal length, and a scheme's names often are
// (`webhook-timestamp`, `webhook-signature`). Inlined into each scheme's parser, where the
// names and their number are known (as a call, GitHub's `parse` once took 225 instructions
// more).
#[inline(always)]
fn scan_spelled<'h, const N: usize>(headers: &'h HeaderMap, names: [&[u8]; N]) -> [Found<'h>; N] {
    let mut found = [Found::default(); N];
    for (name, value) in headers {
        let name = name.as_str().as_bytes();
        for (wanted, slot) in names.iter().zip(found.iter_mut()) {
            if same_bytes(wanted, name) {
                match slot.value {
                    Some(_) => slot.repeated = true,
                    None => slot.value = Some(value),
                }
            }
        }
    }
    found
}

/// `a == b` for short byte strings such as header names: lengths first, then two overlapping
/// words from either end, in place of a call to `memcmp`.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let wide = |bytes: &[u8], at: usize| {
        u128::from_ne_bytes(bytes[at..at + 16].try_into().expect("16 bytes"))
    };
    match len {
        8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        17..=32 => wide(a, 0) == wide(b, 0) && wide(a, len - 16) == wide(b, len - 16),
        _ => a == b,
    }
}

/// What [`scan`] saw of one header: its first value, and whether it came more than once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Found<'h> {
    value: Option<&'h HeaderValue>,
    repeated: bool,
}

impl<'h> Found<'h> {
    /// The header's value, if sent; an error if sent more than once (proxies and frameworks
    /// disagree on which value wins) or not visible ASCII.
    pub(crate) fn single(self, name: &HeaderName) -> Result<Option<&'h str>, VerifyError> {
        let Some(value) = self.value else {
            return Ok(None);
        };
        if self.repeated {
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

    /// As [`single`](Self::single), for a header the scheme cannot do without.
    pub(crate) fn required(self, name: &HeaderName) -> Result<&'h str, VerifyError> {
        self.single(name)?
            .ok_or_else(|| VerifyError::MissingHeader {
                header: name.clone(),
            })
    }

    /// The header as a [`Timestamp`], required: the usual digits read straight from its bytes,
    /// and anything else the slow way, to say what is wrong.
    pub(crate) fn timestamp(self, name: &HeaderName) -> Result<Timestamp<'h>, VerifyError> {
        if let Some(timestamp) = self
            .unique()
            .and_then(|v| Timestamp::from_digits(v.as_bytes()))
        {
            return Ok(timestamp);
        }
        Timestamp::parse(self.required(name)?, name)
    }

    /// The header's value when it was sent exactly once, unchecked.
    pub(crate) fn unique(self) -> Option<&'h HeaderValue> {
        self.value.filter(|_| !self.repeated)
    }

    /// The usual case of a `<prefix><tag>` header, decoded straight from its bytes into the
    /// request's one signature: sent once, the prefix, a well-formed tag. `None` for anything
    /// else, which the caller then reads the slow way to say what is wrong. Such a value is
    /// visible ASCII by construction (every scheme's prefix is: `CustomScheme::check` refuses
    /// one that is not), so the text checks run only when something is wrong.
    pub(crate) fn usual_signature(self, prefix: &str, encoding: Encoding) -> Option<Signatures> {
        let value = self.unique()?;
        encoding
            .decode_bytes(strip_prefix_bytes(value.as_bytes(), prefix.as_bytes())?)
            .map(Signatures::one_aligned)
    }

    pub(crate) fn is_present(self) -> bool {
        self.value.is_some()
    }

    /// The first value, as sent, for a header that is only kept, not read.
    pub(crate) fn first(self) -> Option<&'h HeaderValue> {
        self.value
    }
}

/// `text.split(separator)` for an ASCII separator. The general `char` searcher's setup costs
/// more than the search itself in a header of a few dozen bytes, and this runs on every
/// request.
pub(crate) fn split_ascii(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    debug_assert!(
        separator.is_ascii(),
        "a separator inside a character would split it"
    );
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.bytes().position(|byte| byte == separator) {
            Some(at) => {
                rest = Some(&current[at + 1..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// `text.split_once(separator)` for an ASCII separator; see [`split_ascii`].
pub(crate) fn split_once_ascii(text: &str, separator: u8) -> Option<(&str, &str)> {
    debug_assert!(
        separator.is_ascii(),
        "a separator inside a character would split it"
    );
    let at = text.bytes().position(|byte| byte == separator)?;
    Some((&text[..at], &text[at + 1..]))
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
        self.decode_bytes(text.as_bytes()).map(|tag| tag.0)
    }

    pub(crate) fn decode_bytes(self, text: &[u8]) -> Option<AlignedTag> {
        match self {
            Self::Hex => decode_hex_bytes(text),
            Self::Base64 => decode_base64_bytes(text),
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
    found: Found<'_>,
    name: &HeaderName,
    prefix: &str,
    encoding: Encoding,
) -> Result<Signatures, VerifyError> {
    if let Some(signatures) = found.usual_signature(prefix, encoding) {
        return Ok(signatures);
    }
    let value = found.required(name)?;
    let Some(encoded) = value.strip_prefix(prefix) else {
        return Err(VerifyError::NoSupportedSignature {
            header: name.clone(),
        });
    };
    encoding
        .decode(encoded)
        .map(Signatures::one)
        .ok_or_else(|| VerifyError::MalformedHeader {
            header: name.clone(),
            reason: encoding.expectation(),
        })
}

/// `text.strip_prefix(prefix)`, without calling `memcmp` to compare no bytes at all (Shopify
/// has no prefix): that call was measured slow (BENCHMARKS.md, fourth round).
fn strip_prefix_bytes<'t>(text: &'t [u8], prefix: &[u8]) -> Option<&'t [u8]> {
    if prefix.is_empty() {
        Some(text)
    } else {
        text.strip_prefix(prefix)
    }
}

/// Decodes 64 hex digits (either case): eight at a time, in the bits of a `u64`, with one
/// validity check at the end. This runs on every request, and the branch per digit it replaced
/// was ~6 % of a 256-byte request; a table look-up per digit ~5 %.
fn decode_hex_bytes(text: &[u8]) -> Option<AlignedTag> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // For bytes below 0x80, each lane's high bit tells whether that byte is at least `low`, or
    // at most `high`, and no lane carries into the next. A byte from 0x80 up can carry into
    // its neighbour, but it makes the whole value invalid anyway.
    let at_least = |x: u64, low: u8| x.wrapping_add(ONES * u64::from(0x80 - low)) & HIGH;
    let at_most = |x: u64, high: u8| !x.wrapping_add(ONES * u64::from(0x7f - high)) & HIGH;

    let (words, rest) = text.as_chunks::<8>();
    if words.len() != 8 || !rest.is_empty() {
        return None;
    }
    let mut tag = AlignedTag([0u8; 32]);
    let mut invalid = 0u64;
    for (out, word) in tag.0.chunks_exact_mut(4).zip(words) {
        let x = u64::from_le_bytes(*word);
        let lower = x | (ONES * 0x20);
        let digit = at_least(x, b'0') & at_most(x, b'9');
        let letter = at_least(lower, b'a') & at_most(lower, b'f');
        invalid |= (x & HIGH) | ((digit | letter) ^ HIGH);
        // A digit's value is its low nibble; a letter's is its low nibble plus 9.
        let letters = letter >> 7;
        let nibbles = (x & (ONES * 0x0f)) + (letters << 3) + letters;
        // Each pair of lanes (high digit first in memory, so in the low byte) into one byte.
        let pairs =
            ((nibbles & 0x00ff_00ff_00ff_00ff) << 4) | ((nibbles >> 8) & 0x00ff_00ff_00ff_00ff);
        let packed = (pairs & 0xff)
            | ((pairs >> 8) & 0xff00)
            | ((pairs >> 16) & 0x00ff_0000)
            | ((pairs >> 24) & 0xff00_0000);
        out.copy_from_slice(&(packed as u32).to_le_bytes());
    }
    (invalid == 0).then_some(tag)
}

/// Decodes standard, padded base64 of exactly 32 bytes: 43 characters and one `=`, in the
/// canonical form only (the last character's two unused bits zero), as the `base64` crate's
/// `STANDARD` engine decodes it.
///
/// By hand, for this one length: a general decoder's setup costs as much as the decoding of
/// 44 characters, on every request.
fn decode_base64_bytes(text: &[u8]) -> Option<AlignedTag> {
    let text: &[u8; 44] = text.try_into().ok()?;
    let (symbols, padding) = text.split_at(43);
    if padding != b"=" {
        return None;
    }
    let mut tag = AlignedTag([0u8; 32]);
    let mut invalid = 0u8;
    // A character outside the alphabet spoils the bits it is shifted into, and marks `invalid`:
    // the tag is thrown away.
    let mut sextet = |c: u8| {
        let value = BASE64[usize::from(c)];
        invalid |= value;
        u64::from(value)
    };
    // Eight characters carry 48 bits, six bytes: five such words make the first 30 bytes.
    let (words, last) = symbols.as_chunks::<8>();
    for (out, word) in tag.0.chunks_exact_mut(6).zip(words) {
        let bits = word.iter().fold(0, |bits, &c| bits << 6 | sextet(c));
        out.copy_from_slice(&bits.to_be_bytes()[2..]);
    }
    // The last three characters carry 18 bits for the final two bytes; the two left over
    // must be zero.
    let bits = last.iter().fold(0, |bits, &c| bits << 6 | sextet(c));
    tag.0[30..].copy_from_slice(&((bits >> 2) as u16).to_be_bytes());
    (invalid & 0x80 == 0 && bits & 0b11 == 0).then_some(tag)
}

/// The value of each base64 character, and `0x80` for every other byte.
const BASE64: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0x80; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

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
        assert_eq!(Encoding::Hex.decode(&lower), Some(tag));
        assert_eq!(Encoding::Hex.decode(&lower.to_uppercase()), Some(tag));
    }

    #[test]
    fn hex_judges_every_byte_at_every_position_as_a_digit_table_would() {
        let reference = |byte: u8| (byte as char).to_digit(16);
        for position in 0..64 {
            for byte in 0..=255u8 {
                let mut text = *b"0123456789abcdefABCDEF0123456789abcdef0123456789ABCDEF0123456789";
                text[position] = byte;
                let expected = text
                    .iter()
                    .map(|&digit| reference(digit))
                    .collect::<Option<Vec<u32>>>()
                    .map(|digits| {
                        let mut tag = [0u8; 32];
                        for (byte, pair) in tag.iter_mut().zip(digits.chunks_exact(2)) {
                            *byte = (pair[0] * 16 + pair[1]) as u8;
                        }
                        tag
                    });
                assert_eq!(
                    decode_hex_bytes(&text).map(|tag| tag.0),
                    expected,
                    "byte {byte:#04x} at {position}"
                );
            }
        }
    }

    #[test]
    fn hex_refuses_wrong_length_and_digits() {
        assert_eq!(Encoding::Hex.decode(""), None);
        assert_eq!(Encoding::Hex.decode(&"a".repeat(63)), None);
        assert_eq!(Encoding::Hex.decode(&"a".repeat(66)), None);
        assert_eq!(Encoding::Hex.decode(&"g".repeat(64)), None);
        // Multi-byte UTF-8 must not be split into "digits".
        assert_eq!(Encoding::Hex.decode(&"é".repeat(32)), None);
    }

    #[test]
    fn base64_judges_every_byte_at_every_position_as_the_base64_crate_does() {
        let reference = |text: &[u8]| {
            let mut buffer = [0u8; 33];
            let len = base64::engine::general_purpose::STANDARD
                .decode_slice(text, &mut buffer)
                .ok()?;
            <[u8; 32]>::try_from(&buffer[..len]).ok()
        };
        let valid = encode_base64(&std::array::from_fn(|i| (i * 73 + 5) as u8));
        for position in 0..44 {
            for byte in 0..=255u8 {
                let mut text = valid.clone().into_bytes();
                text[position] = byte;
                let expected = reference(&text);
                // Raw header bytes, as the layer's fast path decodes them, and text.
                let decoded = Encoding::Base64.decode_bytes(&text).map(|tag| tag.0);
                assert_eq!(decoded, expected, "byte {byte:#04x} at {position}");
                if let Ok(text) = std::str::from_utf8(&text) {
                    assert_eq!(Encoding::Base64.decode(text), expected);
                }
            }
        }
    }

    #[test]
    fn base64_decodes_every_tag_the_base64_crate_encodes() {
        use proptest::prelude::*;
        proptest!(|(tag in proptest::array::uniform32(any::<u8>()))| {
            let text = base64::engine::general_purpose::STANDARD.encode(tag);
            prop_assert_eq!(Encoding::Base64.decode(&text), Some(tag));
        });
    }

    #[test]
    fn base64_round_trips_and_refuses_other_lengths() {
        let tag: Tag = std::array::from_fn(|i| (255 - i) as u8);
        let text = encode_base64(&tag);
        assert_eq!(Encoding::Base64.decode(&text), Some(tag));
        assert_eq!(Encoding::Base64.decode(&text[..43]), None);
        assert_eq!(Encoding::Base64.decode(&format!("{text}=")), None);
        assert_eq!(Encoding::Base64.decode(&"*".repeat(44)), None);
    }

    #[test]
    fn scan_keeps_the_first_value_and_notes_a_repeat() {
        let (a, b, c) = (
            HeaderName::from_static("x-a"),
            HeaderName::from_static("x-b"),
            HeaderName::from_static("x-c"),
        );
        let mut headers = HeaderMap::new();
        headers.append(&a, HeaderValue::from_static("first"));
        headers.insert(&b, HeaderValue::from_static("only"));
        headers.append(&a, HeaderValue::from_static("second"));
        let [found_a, found_b, found_c] = scan(&headers, [&a, &b, &c]);
        assert_eq!(found_a.first().unwrap(), "first");
        assert!(found_a.unique().is_none());
        assert!(matches!(
            found_a.single(&a),
            Err(VerifyError::MalformedHeader {
                reason: "sent more than once",
                ..
            })
        ));
        assert_eq!(found_b.single(&b).unwrap(), Some("only"));
        assert_eq!(found_c.single(&c).unwrap(), None);
        assert!(matches!(
            found_c.required(&c),
            Err(VerifyError::MissingHeader { .. })
        ));
    }

    #[test]
    fn ascii_splits_agree_with_the_standard_ones() {
        for text in [
            "",
            ",",
            "a",
            "a,b",
            ",a,,b,",
            "v1,abc v1,def",
            "é,ü,",
            "t=1,v1=2,v0=3",
        ] {
            for separator in [b',', b' ', b'='] {
                let expected: Vec<&str> = text.split(char::from(separator)).collect();
                assert_eq!(split_ascii(text, separator).collect::<Vec<_>>(), expected);
                assert_eq!(
                    split_once_ascii(text, separator),
                    text.split_once(char::from(separator))
                );
            }
        }
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
    fn timestamp_agrees_with_the_standard_parser_on_digit_strings_and_refuses_the_rest() {
        let header = HeaderName::from_static("x-ts");
        let reference = |text: &str| {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<i64>().ok())
                .flatten()
        };
        // Every byte at every position of numbers up to 20 digits long: the one-pass reading
        // (up to 18) and the checked one (beyond) must both spot each intruder.
        for length in 1..=20 {
            for position in 0..length {
                for byte in 0..=127u8 {
                    let mut text = "9".repeat(length).into_bytes();
                    text[position] = byte;
                    let text = String::from_utf8(text).unwrap();
                    assert_eq!(
                        Timestamp::parse(&text, &header)
                            .ok()
                            .map(|t| t.unix_seconds()),
                        reference(&text),
                        "{text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_timestamp_read_from_header_bytes_is_the_one_parse_reads() {
        let header = HeaderName::from_static("x-ts");
        for length in 1..=20 {
            for position in 0..length {
                for byte in 0..=255u8 {
                    let mut bytes = b"1".repeat(length);
                    bytes[position] = byte;
                    let parsed = std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|text| Timestamp::parse(text, &header).ok());
                    let fast = Timestamp::from_digits(&bytes);
                    // The shortcut reads up to 18 digits; longer ones go the slow way.
                    let expected = if length <= MAX_SHORT_DIGITS {
                        parsed
                    } else {
                        None
                    };
                    assert_eq!(fast, expected, "{bytes:?}");
                    if let Some(fast) = fast {
                        assert_eq!(fast.raw().as_bytes(), bytes, "the text as sent");
                    }
                    // Through a header, either way, the verdict is parse's.
                    if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                        let found = Found {
                            value: Some(&value),
                            repeated: false,
                        };
                        assert_eq!(found.timestamp(&header).ok(), parsed, "{bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn names_compare_as_equal_exactly_when_they_are() {
        // Every length around the word sizes, a difference at every position, and lengths
        // that differ by one.
        for length in 0..=40usize {
            let name: Vec<u8> = (0..length).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&name, &name.clone()), "{length}");
            for position in 0..length {
                let mut other = name.clone();
                other[position] ^= 0x20;
                assert!(!same_bytes(&name, &other), "{length} at {position}");
            }
            let mut longer = name.clone();
            longer.push(b'a');
            assert!(!same_bytes(&name, &longer), "{length} and one more");
        }
    }

    #[test]
    fn signatures_hold_a_bounded_number() {
        let mut signatures = Signatures::new();
        for i in 0..MAX_SIGNATURES {
            signatures.push([i as u8; 32]).unwrap();
        }
        assert!(signatures.push([0; 32]).is_err());
        assert_eq!(signatures.len(), MAX_SIGNATURES);
        // In the order pushed, the first one (kept inline until the second came) included.
        let expected: Vec<Tag> = (0..MAX_SIGNATURES).map(|i| [i as u8; 32]).collect();
        assert_eq!(signatures.as_slice(), expected.as_slice());
        assert_eq!(Signatures::one([7; 32]).as_slice(), &[[7; 32]]);
    }

    #[test]
    fn a_timestamp_prints_its_text_and_its_value() {
        let header = HeaderName::from_static("x-ts");
        let timestamp = Timestamp::parse("1700000000", &header).unwrap();
        assert_eq!(
            format!("{timestamp:?}"),
            r#"Timestamp { raw: "1700000000", unix_seconds: 1700000000 }"#
        );
        assert_eq!(timestamp.raw(), "1700000000");
        assert_eq!(Timestamp::from_digits(b"0042").unwrap().raw(), "0042");
    }
}
