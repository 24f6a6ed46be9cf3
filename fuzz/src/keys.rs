//! The `public_keys` target: public and private keys as text, in every format the crate reads.

use std::sync::LazyLock;

use bytes::Bytes;
use http::{HeaderMap, Request};
use tower_webhook::crypto::{Algorithm, Encoding, PublicKey, SigningKey};
use tower_webhook::scheme::{Discord, Message, Scheme, SendGrid, StandardWebhooks};
use tower_webhook::{Secret, VerifySignatureLayer};

use crate::presets::{ED25519_PUBLIC, ED25519_SEED, P256_PRIVATE, P256_PUBLIC, hex};
use crate::{Input, NOW, Outcome, ScriptedBody, drive};

/// The DER before a raw Ed25519 key in SPKI (public) and PKCS#8 (private), RFC 8410.
/// <https://www.rfc-editor.org/rfc/rfc8410#section-4>
const ED25519_SPKI: &str = "302a300506032b6570032100";
const ED25519_PKCS8: &str = "302e020100300506032b657004220420";

/// A body that no handshake answers.
const BODY: &[u8] = br#"{"type":2,"id":"interaction"}"#;

/// Which scheme a key is for.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Discord,
    StandardWebhooks,
    SendGrid,
}

impl Kind {
    fn scheme(self) -> &'static dyn Scheme {
        match self {
            Self::Discord => &Discord,
            Self::StandardWebhooks => &StandardWebhooks,
            Self::SendGrid => &SendGrid,
        }
    }

    fn layer(self, key: PublicKey) -> Result<VerifySignatureLayer, tower_webhook::ConfigError> {
        let layer = match self {
            Self::Discord => VerifySignatureLayer::new(Discord, key),
            Self::StandardWebhooks => VerifySignatureLayer::new(StandardWebhooks, key),
            Self::SendGrid => VerifySignatureLayer::new(SendGrid, key),
        };
        Ok(layer?.clock(|| NOW))
    }

    /// The private key these targets sign with, as the provider's tools write it.
    fn private(self) -> String {
        match self {
            Self::Discord => ED25519_SEED.to_owned(),
            Self::StandardWebhooks => {
                format!("whsk_{}", Encoding::Base64.encode(&hex(ED25519_SEED)))
            }
            Self::SendGrid => P256_PRIVATE.to_owned(),
        }
    }
}

/// The delivery each scheme's known private key signs, made once.
static SIGNED: LazyLock<Vec<HeaderMap>> = LazyLock::new(|| {
    [Kind::Discord, Kind::StandardWebhooks, Kind::SendGrid]
        .iter()
        .map(|kind| sign(*kind, &kind.private()).expect("the known key signs"))
        .collect()
});

fn sign(kind: Kind, private: &str) -> Result<HeaderMap, tower_webhook::SignError> {
    let message = Message::new(BODY).id("msg_1").timestamp(NOW);
    kind.scheme().sign(&Secret::new(private), &message)
}

/// Whether `layer` accepts `headers` with the body they sign.
fn accepts(layer: &VerifySignatureLayer, headers: &HeaderMap) -> bool {
    let mut request = Request::post("/")
        .body(ScriptedBody::whole(&Bytes::from_static(BODY)))
        .expect("a valid request");
    *request.headers_mut() = headers.clone();
    match drive(layer, request) {
        Outcome::Accepted(..) => true,
        Outcome::Answered => panic!("a handshake answered"),
        Outcome::Refused(_) => false,
    }
}

/// The `public_keys` target:
/// - any text as a public key for Discord, SendGrid and Standard Webhooks, and as a private
///   key for `SigningKey::private`, `ed25519` and `p256`: no panic; a refusal names the key by
///   position; a private key's `Debug` shows no more than its algorithm;
/// - a known key, perhaps with one byte changed, written in one of the formats the crate takes
///   (hex, base64, `whpk_`/`whsk_`, SPKI or PKCS#8 as base64 DER or PEM, with whitespace
///   around): the unchanged key is always taken and checks the known signature; a changed
///   public key never accepts it, nor does a changed Ed25519 private key sign what the known
///   public key accepts.
pub fn fuzz_keys(data: &[u8]) {
    let mut input = Input::new(data);
    let kind = match input.byte() % 3 {
        0 => Kind::Discord,
        1 => Kind::StandardWebhooks,
        _ => Kind::SendGrid,
    };
    match input.byte() % 4 {
        0 => any_text(kind, &mut input),
        1 | 2 => changed_public(kind, &mut input),
        _ => changed_private(kind, &mut input),
    }
}

fn any_text(kind: Kind, input: &mut Input<'_>) {
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    if let Err(error) = kind.layer(PublicKey::new(text.clone())) {
        let message = error.to_string();
        assert!(message.starts_with("public key #1 "), "{message}");
    }
    for algorithm in [
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::HmacSha256,
    ] {
        let key = SigningKey::private(algorithm, text.as_bytes());
        assert!(algorithm != Algorithm::HmacSha256 || key.is_err());
        check_private(key, algorithm);
    }
    check_private(SigningKey::ed25519(text.as_bytes()), Algorithm::Ed25519);
    check_private(
        SigningKey::p256(text.as_bytes()),
        Algorithm::EcdsaP256Sha256,
    );
    // As a secret: `sign` refuses or signs, and what it signs is the scheme's.
    if let Ok(headers) = sign(kind, &text) {
        assert!(kind.scheme().parse(&headers).is_ok());
    }
}

