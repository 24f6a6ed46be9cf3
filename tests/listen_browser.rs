//! `webhook listen`'s live page in a real browser: headless Chromium over WebDriver loads it,
//! a signed and a tampered GitHub delivery are posted, both must appear without a reload, and
//! the replay button must reach the local app again.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `CHROMIUM` / `CHROMEDRIVER` pointing at
//! them). Without them the test says so and passes, except when `CI` is set: CI installs them,
//! so there a missing browser is a failure, not a skip.
#![cfg(feature = "cli")]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use fantoccini::{Client, ClientBuilder, Locator};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::json;
use tokio::time::{Instant, sleep};
use tower_webhook::Secret;
use tower_webhook::scheme::{GitHub, Message, Scheme};

const SECRET: &str = "a long random secret";
const DELIVERY_ID: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const TAMPERED_ID: &str = "9f1c2a40-cc78-11e3-81ab-4c9367dc0958";
const BODY: &[u8] = br#"{"action":"opened","issue":{"number":1347,"title":"Found a bug"}}"#;

/// How long a delivery, or the answer to a click, may take to show on the page.
const LIVE: Duration = Duration::from_secs(10);
/// Starting processes and a browser on a loaded machine is slower than anything under test.
const STARTUP: Duration = Duration::from_secs(60);

const SKIP: &str = "headless Chromium test needs chromium and chromium-driver \
                    (apt-get install chromium chromium-driver)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_deliveries_live_and_replays_them() {
    let (Some(driver), Some(chromium)) = (
        tool("CHROMEDRIVER", "/usr/bin/chromedriver"),
        tool("CHROMIUM", "/usr/bin/chromium"),
    ) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set, so this test may not skip: {SKIP}, or set CHROMEDRIVER and CHROMIUM"
            );
        }
        eprintln!("SKIP: {SKIP}, or set CHROMEDRIVER and CHROMIUM");
        return;
    };

    // Dropped last (locals drop in reverse), once every process using it is gone.
    let profile = TempDir::new("chromium-profile");

    let app = App::start().await;
    let listen = Listen::start(&format!("http://{}/hook", app.addr)).await;
    let chromedriver = ChromeDriver::start(&driver).await;

    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                // Containers run tests as root, where Chromium refuses to start sandboxed.
                "--no-sandbox",
                "--disable-gpu",
                // Small /dev/shm in containers crashes renderers; /tmp is used instead.
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1024",
                format!("--user-data-dir={}", profile.path.display()),
            ],
        }),
    );
    let browser = tokio::time::timeout(
        STARTUP,
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", chromedriver.port)),
    )
    .await
    .expect("chromedriver starts a Chromium session in time")
    .expect("chromedriver starts a Chromium session");

    // The scenario runs as its own task so that a failed assertion still ends the browser
    // session (which stops Chromium) before the panic is passed on.
    let outcome = tokio::spawn(scenario(browser.clone(), listen.url.clone(), app.clone())).await;
    let _ = browser.close().await;
    if let Err(error) = outcome {
        eprintln!("webhook listen stderr:\n{}", listen.stderr.lock().unwrap());
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("scenario did not finish: {error}"),
        }
    }
    drop((chromedriver, listen, profile));
}

