//! The presets against the providers' own SDKs: where an SDK signs, the preset's layer must
//! accept what it signed and refuse a tampered copy; where an SDK verifies, it must accept what
//! the preset signed and refuse a tampered copy.
//!
//! The SDKs are Python and Node packages, installed outside the repository by
//! `tests/sdk/install.sh`, which prints the variables to set:
//!
//! - `TOWER_WEBHOOK_SDK_PYTHON`: a Python interpreter that imports them (a virtualenv's);
//! - `TOWER_WEBHOOK_SDK_NODE`: a directory whose `node_modules` holds them (`node` on `PATH`).
//!
//! Unset, or with an SDK that does not import, the check says `SKIP:` and passes;
//! `TOWER_WEBHOOK_SDK_STRICT=1` (for CI) turns every skip into a failure. The drivers
//! (`tests/sdk/crosscheck.py`, `tests/sdk/crosscheck.mjs`) call only the SDKs' public helpers.
//! Known disagreements between SDKs have tests of their own.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tower_webhook::scheme::{Message, Scheme as _, preset};
use tower_webhook::{Secret, VerifySignatureLayer};

use common::{NOW, Recorder, refusal, request, send};

const PYTHON: &str = "TOWER_WEBHOOK_SDK_PYTHON";
const NODE: &str = "TOWER_WEBHOOK_SDK_NODE";
const STRICT: &str = "TOWER_WEBHOOK_SDK_STRICT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Python,
    Node,
}

/// What a delivery carries.
#[derive(Debug, Clone, Copy)]
enum Payload {
    /// A JSON event with text outside ASCII (the SDKs decode and re-encode bodies as UTF-8).
    Json,
    /// A form with a repeated field, an empty one and escaped text outside ASCII (Twilio).
    Form,
    /// A form whose repeated field holds U+FF5E and U+1F600, which sort one way by code point
    /// and the other by UTF-16 code unit (Twilio).
    AstralForm,
    /// JSON posted to a URL whose `bodySHA256` is the body's hash (Twilio).
    HashedJson,
    /// A Linear event: the signed body carries `webhookTimestamp`, in milliseconds.
    Linear,
}

