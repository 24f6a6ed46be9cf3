//! The verdict on one delivery, from the crate's own layer, and, when it is refused, why: each
//! finding comes from verifying the captured request again with one thing changed (another
//! scheme, the secret read another way, the clock, the body decoded or laid out again, the
//! URL), never from a guess. Findings name keys by position and never hold a secret or an
//! expected signature; they stay in this tool and never reach the sender.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request, Response, Uri, header};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_webhook::crypto::Algorithm;
use tower_webhook::scheme::{self, PRESETS, Part, Scheme};
use tower_webhook::{
    Clock, Key, Secret, SecretFormat, Secrets, SystemClock, Verified, VerifiedBody, VerifyError,
    VerifySignatureLayer,
};
use zeroize::Zeroizing;

use super::json::{self, Layout};
use crate::Failure;

/// The largest body tried changed (decoded, laid out again, a newline added or dropped): each
/// change is a copy of it and another check.
const BODY_VARIANTS_MAX: usize = 1024 * 1024;

/// A delivery as it arrived: what the layer read, kept to verify it again.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Captured {
    fn request(&self, headers: &HeaderMap, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = headers.clone();
        request
    }
}

/// What the layer decided.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// Verified: by the key at this position (from 0, in the order given), or answered as a
    /// provider's endpoint check, whose proof the layer keeps to itself (`None`).
    Accepted {
        key: Option<usize>,
        event_type: Option<String>,
        id: Option<String>,
    },
    /// Refused, and why: the layer's own error, from its response's extensions.
    Refused(VerifyError),
}

/// A layer over some of the keys, and which key (from 0, in the order given) each of its own
/// positions stands for; `None` for the stand-in a layer needs when no key given is usable.
#[derive(Clone)]
struct Layer {
    layer: VerifySignatureLayer,
    positions: Vec<Option<usize>>,
}

impl Layer {
    /// A layer for `scheme` over the keys it can use, or `None` when it can use none.
    fn new(
        scheme: &Arc<dyn Scheme>,
        keys: impl IntoIterator<Item = (usize, Key)>,
        url: Option<&str>,
        clock: Option<i64>,
    ) -> Option<Self> {
        let (positions, keys): (Vec<_>, Vec<_>) = keys
            .into_iter()
            .filter(|(_, key)| scheme.verifying_key(key).is_ok())
            .map(|(index, key)| (Some(index), key))
            .unzip();
        if keys.is_empty() {
            return None;
        }
        Self::build(scheme, positions, keys.into_iter().collect(), url, clock)
    }

    fn build(
        scheme: &Arc<dyn Scheme>,
        positions: Vec<Option<usize>>,
        keys: Secrets,
        url: Option<&str>,
        clock: Option<i64>,
    ) -> Option<Self> {
        let mut layer = VerifySignatureLayer::new(Arc::clone(scheme), keys)
            .ok()?
            .answer_handshakes(true);
        if let Some(url) = url {
            layer = layer.public_url(url).ok()?;
        }
        if let Some(now) = clock {
            layer = layer.clock(move || now);
        }
        Some(Self { layer, positions })
    }

    /// The layer's verdict on `request`, and its answer.
    async fn verify(&self, request: Request<Full<Bytes>>) -> (Verdict, Response<Bytes>) {
        let inner = service_fn(|request: Request<VerifiedBody>| async move {
            let verified = request.extensions().get::<Verified>().cloned();
            let mut response = Response::new(Full::new(Bytes::from_static(b"accepted\n")));
            if let Some(verified) = verified {
                response.extensions_mut().insert(verified);
            }
            Ok::<_, Infallible>(response)
        });
        let response = match tower::Layer::layer(&self.layer, inner)
            .oneshot(request)
            .await
        {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(never) => match never {},
        };
        let verdict = match (
            parts.extensions.get::<VerifyError>(),
            parts.extensions.get::<Verified>(),
        ) {
            (Some(error), _) => Verdict::Refused(error.clone()),
            (None, Some(verified)) => Verdict::Accepted {
                key: self.positions.get(verified.key_index()).copied().flatten(),
                event_type: verified.event_type().map(str::to_owned),
                id: verified.id().map(str::to_owned),
            },
            // Neither refused nor handed on: the layer answered an endpoint check itself.
            (None, None) => Verdict::Accepted {
                key: None,
                event_type: None,
                id: None,
            },
        };
        (verdict, Response::from_parts(parts, body))
    }
}

