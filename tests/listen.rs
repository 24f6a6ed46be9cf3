//! `webhook listen`, run as a user would: a process on a free port, real HTTP requests, and
//! what it prints and serves. Each diagnosis has a delivery broken in that one way, and the
//! test fails when the finding is missing, wrong, or shows a secret.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use serde_json::Value;
use tower_webhook::scheme::{self, Message, PRESETS, Part, Scheme};
use tower_webhook::{Secret, SecretFormat};

/// Long enough for a debug build on a loaded machine; only reached when something is wrong.
const WAIT: Duration = Duration::from_secs(30);

/// A running `webhook listen`, killed when dropped.
struct Listen {
    child: Child,
    addr: String,
    lines: Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Listen {
    /// `webhook listen ARGS --addr 127.0.0.1:0`, once it has said where it listens.
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webhook"))
            .arg("listen")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .env_remove("WEBHOOK_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the webhook binary runs");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sender, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let seen = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                seen.lock().unwrap().push(line.clone());
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let errors = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(n @ 1..) = err.read(&mut buffer) {
                errors
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let mut listen = Self {
            child,
            addr: String::new(),
            lines,
            stdout,
            stderr,
        };
        let first = listen.next_line();
        listen.addr = first
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .to_owned();
        listen
    }

    fn next_line(&self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no line; stderr: {}", self.stderr()),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("webhook listen stopped; stderr: {}", self.stderr())
            }
        }
    }

    /// The next delivery printed with `--print-json`.
    fn next_json(&self) -> Value {
        let line = self.next_line();
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything it has shown: stdout, stderr, and the deliveries it serves.
    fn everything_shown(&self) -> String {
        // stderr is read on its own thread: give it a moment to catch up.
        std::thread::sleep(Duration::from_millis(100));
        let (_, _, deliveries) = get(&self.addr, "/deliveries");
        format!(
            "{}\n{}\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr(),
            String::from_utf8_lossy(&deliveries)
        )
    }

    /// Fails when any of `secrets` shows anywhere.
    fn assert_never_shows(&self, secrets: &[&[u8]]) {
        let shown = self.everything_shown();
        for secret in secrets {
            let secret = String::from_utf8_lossy(secret);
            assert!(
                !shown.contains(secret.trim()),
                "a secret is shown:\n{shown}"
            );
        }
    }

    fn post(&self, path: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
        request(&self.addr, "POST", path, headers, body)
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status, headers (names lowercased), body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request on its own connection, read to the end.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_answer(&raw)
}

fn get(addr: &str, path: &str) -> Answer {
    request(addr, "GET", path, &[], b"")
}

fn parse_answer(raw: &[u8]) -> Answer {
    let end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if header(&headers, "transfer-encoding") == Some("chunked") {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(at) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..at]).unwrap().trim(), 16);
        let size = size.unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[at + 2..at + 2 + size]);
        raw = &raw[at + 4 + size..];
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_str())
}

/// The value of a header the test sends, by its name in any case.
fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(scheme: &str, secret: Secret, message: &Message<'_>) -> Vec<(String, String)> {
    let scheme = scheme::preset(scheme).unwrap();
    let headers = scheme.sign(&secret, message).unwrap();
    headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect()
}

fn json_headers(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    headers
}