/// The keys of a case: the crate signs with the first, the SDK checks with the second.
#[derive(Debug, Clone, Copy)]
enum Keys {
    Shared(&'static str),
    /// RFC 8032's TEST 1 key pair: the seed signs, the public key (hex) checks.
    Ed25519,
    /// A fixed P-256 key: PKCS#8 PEM signs, SendGrid's base64 SPKI checks.
    P256,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    runtime: Runtime,
    /// The driver's name for the SDK (the npm package for Node).
    sdk: &'static str,
    preset: &'static str,
    keys: Keys,
    payload: Payload,
    /// The URL the provider calls, for presets that sign it.
    url: Option<&'static str>,
    /// The SDK has a signer: it signs, the preset's layer verifies.
    sdk_signs: bool,
    /// The SDK has a verifier: the preset signs, the SDK verifies.
    sdk_verifies: bool,
    /// The SDK's verifier can be told the time; without it the crate signs at the real time.
    sdk_clock: bool,
}

const BASE: Case = Case {
    runtime: Runtime::Python,
    sdk: "",
    preset: "",
    keys: Keys::Shared(""),
    payload: Payload::Json,
    url: None,
    sdk_signs: true,
    sdk_verifies: true,
    sdk_clock: false,
};

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STRIPE_SECRET: &str = "whsec_crosscheck0stripe0endpoint0secret";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TWILIO_TOKEN: &str = "crosscheck0twilio0auth0token00000";
const HUBSPOT_SECRET: &str = "crosscheck-hubspot-client-secret";
const PADDLE_SECRET: &str = "pdl_ntfset_01crosscheck0000000000_secretkey";
const WORKOS_SECRET: &str = "crosscheck_workos_webhook_secret";
const SQUARE_SECRET: &str = "crosscheck-square-signature-key";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const MUX_SECRET: &str = "crosscheck0mux0webhook0secret";
const LINEAR_SECRET: &str = "lin_wh_crosscheck0linear0secret";

const TWILIO_FORM_URL: &str = "https://example.com/twilio/sms?campaign=7";
const TWILIO_JSON_URL: &str = "https://example.com/twilio/events";
const HUBSPOT_URL: &str = "https://example.com/hubspot/webhook?portalId=62515";
const SQUARE_URL: &str = "https://example.com/square/webhook";

const CASES: &[Case] = &[
    // Python.
    Case {
        sdk: "standardwebhooks",
        preset: "standard-webhooks",
        keys: Keys::Shared(STANDARD_SECRET),
        ..BASE
    },
    Case {
        sdk: "svix",
        preset: "svix",
        keys: Keys::Shared(STANDARD_SECRET),
        ..BASE
    },
    Case {
        sdk: "stripe",
        preset: "stripe",
        keys: Keys::Shared(STRIPE_SECRET),
        ..BASE
    },
    Case {
        sdk: "slack_sdk",
        preset: "slack",
        keys: Keys::Shared(SLACK_SECRET),
        sdk_clock: true,
        ..BASE
    },
    Case {
        sdk: "twilio",
        preset: "twilio",
        keys: Keys::Shared(TWILIO_TOKEN),
        payload: Payload::Form,
        url: Some(TWILIO_FORM_URL),
        ..BASE
    },
    Case {
        sdk: "twilio",
        preset: "twilio",
        keys: Keys::Shared(TWILIO_TOKEN),
        payload: Payload::HashedJson,
        url: Some(TWILIO_JSON_URL),
        ..BASE
    },
    Case {
        sdk: "twilio",
        preset: "twilio",
        keys: Keys::Shared(TWILIO_TOKEN),
        payload: Payload::AstralForm,
        url: Some(TWILIO_FORM_URL),
        ..BASE
    },
    Case {
        sdk: "hubspot",
        preset: "hubspot",
        keys: Keys::Shared(HUBSPOT_SECRET),
        url: Some(HUBSPOT_URL),
        ..BASE
    },
    Case {
        sdk: "paddle",
        preset: "paddle",
        keys: Keys::Shared(PADDLE_SECRET),
        sdk_signs: false,
        ..BASE
    },
    Case {
        sdk: "workos",
        preset: "workos",
        keys: Keys::Shared(WORKOS_SECRET),
        sdk_signs: false,
        ..BASE
    },
    Case {
        sdk: "square",
        preset: "square",
        keys: Keys::Shared(SQUARE_SECRET),
        url: Some(SQUARE_URL),
        sdk_signs: false,
        ..BASE
    },
    Case {
        sdk: "sendgrid",
        preset: "sendgrid",
        keys: Keys::P256,
        sdk_signs: false,
        ..BASE
    },
    Case {
        sdk: "discord",
        preset: "discord",
        keys: Keys::Ed25519,
        sdk_signs: false,
        ..BASE
    },
    // Node.
    Case {
        runtime: Runtime::Node,
        sdk: "@octokit/webhooks-methods",
        preset: "github",
        keys: Keys::Shared(GITHUB_SECRET),
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "standardwebhooks",
        preset: "standard-webhooks",
        keys: Keys::Shared(STANDARD_SECRET),
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "svix",
        preset: "svix",
        keys: Keys::Shared(STANDARD_SECRET),
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "stripe",
        preset: "stripe",
        keys: Keys::Shared(STRIPE_SECRET),
        sdk_clock: true,
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "twilio",
        preset: "twilio",
        keys: Keys::Shared(TWILIO_TOKEN),
        payload: Payload::Form,
        url: Some(TWILIO_FORM_URL),
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "twilio",
        preset: "twilio",
        keys: Keys::Shared(TWILIO_TOKEN),
        payload: Payload::HashedJson,
        url: Some(TWILIO_JSON_URL),
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "@paddle/paddle-node-sdk",
        preset: "paddle",
        keys: Keys::Shared(PADDLE_SECRET),
        sdk_signs: false,
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "@workos-inc/node",
        preset: "workos",
        keys: Keys::Shared(WORKOS_SECRET),
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "@mux/mux-node",
        preset: "mux",
        keys: Keys::Shared(MUX_SECRET),
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "@linear/sdk",
        preset: "linear",
        keys: Keys::Shared(LINEAR_SECRET),
        payload: Payload::Linear,
        sdk_signs: false,
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "discord-interactions",
        preset: "discord",
        keys: Keys::Ed25519,
        sdk_signs: false,
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "@sendgrid/eventwebhook",
        preset: "sendgrid",
        keys: Keys::P256,
        sdk_signs: false,
        ..BASE
    },
];

/// Twilio's SharedKey signatures (HMAC-SHA256, announced by
/// `X-Twilio-Webhooks-Signature-Settings`), which both SDKs make and check; the preset checks
/// HMAC-SHA1 only.
const SHARED_KEY: &[Case] = &[
    Case {
        sdk: "twilio-shared-key",
        preset: "twilio-shared-key",
        keys: Keys::Shared(TWILIO_TOKEN),
        payload: Payload::Form,
        url: Some(TWILIO_FORM_URL),
        sdk_verifies: false,
        ..BASE
    },
    Case {
        runtime: Runtime::Node,
        sdk: "twilio-shared-key",
        preset: "twilio-shared-key",
        keys: Keys::Shared(TWILIO_TOKEN),
        payload: Payload::Form,
        url: Some(TWILIO_FORM_URL),
        sdk_verifies: false,
        ..BASE
    },
];

/// Where Twilio's SDKs disagree: twilio-node sorts field names (`Object.keys().sort()`) and a
/// name's values (`Array.sort()`) by UTF-16 code unit, twilio-python and the preset's signer by
/// code point. The preset's verifier accepts both orders; twilio-node cannot verify the
/// code-point order, so only its signatures are checked here.
const DISAGREEMENTS: &[Case] = &[Case {
    runtime: Runtime::Node,
    sdk: "twilio",
    preset: "twilio",
    keys: Keys::Shared(TWILIO_TOKEN),
    payload: Payload::AstralForm,
    url: Some(TWILIO_FORM_URL),
    sdk_verifies: false,
    ..BASE
}];

const ED25519_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const ED25519_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

impl Keys {
    /// The secret the crate signs with (and, for a shared secret, verifies with).
    fn signing(self) -> String {
        match self {
            Self::Shared(secret) => secret.to_owned(),
            Self::Ed25519 => ED25519_SEED.to_owned(),
            Self::P256 => p256_key()
                .to_pkcs8_pem(LineEnding::LF)
                .expect("PKCS#8")
                .to_string(),
        }
    }