/// Judges deliveries for one scheme and its keys, and explains refusals.
pub(crate) struct Judge {
    scheme: Arc<dyn Scheme>,
    /// Every key given, in order: secrets, then public keys.
    keys: Vec<Key>,
    /// `--url`, the URL senders sign for the schemes that sign one.
    url: Option<String>,
    main: Layer,
    /// Headers whose value is a secret itself (a token scheme's), never shown.
    secret_headers: Vec<HeaderName>,
}

impl Judge {
    /// The judge, and warnings to show before the first delivery.
    pub(crate) fn new(
        scheme: Arc<dyn Scheme>,
        keys: Vec<Key>,
        url: Option<String>,
    ) -> Result<(Self, Vec<String>), Failure> {
        let mut warnings = Vec::new();
        if let Some(url) = &url {
            // The layer's own check of the URL, with its own message.
            VerifySignatureLayer::new(scheme::GitHub, "any")
                .and_then(|layer| layer.public_url(url))
                .map(drop)
                .map_err(|error| Failure::input(format!("--url: {error}")))?;
        }
        for (index, key) in keys.iter().enumerate() {
            if let Err(reason) = scheme.verifying_key(key) {
                let kind = match key {
                    Key::Secret(_) => "secret",
                    Key::Public(_) => "public key",
                };
                warnings.push(format!(
                    "{kind} #{} {reason}; deliveries are verified without it, and each refusal \
                     is checked again with it read other ways",
                    index + 1
                ));
            }
        }
        let main = match Layer::new(
            &scheme,
            keys.iter().cloned().enumerate(),
            url.as_deref(),
            None,
        ) {
            Some(layer) => layer,
            None => {
                warnings.push(format!(
                    "no key given can be used with {}: every delivery will be refused, and the \
                     diagnosis says which reading of them would verify",
                    scheme.name()
                ));
                // The layer needs a key; this one, random and never shown, matches nothing.
                let stand_in = placeholder(&scheme)?;
                Layer::build(
                    &scheme,
                    vec![None],
                    Secrets::from(stand_in),
                    url.as_deref(),
                    None,
                )
                .ok_or_else(|| Failure::input("cannot build the verifying layer"))?
            }
        };
        if signs_url(scheme.as_ref()) && url.is_none() {
            warnings.push(format!(
                "{} signs the URL it calls: give it with --url; until then every delivery is \
                 refused, and the diagnosis says which URL would verify",
                scheme.name()
            ));
        }
        let secret_headers = token_headers();
        Ok((
            Self {
                scheme,
                keys,
                url,
                main,
                secret_headers,
            },
            warnings,
        ))
    }

    pub(crate) fn scheme(&self) -> &Arc<dyn Scheme> {
        &self.scheme
    }

    /// The layer's verdict on a delivery, and its answer to the sender.
    pub(crate) async fn judge(&self, captured: &Captured) -> (Verdict, Response<Bytes>) {
        let request = captured.request(&captured.headers, captured.body.clone());
        self.main.verify(request).await
    }

    /// The event type and delivery id a delivery claims, verified or not.
    pub(crate) fn claims(&self, captured: &Captured) -> (Option<String>, Option<String>) {
        let scheme = &self.scheme;
        let header = scheme
            .event_header()
            .and_then(|name| captured.headers.get(name));
        let info = scheme.event(header, &scheme.payload(&captured.body));
        let id = scheme
            .id_header()
            .and_then(|name| captured.headers.get(name))
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .or(info.id);
        (info.event_type, id)
    }

    /// Whether a header's value must not be shown: a token scheme sends its secret itself.
    pub(crate) fn is_secret_header(&self, name: &HeaderName) -> bool {
        self.secret_headers.contains(name)
    }

