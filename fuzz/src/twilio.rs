//! The `twilio_form` target: Twilio's form canonicalisation and signed-URL variants, through
//! the layer and through `Scheme::sign`.

use std::sync::LazyLock;

use bytes::Bytes;
use http::{HeaderValue, Request, Uri};
use sha2::{Digest as _, Sha256};
use tower_webhook::crypto::Encoding;
use tower_webhook::scheme::{Message, Scheme, Twilio};
use tower_webhook::{Secret, Secrets, VerifySignatureLayer};

use crate::{Input, LIMIT, Outcome, ScriptedBody, drive, unsendable_id};

const TOKEN: &str = "12345";
const SIGNATURE: &str = "x-twilio-signature";
const ID: &str = "i-twilio-idempotency-token";

/// Media types a request may declare, and whether each is a URL-encoded form.
const CONTENT_TYPES: &[(&str, bool)] = &[
    ("application/x-www-form-urlencoded", true),
    ("application/x-www-form-urlencoded; charset=utf-8", true),
    ("Application/X-WWW-Form-URLEncoded", true),
    (" application/x-www-form-urlencoded ;charset=UTF-8", true),
    ("application/json", false),
    ("application/json; charset=utf-8", false),
    ("text/plain", false),
    ("application/x-www-form-urlencoded-not", false),
    ("multipart/form-data; boundary=x", false),
];

/// How a request is checked: the layer and the URL it was given.
pub struct Layers {
    /// `public_url("https://example.com/hook")`, the configuration Twilio's docs describe.
    plain: VerifySignatureLayer,
    /// The same URL with its default port written out.
    with_port: VerifySignatureLayer,
    /// The URL rebuilt from `Host` and the request's path and query.
    from_request: VerifySignatureLayer,
    /// Another token first, then the right one.
    rotated: VerifySignatureLayer,
}

impl Layers {
    pub fn new() -> Self {
        let layer = |keys: Secrets| {
            VerifySignatureLayer::new(Twilio, keys)
                .expect("a valid token")
                .max_body_size(LIMIT)
        };
        Self {
            plain: VerifySignatureLayer::new(Twilio, TOKEN)
                .and_then(|layer| layer.public_url("https://example.com/hook"))
                .expect("a valid layer")
                .max_body_size(LIMIT),
            with_port: layer(Secrets::from(TOKEN))
                .public_url("https://example.com:443/hook")
                .expect("a valid URL"),
            from_request: layer(Secrets::from(TOKEN)).public_url_from_request(),
            rotated: layer(Secrets::new().with("67890").with(TOKEN))
                .public_url("https://example.com/hook")
                .expect("a valid URL"),
        }
    }
}

impl Default for Layers {
    fn default() -> Self {
        Self::new()
    }
}

pub static LAYERS: LazyLock<Layers> = LazyLock::new(Layers::new);

/// The `twilio_form` target:
/// - arbitrary: any signature header, media type, query and body (a form of many fields, or
///   any bytes), in chunks, through any of the layers: no panic or hang, and the answer is one
///   the layer may give;
/// - signed: a form or JSON body, a query (with the body's `bodySHA256` or not) and a media
///   type, signed with `Scheme::sign` for the URL as Twilio's SDKs may write it: whenever
///   signing succeeds the request is accepted by every layer, whatever media type it is sent
///   as, and refused with the wrong token, a changed signature, or (with the hash in the URL)
///   another body; signing refuses only an id no header can carry or, without the body's hash
///   first in the URL, a body that is not a UTF-8 form;
/// - any URL: `Scheme::sign` with a fuzzed URL and media type never panics, and what it signs
///   verifies on a layer given that URL.
pub fn fuzz_twilio(data: &[u8]) {
    let mut input = Input::new(data);
    match input.byte() % 4 {
        0 => arbitrary(&mut input),
        1 => any_url(&mut input),
        _ => signed(&mut input),
    }
}