fn diagnosis(delivery: &Value) -> Vec<String> {
    delivery["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding.as_str().unwrap().to_owned())
        .collect()
}

/// One finding, and the refusal it explains.
fn only_finding(delivery: &Value) -> String {
    assert_eq!(delivery["verdict"], "refused", "{delivery}");
    let findings = diagnosis(delivery);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    findings.into_iter().next().unwrap()
}

const BODY: &[u8] = br#"{"action":"opened","issue":{"number":7,"labels":["bug","ui"]}}"#;

#[test]
fn accepted_and_refused_deliveries_each_print_one_line() {
    let listen = Listen::start(&[
        "--scheme",
        "github",
        "--secret",
        "first secret",
        "--secret",
        "second secret",
    ]);
    let message = Message::new(BODY).event_type("issues");
    let mut headers = json_headers(sign("github", Secret::new("second secret"), &message));
    headers.push(("X-GitHub-Delivery".to_owned(), "d-42".to_owned()));
    let (status, _, body) = listen.post("/hooks/github", &headers, BODY);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let line = listen.next_line();
    for part in [
        "#1 accepted",
        "event issues.opened",
        "id d-42",
        &format!("{} B", BODY.len()),
        "key #2",
        "POST /hooks/github",
    ] {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }
    // The time comes first: RFC 3339, UTC.
    let time = line.split(' ').next().unwrap();
    assert!(time.len() == 20 && time.ends_with('Z'), "{line}");

    // The same signature over another body: refused with the layer's reason, and nothing
    // tried makes it verify, so there is no diagnosis.
    let tampered = br#"{"action":"closed","issue":{"number":7,"labels":["bug","ui"]}}"#;
    let (status, _, body) = listen.post("/hooks/github", &headers, tampered);
    assert_eq!(status, 401);
    assert_eq!(body, b"signature does not match");
    let line = listen.next_line();
    assert!(
        line.contains("#2 refused: signature does not match"),
        "{line}"
    );
    assert!(!line.contains("key #"), "{line}");
    let (_, _, list) = get(&listen.addr, "/deliveries");
    let list: Value = serde_json::from_slice(&list).unwrap();
    assert_eq!(list[0]["seq"], 2);
    assert_eq!(list[0]["diagnosis"], Value::Array(Vec::new()));
    assert_eq!(list[0]["reason"], "signature does not match");
    assert_eq!(list[1]["key"], 2);
    listen.assert_never_shows(&[b"first secret", b"second secret"]);
}

#[test]
fn every_preset_accepts_what_it_signs() {
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const P256_PRIVATE: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYXwOgkjXQg/8J9dhQmog71YZMmmDwF52UEYKOgOu6nmhRANCAATNH1OSZBK4ehGk+7vp4fqua1BFqH9wRK781vOFd9DEPm71IuEspM5uE35lrgfDGIbWPcr/SYv/fieqfYf1JQo2";
    const P256_PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzR9TkmQSuHoRpPu76eH6rmtQRah/cESu/NbzhXfQxD5u9SLhLKTObhN+Za4HwxiG1j3K/0mL/34nqn2H9SUKNg==";
    let url = "https://hooks.example.com/in";
    for name in PRESETS {
        let scheme = scheme::preset(name).unwrap();
        let (secret, flag, key) = match *name {
            "discord" => (
                Secret::new(RFC8032_SEED),
                "--public-key",
                RFC8032_PUBLIC.to_owned(),
            ),
            "sendgrid" => (
                Secret::new(P256_PRIVATE),
                "--public-key",
                P256_PUBLIC.to_owned(),
            ),
            _ => {
                let secret =
                    Secret::generate_as(SecretFormat::for_scheme(scheme.as_ref())).unwrap();
                let text = String::from_utf8(secret.expose().to_vec()).unwrap();
                (secret, "--secret", text)
            }
        };
        let millis = now() * 1000;
        let signs_form = scheme.signed_content().contains(&Part::Form);
        let (content_type, body) = match *name {
            _ if signs_form => (
                "application/x-www-form-urlencoded",
                "From=%2B14158675309&Body=hello+there".to_owned(),
            ),
            "linear" => (
                "application/json",
                format!(r#"{{"type":"Issue","action":"create","webhookTimestamp":{millis}}}"#),
            ),
            _ => (
                "application/json",
                r#"{"type":"order.completed"}"#.to_owned(),
            ),
        };
        let message = Message::new(body.as_bytes())
            .id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
            .timestamp(now())
            .event_type("order.completed")
            .url(url)
            .method("POST")
            .content_type(content_type);
        let mut headers = sign(name, secret, &message);
        headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        let listen = Listen::start(&["--scheme", name, flag, &key, "--url", url, "--print-json"]);
        let (status, _, answer) = listen.post("/in", &headers, body.as_bytes());
        let delivery = listen.next_json();
        assert_eq!(
            delivery["verdict"],
            "accepted",
            "{name}: {status} {}: {delivery}",
            String::from_utf8_lossy(&answer)
        );
        assert_eq!(delivery["key"], 1, "{name}");
        assert_eq!(status, 200, "{name}");
    }
}

#[test]
fn a_delivery_of_another_scheme_is_named() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let listen = Listen::start(&["--scheme", "github", "--secret", secret, "--print-json"]);
    let message = Message::new(BODY).id("msg_1").timestamp(now());
    let headers = json_headers(sign("standard-webhooks", Secret::new(secret), &message));
    let (status, _, answer) = listen.post("/", &headers, BODY);
    assert_eq!(status, 400);
    assert_eq!(answer, b"missing `x-hub-signature-256` header");
    let delivery = listen.next_json();
    assert_eq!(delivery["reason"], "missing `x-hub-signature-256` header");
    let finding = only_finding(&delivery);
    // Svix, Clerk and Resend read Standard Webhooks' headers too, and verify it as well.
    assert!(
        finding.starts_with(
            "it verifies as `standard-webhooks` with key #1, and as `svix` with key #1, \
             `clerk` with key #1, `resend` with key #1: its headers are present"
        ),
        "{finding}"
    );
    assert!(finding.contains("--scheme standard-webhooks"), "{finding}");
    // The sender is told the layer's reason, never the diagnosis.
    assert!(!String::from_utf8_lossy(&answer).contains("verifies"));
    listen.assert_never_shows(&[secret.as_bytes(), b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
}

/// A listener with `given` as its secret, a GitHub delivery signed with `used`, and the one
/// finding about it.
fn secret_finding(given: &str, used: Secret) -> String {
    let listen = Listen::start(&["--scheme", "github", "--secret", given, "--print-json"]);
    let used_bytes = used.expose().to_vec();
    let headers = json_headers(sign("github", used, &Message::new(BODY)));
    let (status, _, _) = listen.post("/", &headers, BODY);
    assert_eq!(status, 401);
    let finding = only_finding(&listen.next_json());
    listen.assert_never_shows(&[given.as_bytes(), &used_bytes]);
    finding
}

#[test]
fn a_secret_with_whitespace_is_diagnosed_trimmed() {
    let finding = secret_finding("  a pasted secret\n", Secret::new("a pasted secret"));
    assert!(
        finding.starts_with("secret #1 works read as trimmed of whitespace:"),
        "{finding}"
    );
}

#[test]
fn a_secret_with_or_without_its_prefix_is_diagnosed() {
    let finding = secret_finding("whsec_plain-text-secret", Secret::new("plain-text-secret"));
    assert!(
        finding.starts_with("secret #1 works read as without its `whsec_` prefix:"),
        "{finding}"
    );
    let finding = secret_finding("plain-text-secret", Secret::new("whsec_plain-text-secret"));
    assert!(
        finding.starts_with("secret #1 works read as with a `whsec_` prefix:"),
        "{finding}"
    );
}

#[test]
fn a_whsec_secret_used_as_raw_bytes_is_diagnosed() {
    let raw = b"\x01\x02 raw key bytes \xfe\xff";
    let given = format!("whsec_{}", BASE64.encode(raw));
    let finding = secret_finding(&given, Secret::from_bytes(&raw[..]));
    assert!(
        finding.starts_with(
            "secret #1 works read as the base64 after `whsec_`, decoded and used as raw bytes:"
        ),
        "{finding}"
    );
}

#[test]
fn a_hex_secret_used_as_raw_bytes_is_diagnosed() {
    let raw = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb";
    let finding = secret_finding(&hex::encode(raw), Secret::from_bytes(&raw[..]));
    assert!(
        finding.starts_with("secret #1 works read as hex-decoded:"),
        "{finding}"
    );
}

#[test]
fn a_standard_webhooks_secret_read_as_text_is_diagnosed() {
    // A sender that took the whole `whsec_…` string as the HMAC key, as Stripe does.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let listen = Listen::start(&[
        "--scheme",
        "standard-webhooks",
        "--secret",
        secret,
        "--print-json",
    ]);
    let key = format!("whsec_{}", BASE64.encode(secret));
    let message = Message::new(BODY).id("msg_1").timestamp(now());
    let headers = json_headers(sign("standard-webhooks", Secret::new(key), &message));
    listen.post("/", &headers, BODY);
    let finding = only_finding(&listen.next_json());
    assert!(
        finding.starts_with("secret #1 works read as its text used as the key's bytes:"),
        "{finding}"
    );
    listen.assert_never_shows(&[secret.as_bytes()]);
}

/// The seconds in "the timestamp is N s behind/ahead of …".
fn seconds_off(finding: &str) -> i64 {
    let rest = finding
        .strip_prefix("the timestamp is ")
        .unwrap_or_else(|| panic!("{finding}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_timestamp_off_the_clock_is_measured_and_verifies_when_clocks_agree() {
    let secret = "whsec_test_secret_for_the_clock";
    let listen = Listen::start(&["--scheme", "stripe", "--secret", secret, "--print-json"]);
    for (offset, side, reason) in [
        (-3600, "behind", "timestamp is"),
        (7200, "ahead of", "in the future"),
    ] {
        let message = Message::new(BODY).timestamp(now() + offset);
        let headers = json_headers(sign("stripe", Secret::new(secret), &message));
        let (status, _, _) = listen.post("/", &headers, BODY);
        assert_eq!(status, 401);
        let delivery = listen.next_json();
        assert!(
            delivery["reason"].as_str().unwrap().contains(reason),
            "{delivery}"
        );
        let finding = only_finding(&delivery);
        let off = seconds_off(&finding);
        assert!((off - offset.abs()).abs() <= 3, "{finding}");
        assert!(
            finding.contains(&format!(
                "s {side} this machine's clock (at most 300 s is allowed); it verifies when the \
                 clocks agree with key #1"
            )),
            "{finding}"
        );
    }

    // Off the clock and signed with another secret: measured, and still refused.
    let message = Message::new(BODY).timestamp(now() - 3600);
    let headers = json_headers(sign("stripe", Secret::new("whsec_other"), &message));
    listen.post("/", &headers, BODY);
    let finding = only_finding(&listen.next_json());
    assert!(
        finding.ends_with("with the clocks agreeing it is still refused: signature does not match"),
        "{finding}"
    );
    listen.assert_never_shows(&[secret.as_bytes()]);
}

#[test]
fn a_compressed_body_is_decoded_and_checked_again() {
    let secret = "a github secret";
    let listen = Listen::start(&["--scheme", "github", "--secret", secret, "--print-json"]);
    let headers = json_headers(sign("github", Secret::new(secret), &Message::new(BODY)));

    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(BODY).unwrap();
    let mut deflate = ZlibEncoder::new(Vec::new(), Compression::default());
    deflate.write_all(BODY).unwrap();
    for (coding, body) in [
        ("gzip", gzip.finish().unwrap()),
        ("deflate", deflate.finish().unwrap()),
    ] {
        let mut headers = headers.clone();
        headers.push(("Content-Encoding".to_owned(), coding.to_owned()));
        let (status, _, _) = listen.post("/", &headers, &body);
        assert_eq!(status, 401);
        let finding = only_finding(&listen.next_json());
        assert!(
            finding.starts_with(&format!(
                "the body verifies once decoded from its `Content-Encoding: {coding}` with key #1"
            )),
            "{finding}"
        );
    }

    // Compressed and signed over other bytes: decoding does not make it verify.
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(b"{\"other\":true}").unwrap();
    let mut headers = headers.clone();
    headers.push(("Content-Encoding".to_owned(), "gzip".to_owned()));
    listen.post("/", &headers, &gzip.finish().unwrap());
    assert_eq!(diagnosis(&listen.next_json()), Vec::<String>::new());
    listen.assert_never_shows(&[secret.as_bytes()]);
}

#[test]
fn json_reformatted_on_the_way_is_diagnosed() {
    let secret = "a github secret";
    let listen = Listen::start(&["--scheme", "github", "--secret", secret, "--print-json"]);
    let pretty = b"{\n  \"action\": \"opened\",\n  \"issue\": {\n    \"number\": 7,\n    \
                   \"labels\": [\n      \"bug\",\n      \"ui\"\n    ]\n  }\n}";
    let spaced = br#"{"action": "opened", "issue": {"number": 7, "labels": ["bug", "ui"]}}"#;
    // (signed, received, how the finding names the signed layout)
    let cases: [(&[u8], &[u8], &str); 3] = [
        (BODY, pretty, "compactly (no whitespace)"),
        (pretty, BODY, "pretty-printed with 2-space indents"),
        (spaced, BODY, "with `, ` and `: ` between items"),
    ];
    for (signed, received, how) in cases {
        let headers = json_headers(sign("github", Secret::new(secret), &Message::new(signed)));
        let (status, _, _) = listen.post("/", &headers, received);
        assert_eq!(status, 401);
        let finding = only_finding(&listen.next_json());
        assert!(
            finding.starts_with(&format!("the body verifies re-serialised {how}")),
            "{how}: {finding}"
        );
    }

    // A final newline added on the way, to a body that is not JSON.
    let headers = sign("github", Secret::new(secret), &Message::new(b"plain text"));
    listen.post("/", &headers, b"plain text\n");
    let finding = only_finding(&listen.next_json());
    assert!(
        finding.starts_with("the body verifies without its final newline with key #1"),
        "{finding}"
    );
    listen.assert_never_shows(&[secret.as_bytes()]);
}

#[test]
fn a_url_signing_scheme_is_told_the_url_the_sender_signed() {
    for name in ["square", "hubspot", "twilio"] {
        let secret = "url signing secret";
        let path = format!("/hooks/{name}/");
        let given = format!("https://example.com/hooks/{name}");
        let listen = Listen::start(&[
            "--scheme",
            name,
            "--secret",
            secret,
            "--url",
            &given,
            "--print-json",
        ]);
        // Signed for the URL this listener is at, with its final slash.
        let signed_url = format!("http://{}{path}", listen.addr);
        let (content_type, body): (&str, &[u8]) = match name {
            "twilio" => (
                "application/x-www-form-urlencoded",
                b"CallSid=CA1&From=%2B1555",
            ),
            _ => ("application/json", BODY),
        };
        let message = Message::new(body)
            .timestamp(now())
            .url(&signed_url)
            .method("POST")
            .content_type(content_type);
        let mut headers = sign(name, Secret::new(secret), &message);
        headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        let (status, _, _) = listen.post(&path, &headers, body);
        assert_eq!(status, 401, "{name}");
        let finding = only_finding(&listen.next_json());
        assert!(
            finding.starts_with(&format!(
                "the sender signed the URL `{signed_url}`, not the --url `{given}` with key #1"
            )),
            "{name}: {finding}"
        );
        listen.assert_never_shows(&[secret.as_bytes()]);
    }

    // Without --url: every delivery is refused, and the diagnosis says which URL to give.
    let listen = Listen::start(&["--scheme", "square", "--secret", "k", "--print-json"]);
    let signed_url = format!("http://{}/sq", listen.addr);
    let message = Message::new(BODY).url(&signed_url);
    let headers = json_headers(sign("square", Secret::new("k"), &message));
    let (status, _, _) = listen.post("/sq", &headers, BODY);
    assert_eq!(status, 500);
    let finding = only_finding(&listen.next_json());
    assert!(
        finding.starts_with(&format!(
            "the sender signed the URL `{signed_url}`, and no --url was given"
        )),
        "{finding}"
    );
    assert!(listen.stderr().contains("square signs the URL it calls"));
}

/// A local app that answers 202 and hands over every request it gets, whole.
fn app() -> (String, Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (sender, requests) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut raw = Vec::new();
            let mut buffer = [0; 4096];
            // Read the head, then as many body bytes as it declares.
            let (end, length) = loop {
                let n = stream.read(&mut buffer).unwrap();
                assert!(n > 0, "the request ended early");
                raw.extend_from_slice(&buffer[..n]);
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                    break (end + 4, length);
                }
            };
            while raw.len() < end + length {
                let n = stream.read(&mut buffer).unwrap();
                raw.extend_from_slice(&buffer[..n]);
            }
            stream
                .write_all(
                    b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\nX-App: yes\r\n\
                      Connection: close\r\n\r\napp saw it",
                )
                .unwrap();
            let _ = sender.send(raw);
        }
    });
    (addr, requests)
}