    /// The byte strings never to show: the secrets given, as given and trimmed.
    pub(crate) fn secret_texts(&self) -> Vec<Vec<u8>> {
        let mut texts = Vec::new();
        for key in &self.keys {
            if let Key::Secret(secret) = key {
                let bytes = secret.expose();
                for text in [bytes, bytes.trim_ascii()] {
                    if !text.is_empty() && !texts.iter().any(|known: &Vec<u8>| known == text) {
                        texts.push(text.to_vec());
                    }
                }
            }
        }
        texts
    }

    /// Why a refused delivery was refused, as far as checking it again can tell: one finding
    /// per line, empty when nothing tried made it verify.
    pub(crate) async fn diagnose(&self, captured: &Captured, error: &VerifyError) -> Vec<String> {
        let mut findings = Vec::new();
        // A timestamp outside the window is refused before the signature is checked: every
        // other check runs with the clock set to the delivery's own time.
        let clock = match skew(error) {
            Some(skew) => {
                let clock = SystemClock.unix_now().saturating_add(skew.offset);
                let layer = self.main_with(self.url.as_deref(), Some(clock));
                let outcome = match &layer {
                    Some(layer) => Some(self.verify_as(layer, captured, None).await),
                    None => None,
                };
                findings.push(match outcome {
                    Some(Verdict::Accepted { key, .. }) => format!(
                        "the timestamp is {}; it verifies when the clocks agree{}: set this \
                         machine's or the sender's clock right (or the delivery was held back \
                         or replayed)",
                        skew.describe(),
                        by_key(key)
                    ),
                    Some(Verdict::Refused(again)) => format!(
                        "the timestamp is {}; with the clocks agreeing it is still refused: \
                         {again}",
                        skew.describe()
                    ),
                    None => format!("the timestamp is {}", skew.describe()),
                });
                Some(clock)
            }
            None => None,
        };
        findings.extend(self.other_schemes(captured).await);
        findings.extend(self.secret_readings(captured, clock).await);
        findings.extend(self.bodies(captured, clock).await);
        findings.extend(self.urls(captured, clock).await);
        findings
    }

    /// The main layer's keys and scheme with another URL or clock.
    fn main_with(&self, url: Option<&str>, clock: Option<i64>) -> Option<Layer> {
        Layer::new(
            &self.scheme,
            self.keys.iter().cloned().enumerate(),
            url,
            clock,
        )
    }

    async fn verify_as(&self, layer: &Layer, captured: &Captured, body: Option<Bytes>) -> Verdict {
        let request = match body {
            Some(body) => {
                let mut headers = captured.headers.clone();
                headers.remove(header::CONTENT_ENCODING);
                headers.remove(header::CONTENT_LENGTH);
                captured.request(&headers, body)
            }
            None => captured.request(&captured.headers, captured.body.clone()),
        };
        layer.verify(request).await.0
    }

    /// (a) Another preset whose headers the request carries, with the same keys. Presets that
    /// read the same headers (Svix reads Standard Webhooks') are named in one finding.
    async fn other_schemes(&self, captured: &Captured) -> Vec<String> {
        let mut verifying: Vec<(&str, String)> = Vec::new();
        for name in PRESETS {
            if *name == self.scheme.name() {
                continue;
            }
            let Some(other) = scheme::preset(name) else {
                continue;
            };
            if other.parse(&captured.headers).is_err() {
                continue;
            }
            let url = match (signs_url(other.as_ref()), &self.url) {
                (false, _) => None,
                (true, Some(url)) => Some(url.clone()),
                (true, None) => request_urls(captured, None).into_iter().next(),
            };
            let keys = self.keys.iter().cloned().enumerate();
            let Some(layer) = Layer::new(&other, keys, url.as_deref(), None) else {
                continue;
            };
            let mut verdict = self.verify_as(&layer, captured, None).await;
            let mut note = String::new();
            if let Verdict::Refused(error) = &verdict
                && let Some(skew) = skew(error)
            {
                let clock = SystemClock.unix_now().saturating_add(skew.offset);
                let keys = self.keys.iter().cloned().enumerate();
                if let Some(layer) = Layer::new(&other, keys, url.as_deref(), Some(clock)) {
                    verdict = self.verify_as(&layer, captured, None).await;
                    note = format!(
                        " once the clocks agree (its timestamp is {})",
                        skew.describe()
                    );
                }
            }
            if let Verdict::Accepted { key, .. } = verdict {
                verifying.push((name, format!("{}{note}", by_key(key))));
            }
        }
        let Some(((first, how), others)) = verifying.split_first() else {
            return Vec::new();
        };
        let also = match others {
            [] => String::new(),
            others => {
                let names: Vec<String> = others
                    .iter()
                    .map(|(name, how)| format!("`{name}`{how}"))
                    .collect();
                format!(", and as {}", names.join(", "))
            }
        };
        vec![format!(
            "it verifies as `{first}`{how}{also}: its headers are present; listen with \
             --scheme {first}"
        )]
    }

