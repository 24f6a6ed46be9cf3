//! Shared pieces of the fuzz targets: reading structured input out of libFuzzer's bytes, the
//! schemes under test, a body that arrives the way the input says, and the properties checked.

pub mod keys;
pub mod presets;
pub mod timestamps;
pub mod twilio;

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;
use tower_webhook::crypto::{Encoding, MAX_SIGNATURES};
use tower_webhook::scheme::{
    Calendly, CustomScheme, Discord, Generic, GitHub, Message, Mux, Paddle, PagerDuty, Scheme,
    SendGrid, Shopify, Slack, StandardWebhooks, Stripe, Timestamp, TimestampFormat, WorkOs,
};
use tower_webhook::{Secret, Verified, VerifiedBody, VerifyError, VerifySignatureLayer};

/// Reads values out of the fuzzer's bytes; past the end, everything reads as zero or empty.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn i16(&mut self) -> i16 {
        i16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    pub fn i64(&mut self) -> i64 {
        i64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    /// Up to `u16::MAX` bytes, length first.
    pub fn bytes(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16()).min(self.data.len());
        let (taken, rest) = self.data.split_at(len);
        self.data = rest;
        taken
    }

    /// Up to 255 bytes, length first.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let len = usize::from(self.byte()).min(self.data.len());
        let (taken, rest) = self.data.split_at(len);
        self.data = rest;
        taken
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// A scheme under test: the scheme, the headers it reads, and how it encodes signatures.
pub struct Subject {
    pub scheme: Arc<dyn Scheme>,
    pub headers: Vec<HeaderName>,
    pub encoding: Encoding,
    pub secrets: [&'static str; 2],
}

fn names(names: &[&'static str]) -> Vec<HeaderName> {
    names
        .iter()
        .map(|name| HeaderName::from_static(name))
        .collect()
}

pub fn github() -> Subject {
    Subject {
        scheme: Arc::new(GitHub),
        headers: names(&["x-hub-signature-256", "x-github-delivery", "x-github-event"]),
        encoding: Encoding::Hex,
        secrets: ["first secret", "second secret"],
    }
}

pub fn stripe() -> Subject {
    Subject {
        scheme: Arc::new(Stripe),
        headers: names(&["stripe-signature"]),
        encoding: Encoding::Hex,
        secrets: ["whsec_first", "whsec_second"],
    }
}

pub fn slack() -> Subject {
    Subject {
        scheme: Arc::new(Slack),
        headers: names(&["x-slack-signature", "x-slack-request-timestamp"]),
        encoding: Encoding::Hex,
        secrets: ["first secret", "second secret"],
    }
}

pub fn standard_webhooks() -> Subject {
    Subject {
        scheme: Arc::new(StandardWebhooks),
        headers: names(&[
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "svix-id",
            "svix-timestamp",
            "svix-signature",
        ]),
        encoding: Encoding::Base64,
        secrets: [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ],
    }
}

pub fn shopify() -> Subject {
    Subject {
        scheme: Arc::new(Shopify),
        headers: names(&[
            "x-shopify-hmac-sha256",
            "x-shopify-webhook-id",
            "x-shopify-topic",
        ]),
        encoding: Encoding::Base64,
        secrets: ["first secret", "second secret"],
    }
}

pub fn generic() -> Subject {
    Subject {
        scheme: Arc::new(Generic),
        headers: names(&["x-webhook-signature", "x-webhook-timestamp", "x-webhook-id"]),
        encoding: Encoding::Hex,
        secrets: ["first secret", "second secret"],
    }
}

/// Discord signs with a private key, given as a secret: RFC 8032's first two test seeds.
pub fn discord() -> Subject {
    Subject {
        scheme: Arc::new(Discord),
        headers: names(&["x-signature-ed25519", "x-signature-timestamp"]),
        encoding: Encoding::Hex,
        secrets: [
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        ],
    }
}

/// SendGrid signs with a P-256 private key, given as a secret: two keys made for these targets
/// (PKCS#8 DER in base64), used nowhere else.
pub fn sendgrid() -> Subject {
    Subject {
        scheme: Arc::new(SendGrid),
        headers: names(&[
            "x-twilio-email-event-webhook-signature",
            "x-twilio-email-event-webhook-timestamp",
        ]),
        encoding: Encoding::Base64,
        secrets: [
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgisxwdnfZ/xky+jnmtAMK1J6Pc0HJV3R9bXch19TG3KChRANCAARLqSg2YSFX9k4H04FWd5zuacw7H0ajJ37gvbV+DKQHcpbj7RDUQXop0p95E7oOCGc9LukxgoB5phOmxp5JdDtm",
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1YvqvFCs1P1271V3NDFoatdFMepe1LVzqPyvpJMnmuyhRANCAATFaHTK+t2WUNqHda4QZSXE4HDsscz53+LljrJKf3VQeo53RutywbQjYo6HrfrXzVCQ5jnSZpo9J0lnPXbif0Bb",
        ],
    }
}

pub fn custom() -> Subject {
    let scheme = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
        .named("acme")
        .signature_prefix("v2=")
        .encoding(Encoding::Base64)
        .timestamp_header(HeaderName::from_static("x-acme-timestamp"))
        .id_header(HeaderName::from_static("x-acme-delivery"))
        .signed_content("{id}:{timestamp}:{body}")
        .expect("a valid template");
    Subject {
        scheme: Arc::new(scheme),
        headers: names(&["x-acme-signature", "x-acme-timestamp", "x-acme-delivery"]),
        encoding: Encoding::Base64,
        secrets: ["first secret", "second secret"],
    }
}

/// A preset whose signature header is a list with the timestamp among the signatures (or, for
/// PagerDuty, a list alone), and that list's shape as its documentation gives it.
pub struct ListSubject {
    pub subject: Subject,
    pub separator: &'static str,
    pub pair: char,
    pub version: &'static str,
    pub timestamp_key: Option<&'static str>,
}

fn list(
    scheme: Arc<dyn Scheme>,
    headers: &[&'static str],
    (separator, pair, version, timestamp_key): (
        &'static str,
        char,
        &'static str,
        Option<&'static str>,
    ),
) -> ListSubject {
    ListSubject {
        subject: Subject {
            scheme,
            headers: names(headers),
            encoding: Encoding::Hex,
            secrets: ["pdl_ntfset_01_first", "second secret"],
        },
        separator,
        pair,
        version,
        timestamp_key,
    }
}

/// Paddle, PagerDuty, Calendly, WorkOS and Mux, in the order `parse_lists` picks them.
pub fn list_subjects() -> Vec<ListSubject> {
    vec![
        list(
            Arc::new(Paddle),
            &["paddle-signature"],
            (";", '=', "h1", Some("ts")),
        ),
        list(
            Arc::new(PagerDuty),
            &["x-pagerduty-signature", "x-webhook-id"],
            (",", '=', "v1", None),
        ),
        list(
            Arc::new(Calendly),
            &["calendly-webhook-signature"],
            (",", '=', "v1", Some("t")),
        ),
        list(
            Arc::new(WorkOs),
            &["workos-signature"],
            (", ", '=', "v1", Some("t")),
        ),
        list(
            Arc::new(Mux),
            &["mux-signature"],
            (",", '=', "v1", Some("t")),
        ),
    ]
}

/// The `parse_lists` target: as the `parse_*` targets, with the signature header often built
/// as a list of the preset's shape (signatures of the right and wrong lengths, timestamps,
/// other entries, separators right and wrong) so that most inputs get past the first entry.
pub fn fuzz_parse_list(subjects: &[ListSubject], data: &[u8]) {
    let mut input = Input::new(data);
    let list = &subjects[usize::from(input.byte()) % subjects.len()];
    let subject = &list.subject;
    match input.byte() % 4 {
        0 => round_trip(subject, &mut input),
        1 => {
            let mut headers = HeaderMap::new();
            arbitrary_headers(subject, &mut input, &mut headers);
            check_parse(subject.scheme.as_ref(), &headers, Some(subject.encoding));
        }
        _ => {
            let mut headers = HeaderMap::new();
            let value = list_value(list, &mut input);
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(subject.headers[0].clone(), value);
            }
            arbitrary_headers(subject, &mut input, &mut headers);
            check_parse(subject.scheme.as_ref(), &headers, Some(subject.encoding));
        }
    }
}

/// A signature list in `list`'s shape, entry by entry as the input chooses.
fn list_value(list: &ListSubject, input: &mut Input<'_>) -> Vec<u8> {
    let mut value = Vec::new();
    let entries = input.byte() % 12;
    for n in 0..entries {
        if n > 0 {
            let separator = match input.byte() {
                0..=0xDF => list.separator,
                0xE0..=0xE7 => ",",
                0xE8..=0xEF => ";",
                0xF0..=0xF7 => " ",
                _ => "",
            };
            value.extend_from_slice(separator.as_bytes());
        }
        let key = list.timestamp_key.unwrap_or("t");
        let pair = list.pair.to_string();
        let mut entry = |name: &str, text: &[u8]| {
            value.extend_from_slice(name.as_bytes());
            value.extend_from_slice(pair.as_bytes());
            value.extend_from_slice(text);
        };
        match input.byte() % 8 {
            // A signature: HMAC-SHA256's 32 bytes, or another length.
            0..=2 => {
                let len = match input.byte() {
                    0..=0xBF => 32,
                    other => usize::from(other % 40),
                };
                let bytes: Vec<u8> = (0..len).map(|_| input.byte()).collect();
                let mut hex = Encoding::Hex.encode(&bytes);
                if input.byte() & 0x0F == 0 {
                    hex.make_ascii_uppercase();
                }
                entry(list.version, hex.as_bytes());
            }
            3 => entry(key, input.u64().to_string().as_bytes()),
            4 => entry(key, input.short_bytes()),
            5 => entry(list.version, input.short_bytes()),
            6 => {
                let name = String::from_utf8_lossy(input.short_bytes()).into_owned();
                entry(&name, input.short_bytes());
            }
            _ => value.extend_from_slice(input.short_bytes()),
        }
    }
    value
}

/// Every scheme, in the order the `layer` target picks them by its first byte.
pub fn subjects() -> Vec<Subject> {
    vec![
        github(),
        stripe(),
        slack(),
        standard_webhooks(),
        shopify(),
        generic(),
        custom(),
    ]
}

/// Arbitrary headers, mostly with the names the scheme reads (repeats included).
fn arbitrary_headers(subject: &Subject, input: &mut Input<'_>, headers: &mut HeaderMap) {
    let count = input.byte() % 8;
    for _ in 0..count {
        let pick = input.byte();
        let name = if pick < 0xF0 {
            subject.headers[usize::from(pick) % subject.headers.len()].clone()
        } else {
            match HeaderName::from_bytes(input.short_bytes()) {
                Ok(name) => name,
                Err(_) => continue,
            }
        };
        if let Ok(value) = HeaderValue::from_bytes(input.bytes()) {
            headers.append(name, value);
        }
    }
}

/// The `parse_*` targets: a scheme's header parser never panics, and what it returns is what
/// the headers hold.
pub fn fuzz_parse(subject: &Subject, data: &[u8]) {
    let mut input = Input::new(data);
    if input.byte() & 1 == 1 {
        return round_trip(subject, &mut input);
    }
    let mut headers = HeaderMap::new();
    arbitrary_headers(subject, &mut input, &mut headers);
    check_parse(subject.scheme.as_ref(), &headers, Some(subject.encoding));
}

/// Parses `headers` with `scheme`: a success returns 1–8 signatures that each appear in a
/// header (written in `encoding`, or in any encoding when it is `None`), a timestamp that is in
/// a header and names the instant its digits say, and an id that is a header's value; a
/// refusal has a 400 or 401 status and a message.
pub fn check_parse(scheme: &dyn Scheme, headers: &HeaderMap, encoding: Option<Encoding>) {
    let signed = match scheme.parse(headers) {
        Ok(signed) => signed,
        Err(error) => return check_error(&error),
    };
    let count = signed.signatures.len();
    assert!((1..=MAX_SIGNATURES).contains(&count), "{count} signatures");
    // Hex may come in either case; the crate writes it in lowercase.
    let texts: Vec<String> = texts_of(headers)
        .flat_map(|text| [text.to_owned(), text.to_ascii_lowercase()])
        .collect();
    let encodings = match encoding {
        Some(encoding) => vec![encoding],
        None => vec![Encoding::Hex, Encoding::Base64, Encoding::Base64Url],
    };
    for tag in signed.signatures.as_slice() {
        let found = encodings.iter().any(|&encoding| {
            let encoded = tag.encode(encoding);
            texts.iter().any(|text| text.contains(&encoded))
        });
        assert!(found, "a signature that is in no header");
    }
    if let Some(timestamp) = signed.timestamp {
        check_timestamp(scheme.timestamp_format(), &timestamp, &texts);
    }
    if let Some(id) = signed.id {
        assert!(
            texts_of(headers).any(|text| text == id),
            "an id in no header"
        );
    }
}

/// A parsed timestamp is text from a header, and the instant it names is the one its digits say.
fn check_timestamp(format: TimestampFormat, timestamp: &Timestamp<'_>, texts: &[String]) {
    let raw = timestamp.raw();
    assert!(
        texts.iter().any(|text| text.contains(raw)),
        "a timestamp in no header"
    );
    let seconds = i128::from(timestamp.unix_seconds());
    match format {
        TimestampFormat::Seconds => assert_eq!(digits_value(raw), Some(seconds), "{raw:?}"),
        TimestampFormat::Milliseconds => assert_eq!(
            digits_value(raw).map(|millis| millis.div_euclid(1000)),
            Some(seconds),
            "{raw:?}"
        ),
        // RFC 3339: only instants from 1970 on are read.
        _ => assert!(seconds >= 0, "{raw:?}"),
    }
}

/// The number a non-empty run of ASCII digits writes, read here without `str::parse` (which
/// also takes a sign); `None` for anything else or beyond `i128`.
pub fn digits_value(raw: &str) -> Option<i128> {
    if raw.is_empty() {
        return None;
    }
    raw.bytes().try_fold(0i128, |value, byte| {
        let digit = byte.is_ascii_digit().then(|| i128::from(byte - b'0'))?;
        value.checked_mul(10)?.checked_add(digit)
    })
}

fn texts_of(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers.values().filter_map(|value| value.to_str().ok())
}

pub fn check_error(error: &VerifyError) {
    let status = error.status().as_u16();
    assert!(matches!(status, 400 | 401 | 413), "status {status}");
    assert!(!error.to_string().is_empty());
    assert_eq!(error.to_response().status(), error.status());
}

/// The first instant RFC 3339 cannot write with four year digits: 10000-01-01T00:00:00Z.
pub const RFC3339_END: i64 = 253_402_300_800;

/// Whether an id cannot travel as a header value the verifier reads back: bytes outside
/// visible ASCII and tabs, or a space or tab at either end, which HTTP parsers strip.
pub fn unsendable_id(id: &str) -> bool {
    let padded = id.starts_with([' ', '\t']) || id.ends_with([' ', '\t']);
    let readable = id.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    padded || !readable
}

/// Whether a timestamp cannot be written in `format`: before 1970, milliseconds beyond `i64`,
/// or RFC 3339 past the year 9999.
pub fn unwritable_timestamp(format: TimestampFormat, timestamp: i64) -> bool {
    timestamp < 0
        || match format {
            TimestampFormat::Seconds => false,
            TimestampFormat::Milliseconds => timestamp > i64::MAX / 1000,
            _ => timestamp >= RFC3339_END,
        }
}

/// What `sign` writes, `parse` reads back: the same timestamp and id, one signature.
fn round_trip(subject: &Subject, input: &mut Input<'_>) {
    let secret = Secret::new(subject.secrets[usize::from(input.byte() & 1)]);
    let timestamp = input.i64() & i64::MAX;
    let id = String::from_utf8_lossy(input.short_bytes()).into_owned();
    let body = input.rest();
    let message = Message::new(body).id(&id).timestamp(timestamp);
    let format = subject.scheme.timestamp_format();
    let Ok(headers) = subject.scheme.sign(&secret, &message) else {
        // Only an id or a timestamp that cannot travel in a header may fail.
        assert!(
            unsendable_id(&id) || unwritable_timestamp(format, timestamp),
            "signing {id:?} at {timestamp} failed"
        );
        return;
    };
    let signed = subject
        .scheme
        .parse(&headers)
        .expect("what sign writes parses");
    assert_eq!(signed.signatures.len(), 1);
    if let Some(parsed) = signed.timestamp {
        assert_eq!(parsed.unix_seconds(), timestamp);
    }
    if let Some(parsed) = signed.id {
        assert_eq!(parsed, id);
    }
}

/// One step of a request body.
enum Step {
    Data(Bytes),
    Trailers,
    Pending,
    Error,
}

/// A request body that arrives in the chunks, pauses, trailers and errors the input chose.
pub struct ScriptedBody {
    steps: VecDeque<Step>,
    /// The exact size the body declares, if any.
    pub hint: Option<u64>,
}

impl ScriptedBody {
    /// The body in one chunk.
    pub fn whole(body: &Bytes) -> Self {
        let steps = match body.is_empty() {
            true => VecDeque::new(),
            false => VecDeque::from([Step::Data(body.clone())]),
        };
        Self { steps, hint: None }
    }

    /// The body in the chunks the input chooses, with pauses, trailers, and perhaps an error
    /// that ends it early.
    pub fn chunked(input: &mut Input<'_>, body: &Bytes) -> Self {
        let mut steps = VecDeque::new();
        let mut rest = body.clone();
        while !rest.is_empty() {
            let control = input.byte();
            match control {
                0xF0..=0xF7 => steps.push_back(Step::Pending),
                0xF8..=0xFB => steps.push_back(Step::Trailers),
                0xFC => {
                    steps.push_back(Step::Error);
                    break;
                }
                _ => {}
            }
            let len = if input.is_empty() {
                rest.len()
            } else {
                (usize::from(input.u16()) % 1500).min(rest.len())
            };
            steps.push_back(Step::Data(rest.split_to(len)));
        }
        Self { steps, hint: None }
    }

    /// Whether the body ends in an error.
    pub fn fails(&self) -> bool {
        self.steps.iter().any(|step| matches!(step, Step::Error))
    }
}

impl Body for ScriptedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.steps.pop_front() {
            None => Poll::Ready(None),
            Some(Step::Data(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Some(Step::Trailers) => Poll::Ready(Some(Ok(Frame::trailers(HeaderMap::new())))),
            Some(Step::Error) => Poll::Ready(Some(Err(std::io::Error::other("connection reset")))),
            Some(Step::Pending) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.hint {
            Some(exact) => SizeHint::with_exact(exact),
            None => SizeHint::default(),
        }
    }
}

/// The inner service: answers 200 and records what it was given.
#[derive(Clone)]
struct Recorder {
    seen: Arc<Mutex<Vec<(Verified, Bytes)>>>,
}

impl Service<Request<VerifiedBody>> for Recorder {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<String>, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<VerifiedBody>) -> Self::Future {
        let verified = request
            .extensions()
            .get::<Verified>()
            .expect("the layer inserts Verified")
            .clone();
        let body = read_now(request.into_body());
        self.seen.lock().unwrap().push((verified, body));
        std::future::ready(Ok(Response::new("ok".to_owned())))
    }
}

fn read_now(body: VerifiedBody) -> Bytes {
    let mut body = std::pin::pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    let mut collected = Vec::new();
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        if let Ok(data) = frame.expect("infallible").into_data() {
            collected.extend_from_slice(&data);
        }
    }
    collected.into()
}

pub const NOW: i64 = 1_700_000_000;
pub const LIMIT: usize = 4096;
const TOLERANCE_SECONDS: i64 = 300;

/// One layer per scheme, built once.
pub struct Layers {
    subjects: Vec<(Subject, VerifySignatureLayer)>,
}

impl Layers {
    pub fn new() -> Self {
        let subjects = subjects()
            .into_iter()
            .map(|subject| {
                let layer = VerifySignatureLayer::new(Arc::clone(&subject.scheme), subject.secrets)
                    .expect("valid secrets")
                    .clock(|| NOW)
                    .tolerance(std::time::Duration::from_secs(TOLERANCE_SECONDS as u64))
                    .max_body_size(LIMIT);
                (subject, layer)
            })
            .collect();
        Self { subjects }
    }
}

impl Default for Layers {
    fn default() -> Self {
        Self::new()
    }
}

/// The `layer` target: the whole layer, fed arbitrary or signed-then-tampered headers and a
/// body in arbitrary chunks. Never a panic or a hang; a request reaches the inner service
/// exactly when it is answered 200; what reaches it is the body as sent and re-verifies with
/// the scheme's own `sign`; an untampered, fresh, well-sized delivery is always accepted.
pub fn fuzz_layer(layers: &Layers, data: &[u8]) {
    let mut input = Input::new(data);
    let (subject, layer) = &layers.subjects[usize::from(input.byte()) % layers.subjects.len()];
    let flags = input.byte();
    let body_bytes = Bytes::copy_from_slice(input.bytes());

    let mut headers = HeaderMap::new();
    let mut untampered = false;
    if flags & 1 == 1 {
        let which = usize::from(input.byte() % 3);
        let secret = Secret::new(match which {
            0 | 1 => subject.secrets[which],
            _ => "a secret nobody configured",
        });
        let offset = i64::from(input.i16() % 400);
        let id = String::from_utf8_lossy(input.short_bytes()).into_owned();
        let message = Message::new(&body_bytes).id(&id).timestamp(NOW + offset);
        if let Ok(signed) = subject.scheme.sign(&secret, &message) {
            headers = signed;
            untampered = which < 2 && offset.abs() <= TOLERANCE_SECONDS;
        }
        let mutations = input.byte() % 4;
        for _ in 0..mutations {
            untampered &= !tamper(subject, &mut input, &mut headers);
        }
    } else {
        arbitrary_headers(subject, &mut input, &mut headers);
    }

    match (flags >> 1) & 3 {
        0 => {}
        1 => {
            headers.insert(http::header::CONTENT_LENGTH, body_bytes.len().into());
        }
        2 => {
            let declared = u64::from_le_bytes(std::array::from_fn(|_| input.byte()));
            headers.insert(http::header::CONTENT_LENGTH, declared.into());
            untampered &= declared == body_bytes.len() as u64;
        }
        _ => {
            if let Ok(value) = HeaderValue::from_bytes(input.short_bytes()) {
                headers.insert(http::header::CONTENT_LENGTH, value);
                untampered = false;
            }
        }
    }

    let mut body = ScriptedBody::chunked(&mut input, &body_bytes);
    let failed = body.fails();
    untampered &= !failed && body_bytes.len() <= LIMIT;
    body.hint = match flags >> 3 & 3 {
        1 => Some(body_bytes.len() as u64),
        2 => Some(u64::from(input.u16())),
        _ => None,
    };
    if let Some(hint) = body.hint {
        untampered &= hint <= LIMIT as u64;
    }

    let mut request = Request::post("/webhook")
        .body(body)
        .expect("a valid request");
    *request.headers_mut() = headers.clone();

    match drive(layer, request) {
        Outcome::Refused(error) => {
            assert!(!untampered, "a valid delivery was refused: {error}");
        }
        // Slack's `url_verification`, signed: answered, not passed on.
        Outcome::Answered => {}
        Outcome::Accepted(verified, body) => {
            assert!(!failed, "a body that failed was accepted");
            assert_eq!(body, body_bytes, "the inner service got other bytes");
            assert!(body.len() <= LIMIT);
            resigns(subject, &headers, &verified);
        }
    }
}

/// How the layer answered one request.
pub enum Outcome {
    /// Refused, with the error the response carries (its status checked).
    Refused(VerifyError),
    /// A provider's endpoint check answered by the layer itself: 200, and the inner service not
    /// called.
    Answered,
    /// Passed on: what the inner service got, which the response's 200 came from.
    Accepted(Verified, Bytes),
}

impl Outcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted(..))
    }
}