#[test]
fn verified_deliveries_are_forwarded_whole_and_can_be_forwarded_again() {
    let (app_addr, requests) = app();
    let secret = "forwarding secret";
    let forward_to = format!("http://{app_addr}/app/hooks");
    let listen = Listen::start(&[
        "--scheme",
        "github",
        "--secret",
        secret,
        "--forward-to",
        &forward_to,
    ]);
    // Not JSON-compact, so any re-serialising on the way would show.
    let body = b"{ \"action\" : \"opened\" }";
    let mut headers = json_headers(sign(
        "github",
        Secret::new(secret),
        &Message::new(body).event_type("issues"),
    ));
    headers.push(("X-Custom".to_owned(), "kept as sent".to_owned()));
    let (status, answer_headers, answer) = listen.post("/in?attempt=1", &headers, body);
    assert_eq!(status, 202);
    assert_eq!(answer, b"app saw it");
    assert_eq!(header(&answer_headers, "x-app"), Some("yes"));
    let line = listen.next_line();
    assert!(
        line.contains("#1 accepted → app 202 | event issues.opened"),
        "{line}"
    );

    let check = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw);
        assert!(
            text.starts_with("POST /app/hooks?attempt=1 HTTP/1.1\r\n"),
            "{text}"
        );
        let signature = header_value(&headers, "x-hub-signature-256");
        assert!(
            text.contains(&format!("x-hub-signature-256: {signature}\r\n")),
            "{text}"
        );
        assert!(
            text.to_ascii_lowercase()
                .contains("x-custom: kept as sent\r\n"),
            "{text}"
        );
        assert!(
            raw.ends_with(b"\r\n\r\n{ \"action\" : \"opened\" }"),
            "{text}"
        );
    };
    check(&requests.recv_timeout(WAIT).unwrap());

    // Forwarded again from the page's route: the same bytes, and the app's status.
    let (status, _, answer) = request(&listen.addr, "POST", "/replay/1", &[], b"");
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["app_status"], 202);
    check(&requests.recv_timeout(WAIT).unwrap());
    let line = listen.next_line();
    assert!(line.contains("#1 forwarded again → app 202"), "{line}");

    // A refused delivery is not forwarded, and cannot be forwarded again.
    let (status, _, _) = listen.post("/in", &headers, b"{\"forged\":true}");
    assert_eq!(status, 401);
    let line = listen.next_line();
    assert!(line.contains("#2 refused"), "{line}");
    assert!(
        requests.try_recv().is_err(),
        "a refused delivery reached the app"
    );
    let (status, _, answer) = request(&listen.addr, "POST", "/replay/2", &[], b"");
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&answer));
    let (status, _, _) = request(&listen.addr, "POST", "/replay/99", &[], b"");
    assert_eq!(status, 404);
    assert!(requests.try_recv().is_err());

    let (_, _, list) = get(&listen.addr, "/deliveries");
    let list: Value = serde_json::from_slice(&list).unwrap();
    assert_eq!(list[1]["app_status"], 202);
    assert_eq!(list[0]["app_status"], Value::Null);
    listen.assert_never_shows(&[secret.as_bytes()]);
}

