//! What Twilio signs after the URL: a form body's parameters in canonical order, or, for a JSON
//! body, nothing but a `bodySHA256` query parameter the body must match.
//! <https://www.twilio.com/docs/usage/webhooks/webhooks-security>

use std::collections::{BTreeMap, BTreeSet};

use percent_encoding::percent_decode;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A form body's parameters as Twilio signs them: each name followed by its value, with no
/// separators, names sorted, and each name's distinct values sorted.
///
/// `String`'s order is UTF-8 byte order, which is code-point order. A name or value that does
/// not decode to UTF-8 is refused rather than decoded lossily: replacing bad bytes with U+FFFD
/// would let two different bodies share one signature.
pub(crate) fn sorted_form(body: &[u8]) -> Result<Vec<u8>, &'static str> {
    Ok(write(&parse(body)?, str::cmp))
}

/// The orders a sender may have sorted the fields in: code points (Twilio's docs, twilio-python,
/// and what the crate signs) and, when it differs, UTF-16 code units (twilio-node's plain
/// `sort()`), which put U+E000–U+FFFF after characters outside the Basic Multilingual Plane.
pub(crate) fn sorted_forms(body: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let params = parse(body)?;
    let by_code_point = write(&params, str::cmp);
    // The orders can differ only when both kinds of character are there: below U+E000 every
    // character sorts alike.
    let mut chars = params
        .iter()
        .flat_map(|(name, values)| std::iter::once(name).chain(values))
        .flat_map(|text| text.chars());
    if !chars.any(|c| c >= '\u{e000}') {
        return Ok(vec![by_code_point]);
    }
    let by_utf16 = write(&params, |a, b| a.encode_utf16().cmp(b.encode_utf16()));
    Ok(match by_utf16 == by_code_point {
        true => vec![by_code_point],
        false => vec![by_code_point, by_utf16],
    })
}

/// Every field of a form, each name's distinct values with it.
fn parse(body: &[u8]) -> Result<BTreeMap<String, BTreeSet<String>>, &'static str> {
    let mut params: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // The form parser skips empty sequences between `&`s and gives a name without `=` an empty
    // value: <https://url.spec.whatwg.org/#urlencoded-parsing>
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        };
        params
            .entry(decode(name)?)
            .or_default()
            .insert(decode(value)?);
    }
    Ok(params)
}

/// The fields, names and each name's values sorted by `order`, written name then value.
fn write(
    params: &BTreeMap<String, BTreeSet<String>>,
    order: impl Fn(&str, &str) -> std::cmp::Ordering,
) -> Vec<u8> {
    let mut names: Vec<&String> = params.keys().collect();
    names.sort_by(|a, b| order(a, b));
    let mut signed = Vec::new();
    for name in names {
        let mut values: Vec<&String> = params[name].iter().collect();
        values.sort_by(|a, b| order(a, b));
        for value in values {
            signed.extend_from_slice(name.as_bytes());
            signed.extend_from_slice(value.as_bytes());
        }
    }
    signed
}

/// One form-encoded name or value: `+` is a space, then percent-escapes are decoded (so `%2B`
/// stays a plus).
fn decode(raw: &[u8]) -> Result<String, &'static str> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8(percent_decode(&spaced).collect()).map_err(|_| "is not UTF-8 form encoding")
}