/// Runs `request` through `layer` to the end and checks what every answer must be: no panic or
/// hang; the inner service called at most once, and then answered 200 with the body as the
/// proof has it; a refusal carries its `VerifyError` with the matching status.
pub fn drive(layer: &VerifySignatureLayer, request: Request<ScriptedBody>) -> Outcome {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut service = layer.layer(Recorder {
        seen: Arc::clone(&seen),
    });
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Service::<Request<ScriptedBody>>::poll_ready(&mut service, &mut cx).is_ready());
    let mut future = std::pin::pin!(service.call(request));
    let mut polls = 0;
    let response = loop {
        if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
            break response.expect("infallible");
        }
        polls += 1;
        assert!(polls < 100_000, "the layer never finished a ready body");
    };

    let mut seen = std::mem::take(&mut *seen.lock().unwrap());
    let error = response.extensions().get::<VerifyError>().cloned();
    match (seen.pop(), error) {
        (None, Some(error)) => {
            check_error(&error);
            assert_eq!(response.status(), error.status());
            Outcome::Refused(error)
        }
        (None, None) => {
            assert_eq!(response.status(), 200, "an answer that is no refusal");
            Outcome::Answered
        }
        (Some((verified, body)), None) => {
            assert!(seen.is_empty(), "the inner service was called twice");
            assert_eq!(response.status(), 200);
            assert_eq!(verified.body(), &body, "the proof holds other bytes");
            Outcome::Accepted(verified, body)
        }
        (Some(_), Some(error)) => panic!("passed on, yet refused: {error}"),
    }
}