#[test]
fn the_app_unreachable_is_a_502_and_shown() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let secret = "forwarding secret";
    let forward_to = format!("http://{closed}/");
    let listen = Listen::start(&[
        "--scheme",
        "github",
        "--secret",
        secret,
        "--forward-to",
        &forward_to,
        "--print-json",
    ]);
    let headers = json_headers(sign("github", Secret::new(secret), &Message::new(BODY)));
    let (status, _, _) = listen.post("/", &headers, BODY);
    assert_eq!(status, 502);
    let delivery = listen.next_json();
    assert_eq!(delivery["verdict"], "accepted");
    assert_eq!(delivery["app_status"], Value::Null);
    assert!(
        delivery["app_error"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach the app"),
        "{delivery}"
    );
}

#[test]
fn the_page_is_served_whole_from_the_binary_and_events_stream_live() {
    let secret = "page secret";
    let listen = Listen::start(&["--scheme", "github", "--secret", secret, "--keep", "3"]);
    let (status, headers, page) = get(&listen.addr, "/");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        header(&headers, "content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'none'")),
        "{headers:?}"
    );
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(r#"<main id="deliveries" data-keep="3">"#));
    assert!(page.contains(r#"new EventSource("/events")"#));
    // Nothing from elsewhere, and delivery data only ever as text.
    for outside in [
        "http://",
        "https://",
        "src=",
        "<link",
        "@import",
        "innerHTML",
    ] {
        assert!(!page.contains(outside), "the page holds {outside:?}");
    }

    // The event stream, open before the delivery arrives.
    let mut events = TcpStream::connect(&listen.addr).unwrap();
    events.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        events,
        "GET /events HTTP/1.1\r\nHost: {}\r\n\r\n",
        listen.addr
    )
    .unwrap();
    let mut events = BufReader::new(events);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        events.read_line(&mut head).unwrap();
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );

    let signed = json_headers(sign("github", Secret::new(secret), &Message::new(BODY)));
    listen.post("/x", &signed, BODY);
    listen.next_line();
    let deadline = Instant::now() + WAIT;
    let event = loop {
        assert!(Instant::now() < deadline, "no event");
        let mut line = String::new();
        events.read_line(&mut line).unwrap();
        if let Some(json) = line.trim_end().strip_prefix("data: ") {
            break serde_json::from_str::<Value>(json).unwrap();
        }
    };
    assert_eq!(event["seq"], 1);
    assert_eq!(event["verdict"], "accepted");
    assert_eq!(
        event["body"],
        "{\n  \"action\": \"opened\",\n  \"issue\": {\n    \"number\": 7,\n    \"labels\": [\n      \"bug\",\n      \"ui\"\n    ]\n  }\n}"
    );

    // Four more: only the last three are kept, newest first.
    for _ in 0..4 {
        listen.post("/x", &[], b"unsigned");
        listen.next_line();
    }
    let (status, headers, list) = get(&listen.addr, "/deliveries");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let list: Value = serde_json::from_slice(&list).unwrap();
    let seqs: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [5, 4, 3]);
    assert_eq!(list[0]["verdict"], "refused");

    // The page's routes are its own; every other path still takes deliveries, even `/`.
    let (status, _, _) = get(&listen.addr, "/favicon.ico");
    assert_eq!(status, 404);
    listen.post("/", &signed, BODY);
    assert!(listen.next_line().contains("#6 accepted"));
    listen.assert_never_shows(&[secret.as_bytes()]);
}