    /// What the SDK is given: `("secret", …)` or `("public_key", …)`.
    fn for_sdk(self) -> (&'static str, String) {
        match self {
            Self::Shared(secret) => ("secret", secret.to_owned()),
            Self::Ed25519 => ("public_key", ED25519_PUBLIC.to_owned()),
            Self::P256 => {
                let der = p256_key().verifying_key().to_public_key_der().unwrap();
                ("public_key", BASE64.encode(der.as_bytes()))
            }
        }
    }
}

fn p256_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap()
}

/// One delivery: the exact body, the URL it is posted to, its media type and id.
#[derive(Debug, Clone)]
struct Delivery {
    body: String,
    url: Option<String>,
    content_type: &'static str,
    id: Option<&'static str>,
}

impl Delivery {
    fn new(case: &Case, now: i64) -> Self {
        let event = r#"{"id":"evt_1CrossCheck","object":"event","type":"charge.succeeded","data":{"object":{"description":"Zoë’s café ☕ 😀","amount":2000}}}"#;
        let (body, content_type) = match case.payload {
            Payload::Json | Payload::HashedJson => (event.to_owned(), "application/json"),
            Payload::Form => (
                "To=%2B15005550006&From=%2B15551234567&Body=Zo%C3%AB%E2%80%99s+caf%C3%A9+%E2%98%95+%F0%9F%98%80&Tag=b&Tag=a&Empty=".to_owned(),
                "application/x-www-form-urlencoded",
            ),
            Payload::AstralForm => (
                "Body=hi&Tag=%EF%BD%9E&Tag=%F0%9F%98%80".to_owned(),
                "application/x-www-form-urlencoded",
            ),
            Payload::Linear => (
                format!(
                    r#"{{"action":"create","type":"Issue","data":{{"id":"9f1c","title":"Zoë’s café ☕ 😀"}},"webhookTimestamp":{}}}"#,
                    now * 1000
                ),
                "application/json",
            ),
        };
        let url = case.url.map(|url| match case.payload {
            Payload::HashedJson => {
                format!("{url}?bodySHA256={}", hex::encode(Sha256::digest(&body)))
            }
            _ => url.to_owned(),
        });
        let id = matches!(case.preset, "standard-webhooks" | "svix").then_some("msg_2CrossCheck");
        Self {
            body,
            url,
            content_type,
            id,
        }
    }