async fn scenario(browser: Client, listen: String, app: App) {
    browser
        .goto(&format!("{listen}/"))
        .await
        .expect("page loads");
    let before = wait_for(&browser, "the page's <main id=\"deliveries\">", |shown| {
        shown.is_some()
    })
    .await
    .unwrap();
    assert!(
        before.is_empty(),
        "a fresh listener shows no deliveries: {before:?}"
    );

    // A reload would wipe this; it must survive until the end.
    browser
        .execute(
            "window.listenBrowserTest = 'not reloaded'; return null;",
            vec![],
        )
        .await
        .unwrap();

    let http = support::http_client();
    let signed = GitHub
        .sign(
            &Secret::new(SECRET),
            &Message::new(BODY).id(DELIVERY_ID).event_type("issues"),
        )
        .unwrap();
    post(&http, &listen, &signed, Bytes::from_static(BODY)).await;

    // Signed for one body, sent with another: the signature no longer matches.
    let tampered_headers = GitHub
        .sign(
            &Secret::new(SECRET),
            &Message::new(BODY).id(TAMPERED_ID).event_type("issues"),
        )
        .unwrap();
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("1347", "1348");
    post(&http, &listen, &tampered_headers, Bytes::from(tampered)).await;

    // Both deliveries, and the app's answer to the forwarded one, with no reload.
    let shown = wait_for(&browser, "both deliveries and the app's status", |shown| {
        shown.is_some_and(|list| {
            list.len() >= 2
                && list
                    .iter()
                    .any(|d| d.verdict.as_deref() == Some("accepted") && d.app_status_has("202"))
        })
    })
    .await
    .unwrap();
    assert_eq!(
        shown.len(),
        2,
        "exactly the two deliveries posted: {shown:#?}"
    );
    let (newest, oldest) = (&shown[0], &shown[1]);
    assert!(
        newest.seq() > oldest.seq(),
        "newest first, by data-seq: {shown:#?}"
    );

    // The tampered one, posted last, on top: refused, with a reason.
    assert_eq!(newest.verdict.as_deref(), Some("refused"), "{newest:#?}");
    assert_eq!(trimmed(&newest.verdict_text), "refused", "{newest:#?}");
    assert!(
        !trimmed(&newest.reason).is_empty(),
        "a refused delivery says why: {newest:#?}"
    );
    assert!(
        newest.diagnosis,
        "a refused delivery has its diagnosis list: {newest:#?}"
    );

    // The signed one: accepted, its event type and id, its headers and body, the app's 202.
    assert_eq!(oldest.verdict.as_deref(), Some("accepted"), "{oldest:#?}");
    assert_eq!(trimmed(&oldest.verdict_text), "accepted", "{oldest:#?}");
    assert!(
        trimmed(&oldest.event_type).contains("issues.opened"),
        "the event type, from X-GitHub-Event and the body's action: {oldest:#?}"
    );
    assert!(
        trimmed(&oldest.delivery_id).contains(DELIVERY_ID),
        "{oldest:#?}"
    );
    assert!(
        trimmed(&oldest.headers)
            .to_ascii_lowercase()
            .contains("x-github-event"),
        "the delivery's headers: {oldest:#?}"
    );
    assert!(
        trimmed(&oldest.body).contains("Found a bug"),
        "the delivery's body: {oldest:#?}"
    );
    assert!(oldest.app_status_has("202"), "{oldest:#?}");
    assert!(
        oldest.replay,
        "an accepted delivery has a replay button: {oldest:#?}"
    );

    // Only the verified delivery reached the app, with its exact bytes and signature.
    let received = app.received();
    assert_eq!(received.len(), 1, "only the signed delivery is forwarded");
    assert_eq!(received[0].path, "/hook");
    assert_eq!(received[0].body, BODY, "forwarded byte for byte");
    assert_eq!(
        received[0].headers.get("x-hub-signature-256"),
        signed.get("x-hub-signature-256"),
        "forwarded with its original headers"
    );

    // Replay: clear the status the first forward left, so that only the click can bring it
    // back, then press the button as a user would.
    let seq = oldest.seq();
    let status = format!("article.delivery[data-seq=\"{seq}\"] .app-status");
    browser
        .execute(
            "const status = document.querySelector(arguments[0]); \
             if (status) { status.textContent = ''; } return null;",
            vec![json!(status)],
        )
        .await
        .unwrap();
    click(
        &browser,
        &format!("article.delivery[data-seq=\"{seq}\"] button.replay"),
    )
    .await;

    let deadline = Instant::now() + LIVE;
    while app.received().len() < 2 && Instant::now() < deadline {
        sleep(Duration::from_millis(50)).await;
    }
    let received = app.received();
    assert_eq!(
        received.len(),
        2,
        "the replay button forwards the delivery again"
    );
    assert_eq!(received[1].body, BODY, "replayed byte for byte");
    assert_eq!(
        received[1].headers.get("x-hub-signature-256"),
        signed.get("x-hub-signature-256"),
        "replayed with its original headers"
    );

    let shown = wait_for(&browser, "the replay's status from the app", |shown| {
        shown.is_some_and(|list| {
            list.iter().any(|d| {
                d.seq.as_deref().and_then(|s| s.parse().ok()) == Some(seq)
                    && d.app_status_has("202")
            })
        })
    })
    .await
    .unwrap();
    assert!(
        shown
            .iter()
            .any(|d| d.seq() == seq && d.app_status_has("202")),
        "{shown:#?}"
    );

    let marker = browser
        .execute("return window.listenBrowserTest ?? null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        marker,
        json!("not reloaded"),
        "the page updated itself, no reload"
    );
}