fn arbitrary(input: &mut Input<'_>) {
    let layers = &*LAYERS;
    let layer = match input.byte() % 4 {
        0 => &layers.plain,
        1 => &layers.with_port,
        2 => &layers.from_request,
        _ => &layers.rotated,
    };
    let query = query(input);
    let body = Bytes::from(form(input));
    let mut request = Request::post(uri(&query))
        .body(ScriptedBody::chunked(input, &body))
        .expect("a valid request");
    let headers = request.headers_mut();
    for _ in 0..input.byte() % 5 {
        let name = match input.byte() % 6 {
            0 | 1 => SIGNATURE,
            2 => "content-type",
            3 => ID,
            4 => "host",
            _ => "x-forwarded-proto",
        };
        let value = match input.byte() {
            // A signature of the right length, or a known media type.
            0..=0x3F => Encoding::Base64.encode(&(0..20).map(|_| input.byte()).collect::<Vec<_>>()),
            0x40..=0x7F => {
                let (text, _) = CONTENT_TYPES[usize::from(input.byte()) % CONTENT_TYPES.len()];
                text.to_owned()
            }
            _ => String::from_utf8_lossy(input.short_bytes()).into_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    drive(layer, request);
}

fn signed(input: &mut Input<'_>) {
    let flags = input.byte();
    let body = form(input);
    let mut query = query(input);
    // Unless the fuzzed query names `bodySHA256` itself (perhaps escaped), the hash added here
    // is the first, which is the one that counts.
    let hash_first = !query.contains("bodySHA256") && !query.contains('%');
    if flags & 1 == 1 {
        // The hash Twilio adds for a body that is not a form.
        let hash = Encoding::Hex.encode(&Sha256::digest(&body));
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str("bodySHA256=");
        query.push_str(&hash);
    }
    let pick = usize::from(input.byte()) % (CONTENT_TYPES.len() + 1);
    let content_type = CONTENT_TYPES.get(pick).copied();
    let is_form = content_type.is_none_or(|(_, form)| form);
    let id = match flags & 2 {
        0 => None,
        _ => Some(String::from_utf8_lossy(input.short_bytes()).into_owned()),
    };
    let uri = uri(&query);
    // The URL the layer rebuilds: its own, with the request's query.
    let query = uri.query();
    let base = match flags & 4 {
        0 => "https://example.com/hook",
        _ => "https://example.com:443/hook",
    };
    let url = match query {
        Some(query) => format!("{base}?{query}"),
        None => base.to_owned(),
    };
    let body = Bytes::from(body);
    let mut message = Message::new(&body).url(&url);
    if let Some((content_type, _)) = content_type {
        message = message.content_type(content_type);
    }
    if let Some(id) = &id {
        message = message.id(id);
    }
    // Whether the URL carries the body's hash first (the query travels only when it parses as
    // part of a URI), and whether it may carry another `bodySHA256` first.
    let hashed = flags & 1 == 1 && hash_first && query.is_some();
    let maybe_hashed = !hash_first && query.is_some();
    let headers = match Twilio.sign(&Secret::new(TOKEN), &message) {
        Ok(headers) => headers,
        Err(error) => {
            // With the body's hash in the URL only the URL is signed; without one the body's
            // fields are, which a form that is not UTF-8, or a body not declared a form, lacks.
            let may_refuse = id.as_deref().is_some_and(unsendable_id)
                || (!hashed && (maybe_hashed || !is_form || !form_is_utf8(&body)));
            assert!(may_refuse, "signing failed: {error}");
            return;
        }
    };
    let request = |headers: &http::HeaderMap, input: &mut Input<'_>| {
        let body = match flags & 8 {
            0 => ScriptedBody::whole(&body),
            _ => ScriptedBody::chunked(input, &body),
        };
        let fails = body.fails();
        let mut request = Request::post(uri.clone())
            .body(body)
            .expect("a valid request");
        *request.headers_mut() = headers.clone();
        // Nobody signs the media type: what is signed does not depend on it.
        let sent_type = match flags & 16 {
            0 => content_type.map_or("application/x-www-form-urlencoded", |(t, _)| t),
            _ => CONTENT_TYPES[usize::from(flags >> 5) % CONTENT_TYPES.len()].0,
        };
        let value = HeaderValue::from_static(sent_type);
        request.headers_mut().insert("content-type", value);
        request
            .headers_mut()
            .insert("host", HeaderValue::from_static("example.com"));
        (request, fails)
    };
    let layers = &*LAYERS;
    for (layer, key_index) in [
        (&layers.plain, 0),
        (&layers.with_port, 0),
        (&layers.from_request, 0),
        (&layers.rotated, 1),
    ] {
        let (sent, fails) = request(&headers, input);
        match drive(layer, sent) {
            Outcome::Accepted(verified, received) => {
                assert!(!fails, "a body that failed was accepted");
                assert_eq!(received, body);
                assert_eq!(verified.key_index(), key_index);
                assert_eq!(verified.id(), id.as_deref());
            }
            Outcome::Answered => panic!("Twilio has no handshake"),
            Outcome::Refused(error) => assert!(
                fails || body.len() > LIMIT,
                "a signed request was refused: {error}"
            ),
        }
    }

    // The wrong token, and a signature changed in one character, are refused.
    let wrong = Twilio
        .sign(&Secret::new("54321"), &message)
        .expect("signs as with the right token");
    let (sent, _) = request(&wrong, input);
    assert!(!drive(&layers.plain, sent).is_accepted(), "the wrong token");
    let mut changed = headers.clone();
    let mut signature = changed[SIGNATURE].as_bytes().to_vec();
    let at = usize::from(input.byte()) % signature.len();
    signature[at] = match signature[at] {
        b'A' => b'B',
        _ => b'A',
    };
    changed.insert(
        SIGNATURE,
        HeaderValue::from_bytes(&signature).expect("ASCII"),
    );
    let (sent, _) = request(&changed, input);
    assert!(
        !drive(&layers.plain, sent).is_accepted(),
        "a changed signature"
    );

    // With the body's hash in the signed URL, any other body is refused, whatever it is sent
    // as (a resent JSON delivery posing as an empty form, say).
    if hashed {
        let mut other = body.to_vec();
        match other.is_empty() {
            true => other.push(input.byte()),
            false => {
                let at = usize::from(input.u16()) % other.len();
                other[at] ^= input.byte().max(1);
            }
        }
        let mut sent = Request::post(uri.clone())
            .body(ScriptedBody::whole(&Bytes::from(other)))
            .expect("a valid request");
        *sent.headers_mut() = headers.clone();
        sent.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert!(
            !drive(&layers.plain, sent).is_accepted(),
            "another body under the hash"
        );
    }
}

fn any_url(input: &mut Input<'_>) {
    let url = String::from_utf8_lossy(input.short_bytes()).into_owned();
    let content_type = match input.byte() {
        0..=0x7F => None,
        _ => Some(String::from_utf8_lossy(input.short_bytes()).into_owned()),
    };
    let body = form(input);
    let mut message = Message::new(&body).url(&url);
    if let Some(content_type) = &content_type {
        message = message.content_type(content_type);
    }
    let Ok(headers) = Twilio.sign(&Secret::new(TOKEN), &message) else {
        return;
    };
    // A URL with a query is used as it is; a request without one adds nothing to it.
    let Ok(layer) = VerifySignatureLayer::new(Twilio, TOKEN)
        .and_then(|layer| layer.public_url(&url))
        .map(|layer| layer.max_body_size(LIMIT))
    else {
        return;
    };
    let content_type = content_type.unwrap_or("application/x-www-form-urlencoded".to_owned());
    let Ok(content_type) = HeaderValue::from_str(&content_type) else {
        return;
    };
    if content_type.to_str().is_err() {
        return;
    }
    let body = Bytes::from(body);
    let mut request = Request::post("/hook")
        .body(ScriptedBody::whole(&body))
        .expect("a valid request");
    *request.headers_mut() = headers;
    request.headers_mut().insert("content-type", content_type);
    match drive(&layer, request) {
        Outcome::Accepted(_, received) => assert_eq!(received, body),
        Outcome::Answered => panic!("Twilio has no handshake"),
        Outcome::Refused(error) => {
            assert!(body.len() > LIMIT, "signed for {url:?}, refused: {error}")
        }
    }
}

/// A body: mostly a form of many fields, with escapes, `+`, empty pieces and bare names;
/// sometimes any bytes.
fn form(input: &mut Input<'_>) -> Vec<u8> {
    if input.byte().is_multiple_of(4) {
        return input.bytes().to_vec();
    }
    let mut body = Vec::new();
    for n in 0..input.byte() % 24 {
        if n > 0 {
            body.push(b'&');
        }
        body.extend(form_text(input));
        if input.byte() != 0xFF {
            body.push(b'=');
            body.extend(form_text(input));
        }
    }
    body
}

/// A name or a value: the input's bytes, some turned into percent-escapes of any byte.
fn form_text(input: &mut Input<'_>) -> Vec<u8> {
    let mut text = Vec::new();
    for &byte in input.short_bytes() {
        match byte {
            0x80..=0x9F => text.extend(format!("%{:02X}", byte.wrapping_mul(0x35)).bytes()),
            0xA0..=0xA3 => text.push(b'+'),
            _ => text.push(byte),
        }
    }
    text
}

/// A query of the input's choosing, with the bytes a URI may not hold escaped.
fn query(input: &mut Input<'_>) -> String {
    let mut query = String::new();
    for &byte in &form(input) {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte) {
            query.push(char::from(byte));
        } else {
            query.push_str(&format!("%{byte:02X}"));
        }
    }
    query
}