    /// The same delivery with one byte added to its body.
    fn tampered(&self) -> Self {
        Self {
            body: format!("{} ", self.body),
            ..self.clone()
        }
    }

    fn job(&self, case: &Case, action: &str) -> Map<String, Value> {
        let (field, key) = case.keys.for_sdk();
        let mut job = Map::new();
        job.insert("sdk".into(), case.sdk.into());
        job.insert("action".into(), action.into());
        job.insert(field.into(), key.into());
        job.insert("body".into(), self.body.clone().into());
        job.insert("content_type".into(), self.content_type.into());
        if let Some(url) = &self.url {
            job.insert("url".into(), url.clone().into());
        }
        if let Some(id) = self.id {
            job.insert("id".into(), id.into());
        }
        job
    }
}

/// A program that runs a driver.
struct Driver {
    runtime: Runtime,
    program: PathBuf,
    script: PathBuf,
}

impl Driver {
    /// The driver for `runtime`, or why there is none.
    fn find(runtime: Runtime) -> Result<Self, String> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
        match runtime {
            Runtime::Python => {
                let program = std::env::var_os(PYTHON)
                    .filter(|value| !value.is_empty())
                    .ok_or_else(|| format!("{PYTHON} is not set (run tests/sdk/install.sh)"))?;
                Ok(Self {
                    runtime,
                    program: program.into(),
                    script: dir.join("crosscheck.py"),
                })
            }
            Runtime::Node => {
                std::env::var_os(NODE)
                    .filter(|value| !value.is_empty())
                    .ok_or_else(|| format!("{NODE} is not set (run tests/sdk/install.sh)"))?;
                let found = Command::new("node")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success());
                if !found {
                    return Err(format!("{NODE} is set but `node` is not on PATH"));
                }
                Ok(Self {
                    runtime,
                    program: "node".into(),
                    script: dir.join("crosscheck.mjs"),
                })
            }
        }
    }

    /// Runs `jobs` in one process; one result per job, in order.
    fn run(&self, jobs: Vec<Map<String, Value>>) -> Result<Vec<Map<String, Value>>, String> {
        let count = jobs.len();
        let mut child = Command::new(&self.program)
            .arg(&self.script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{:?} {:?} did not start: {e}", self.program, self.script))?;
        let input = serde_json::to_vec(&jobs).unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&input)
            .map_err(|e| format!("writing the jobs: {e}"))?;
        let output = child
            .wait_with_output()
            .map_err(|e| format!("the driver: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("the driver failed ({}): {stderr}", output.status));
        }
        let results: Vec<Map<String, Value>> =
            serde_json::from_slice(&output.stdout).map_err(|e| {
                format!(
                    "the driver's output is not a JSON array ({e}): {}\n{stderr}",
                    String::from_utf8_lossy(&output.stdout)
                )
            })?;
        if results.len() != count {
            return Err(format!("{count} jobs, {} results", results.len()));
        }
        Ok(results)
    }
}

/// A check that did not run: passes with a `SKIP:` line, or fails under `TOWER_WEBHOOK_SDK_STRICT`.
fn skip(reason: &str) -> Result<(), String> {
    if std::env::var_os(STRICT).is_some_and(|value| !value.is_empty() && value != "0") {
        Err(format!("{reason} ({STRICT} is set)"))
    } else {
        eprintln!("SKIP: {reason}");
        Ok(())
    }
}

fn unix_now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

fn headers_to_json(headers: &HeaderMap) -> Value {
    let map: BTreeMap<&str, &str> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().expect("ASCII header")))
        .collect();
    json!(map)
}

fn headers_from_json(value: &Value) -> Result<HeaderMap, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("headers are not an object: {value}"))?;
    let mut headers = HeaderMap::new();
    for (name, value) in object {
        let value = value
            .as_str()
            .ok_or_else(|| format!("header {name} is not text: {value}"))?;
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?,
            HeaderValue::from_str(value).map_err(|e| format!("{name}: {e}"))?,
        );
    }
    Ok(headers)
}