/// One delivery as the page shows it.
#[derive(Debug, Deserialize)]
struct Shown {
    seq: Option<String>,
    verdict: Option<String>,
    verdict_text: Option<String>,
    event_type: Option<String>,
    delivery_id: Option<String>,
    reason: Option<String>,
    diagnosis: bool,
    headers: Option<String>,
    body: Option<String>,
    app_status: Option<String>,
    replay: bool,
}

impl Shown {
    fn seq(&self) -> u64 {
        let seq = self.seq.as_deref().unwrap_or_default();
        seq.parse()
            .unwrap_or_else(|_| panic!("data-seq is a number, not {seq:?}: {self:#?}"))
    }

    fn app_status_has(&self, status: &str) -> bool {
        trimmed(&self.app_status).contains(status)
    }
}

fn trimmed(text: &Option<String>) -> &str {
    text.as_deref().unwrap_or_default().trim()
}

/// Reads every delivery on the page in one script, so that a re-render between two reads
/// cannot mix two versions of the page. `textContent`, unlike WebDriver's element text, also
/// reads what is folded away (`<details>`). `None` until `<main id="deliveries">` exists.
async fn snapshot(browser: &Client) -> Option<Vec<Shown>> {
    const SCRIPT: &str = r#"
        const main = document.querySelector('main#deliveries');
        if (!main) { return null; }
        const text = (article, selector) => {
            const node = article.querySelector(selector);
            return node ? node.textContent : null;
        };
        return Array.from(main.querySelectorAll('article.delivery')).map((article) => ({
            seq: article.getAttribute('data-seq'),
            verdict: article.getAttribute('data-verdict'),
            verdict_text: text(article, 'span.verdict'),
            event_type: text(article, '.event-type'),
            delivery_id: text(article, '.delivery-id'),
            reason: text(article, '.reason'),
            diagnosis: article.querySelector('ul.diagnosis') !== null,
            headers: text(article, 'pre.headers'),
            body: text(article, 'pre.body'),
            app_status: text(article, 'span.app-status'),
            replay: article.querySelector('button.replay') !== null,
        }));
    "#;
    let value = browser
        .execute(SCRIPT, vec![])
        .await
        .expect("the page answers a script");
    serde_json::from_value(value).expect("the script's answer has the expected shape")
}