/// Changes the headers; returns whether the signed request may have stopped being valid.
fn tamper(subject: &Subject, input: &mut Input<'_>, headers: &mut HeaderMap) -> bool {
    let name = subject.headers[usize::from(input.byte()) % subject.headers.len()].clone();
    match input.byte() % 4 {
        0 => {
            if let Ok(value) = HeaderValue::from_bytes(input.bytes()) {
                headers.append(name, value);
            }
        }
        1 => {
            headers.remove(&name);
        }
        2 => {
            if let Some(value) = headers.get(&name) {
                let mut bytes = value.as_bytes().to_vec();
                if !bytes.is_empty() {
                    let at = usize::from(input.u16()) % bytes.len();
                    bytes[at] ^= input.byte().max(1);
                    match HeaderValue::from_bytes(&bytes) {
                        Ok(value) => {
                            headers.insert(name, value);
                        }
                        Err(_) => return false,
                    }
                }
            }
        }
        _ => {
            if let Ok(value) = HeaderValue::from_bytes(input.bytes()) {
                headers.insert(name, value);
            }
        }
    }
    true
}

/// An accepted request re-verifies: signing its body, id and timestamp with the key that
/// matched reproduces a signature the request carried.
fn resigns(subject: &Subject, headers: &HeaderMap, verified: &Verified) {
    let secret = Secret::new(subject.secrets[verified.key_index()]);
    let mut message = Message::new(verified.body());
    if let Some(id) = verified.id() {
        // An id padded with spaces or tabs can only arrive in a map built in memory (HTTP
        // parsers strip them), and signing refuses one: there is nothing to re-sign.
        if id.starts_with([' ', '\t']) || id.ends_with([' ', '\t']) {
            return;
        }
        message = message.id(id);
    }
    if let Some(timestamp) = verified.timestamp() {
        message = message.timestamp(timestamp);
    }
    let resigned = subject
        .scheme
        .sign(&secret, &message)
        .expect("an accepted request can be signed again");
    let expected = subject.scheme.parse(&resigned).expect("sign output parses");
    let sent = subject
        .scheme
        .parse(headers)
        .expect("accepted headers parse");
    let tag = &expected.signatures.as_slice()[0];
    assert!(
        sent.signatures.as_slice().contains(tag),
        "accepted, but signing again gives a signature the request did not carry"
    );
}