/// The preset's layer judges `delivery` with `headers`, at `now`: `Ok` when it lets it through.
async fn crate_verdict(
    case: &Case,
    delivery: &Delivery,
    headers: &HeaderMap,
    now: i64,
) -> Result<(), String> {
    let scheme = preset(case.preset).expect("a preset of that name");
    let mut layer = VerifySignatureLayer::new(scheme, Secret::new(case.keys.signing()))
        .map_err(|e| format!("the layer refused its key: {e}"))?
        .clock(move || now);
    let mut request = request(headers, Bytes::from(delivery.body.clone()));
    if let Some(url) = &delivery.url {
        // The provider calls `url`; the endpoint knows it, and is reached at its path.
        let base = url.split('?').next().unwrap_or(url);
        layer = layer.public_url(base).map_err(|e| format!("{url}: {e}"))?;
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        *request.uri_mut() = uri.path_and_query().unwrap().as_str().parse().unwrap();
    }
    request.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(delivery.content_type),
    );
    let recorder = Recorder::new();
    let response = send(&layer, &recorder, request).await;
    match response.status() {
        StatusCode::OK if recorder.calls() == 1 => Ok(()),
        StatusCode::OK => Err("200 without calling the inner service".into()),
        status if recorder.calls() != 0 => Err(format!("{status}, yet the inner service ran")),
        status => Err(format!("{status}: {}", refusal(&response))),
    }
}

/// Everything needed to reproduce a failure, but the key (named by the case).
fn inputs(case: &Case, delivery: &Delivery, headers: &Value) -> String {
    format!(
        "  keys: {:?}\n  body ({}): {:?}\n  url: {:?}\n  headers: {headers}",
        match case.keys {
            Keys::Shared(_) => "the case's shared secret",
            Keys::Ed25519 => "RFC 8032 TEST 1",
            Keys::P256 => "P-256 scalar 0x42…42",
        },
        delivery.content_type,
        delivery.body,
        delivery.url,
    )
}