/// Polls the page until `ready` holds, for at most [`LIVE`]; on timeout, fails with what the
/// page showed last.
async fn wait_for(
    browser: &Client,
    what: &str,
    ready: impl Fn(Option<&Vec<Shown>>) -> bool,
) -> Option<Vec<Shown>> {
    let deadline = Instant::now() + LIVE;
    loop {
        let shown = snapshot(browser).await;
        if ready(shown.as_ref()) {
            return shown;
        }
        if Instant::now() >= deadline {
            panic!("the page did not show {what} within {LIVE:?}; it shows {shown:#?}");
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element, retrying while the page re-renders it (stale, or not there yet).
async fn click(browser: &Client, selector: &str) {
    let deadline = Instant::now() + LIVE;
    loop {
        let result = match browser.find(Locator::Css(selector)).await {
            Ok(element) => element.click().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => return,
            Err(error) if Instant::now() >= deadline => panic!("cannot click {selector}: {error}"),
            Err(_) => sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn post(http: &support::HttpClient, listen: &str, headers: &HeaderMap, body: Bytes) {
    let mut request = Request::post(format!("{listen}/github/webhooks"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    request.headers_mut().extend(headers.clone());
    let response = http.request(request).await.expect("webhook listen answers");
    // Read to the end, so that the delivery has been judged before the next one is sent.
    response.into_body().collect().await.unwrap();
}

/// `CHROMEDRIVER` / `CHROMIUM` when set, else Debian's paths; `None` when there is no file.
fn tool(variable: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.is_file().then_some(path)
}

/// The local app `webhook listen` forwards to: answers 202 and keeps what it received.
#[derive(Clone)]
struct App {
    addr: std::net::SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl App {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let router = Router::new().fallback(move |request: Request<axum::body::Body>| {
            let log = log.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                log.lock().unwrap().push(Received {
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers,
                    body,
                });
                StatusCode::ACCEPTED
            }
        });
        let addr = support::serve(router).await;
        Self { addr, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// `webhook listen`, killed on drop; its stderr is kept for failure messages.
struct Listen {
    url: String,
    stderr: Arc<Mutex<String>>,
    _process: Process,
}

impl Listen {
    async fn start(forward_to: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_webhook"));
        command
            .args(["listen", "--scheme", "github", "--secret", SECRET])
            .args(["--addr", "127.0.0.1:0", "--forward-to", forward_to])
            .env_remove("WEBHOOK_SECRET");
        let (process, first_line, stderr) = Process::spawn(command, |line| {
            line.starts_with("listening on ").then(|| line.to_owned())
        });
        let line = wait_line(first_line, "webhook listen", &stderr).await;
        let url = line["listening on ".len()..].trim().trim_end_matches('/');
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "webhook listen's first line names its address: {line:?}"
        );
        Self {
            url: url.to_owned(),
            stderr,
            _process: process,
        }
    }
}

/// chromedriver on a port it picks itself (`--port=0`), killed with its browser on drop.
struct ChromeDriver {
    port: u16,
    _process: Process,
}

impl ChromeDriver {
    async fn start(driver: &std::path::Path) -> Self {
        let mut command = Command::new(driver);
        command.arg("--port=0");
        let (process, ready, stderr) = Process::spawn(command, |line| {
            // "ChromeDriver was started successfully on port 45293."
            let (_, port) = line.split_once("started successfully on port ")?;
            Some(port.trim_end_matches('.').trim().to_owned())
        });
        let port = wait_line(ready, "chromedriver", &stderr).await;
        Self {
            port: port.parse().expect("chromedriver names its port"),
            _process: process,
        }
    }
}

async fn wait_line(lines: mpsc::Receiver<String>, name: &str, stderr: &Mutex<String>) -> String {
    let line = tokio::task::spawn_blocking(move || lines.recv_timeout(STARTUP))
        .await
        .unwrap();
    let problem = match line {
        Ok(line) => return line,
        Err(mpsc::RecvTimeoutError::Timeout) => format!("did not start within {STARTUP:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => "closed its output before it was ready".into(),
    };
    // Its stderr is read on another thread: give it a moment to catch up with the exit.
    sleep(Duration::from_millis(200)).await;
    panic!("{name} {problem}; stderr:\n{}", stderr.lock().unwrap());
}

/// A child process, in its own process group so that whatever it starts (chromedriver's
/// Chromium) is killed with it on drop, even when the test fails half-way.
struct Process(Child);

impl Process {
    /// Spawns `command`, reads its stdout until `found` picks a line (sent on the channel) and
    /// then on to the end so that it never blocks on a full pipe; collects its stderr.
    fn spawn(
        mut command: Command,
        found: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> (Self, mpsc::Receiver<String>, Arc<Mutex<String>>) {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let mut send = Some(send);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(value) = send.as_ref().and_then(|_| found(&line)) {
                    let _ = send.take().unwrap().send(value);
                }
            }
        });
        let collected = Arc::new(Mutex::new(String::new()));
        let sink = collected.clone();
        std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(read @ 1..) = stderr.read(&mut buffer) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        (Self(child), receive, collected)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh directory, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "tower-webhook-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