    /// (b) Each secret read another way: trimmed, with or without `whsec_`, decoded.
    async fn secret_readings(&self, captured: &Captured, clock: Option<i64>) -> Vec<String> {
        let mut findings = Vec::new();
        for (index, key) in self.keys.iter().enumerate() {
            let Key::Secret(secret) = key else { continue };
            for (how, reading) in readings(self.scheme.as_ref(), secret) {
                let keys = [(index, Key::Secret(reading))];
                let Some(layer) = Layer::new(&self.scheme, keys, self.url.as_deref(), clock) else {
                    continue;
                };
                if let Verdict::Accepted { .. } = self.verify_as(&layer, captured, None).await {
                    findings.push(format!(
                        "secret #{} works read as {how}: give it to this tool (and your \
                         receiver) that way",
                        index + 1
                    ));
                    break;
                }
            }
        }
        findings
    }

    /// (d) The body decoded from its `Content-Encoding`, or laid out again.
    async fn bodies(&self, captured: &Captured, clock: Option<i64>) -> Vec<String> {
        let mut findings = Vec::new();
        if captured.body.len() > BODY_VARIANTS_MAX {
            return findings;
        }
        let Some(layer) = self.main_with(self.url.as_deref(), clock) else {
            return findings;
        };
        let mut body = captured.body.clone();
        let mut decoded_from = None;
        if let Some(coding) = content_coding(&captured.headers) {
            match decode(&coding, &captured.body) {
                Some(decoded) => {
                    let decoded = Bytes::from(decoded);
                    let verdict = self
                        .verify_as(&layer, captured, Some(decoded.clone()))
                        .await;
                    if let Verdict::Accepted { key, .. } = verdict {
                        findings.push(format!(
                            "the body verifies once decoded from its `Content-Encoding: \
                             {coding}`{}: the sender signed the uncompressed bytes, so decode \
                             them before verifying",
                            by_key(key)
                        ));
                        return findings;
                    }
                    body = decoded;
                    decoded_from = Some(coding);
                }
                None => findings.push(format!(
                    "the body is not `{coding}` data although its Content-Encoding says so"
                )),
            }
        }
        let decoded = match &decoded_from {
            Some(coding) => format!(", decoded from `{coding}`,"),
            None => String::new(),
        };
        // Decoding may have made it larger.
        if body.len() <= BODY_VARIANTS_MAX && json::is_json(&body) {
            for layout in Layout::TRIED {
                let Some(laid_out) = json::relayout(&body, layout, body.len() * 8 + 4096) else {
                    continue;
                };
                if laid_out == body {
                    continue;
                }
                let verdict = self
                    .verify_as(&layer, captured, Some(laid_out.into()))
                    .await;
                if let Verdict::Accepted { key, .. } = verdict {
                    findings.push(format!(
                        "the body{decoded} verifies re-serialised {}{}: the sender signed the \
                         JSON laid out so, and something on the way (a proxy, or code that \
                         parsed and re-wrote it) changed its layout; verify the bytes as they \
                         were sent",
                        layout.describe(),
                        by_key(key)
                    ));
                    return findings;
                }
            }
        }
        if body.len() > BODY_VARIANTS_MAX {
            return findings;
        }
        let (changed, how) = match body.strip_suffix(b"\n") {
            Some(stripped) => (stripped.to_vec(), "without its final newline"),
            None => ([&body[..], b"\n"].concat(), "with a final newline"),
        };
        let verdict = self.verify_as(&layer, captured, Some(changed.into())).await;
        if let Verdict::Accepted { key, .. } = verdict {
            findings.push(format!(
                "the body{decoded} verifies {how}{}: a newline was added or dropped on the way",
                by_key(key)
            ));
        }
        findings
    }

