//! The key-pair schemes through the real layer: Ed25519 (RFC 8032's vectors, Standard Webhooks
//! `v1a`, Discord) and ECDSA P-256 (SendGrid). Signatures are made with `ed25519-dalek` and
//! `p256` directly, from fixed keys, so that the crate's verifier is checked against the
//! reference implementations and not only against its own signer.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use ed25519_dalek::Signer as _;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use tower_webhook::crypto::{
    Algorithm, Encoding, PublicKey, Signature, Signatures, SigningKey, VerifyingKey,
};
use tower_webhook::scheme::{
    Discord, GitHub, Message, Part, Scheme, SendGrid, SignedHeaders, StandardWebhooks,
};
use tower_webhook::{
    ConfigError, InvalidSecret, Key, Secret, Secrets, SignError, Verified, VerifyError,
    VerifySignatureLayer,
};

use common::{NOW, Recorder, refusal, request, send};

/// Sends `body` with `headers` through `layer`; the status, the refusal (if any) and what the
/// inner service saw.
async fn deliver(
    layer: &VerifySignatureLayer,
    headers: &HeaderMap,
    body: impl Into<Bytes>,
) -> (StatusCode, Option<VerifyError>, Recorder) {
    let recorder = Recorder::new();
    let response = send(layer, &recorder, request(headers, body)).await;
    let status = response.status();
    let error = (status != StatusCode::OK).then(|| refusal(&response));
    (status, error, recorder)
}