#[test]
fn a_token_scheme_never_shows_the_token() {
    let token = "gitlab-token-value";
    let listen = Listen::start(&["--scheme", "gitlab", "--secret", token, "--print-json"]);
    // Accepted, then refused with a token that differs only by case.
    for (sent, verdict) in [(token, "accepted"), ("GITLAB-token-value", "refused")] {
        let headers = vec![("X-Gitlab-Token".to_owned(), sent.to_owned())];
        listen.post("/", &headers, br#"{"object_kind":"push"}"#);
        let delivery = listen.next_json();
        assert_eq!(delivery["verdict"], verdict);
        let shown = delivery["headers"].to_string();
        assert!(shown.contains("x-gitlab-token"), "{shown}");
        assert!(
            !shown.to_ascii_lowercase().contains("token-value"),
            "{shown}"
        );
    }
    listen.assert_never_shows(&[token.as_bytes()]);
}

#[test]
fn an_unusable_key_pair_or_no_key_is_refused_at_start() {
    for args in [
        &["--scheme", "github"][..],
        &["--scheme", "discord", "--secret", "not a public key"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_webhook"))
            .arg("listen")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .env_remove("WEBHOOK_SECRET")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("not a public key"), "{stderr}");
    }
}

/// A JSON body nested deep, with many items at the bottom: `length` bytes or a little more.
fn deep_json(length: usize) -> Vec<u8> {
    let mut body = vec![b'['; 127];
    while body.len() + 128 < length {
        body.extend_from_slice(b"0,");
    }
    body.push(b'0');
    body.extend(std::iter::repeat_n(b']', 127));
    body
}

#[test]
fn a_body_is_shown_within_bounds_however_it_is_nested() {
    let listen = Listen::start(&["--scheme", "github", "--secret", "bounds", "--print-json"]);
    // Pretty, every comma would start a line indented 254 spaces: shown as it came instead.
    let small = deep_json(64 * 1024);
    listen.post("/", &json_headers(Vec::new()), &small);
    let delivery = listen.next_json();
    assert_eq!(delivery["body_is_json"], true);
    assert_eq!(delivery["body"].as_str().unwrap().as_bytes(), &small[..]);

    // Larger than what is shown: the start of it, marked as cut.
    let large = deep_json(600 * 1024);
    listen.post("/", &json_headers(Vec::new()), &large);
    let delivery = listen.next_json();
    assert_eq!(delivery["size"], large.len());
    let shown = delivery["body"].as_str().unwrap();
    let (start, note) = shown.split_once("\n… (truncated: ").expect("marked as cut");
    assert_eq!(start.as_bytes(), &large[..256 * 1024]);
    assert!(
        note.starts_with(&format!("{} B in all", large.len())),
        "{note}"
    );
}

/// `GET /events` on a connection of its own, once its head has arrived: its status and the
/// stream.
fn follow_events(addr: &str) -> (u16, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut stream = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(stream.read_line(&mut head).unwrap() > 0, "{head}");
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, stream)
}