    /// (e) For a scheme that signs its URL, the URL rebuilt from the request.
    async fn urls(&self, captured: &Captured, clock: Option<i64>) -> Vec<String> {
        if !signs_url(self.scheme.as_ref()) {
            return Vec::new();
        }
        for url in request_urls(captured, self.url.as_deref()) {
            if Some(url.as_str()) == self.url.as_deref() {
                continue;
            }
            let Some(layer) = self.main_with(Some(&url), clock) else {
                continue;
            };
            if let Verdict::Accepted { key, .. } = self.verify_as(&layer, captured, None).await {
                let given = match &self.url {
                    Some(given) => format!("not the --url `{given}`"),
                    None => "and no --url was given".to_owned(),
                };
                return vec![format!(
                    "the sender signed the URL `{url}`, {given}{}: listen with --url {url} \
                     (the URL the provider has registered, as it calls it)",
                    by_key(key)
                )];
            }
        }
        Vec::new()
    }
}

/// A random secret in the scheme's format, or for a key-pair scheme nothing a layer can take.
fn placeholder(scheme: &Arc<dyn Scheme>) -> Result<Key, Failure> {
    if !scheme.algorithm().is_shared() {
        return Err(Failure::input(format!(
            "{} verifies with the provider's public key: give it with --public-key",
            scheme.name()
        )));
    }
    let secret = Secret::generate_as(SecretFormat::for_scheme(scheme.as_ref()))
        .map_err(|error| Failure::input(error.to_string()))?;
    Ok(Key::Secret(secret))
}

fn signs_url(scheme: &dyn Scheme) -> bool {
    scheme.signed_content().contains(&Part::Url)
}

/// The headers token schemes (GitLab's) carry their secret in: the one each reports missing.
fn token_headers() -> Vec<HeaderName> {
    PRESETS
        .iter()
        .filter_map(|name| scheme::preset(name))
        .filter(|scheme| scheme.algorithm() == Algorithm::Token)
        .filter_map(|scheme| match scheme.parse(&HeaderMap::new()) {
            Err(VerifyError::MissingHeader { header }) => Some(header),
            _ => None,
        })
        .collect()
}

fn by_key(key: Option<usize>) -> String {
    match key {
        Some(index) => format!(" with key #{}", index + 1),
        None => String::new(),
    }
}

/// How far a refused timestamp is from this machine's clock.
#[derive(Debug, Clone, Copy)]
struct Skew {
    /// What to add to now to reach the delivery's time.
    offset: i64,
    seconds: u64,
    allowed: u64,
}

impl Skew {
    fn describe(&self) -> String {
        let side = if self.offset < 0 {
            "behind"
        } else {
            "ahead of"
        };
        format!(
            "{} s {side} this machine's clock (at most {} s is allowed)",
            self.seconds, self.allowed
        )
    }
}

fn skew(error: &VerifyError) -> Option<Skew> {
    let signed = |seconds: u64| i64::try_from(seconds).unwrap_or(i64::MAX);
    match *error {
        VerifyError::TimestampTooOld {
            age_seconds,
            tolerance_seconds,
        } => Some(Skew {
            offset: -signed(age_seconds),
            seconds: age_seconds,
            allowed: tolerance_seconds,
        }),
        VerifyError::TimestampTooNew {
            ahead_seconds,
            tolerance_seconds,
        } => Some(Skew {
            offset: signed(ahead_seconds),
            seconds: ahead_seconds,
            allowed: tolerance_seconds,
        }),
        _ => None,
    }
}