fn check_private(key: Result<SigningKey, &'static str>, algorithm: Algorithm) {
    match key {
        Ok(key) => {
            assert_eq!(key.algorithm(), algorithm);
            assert_eq!(format!("{key:?}"), format!("SigningKey({algorithm}, ***)"));
        }
        // Phrased to follow "secret #1 ".
        Err(reason) => assert!(
            ["is ", "holds ", "cannot "]
                .iter()
                .any(|start| reason.starts_with(start)),
            "{reason}"
        ),
    }
}

/// `bytes` with the byte at the input's position changed by the input's mask; whether it
/// changed.
fn change(bytes: &mut [u8], input: &mut Input<'_>) -> bool {
    let at = usize::from(input.byte()) % bytes.len();
    let mask = input.byte();
    bytes[at] ^= mask;
    mask != 0
}

fn pem(label: &str, der: &[u8]) -> String {
    let base64 = Encoding::Base64.encode(der);
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Spaces, tabs or newlines around a key, as a pasted one may have.
fn padded(text: String, input: &mut Input<'_>) -> String {
    let pad = |byte: u8| match byte % 4 {
        0 => "",
        1 => " ",
        2 => "\n",
        _ => "\t\r\n",
    };
    format!("{}{text}{}", pad(input.byte()), pad(input.byte()))
}

fn changed_public(kind: Kind, input: &mut Input<'_>) {
    let (text, changed) = match kind {
        Kind::Discord | Kind::StandardWebhooks => {
            let mut key = hex(ED25519_PUBLIC);
            let changed = change(&mut key, input);
            let spki = [hex(ED25519_SPKI), key.clone()].concat();
            let text = match input.byte() % 7 {
                0 => Encoding::Hex.encode(&key),
                1 => Encoding::Hex.encode(&key).to_ascii_uppercase(),
                2 => Encoding::Base64.encode(&key),
                3 => format!("whpk_{}", Encoding::Base64.encode(&key)),
                4 => Encoding::Base64.encode(&spki),
                _ => pem("PUBLIC KEY", &spki),
            };
            (text, changed)
        }
        Kind::SendGrid => {
            let mut der = Encoding::Base64.decode(P256_PUBLIC).expect("base64");
            let changed = change(&mut der, input);
            let text = match input.byte() & 1 {
                0 => Encoding::Base64.encode(&der),
                _ => pem("PUBLIC KEY", &der),
            };
            (text, changed)
        }
    };
    let text = padded(text, input);
    let layer = match kind.layer(PublicKey::new(text.clone())) {
        Ok(layer) => layer,
        Err(error) => {
            assert!(changed, "the known key refused as {text:?}: {error}");
            return;
        }
    };
    let signed = &SIGNED[kind as usize];
    assert_eq!(
        accepts(&layer, signed),
        !changed,
        "{kind:?} key {text:?}, changed: {changed}"
    );
}

fn changed_private(kind: Kind, input: &mut Input<'_>) {
    let (text, changed) = match kind {
        Kind::Discord | Kind::StandardWebhooks => {
            let mut seed = hex(ED25519_SEED);
            let mut public = hex(ED25519_PUBLIC);
            let pair = input.byte() % 7 == 6;
            let changed = match pair && input.byte() & 1 == 1 {
                true => change(&mut public, input),
                false => change(&mut seed, input),
            };
            let base64 = match pair {
                true => Encoding::Base64.encode(&[seed.clone(), public].concat()),
                false => Encoding::Base64.encode(&seed),
            };
            // Standard Webhooks takes an Ed25519 private key only after `whsk_`.
            let encoded = match (kind, input.byte() % 4) {
                (Kind::StandardWebhooks, _) | (_, 0) => format!("whsk_{base64}"),
                _ if pair => base64,
                (_, 1) => Encoding::Hex.encode(&seed),
                (_, 2) => base64,
                _ => pem("PRIVATE KEY", &[hex(ED25519_PKCS8), seed.clone()].concat()),
            };
            (encoded, changed)
        }
        Kind::SendGrid => {
            let mut der = Encoding::Base64.decode(P256_PRIVATE).expect("base64");
            let changed = change(&mut der, input);
            let text = match input.byte() & 1 {
                0 => Encoding::Base64.encode(&der),
                _ => pem("PRIVATE KEY", &der),
            };
            (text, changed)
        }
    };
    let text = match kind {
        // A secret with whitespace around it is refused as pasted wrong, before it is read.
        Kind::StandardWebhooks => text,
        _ => padded(text, input),
    };
    let headers = match sign(kind, &text) {
        Ok(headers) => headers,
        Err(error) => {
            assert!(
                changed,
                "the known private key refused as {text:?}: {error}"
            );
            return;
        }
    };
    let public = match kind {
        Kind::SendGrid => P256_PUBLIC.to_owned(),
        _ => ED25519_PUBLIC.to_owned(),
    };
    let layer = kind.layer(PublicKey::new(public)).expect("the known key");
    let accepted = accepts(&layer, &headers);
    match kind {
        Kind::SendGrid => assert!(accepted || changed, "the known key's signature refused"),
        _ => assert_eq!(accepted, !changed, "{kind:?} private key {text:?}"),
    }
}