/// Asserts a delivery was accepted, with the inner service called once on these exact bytes;
/// returns what the layer proved about it.
async fn accepted(
    layer: &VerifySignatureLayer,
    headers: &HeaderMap,
    body: &[u8],
    case: &str,
) -> Verified {
    let (status, error, recorder) = deliver(layer, headers, body.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{case}: refused with {error:?}");
    assert_eq!(recorder.calls(), 1, "{case}");
    let seen = recorder.last();
    assert_eq!(seen.verified.body().as_ref(), body, "{case}");
    assert_eq!(seen.body.as_ref(), body, "{case}");
    seen.verified
}

/// Asserts a delivery was refused with 401 and the inner service never ran.
async fn refused(
    layer: &VerifySignatureLayer,
    headers: &HeaderMap,
    body: &[u8],
    case: &str,
) -> VerifyError {
    let (status, error, recorder) = deliver(layer, headers, body.to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {error:?}");
    assert_eq!(recorder.calls(), 0, "{case}: the inner service ran");
    error.expect("a refusal carries its error")
}

fn headers<const N: usize>(pairs: [(&str, &str); N]) -> HeaderMap {
    pairs
        .into_iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// RFC 8032 section 7.1, through a scheme that signs the body alone.
// ---------------------------------------------------------------------------------------------

struct Rfc8032 {
    name: &'static str,
    seed: &'static str,
    public: &'static str,
    message: &'static str,
    signature: &'static str,
}

/// RFC 8032 section 7.1: TEST 1, 2, 3 and TEST 1024 (all hex, as printed in the RFC).
const RFC8032: &[Rfc8032] = &[
    Rfc8032 {
        name: "TEST 1",
        seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        message: "",
        signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    Rfc8032 {
        name: "TEST 2",
        seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        message: "72",
        signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    Rfc8032 {
        name: "TEST 3",
        seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        message: "af82",
        signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
    Rfc8032 {
        name: "TEST 1024",
        seed: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        public: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        message: TEST_1024_MESSAGE,
        signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    },
];

const TEST_1024_MESSAGE: &str = concat!(
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98",
    "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8",
    "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc",
    "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe",
    "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef",
    "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7",
    "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2",
    "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24",
    "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc",
    "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07",
    "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a",
    "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e",
    "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c",
    "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8",
    "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08",
    "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649",
    "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3",
    "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e",
    "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5",
    "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1",
    "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c",
    "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
);

static RAW_SIGNATURE: HeaderName = HeaderName::from_static("x-ed25519-signature");

/// A test-only scheme: Ed25519 over the body alone, hex in `x-ed25519-signature`, so that the
/// body of a request is exactly an RFC 8032 message.
#[derive(Debug, Clone, Copy)]
struct RawEd25519;

const RAW_CONTENT: &[Part] = &[Part::Body];

impl Scheme for RawEd25519 {
    fn name(&self) -> &str {
        "raw-ed25519"
    }

    fn signed_content(&self) -> &[Part] {
        RAW_CONTENT
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::Ed25519
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let malformed = VerifyError::MalformedHeader {
            header: RAW_SIGNATURE.clone(),
            reason: "not 128 hex digits",
        };
        let value = headers
            .get(&RAW_SIGNATURE)
            .ok_or_else(|| VerifyError::MissingHeader {
                header: RAW_SIGNATURE.clone(),
            })?
            .to_str()
            .map_err(|_| malformed.clone())?;
        let signature =
            Signature::decode(Algorithm::Ed25519, Encoding::Hex, value).ok_or(malformed)?;
        Ok(SignedHeaders::new(Signatures::one(signature)))
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        _message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let value = HeaderValue::from_str(&signature.encode(Encoding::Hex))
            .expect("hex is a valid header value");
        headers.insert(RAW_SIGNATURE.clone(), value);
        Ok(())
    }

    fn verifying_key(&self, key: &Key) -> Result<VerifyingKey, InvalidSecret> {
        key.key_pair(Algorithm::Ed25519)
    }

    fn signing_key(&self, secret: &Secret) -> Result<SigningKey, InvalidSecret> {
        SigningKey::private(Algorithm::Ed25519, secret.expose()).map_err(InvalidSecret::new)
    }
}

fn raw_headers(signature_hex: &str) -> HeaderMap {
    headers([(RAW_SIGNATURE.as_str(), signature_hex)])
}

#[tokio::test]
async fn rfc8032_vectors_verify_through_the_layer_and_one_flipped_bit_does_not() {
    for vector in RFC8032 {
        let name = vector.name;
        let message = hex::decode(vector.message).unwrap();
        let signature = hex::decode(vector.signature).unwrap();
        let layer = VerifySignatureLayer::new(RawEd25519, PublicKey::new(vector.public)).unwrap();
        let verified = accepted(&layer, &raw_headers(vector.signature), &message, name).await;
        assert_eq!(verified.scheme(), "raw-ed25519");
        assert_eq!(verified.key_index(), 0);

        // The seed given where a public key belongs is refused, not read as some other key.
        let error = VerifySignatureLayer::new(RawEd25519, Secret::new(vector.seed)).unwrap_err();
        assert!(
            error.to_string().contains("give it as a `PublicKey`"),
            "{error}"
        );
        assert!(!error.to_string().contains(vector.seed));

        // One bit of the message flipped (TEST 1's message is empty: one byte added instead).
        let mut tampered = message.clone();
        match tampered.get_mut(message.len() / 2) {
            Some(byte) => *byte ^= 0x01,
            None => tampered.push(0),
        }
        let case = format!("{name}, message changed");
        let error = refused(&layer, &raw_headers(vector.signature), &tampered, &case).await;
        assert!(
            matches!(error, VerifyError::SignatureMismatch),
            "{case}: {error}"
        );

        // One bit of the signature flipped: in R, and in S (0x80 of the last byte pushes S
        // past the group order, which must be refused, not reduced).
        for (at, bit) in [(0, 0x01), (31, 0x80), (32, 0x01), (63, 0x01), (63, 0x80)] {
            let mut flipped = signature.clone();
            flipped[at] ^= bit;
            let case = format!("{name}, signature byte {at} ^ {bit:#04x}");
            let error = refused(
                &layer,
                &raw_headers(&hex::encode(&flipped)),
                &message,
                &case,
            )
            .await;
            assert!(
                matches!(error, VerifyError::SignatureMismatch),
                "{case}: {error}"
            );
        }
    }
}

#[test]
fn signing_key_reproduces_the_rfc8032_signatures_byte_for_byte() {
    for vector in RFC8032 {
        let message = hex::decode(vector.message).unwrap();
        let seed = hex::decode(vector.seed).unwrap();
        let key = SigningKey::ed25519(vector.seed.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), Algorithm::Ed25519);
        let signature = key.sign(&message);
        assert_eq!(signature.algorithm(), Algorithm::Ed25519, "{}", vector.name);
        assert_eq!(
            hex::encode(signature.as_bytes()),
            vector.signature,
            "{}",
            vector.name
        );

        // The other spellings of the same seed sign alike: `whsk_` base64, and libsodium's
        // 64-byte seed-and-public-key pair.
        let whsk = format!("whsk_{}", BASE64.encode(&seed));
        let pair = BASE64.encode([seed.clone(), hex::decode(vector.public).unwrap()].concat());
        for text in [whsk, pair] {
            let key = SigningKey::ed25519(text.as_bytes()).unwrap();
            assert_eq!(hex::encode(key.sign(&message).as_bytes()), vector.signature);
        }

        // The scheme's own `sign` writes the RFC signature into its header.
        let headers = RawEd25519
            .sign(&Secret::new(vector.seed), &Message::new(&message))
            .unwrap();
        assert_eq!(headers[&RAW_SIGNATURE], vector.signature, "{}", vector.name);
    }
}

#[test]
fn a_seed_and_public_pair_that_do_not_belong_together_is_refused() {
    // TEST 1's seed with TEST 2's public key: signing with it would publish a wrong key.
    let seed = hex::decode(RFC8032[0].seed).unwrap();
    let other = hex::decode(RFC8032[1].public).unwrap();
    let pair = BASE64.encode([seed, other].concat());
    let error = SigningKey::ed25519(pair.as_bytes()).unwrap_err();
    assert!(error.contains("does not belong"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks v1a.
// ---------------------------------------------------------------------------------------------

/// The Standard Webhooks specification's own `v1` example, so that a `v1` entry here is an
/// independently made HMAC.
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TIMESTAMP: i64 = 1_614_265_330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// A fixed Ed25519 key: no randomness, so every run signs the same bytes.
fn dalek_key(fill: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[fill; 32])
}

fn whpk(key: &ed25519_dalek::SigningKey) -> String {
    format!("whpk_{}", BASE64.encode(key.verifying_key().as_bytes()))
}

fn whsk(key: &ed25519_dalek::SigningKey) -> String {
    format!("whsk_{}", BASE64.encode(key.to_bytes()))
}

/// `{id}.{timestamp}.{body}`, as Standard Webhooks signs it.
fn sw_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    [format!("{id}.{timestamp}.").as_bytes(), body].concat()
}

/// A `v1a,` entry made by ed25519-dalek.
fn v1a(key: &ed25519_dalek::SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let signature = key.sign(&sw_content(id, timestamp, body));
    format!("v1a,{}", BASE64.encode(signature.to_bytes()))
}

fn sw_headers(signature: &str) -> HeaderMap {
    let timestamp = SW_TIMESTAMP.to_string();
    headers([
        ("webhook-id", SW_ID),
        ("webhook-timestamp", timestamp.as_str()),
        ("webhook-signature", signature),
    ])
}

fn sw_layer(keys: impl Into<Secrets>) -> VerifySignatureLayer {
    VerifySignatureLayer::new(StandardWebhooks, keys)
        .unwrap()
        .clock(|| SW_TIMESTAMP)
}

#[tokio::test]
async fn a_v1a_signature_made_by_dalek_verifies_with_the_whpk_key() {
    let key = dalek_key(0x11);
    let layer = sw_layer(PublicKey::new(whpk(&key)));
    let entry = v1a(&key, SW_ID, SW_TIMESTAMP, SW_BODY);
    let verified = accepted(&layer, &sw_headers(&entry), SW_BODY, "v1a").await;
    assert_eq!(verified.scheme(), "standard-webhooks");
    assert_eq!(verified.id(), Some(SW_ID));
    assert_eq!(verified.timestamp(), Some(SW_TIMESTAMP));

    // The id and the body are both signed.
    let other_id = v1a(&key, "msg_other", SW_TIMESTAMP, SW_BODY);
    refused(&layer, &sw_headers(&other_id), SW_BODY, "v1a, another id").await;
    refused(
        &layer,
        &sw_headers(&entry),
        br#"{"test": 2432232315}"#,
        "v1a, body",
    )
    .await;
    // Another key's signature over the same content.
    let stranger = v1a(&dalek_key(0x22), SW_ID, SW_TIMESTAMP, SW_BODY);
    refused(&layer, &sw_headers(&stranger), SW_BODY, "v1a, other key").await;
}

#[tokio::test]
async fn a_mixed_list_verifies_when_either_entry_is_valid() {
    let key = dalek_key(0x11);
    let good_v1a = v1a(&key, SW_ID, SW_TIMESTAMP, SW_BODY);
    let bad_v1a = v1a(&dalek_key(0x22), SW_ID, SW_TIMESTAMP, SW_BODY);
    let bad_v1 = format!("v1,{}", BASE64.encode([0u8; 32]));
    let both = sw_layer([
        Key::from(Secret::new(SW_SECRET)),
        Key::from(PublicKey::new(whpk(&key))),
    ]);

    // (header, the key that should match)
    let cases = [
        (format!("{SW_V1} {bad_v1a}"), 0),
        (format!("{bad_v1} {good_v1a}"), 1),
        (format!("{good_v1a} {bad_v1}"), 1),
        // Both match: the first configured key is reported.
        (format!("{good_v1a} {SW_V1}"), 0),
    ];
    for (header, key_index) in cases {
        let verified = accepted(&both, &sw_headers(&header), SW_BODY, &header).await;
        assert_eq!(verified.key_index(), key_index, "{header}");
    }
    let neither = format!("{bad_v1} {bad_v1a}");
    refused(&both, &sw_headers(&neither), SW_BODY, &neither).await;

    // Each key checks only entries of its own algorithm.
    let hmac_only = sw_layer(SW_SECRET);
    let header = format!("{bad_v1} {good_v1a}");
    refused(
        &hmac_only,
        &sw_headers(&header),
        SW_BODY,
        "HMAC key, v1a valid",
    )
    .await;
    let ed25519_only = sw_layer(PublicKey::new(whpk(&key)));
    let header = format!("{SW_V1} {bad_v1a}");
    refused(
        &ed25519_only,
        &sw_headers(&header),
        SW_BODY,
        "whpk key, v1 valid",
    )
    .await;
}

#[tokio::test]
async fn a_rotation_across_algorithms_says_which_key_matched() {
    let new = dalek_key(0x33);
    let old = dalek_key(0x44);
    let layer = sw_layer(
        Secrets::new()
            .with(Secret::new(SW_SECRET).named("hmac"))
            .with(PublicKey::new(whpk(&new)).named("ed25519-new"))
            .with(PublicKey::new(whpk(&old)).named("ed25519-old")),
    );
    let cases = [
        (SW_V1.to_owned(), 0, "hmac"),
        (v1a(&new, SW_ID, SW_TIMESTAMP, SW_BODY), 1, "ed25519-new"),
        (v1a(&old, SW_ID, SW_TIMESTAMP, SW_BODY), 2, "ed25519-old"),
    ];
    for (header, index, name) in cases {
        let verified = accepted(&layer, &sw_headers(&header), SW_BODY, name).await;
        assert_eq!(verified.key_index(), index, "{name}");
        assert_eq!(verified.key_name(), Some(name));
    }
    let retired = v1a(&dalek_key(0x55), SW_ID, SW_TIMESTAMP, SW_BODY);
    refused(
        &layer,
        &sw_headers(&retired),
        SW_BODY,
        "a key not configured",
    )
    .await;

    // Unnamed keys, given as an array of `Key`s.
    let layer = sw_layer([
        Key::from(Secret::new(SW_SECRET)),
        Key::from(PublicKey::new(whpk(&new))),
    ]);
    let header = v1a(&new, SW_ID, SW_TIMESTAMP, SW_BODY);
    let verified = accepted(&layer, &sw_headers(&header), SW_BODY, "whpk as a key").await;
    assert_eq!(verified.key_index(), 1);
    assert_eq!(verified.key_name(), None);

    // A `whsk_` private key where a verifying key belongs is refused, naming what to give.
    let error = VerifySignatureLayer::new(
        StandardWebhooks,
        [
            Key::from(Secret::new(SW_SECRET)),
            Key::from(Secret::new(whsk(&new))),
        ],
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("secret #2 is a private key (`whsk_`)"),
        "{error}"
    );
    assert!(!error.to_string().contains(&whsk(&new)));
}

#[tokio::test]
async fn standard_webhooks_signs_v1a_with_a_whsk_secret_and_dalek_agrees() {
    let key = dalek_key(0x66);
    let message = Message::new(SW_BODY).id(SW_ID).timestamp(SW_TIMESTAMP);
    let written = StandardWebhooks
        .sign(&Secret::new(whsk(&key)), &message)
        .unwrap();
    assert_eq!(written["webhook-id"], SW_ID);
    assert_eq!(
        written["webhook-timestamp"],
        SW_TIMESTAMP.to_string().as_str()
    );
    let value = written["webhook-signature"].to_str().unwrap();
    let encoded = value.strip_prefix("v1a,").expect("a v1a entry");
    let bytes: [u8; 64] = BASE64.decode(encoded).unwrap().try_into().unwrap();
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verifying_key()
        .verify_strict(&sw_content(SW_ID, SW_TIMESTAMP, SW_BODY), &signature)
        .expect("ed25519-dalek accepts the crate's v1a signature");
    // Ed25519 is deterministic: the same bytes dalek makes itself.
    assert_eq!(value, v1a(&key, SW_ID, SW_TIMESTAMP, SW_BODY));

    let layer = sw_layer(PublicKey::new(whpk(&key)));
    accepted(&layer, &written, SW_BODY, "signed by the crate").await;
}

/// Sends `body` through a `SignRequestLayer` signing with `secret`, into `receiver` in front
/// of a recorder, both at the fixed clock.
#[cfg(feature = "sign")]
async fn sign_and_send(
    secret: &str,
    receiver: VerifySignatureLayer,
    body: &'static [u8],
) -> (StatusCode, Recorder) {
    use http_body_util::Full;
    use tower::{Layer as _, ServiceExt as _};
    use tower_webhook::sign::SignRequestLayer;

    let recorder = Recorder::new();
    let sender = SignRequestLayer::new(StandardWebhooks, secret)
        .unwrap()
        .clock(|| NOW)
        .layer(receiver.clock(|| NOW).layer(recorder.service()));
    let request = http::Request::post("/webhook")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let response = sender.oneshot(request).await.unwrap();
    (response.status(), recorder)
}

#[cfg(feature = "sign")]
#[tokio::test]
async fn sign_request_layer_with_a_whsk_secret_is_accepted_with_the_whpk_key() {
    let key = dalek_key(0x77);
    let secret = whsk(&key);
    let body = br#"{"type":"invoice.paid"}"#;

    let receiver = VerifySignatureLayer::new(StandardWebhooks, PublicKey::new(whpk(&key))).unwrap();
    let (status, recorder) = sign_and_send(&secret, receiver, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recorder.calls(), 1);
    let seen = recorder.last();
    assert_eq!(seen.verified.body().as_ref(), body);
    assert_eq!(seen.verified.timestamp(), Some(NOW));
    assert!(seen.verified.id().is_some_and(|id| id.starts_with("msg_")));
    let signature = seen.headers["webhook-signature"].to_str().unwrap();
    assert!(signature.starts_with("v1a,"), "{signature}");

    // The signature is Ed25519 of that key: an HMAC secret or another public key refuses it.
    for receiver in [
        VerifySignatureLayer::new(StandardWebhooks, SW_SECRET).unwrap(),
        VerifySignatureLayer::new(StandardWebhooks, PublicKey::new(whpk(&dalek_key(0x78))))
            .unwrap(),
    ] {
        let (status, recorder) = sign_and_send(&secret, receiver, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(recorder.calls(), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Discord.
// ---------------------------------------------------------------------------------------------

const PING: &[u8] = br#"{"type":1}"#;

/// Discord's signature: Ed25519 over the timestamp followed directly by the body, in hex.
fn discord_signature(key: &ed25519_dalek::SigningKey, timestamp: i64, body: &[u8]) -> String {
    let content = [timestamp.to_string().as_bytes(), body].concat();
    hex::encode(key.sign(&content).to_bytes())
}

fn discord_headers(timestamp: i64, signature: &str) -> HeaderMap {
    let timestamp = timestamp.to_string();
    headers([
        ("x-signature-timestamp", timestamp.as_str()),
        ("x-signature-ed25519", signature),
    ])
}

fn discord_layer(key: &ed25519_dalek::SigningKey) -> VerifySignatureLayer {
    let public = hex::encode(key.verifying_key().as_bytes());
    assert_eq!(public.len(), 64);
    // A PING is the smallest signed body; the layer's own answer to it is tested in
    // `handshakes.rs`, so here it reaches the service like any delivery.
    VerifySignatureLayer::new(Discord, PublicKey::new(public))
        .unwrap()
        .clock(|| NOW)
        .answer_handshakes(false)
}

#[tokio::test]
async fn discord_accepts_its_signature_and_names_a_ping() {
    let key = dalek_key(0xd1);
    let layer = discord_layer(&key);
    let signature = discord_signature(&key, NOW, PING);
    let verified = accepted(&layer, &discord_headers(NOW, &signature), PING, "ping").await;
    assert_eq!(verified.scheme(), "discord");
    assert_eq!(verified.event_type(), Some("ping"));
    assert_eq!(verified.timestamp(), Some(NOW));
}

#[tokio::test]
async fn discord_deliberately_bad_signatures_get_401() {
    let key = dalek_key(0xd1);
    let layer = discord_layer(&key);
    let cases = [
        (
            "another key's signature",
            NOW,
            discord_signature(&dalek_key(0xd2), NOW, PING),
            PING,
        ),
        ("a signature of zeros", NOW, "0".repeat(128), PING),
        (
            "a signature for another timestamp",
            NOW,
            discord_signature(&key, NOW - 1, PING),
            PING,
        ),
        (
            "a valid signature, the body changed",
            NOW,
            discord_signature(&key, NOW, PING),
            br#"{"type":2}"#.as_slice(),
        ),
    ];
    for (case, timestamp, signature, body) in cases {
        let error = refused(&layer, &discord_headers(timestamp, &signature), body, case).await;
        assert!(
            matches!(error, VerifyError::SignatureMismatch),
            "{case}: {error}"
        );
    }
}

#[tokio::test]
async fn discord_refuses_a_stale_timestamp_even_when_signed() {
    let key = dalek_key(0xd1);
    let layer = discord_layer(&key);
    // At the edge of the 300 s window it is still accepted: the refusals below are the window's.
    let edge = NOW - 300;
    let signature = discord_signature(&key, edge, PING);
    accepted(
        &layer,
        &discord_headers(edge, &signature),
        PING,
        "300 s old",
    )
    .await;

    let stale = NOW - 301;
    let signature = discord_signature(&key, stale, PING);
    let error = refused(&layer, &discord_headers(stale, &signature), PING, "stale").await;
    assert!(
        matches!(error, VerifyError::TimestampTooOld { .. }),
        "{error}"
    );
    let ahead = NOW + 301;
    let signature = discord_signature(&key, ahead, PING);
    let error = refused(&layer, &discord_headers(ahead, &signature), PING, "ahead").await;
    assert!(
        matches!(error, VerifyError::TimestampTooNew { .. }),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// SendGrid.
// ---------------------------------------------------------------------------------------------

const EVENTS: &[u8] =
    b"[{\"email\":\"a@example.com\",\"event\":\"delivered\",\"sg_event_id\":\"sg-1\"}]\r\n";

/// A fixed P-256 key: RFC 6979 makes its signatures deterministic too.
fn p256_key(fill: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[fill; 32]).unwrap()
}

/// The verification key as SendGrid shows it: base64 of the SPKI DER.
fn spki_base64(key: &p256::ecdsa::SigningKey) -> String {
    BASE64.encode(key.verifying_key().to_public_key_der().unwrap().as_bytes())
}

fn p256_sign(key: &p256::ecdsa::SigningKey, timestamp: i64, body: &[u8]) -> p256::ecdsa::Signature {
    let content = [timestamp.to_string().as_bytes(), body].concat();
    key.sign(&content)
}

fn sendgrid_headers(timestamp: i64, signature: &p256::ecdsa::Signature) -> HeaderMap {
    let der = BASE64.encode(signature.to_der().as_bytes());
    let timestamp = timestamp.to_string();
    headers([
        ("x-twilio-email-event-webhook-timestamp", timestamp.as_str()),
        ("x-twilio-email-event-webhook-signature", der.as_str()),
    ])
}

fn sendgrid_layer(public: String) -> VerifySignatureLayer {
    VerifySignatureLayer::new(SendGrid, PublicKey::new(public))
        .unwrap()
        .clock(|| NOW)
}

#[tokio::test]
async fn sendgrid_verifies_p256_signatures_with_the_spki_key_in_base64_and_pem() {
    let key = p256_key(0x42);
    let pem = |ending| key.verifying_key().to_public_key_pem(ending).unwrap();
    let signature = p256_sign(&key, NOW, EVENTS);
    let headers = sendgrid_headers(NOW, &signature);
    let forms = [
        ("base64 DER", spki_base64(&key)),
        ("PEM", pem(LineEnding::LF)),
        // As saved on Windows.
        ("PEM with CRLF", pem(LineEnding::CRLF)),
    ];
    for (form, public) in forms {
        let layer = sendgrid_layer(public);
        let verified = accepted(&layer, &headers, EVENTS, form).await;
        assert_eq!(verified.scheme(), "sendgrid");
        assert_eq!(verified.event_type(), Some("delivered"), "{form}");
        assert_eq!(verified.id(), Some("sg-1"), "{form}");

        let mut changed = EVENTS.to_vec();
        changed[10] ^= 0x01;
        refused(&layer, &headers, &changed, form).await;
        let stranger = sendgrid_headers(NOW, &p256_sign(&p256_key(0x43), NOW, EVENTS));
        refused(&layer, &stranger, EVENTS, form).await;
    }
}

#[tokio::test]
async fn sendgrid_accepts_the_high_s_form_of_a_valid_signature() {
    // SendGrid's published signatures are high-S (its signer does not normalise), so a
    // verifier that insists on low-S would refuse real deliveries.
    let published = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    let published = p256::ecdsa::Signature::from_der(&BASE64.decode(published).unwrap()).unwrap();
    assert_ne!(
        published.normalize_s(),
        published,
        "SendGrid's vector is high-S"
    );

    let key = p256_key(0x42);
    let low = p256_sign(&key, NOW, EVENTS).normalize_s();
    let (r, s) = low.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-s).to_bytes()).unwrap();
    assert_ne!(high, low);
    assert_eq!(high.normalize_s(), low, "the same signature, S and n - S");

    let layer = sendgrid_layer(spki_base64(&key));
    accepted(&layer, &sendgrid_headers(NOW, &low), EVENTS, "low S").await;
    accepted(&layer, &sendgrid_headers(NOW, &high), EVENTS, "high S").await;
}

#[tokio::test]
async fn sendgrid_sign_with_a_pkcs8_key_verifies() {
    use p256::ecdsa::signature::Verifier as _;

    let key = p256_key(0x42);
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let der = BASE64.encode(key.to_pkcs8_der().unwrap().as_bytes());
    let layer = sendgrid_layer(spki_base64(&key));
    for (form, secret) in [("PKCS#8 PEM", pem.to_string()), ("PKCS#8 base64 DER", der)] {
        let message = Message::new(EVENTS).timestamp(NOW);
        let written = SendGrid.sign(&Secret::new(secret), &message).unwrap();
        assert_eq!(
            written["x-twilio-email-event-webhook-timestamp"],
            NOW.to_string().as_str()
        );
        accepted(&layer, &written, EVENTS, form).await;

        // And p256 itself agrees, over timestamp followed by body.
        let encoded = written["x-twilio-email-event-webhook-signature"]
            .to_str()
            .unwrap();
        let signature = p256::ecdsa::Signature::from_der(&BASE64.decode(encoded).unwrap()).unwrap();
        let content = [NOW.to_string().as_bytes(), EVENTS].concat();
        key.verifying_key()
            .verify(&content, &signature)
            .unwrap_or_else(|e| panic!("{form}: p256 refuses the crate's signature: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Keys in the wrong format, and what Debug shows.
// ---------------------------------------------------------------------------------------------

fn config_error(result: Result<VerifySignatureLayer, ConfigError>) -> ConfigError {
    result.expect_err("the layer should refuse the key")
}

#[test]
fn a_public_key_in_the_wrong_format_is_named_by_position_with_the_format_expected() {
    let ed25519_public = hex::encode(dalek_key(0xd1).verifying_key().as_bytes());
    let gh_secret = "It's a Secret to Everybody";
    let cases = [
        (
            config_error(VerifySignatureLayer::new(Discord, PublicKey::new("zz"))),
            "public key #1 is not an Ed25519 public key (64 hex digits",
        ),
        (
            config_error(VerifySignatureLayer::new(
                SendGrid,
                PublicKey::new(ed25519_public.as_str()),
            )),
            "public key #1 is not a P-256 public key (SPKI as base64 DER or PEM)",
        ),
        (
            config_error(VerifySignatureLayer::new(
                StandardWebhooks,
                [
                    Key::from(Secret::new(SW_SECRET)),
                    Key::from(PublicKey::new("whpk_notbase64")),
                ],
            )),
            "public key #2 is not an Ed25519 public key (64 hex digits, `whpk_` and base64",
        ),
        (
            config_error(VerifySignatureLayer::new(
                GitHub,
                [
                    Key::from(Secret::new(gh_secret)),
                    Key::from(PublicKey::new(ed25519_public.as_str())),
                ],
            )),
            "public key #2 cannot be used: this scheme verifies with shared secrets",
        ),
        (
            config_error(VerifySignatureLayer::new(
                Discord,
                PublicKey::new("zz").named("portal"),
            )),
            "public key #1 (\"portal\") is not an Ed25519 public key",
        ),
        (
            // The identity point: of small order, it would verify forged signatures.
            config_error(VerifySignatureLayer::new(
                Discord,
                PublicKey::new(format!("01{}", "00".repeat(31))),
            )),
            "public key #1 is a weak Ed25519 key (of small order)",
        ),
    ];
    for (error, expected) in cases {
        let message = error.to_string();
        assert!(
            matches!(error, ConfigError::InvalidPublicKey { .. }),
            "{error:?}"
        );
        assert!(message.starts_with(expected), "{message}");
        for secret in [SW_SECRET, &SW_SECRET["whsec_".len()..], gh_secret] {
            assert!(!message.contains(secret), "{message}");
        }
    }
}

#[test]
fn a_private_key_in_the_wrong_format_is_refused_without_echoing_it() {
    let not_base64 = "whsk_hunter2-not-base64!";
    let not_pem = "-----BEGIN PRIVATE KEY-----\nhunter2hunter2\n-----END PRIVATE KEY-----";
    let message = Message::new(b"{}").id("msg_1").timestamp(SW_TIMESTAMP);
    let cases = [
        (
            Discord.sign(&Secret::new(not_base64), &message),
            "secret is not an Ed25519 private key",
        ),
        (
            StandardWebhooks.sign(&Secret::new(not_base64), &message),
            "secret is not an Ed25519 private key",
        ),
        (
            SendGrid.sign(&Secret::new(not_pem), &message),
            "secret is not a P-256 private key",
        ),
    ];
    for (signed, expected) in cases {
        let error = signed.unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, SignError::InvalidSecret(_)), "{error:?}");
        assert!(text.starts_with(expected), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn debug_never_shows_a_private_key() {
    let seed = hex::decode(RFC8032[1].seed).unwrap();
    let seed_hex = RFC8032[1].seed;
    let whsk = format!("whsk_{}", BASE64.encode(&seed));
    let p256_pem = p256_key(0x42).to_pkcs8_pem(LineEnding::LF).unwrap();
    let p256_scalar = hex::encode([0x42; 32]);

    #[cfg(feature = "sign")]
    let signer = Some(format!(
        "{:?}",
        tower_webhook::sign::SignRequestLayer::new(StandardWebhooks, whsk.as_str()).unwrap()
    ));
    #[cfg(not(feature = "sign"))]
    let signer: Option<String> = None;
    let shown = [
        format!("{:?}", SigningKey::ed25519(seed_hex.as_bytes()).unwrap()),
        format!("{:?}", SigningKey::ed25519(whsk.as_bytes()).unwrap()),
        format!("{:?}", SigningKey::p256(p256_pem.as_bytes()).unwrap()),
    ]
    .into_iter()
    .chain(signer);
    let base64_seed = &whsk["whsk_".len()..];
    let pem_body: String = p256_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let scalar_base64 = BASE64.encode([0x42; 32]);
    let mut checked = 0;
    for text in shown {
        checked += 1;
        // The output is about an Ed25519 or P-256 key (and not, say, empty) ...
        assert!(text.contains("Ed25519") || text.contains("P256"), "{text}");
        // ... and holds none of the private key's spellings.
        let lower = text.to_ascii_lowercase();
        for secret in [seed_hex, p256_scalar.as_str()] {
            assert!(!lower.contains(secret), "{text}");
        }
        for secret in [base64_seed, &pem_body, &scalar_base64, whsk.as_str()] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    assert_eq!(checked, if cfg!(feature = "sign") { 4 } else { 3 });
}