/// What one case found: the directions it checked, or why it was skipped.
enum Checked {
    Directions(String, Vec<&'static str>),
    Skipped(String),
}

/// Both directions of one case; `Err` lists the disagreements.
async fn check(driver: &Driver, case: &Case) -> Result<Checked, String> {
    let label = format!(
        "{:?} {} vs preset {} ({:?})",
        driver.runtime, case.sdk, case.preset, case.payload
    );
    let fixed = Delivery::new(case, NOW);

    // Direction (b)'s signature first: a verifier without a clock checks it against the real
    // time, so the driver starts right after it is made. A few seconds ahead, as loading every
    // SDK can take longer than Paddle's 5 s window on a busy machine; every verifier here
    // allows that much ahead.
    let signed_at = if case.sdk_clock { NOW } else { unix_now() + 4 };
    let ours = Delivery::new(case, signed_at);
    let scheme = preset(case.preset).expect("a preset of that name");
    let mut message = Message::new(ours.body.as_bytes())
        .timestamp(signed_at)
        .content_type(ours.content_type);
    if let Some(id) = ours.id {
        message = message.id(id);
    }
    if let Some(url) = &ours.url {
        message = message.url(url);
    }
    let our_headers = scheme
        .sign(&Secret::new(case.keys.signing()), &message)
        .map_err(|e| format!("{label}: the preset does not sign: {e}"))?;
    let our_headers = headers_to_json(&our_headers);

    let mut jobs = vec![fixed.job(case, "version")];
    if case.sdk_signs {
        let mut job = fixed.job(case, "sign");
        job.insert("timestamp".into(), NOW.into());
        jobs.push(job);
    }
    if case.sdk_verifies {
        for delivery in [&ours, &ours.tampered()] {
            let mut job = delivery.job(case, "verify");
            job.insert("headers".into(), our_headers.clone());
            job.insert("now".into(), json!(case.sdk_clock.then_some(NOW)));
            jobs.push(job);
        }
    }
    let mut results = driver
        .run(jobs)
        .map_err(|e| format!("{label}: {e}"))?
        .into_iter();

    let version = results.next().unwrap();
    if let Some(reason) = version.get("skip").and_then(Value::as_str) {
        return Ok(Checked::Skipped(format!("{label}: {reason}")));
    }
    let Some(version) = version.get("version").and_then(Value::as_str) else {
        return Err(format!("{label}: no version: {version:?}"));
    };
    let label = format!(
        "{:?} {} {version} vs preset {} ({:?})",
        driver.runtime, case.sdk, case.preset, case.payload
    );
    let mut failures = Vec::new();
    let mut directions = Vec::new();

    if case.sdk_signs {
        let result = results.next().unwrap();
        match result.get("headers") {
            None => failures.push(format!("the SDK did not sign: {result:?}")),
            Some(theirs) => {
                let headers = headers_from_json(theirs).map_err(|e| format!("{label}: {e}"))?;
                let genuine = crate_verdict(case, &fixed, &headers, NOW).await;
                let tampered = crate_verdict(case, &fixed.tampered(), &headers, NOW).await;
                match (genuine, tampered) {
                    (Ok(()), Err(_)) => directions.push("SDK signs, preset accepts"),
                    (Err(why), _) => failures.push(format!(
                        "the SDK signed, the preset refused ({why})\n{}",
                        inputs(case, &fixed, theirs)
                    )),
                    (Ok(()), Ok(())) => failures.push(format!(
                        "the preset accepted a tampered copy of the SDK's delivery\n{}",
                        inputs(case, &fixed.tampered(), theirs)
                    )),
                }
            }
        }
    }
    if case.sdk_verifies {
        let genuine = results.next().unwrap();
        let tampered = results.next().unwrap();
        match (genuine.get("valid"), tampered.get("valid")) {
            (Some(Value::Bool(true)), Some(Value::Bool(false))) => {
                directions.push("preset signs, SDK accepts");
            }
            (Some(Value::Bool(true)), _) => failures.push(format!(
                "the SDK accepted a tampered copy of the preset's delivery: {tampered:?}\n{}",
                inputs(case, &ours.tampered(), &our_headers)
            )),
            _ => failures.push(format!(
                "the preset signed, the SDK refused: {genuine:?}\n{}",
                inputs(case, &ours, &our_headers)
            )),
        }
    }
    if failures.is_empty() {
        Ok(Checked::Directions(label, directions))
    } else {
        Err(format!("{label}:\n{}", failures.join("\n")))
    }
}

/// Checks `cases` in every runtime, and fails with every disagreement found.
async fn check_all(cases: &[Case]) {
    let mut failures = Vec::new();
    for runtime in [Runtime::Python, Runtime::Node] {
        if cases.iter().any(|case| case.runtime == runtime) {
            failures.extend(check_cases(runtime, cases).await);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The failures among the cases of `runtime`; skips are printed (or fail, when strict).
async fn check_cases(runtime: Runtime, cases: &[Case]) -> Vec<String> {
    let driver = match Driver::find(runtime) {
        Ok(driver) => driver,
        Err(reason) => {
            let reason = format!("{runtime:?} SDK cross-check: {reason}");
            return skip(&reason).err().into_iter().collect();
        }
    };
    let mut failures = Vec::new();
    for case in cases.iter().filter(|case| case.runtime == runtime) {
        match check(&driver, case).await {
            Ok(Checked::Directions(label, directions)) => {
                println!("ok: {label}: {}", directions.join("; "));
            }
            Ok(Checked::Skipped(reason)) => failures.extend(skip(&reason).err()),
            Err(failure) => failures.push(failure),
        }
    }
    failures
}

#[tokio::test]
async fn python_sdks_and_presets_accept_each_others_signatures() {
    let python: Vec<Case> = CASES
        .iter()
        .filter(|case| case.runtime == Runtime::Python)
        .copied()
        .collect();
    check_all(&python).await;
}

#[tokio::test]
async fn node_sdks_and_presets_accept_each_others_signatures() {
    let node: Vec<Case> = CASES
        .iter()
        .filter(|case| case.runtime == Runtime::Node)
        .copied()
        .collect();
    check_all(&node).await;
}

#[tokio::test]
async fn twilio_node_signatures_over_either_form_order_are_accepted() {
    check_all(DISAGREEMENTS).await;
}

#[tokio::test]
async fn twilio_shared_key_signatures_are_accepted() {
    check_all(SHARED_KEY).await;
}

#[test]
fn every_case_names_a_preset_and_checks_something() {
    for case in CASES.iter().chain(SHARED_KEY).chain(DISAGREEMENTS) {
        assert!(preset(case.preset).is_some(), "{}", case.preset);
        assert!(case.sdk_signs || case.sdk_verifies, "{}", case.sdk);
        assert!(
            case.url.is_some()
                == matches!(
                    case.preset,
                    "twilio" | "twilio-shared-key" | "hubspot" | "square"
                ),
            "{}: a URL exactly where the preset signs one",
            case.sdk
        );
    }
}