/// `/hook` with the query, or without one when there is none or it would not parse.
fn uri(query: &str) -> Uri {
    match query.is_empty() {
        true => Uri::from_static("/hook"),
        false => format!("/hook?{query}")
            .parse()
            .unwrap_or(Uri::from_static("/hook")),
    }
}

/// Whether every name and value of a URL-encoded form decodes to UTF-8, read here as the
/// WHATWG form parser reads it: `&`-separated, `+` for a space, `%XX` for a byte, and a `%`
/// not followed by two hex digits kept as it is.
/// <https://url.spec.whatwg.org/#urlencoded-parsing>
pub fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|&b| b == b'&').all(|pair| {
        let mut decoded = Vec::new();
        let mut at = 0;
        while at < pair.len() {
            let escape = pair
                .get(at + 1..at + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit));
            match (pair[at], escape) {
                (b'%', Some(hex)) => {
                    let hex = std::str::from_utf8(hex).expect("hex digits");
                    decoded.push(u8::from_str_radix(hex, 16).expect("hex digits"));
                    at += 3;
                }
                // `=` splits a name from its value: both must decode.
                (b'=', _) => {
                    if std::str::from_utf8(&decoded).is_err() {
                        return false;
                    }
                    decoded.clear();
                    at += 1;
                }
                (byte, _) => {
                    decoded.push(byte);
                    at += 1;
                }
            }
        }
        std::str::from_utf8(&decoded).is_ok()
    })
}