/// Whether the `bodySHA256` parameter in `url`'s query is the SHA-256 of `body` (hex, either
/// case); `None` when the query has no such parameter.
///
/// For a JSON body Twilio signs the URL only, so this hash is what ties the body to the
/// signature. The first `bodySHA256` counts, as `URLSearchParams.get` reads it in twilio-node.
pub(crate) fn body_hash_matches(url: &str, body: &[u8]) -> Option<bool> {
    let before_fragment = url.split('#').next().unwrap_or_default();
    let (_, query) = before_fragment.split_once('?')?;
    // Lossy decoding is harmless here: a replaced byte can only make the name differ or the
    // value fail to decode as hex.
    let (_, expected) =
        form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "bodySHA256")?;
    let Ok(expected) = hex::decode(expected.as_bytes()) else {
        return Some(false);
    };
    Some(Sha256::digest(body).as_slice().ct_eq(&expected).into())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, KeyInit, Mac};
    use serde_json::Value;
    use sha1::Sha1;

    use super::*;
    use crate::scheme::url::signed_url_variants;

    const FORM: &str = "application/x-www-form-urlencoded";

    fn twilio_signature(secret: &str, url: &str, params: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(url.as_bytes());
        mac.update(params);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    /// The signed URL variant that reproduces a vector's signature, if any.
    fn matching_variant(vector: &Value) -> Option<String> {
        let text = |field: &str| vector[field].as_str().expect(field);
        let (url, body) = (text("url"), text("body").as_bytes());
        let params = if text("content_type") == FORM {
            sorted_form(body).ok()?
        } else if body_hash_matches(url, body) == Some(true) {
            Vec::new()
        } else {
            return None;
        };
        let header = vector["headers"]["X-Twilio-Signature"]
            .as_str()
            .expect("signature");
        signed_url_variants(url)
            .into_iter()
            .find(|variant| twilio_signature(text("secret"), variant, &params) == header)
    }

    #[test]
    fn published_twilio_vectors() {
        let vectors: Vec<Value> =
            serde_json::from_str(include_str!("../../tests/vectors/providers.json")).unwrap();
        let twilio: Vec<&Value> = vectors.iter().filter(|v| v["scheme"] == "twilio").collect();
        assert!(!twilio.is_empty());
        for vector in twilio {
            let found = matching_variant(vector);
            match vector["expect"].as_str() {
                Some("valid") => assert!(found.is_some(), "{} should verify", vector["name"]),
                Some("invalid") => assert_eq!(found, None, "{} should not verify", vector["name"]),
                other => panic!("{}: unexpected expectation {other:?}", vector["name"]),
            }
        }
    }

    fn sorted(body: &str) -> Result<String, &'static str> {
        sorted_form(body.as_bytes()).map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn names_sort_by_bytes_and_values_are_distinct_and_sorted() {
        assert_eq!(sorted("b=2&a=1&B=3&é=4&z=5").unwrap(), "B3a1b2z5é4");
        assert_eq!(sorted("d=5678&d=1234&d=1234&c=x").unwrap(), "cxd1234d5678");
    }

    #[test]
    fn plus_and_percent_20_are_both_a_space() {
        assert_eq!(sorted("a=x+y&b=x%20y&c=%2B").unwrap(), "ax ybx yc+");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        assert_eq!(sorted("a=%FF"), Err("is not UTF-8 form encoding"));
        assert_eq!(sorted("%C3=1"), Err("is not UTF-8 form encoding"));
        assert_eq!(sorted_form(b"a=\xff"), Err("is not UTF-8 form encoding"));
        assert_eq!(sorted("a=%C3%A9").unwrap(), "aé");
    }

    #[test]
    fn empty_pieces_are_skipped_and_a_bare_name_has_an_empty_value() {
        assert_eq!(sorted("a=1&&b=2&").unwrap(), "a1b2");
        assert_eq!(sorted("flag&a=1").unwrap(), "a1flag");
        assert_eq!(sorted("a=b=c").unwrap(), "ab=c");
        assert_eq!(sorted("").unwrap(), "");
    }

    #[test]
    fn body_hash_is_read_from_the_query() {
        let hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        let url = format!("https://h.com/x?a=1&bodySHA256={hash}");
        assert_eq!(body_hash_matches(&url, b"{}"), Some(true));
        assert_eq!(body_hash_matches(&url.to_uppercase(), b"{}"), None);
        let upper = format!("https://h.com/x?bodySHA256={}", hash.to_uppercase());
        assert_eq!(body_hash_matches(&upper, b"{}"), Some(true));
        assert_eq!(body_hash_matches(&url, b"{ }"), Some(false));
        assert_eq!(
            body_hash_matches("https://h.com/x?bodySHA256=zz", b"{}"),
            Some(false)
        );
        assert_eq!(
            body_hash_matches("https://h.com/x?bodySHA256=", b"{}"),
            Some(false)
        );
        assert_eq!(body_hash_matches("https://h.com/x?a=1", b"{}"), None);
        assert_eq!(body_hash_matches("https://h.com/x", b"{}"), None);
        let fragment = format!("https://h.com/x#bodySHA256={hash}");
        assert_eq!(body_hash_matches(&fragment, b"{}"), None);
    }
}