/// A secret's other readings, each with how it was read, leaving out those the scheme takes to
/// the same key as the secret itself (or as an earlier reading) and those it cannot use.
fn readings(scheme: &dyn Scheme, secret: &Secret) -> Vec<(String, Secret)> {
    if !scheme.algorithm().is_shared() {
        return Vec::new();
    }
    let text = secret.expose();
    let trimmed = text.trim_ascii();
    let was_trimmed = trimmed.len() != text.len();
    let then = |how: &str| match was_trimmed {
        true => format!("trimmed of whitespace and {how}"),
        false => how.to_owned(),
    };
    let mut candidates: Vec<(String, Secret)> = Vec::new();
    if was_trimmed {
        candidates.push((
            "trimmed of whitespace".to_owned(),
            Secret::from_bytes(trimmed),
        ));
    }
    // Readings of the text, which the scheme then turns into a key as it does any secret.
    let encoded = match trimmed.strip_prefix(b"whsec_") {
        Some(rest) => {
            candidates.push((
                then("without its `whsec_` prefix"),
                Secret::from_bytes(rest),
            ));
            Some(rest)
        }
        None => {
            let prefixed = Zeroizing::new([&b"whsec_"[..], trimmed].concat());
            candidates.push((
                then("with a `whsec_` prefix"),
                Secret::from_bytes(&prefixed[..]),
            ));
            None
        }
    };
    // Readings that are the key's bytes themselves, handed to the scheme in a form it reads
    // back as exactly those bytes.
    let mut raw: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
    if let Some(rest) = encoded
        && let Ok(bytes) = BASE64.decode(rest)
    {
        raw.push((
            then("the base64 after `whsec_`, decoded and used as raw bytes"),
            Zeroizing::new(bytes),
        ));
    } else if let Ok(bytes) = BASE64.decode(trimmed) {
        raw.push((
            then("base64-decoded, used as raw bytes"),
            Zeroizing::new(bytes),
        ));
    }
    if let Ok(bytes) = hex::decode(trimmed) {
        raw.push((then("hex-decoded"), Zeroizing::new(bytes)));
    }
    raw.push((
        then("its text used as the key's bytes"),
        Zeroizing::new(trimmed.to_vec()),
    ));
    for (how, bytes) in raw {
        if let Some(reading) = as_key(scheme, &bytes) {
            candidates.push((how, reading));
        }
    }

    let mut seen: Vec<Zeroizing<Vec<u8>>> = scheme.key(secret).into_iter().collect();
    candidates
        .into_iter()
        .filter(|(_, reading)| match scheme.key(reading) {
            Ok(key) if !seen.contains(&key) => {
                seen.push(key);
                true
            }
            _ => false,
        })
        .collect()
}

/// A secret the scheme reads as the key `bytes`: the bytes themselves, or `whsec_` and their
/// base64 for a scheme that decodes its secrets.
fn as_key(scheme: &dyn Scheme, bytes: &[u8]) -> Option<Secret> {
    if bytes.is_empty() {
        return None;
    }
    let plain = Secret::from_bytes(bytes);
    if scheme.key(&plain).is_ok_and(|key| key[..] == *bytes) {
        return Some(plain);
    }
    let encoded = Secret::new(format!("whsec_{}", BASE64.encode(bytes)));
    scheme
        .key(&encoded)
        .is_ok_and(|key| key[..] == *bytes)
        .then_some(encoded)
}

/// The one content coding the body claims, lowercased, when it is one this tool decodes or
/// any other but `identity`.
fn content_coding(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?;
    let coding = value.trim().to_ascii_lowercase();
    (!coding.is_empty() && coding != "identity").then_some(coding)
}