#[test]
fn the_event_stream_takes_a_bounded_number_of_pages() {
    let listen = Listen::start(&["--scheme", "github", "--secret", "pages"]);
    let open: Vec<_> = (0..16)
        .map(|_| {
            let (status, stream) = follow_events(&listen.addr);
            assert_eq!(status, 200);
            stream
        })
        .collect();
    let (status, _) = follow_events(&listen.addr);
    assert_eq!(status, 503);
    // Those open still get each delivery.
    listen.post("/", &[], b"unsigned");
    listen.next_line();
    for mut stream in open {
        let mut line = String::new();
        while !line.starts_with("data: ") {
            line.clear();
            stream.read_line(&mut line).unwrap();
        }
        assert!(line.contains(r#""seq":1"#), "{line}");
    }
}

#[test]
fn the_page_answers_only_under_a_loopback_name_and_replays_only_for_itself() {
    let listen = Listen::start(&["--scheme", "github", "--secret", "loopback"]);
    let port = listen.addr.rsplit_once(':').unwrap().1.to_owned();
    let host = |value: &str| vec![("Host".to_owned(), value.to_owned())];
    // A tunnel's or a rebound name: none of the page's routes.
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/deliveries"),
        ("GET", "/events"),
        ("POST", "/replay/1"),
    ] {
        for name in [format!("evil.example:{port}"), "evil.example".to_owned()] {
            let (status, _, _) = request(&listen.addr, method, path, &host(&name), b"");
            assert_eq!(status, 403, "{method} {path} for {name}");
        }
    }
    // Deliveries still arrive under any name.
    let (status, _, _) = request(&listen.addr, "POST", "/hooks", &host("evil.example"), b"x");
    assert_ne!(status, 403);
    let line = listen.next_line();
    assert!(line.contains("#1 refused"), "{line}");
    // Every loopback name, with or without a port.
    for name in [
        listen.addr.clone(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
    ] {
        let (status, _, _) = request(&listen.addr, "GET", "/deliveries", &host(&name), b"");
        assert_eq!(status, 200, "{name}");
    }

    // A replay from another site's page, or from a page on another port, is refused.
    let own = format!("http://{}", listen.addr);
    let refused: [&[(&str, &str)]; 4] = [
        &[("Origin", "http://evil.example")],
        &[("Origin", "http://127.0.0.1:1")],
        &[("Origin", "null")],
        &[("Sec-Fetch-Site", "cross-site")],
    ];
    for headers in refused {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let (status, _, _) = request(&listen.addr, "POST", "/replay/1", &headers, b"");
        assert_eq!(status, 403, "{headers:?}");
    }
    // From its own page: past the check (delivery #1 was refused, so it is not forwarded).
    let headers = vec![
        ("Origin".to_owned(), own),
        ("Sec-Fetch-Site".to_owned(), "same-origin".to_owned()),
    ];
    let (status, _, _) = request(&listen.addr, "POST", "/replay/1", &headers, b"");
    assert_eq!(status, 409);
}

#[test]
fn what_a_sender_controls_reaches_the_terminal_with_control_characters_escaped() {
    let listen = Listen::start(&["--scheme", "github", "--secret", "escapes"]);
    // The event type comes from the body: an escape sequence that would clear the screen and
    // one that would retitle the window, and a bidirectional override.
    let body = "{\"action\":\"\\u001b[2J\\u001b]0;owned\\u0007\\u202e\"}";
    let headers = vec![
        ("X-GitHub-Event".to_owned(), "issues".to_owned()),
        ("X-GitHub-Delivery".to_owned(), "id-1".to_owned()),
    ];
    listen.post("/", &headers, body.as_bytes());
    let line = listen.next_line();
    assert!(
        !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{line:?}"
    );
    assert!(
        line.contains(r"event issues.\u{1b}[2J\u{1b}]0;owned\u{7}\u{202e} | id id-1"),
        "{line}"
    );
}

#[test]
fn headers_the_connection_header_names_are_not_forwarded() {
    let (app_addr, requests) = app();
    let secret = "hop secret";
    let forward_to = format!("http://{app_addr}/");
    let listen = Listen::start(&[
        "--scheme",
        "github",
        "--secret",
        secret,
        "--forward-to",
        &forward_to,
    ]);
    let mut headers = json_headers(sign("github", Secret::new(secret), &Message::new(BODY)));
    for (name, value) in [
        ("Connection", "X-Hop-One, x-hop-two"),
        ("X-Hop-One", "for this hop"),
        ("X-Hop-Two", "for this hop"),
        ("Proxy-Connection", "keep-alive"),
        ("X-End-To-End", "kept"),
    ] {
        headers.push((name.to_owned(), value.to_owned()));
    }
    let (status, _, _) = listen.post("/", &headers, BODY);
    assert_eq!(status, 202);
    let raw = requests.recv_timeout(WAIT).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    for gone in ["x-hop-one", "x-hop-two", "proxy-connection"] {
        assert!(!head.contains(gone), "{gone} forwarded:\n{head}");
    }
    assert!(head.contains("x-end-to-end: kept"), "{head}");
}

#[test]
fn a_secret_in_the_path_or_query_is_hidden() {
    let (plain, spaced) = ("plain-token-123", "q secret/1");
    let path = "/hooks/plain-token-123?token=q%20secret%2F1&lower=q%20secret%2f1&form=q+secret%2F1";
    for json in [true, false] {
        let mut args = vec!["--scheme", "github", "--secret", plain, "--secret", spaced];
        if json {
            args.push("--print-json");
        }
        let listen = Listen::start(&args);
        listen.post(path, &[], b"{}");
        let line = listen.next_line();
        assert!(
            line.contains("/hooks/(hidden: a secret given)?token="),
            "{line}"
        );
        for shown in [line, listen.everything_shown()] {
            for secret in ["token-123", "q%20secret", "q+secret", "secret%2"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
    }
}