/// The body decoded from `coding` (gzip or deflate, the codings HTTP defines with zlib),
/// `None` when it is not such data.
/// <https://www.rfc-editor.org/rfc/rfc9110#section-8.4.1>
fn decode(coding: &str, body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    // Never inflate past the layer's own body limit.
    const LIMIT: u64 = 10 * 1024 * 1024;
    let read = |reader: &mut dyn Read| {
        let mut out = Vec::new();
        reader.take(LIMIT).read_to_end(&mut out).ok().map(|_| out)
    };
    match coding {
        "gzip" | "x-gzip" => read(&mut flate2::read::GzDecoder::new(body)),
        // `deflate` is zlib-wrapped, though some senders send raw deflate.
        "deflate" => read(&mut flate2::read::ZlibDecoder::new(body))
            .or_else(|| read(&mut flate2::read::DeflateDecoder::new(body))),
        _ => None,
    }
}

/// The URLs a sender may have signed, rebuilt from the request (its `Host`, or
/// `X-Forwarded-Host`; `http` or `https`; its path with and without a final slash) and from
/// `--url` (the other scheme, the other slash). Without a query: the layer adds the request's.
fn request_urls(captured: &Captured, given: Option<&str>) -> Vec<String> {
    let headers = &captured.headers;
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let mut protos: Vec<String> = text("x-forwarded-proto").into_iter().collect();
    protos.extend(["https".to_owned(), "http".to_owned()]);
    let hosts: Vec<String> = [text("x-forwarded-host"), text("host")]
        .into_iter()
        .flatten()
        .collect();
    let path = captured.uri.path();
    let toggled = toggle_slash(path);
    let mut urls: Vec<String> = Vec::new();
    let mut push = |url: String| {
        if !urls.contains(&url) {
            urls.push(url);
        }
    };
    for host in &hosts {
        for proto in &protos {
            for path in [path, toggled.as_str()] {
                push(format!("{proto}://{host}{path}"));
            }
        }
    }
    if let Some(given) = given
        && !given.contains('?')
        && let Some((proto, rest)) = given.split_once("://")
    {
        let other = if proto == "https" { "http" } else { "https" };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        for proto in [proto, other] {
            for path in [path.to_owned(), toggle_slash(path)] {
                push(format!("{proto}://{authority}{path}"));
            }
        }
    }
    urls
}

fn toggle_slash(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        Some(_) => "/".to_owned(),
        None => format!("{path}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_skip_those_that_make_the_same_key() {
        let github = scheme::preset("github").unwrap();
        let hows = |secret: &str| -> Vec<String> {
            readings(github.as_ref(), &Secret::new(secret))
                .into_iter()
                .map(|(how, _)| how)
                .collect()
        };
        // Its own bytes are the key already: not offered again.
        let plain = hows("plain secret");
        assert!(
            plain.iter().all(|how| !how.contains("text used")),
            "{plain:?}"
        );
        assert!(plain.iter().any(|how| how == "with a `whsec_` prefix"));
        let hex = hows("00ff");
        assert!(hex.contains(&"hex-decoded".to_owned()), "{hex:?}");

        // Standard Webhooks decodes its secrets: the text itself as the key is a new reading.
        let standard = scheme::preset("standard-webhooks").unwrap();
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let hows: Vec<String> = readings(standard.as_ref(), &secret)
            .into_iter()
            .map(|(how, _)| how)
            .collect();
        assert!(
            hows.contains(&"its text used as the key's bytes".to_owned()),
            "{hows:?}"
        );
        assert!(!hows.iter().any(|how| how.contains("without")), "{hows:?}");
    }

    #[test]
    fn urls_rebuilt_from_the_request() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:9".parse().unwrap());
        let captured = Captured {
            method: Method::POST,
            uri: "/hooks?x=1".parse().unwrap(),
            headers,
            body: Bytes::new(),
        };
        let urls = request_urls(&captured, Some("https://example.com/a/"));
        for url in [
            "https://127.0.0.1:9/hooks",
            "http://127.0.0.1:9/hooks/",
            "https://example.com/a",
            "http://example.com/a/",
        ] {
            assert!(urls.contains(&url.to_owned()), "{url} not in {urls:?}");
        }
    }
}
