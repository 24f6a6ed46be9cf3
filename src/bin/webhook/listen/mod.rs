//! `webhook listen`: a local receiver that verifies each delivery with the crate's own layer,
//! says why a refused one was refused, forwards verified ones to the app, and shows them all
//! on a live page.

mod diagnose;
mod forward;
mod json;
mod page;
mod store;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tower_webhook::crypto::PublicKey;
use tower_webhook::{Key, Secret};

use self::diagnose::{Captured, Judge, Verdict};
use self::forward::Forwarder;
use self::store::{AppAnswer, Delivery, Store};
use crate::Failure;
use crate::input::SchemeName;

/// The largest delivery read, as the layer's own default limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// How long a client may take to send a request's head, and then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections are served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;

/// How many pages may follow `/events` at once.
const MAX_PAGES: usize = 16;

/// The most of a body the page, `/deliveries` and `--print-json` show.
const SHOWN_BODY: usize = 256 * 1024;

#[derive(Debug, clap::Args)]
#[command(after_long_help = LONG_ABOUT)]
pub(crate) struct Args {
    /// The scheme deliveries are signed with: any preset's name.
    #[arg(long, value_parser = SchemeName::value_parser())]
    scheme: SchemeName,
    /// A secret deliveries may be signed with; repeat it for several (a rotation). Keys are
    /// numbered #1, #2… in the order given, secrets before public keys.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: Vec<String>,
    /// The provider's public key, for schemes signed with a key pair (discord: 64 hex digits;
    /// sendgrid: base64 DER or PEM; standard-webhooks: a whpk_ key); repeatable.
    #[arg(long)]
    public_key: Vec<String>,
    /// Where to listen. Port 0 takes a free port; the first line printed says which.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// The public URL senders call, for the schemes that sign it (twilio, square, hubspot).
    #[arg(long)]
    url: Option<String>,
    /// Forward each verified delivery to this http:// URL (your app), with its original
    /// headers and exact bytes, and answer the sender with the app's answer. The delivery's
    /// query is added when this URL has none.
    #[arg(long)]
    forward_to: Option<String>,
    /// Print each delivery as one JSON object a line, as `GET /deliveries` lists them.
    #[arg(long)]
    print_json: bool,
    /// How many deliveries the page and `GET /deliveries` keep.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..))]
    keep: u16,
}

const LONG_ABOUT: &str = "Deliveries are verified with tower-webhook's own \
VerifySignatureLayer. Every request to any path is a delivery (a POST, or any method but GET \
and HEAD), except the page's own routes. One line is printed per delivery: the time, the verdict (accepted, or refused \
with the layer's reason), the event type, the delivery id, the size and the key that \
matched. When a delivery is refused, it is verified again with one thing changed at a time, \
and each change that makes it verify is printed as a diagnosis: another scheme whose headers \
it carries; a secret read another way (trimmed, with or without whsec_, base64- or \
hex-decoded); the clock set to the delivery's timestamp; the body decoded from its \
Content-Encoding or its JSON laid out again; the URL rebuilt from the request, for schemes \
that sign it. Diagnoses never show a secret or an expected signature, and never reach the \
sender, which gets only the layer's answer.

The live page is at GET / on the same address: newest first, with each delivery's headers, \
body, diagnosis, the app's answer and a button that forwards it again. GET /deliveries lists \
them as JSON, GET /events streams them (server-sent events) and POST /replay/N forwards \
delivery N again.";

/// Everything a connection needs.
struct App {
    judge: Judge,
    store: Store,
    forwarder: Option<Forwarder>,
    print_json: bool,
    keep: usize,
    /// Byte strings never shown: the secrets given.
    hidden: Vec<Vec<u8>>,
}

type ResponseBody = BoxBody<Bytes, Infallible>;

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    if args.secret.is_empty() && args.public_key.is_empty() {
        return Err(Failure::input("give at least one --secret or --public-key"));
    }
    let keys: Vec<Key> = args
        .secret
        .into_iter()
        .map(|secret| Key::Secret(Secret::new(secret)))
        .chain(
            args.public_key
                .into_iter()
                .map(|key| Key::Public(PublicKey::new(key))),
        )
        .collect();
    let (judge, warnings) = Judge::new(args.scheme.scheme(), keys, args.url)?;
    let forwarder = args
        .forward_to
        .as_deref()
        .map(Forwarder::new)
        .transpose()
        .map_err(Failure::input)?;
    let listener = TcpListener::bind(args.addr)
        .await
        .map_err(|error| Failure::input(format!("cannot listen on {}: {error}", args.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|error| Failure::input(format!("cannot read the address bound: {error}")))?;
    let mut hidden = judge.secret_texts();
    for secret in hidden.clone() {
        for encoded in url_encodings(&secret) {
            if !hidden.contains(&encoded) {
                hidden.push(encoded);
            }
        }
    }
    let app = Arc::new(App {
        judge,
        store: Store::new(args.keep.into()),
        forwarder,
        print_json: args.print_json,
        keep: args.keep.into(),
        hidden,
    });

    println!("listening on http://{addr}");
    eprintln!(
        "{} deliveries: POST to any path of http://{addr}; live page: http://{addr}/{}",
        app.judge.scheme().name(),
        match &app.forwarder {
            Some(_) => "; verified deliveries are forwarded",
            None => "",
        }
    );
    for warning in warnings {
        eprintln!("warning: {warning}");
    }

    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // At the cap, wait for a connection to close before taking another.
        let Ok(permit) = Arc::clone(&connections).acquire_owned().await else {
            return Ok(());
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: wait rather than spin.
                eprintln!("cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(handle(&app, request).await) }
            });
            // A client that goes away mid-request is no concern of the others.
            // A timer, so that a client slow to send its head is dropped (hyper's
            // header_read_timeout needs one).
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(app: &Arc<App>, request: Request<Incoming>) -> Response<ResponseBody> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let page_route = matches!(
        (&method, path.as_str()),
        (&Method::GET, "/" | "/events" | "/deliveries")
    ) || (method == Method::POST
        && path
            .strip_prefix("/replay/")
            .is_some_and(|seq| seq.parse::<u64>().is_ok()));
    if page_route && let Err(why) = page_allowed(&request) {
        return text(StatusCode::FORBIDDEN, why);
    }
    match (method, path.as_str()) {
        (Method::GET, "/") => html(app),
        (Method::GET, "/events") => events(app),
        (Method::GET, "/deliveries") => json_response(StatusCode::OK, &app.store.list()),
        (Method::POST, replay_path) if replay_path.starts_with("/replay/") => {
            match replay_path["/replay/".len()..].parse::<u64>() {
                Ok(seq) => replay(app, seq).await,
                Err(_) => delivery(app, request).await,
            }
        }
        (Method::GET | Method::HEAD, _) => {
            // An unsigned endpoint check (Meta's hub.challenge) is the scheme's to answer.
            let scheme = app.judge.scheme();
            match scheme.unsigned_handshake(request.method(), request.uri(), request.headers()) {
                Some(answer) => answer.map(|body| Full::new(body).boxed()),
                None => text(
                    StatusCode::NOT_FOUND,
                    "webhook listen: send deliveries with POST to any path; the page is at /\n",
                ),
            }
        }
        _ => delivery(app, request).await,
    }
}

/// Whether a request may reach the page's routes: only under a loopback name, so that neither
/// a tunnel to this port nor a DNS-rebound name reaches the deliveries; and a replay only from
/// the page itself, not from another site's form or script.
/// <https://fetch.spec.whatwg.org/#origin-header>,
/// <https://www.w3.org/TR/fetch-metadata/#sec-fetch-site-header>
fn page_allowed(request: &Request<Incoming>) -> Result<(), &'static str> {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        })
        .unwrap_or("");
    if !is_loopback_host(host) {
        return Err(
            "webhook listen: the page is served only at a loopback address \
                    (127.0.0.1, localhost, [::1])\n",
        );
    }
    if request.method() == Method::POST {
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        let foreign_origin = headers.get(header::ORIGIN).is_some_and(|origin| {
            !origin
                .as_bytes()
                .eq_ignore_ascii_case(format!("http://{host}").as_bytes())
        });
        if cross_site || foreign_origin {
            return Err("webhook listen: deliveries are forwarded again only from its own page\n");
        }
    }
    Ok(())
}

/// Whether a `Host` value names this machine's loopback: `127.x.x.x`, `localhost` or `[::1]`,
/// with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, port)) => match port.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok());
    port_ok
        && (name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()))
}

fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn html(app: &App) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(page::page(app.keep))).boxed());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /events`: each delivery's JSON as it arrives or changes, one `data:` line an event.
/// <https://html.spec.whatwg.org/multipage/server-sent-events.html>
fn events(app: &App) -> Response<ResponseBody> {
    if app.store.subscribers() >= MAX_PAGES {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook listen: too many pages are open; close one\n",
        );
    }
    let mut feed = app.store.subscribe();
    // A page that does not read is dropped once this fills: it reconnects and reloads the list,
    // and meanwhile holds no more than this.
    let (sender, receiver) = mpsc::channel::<Bytes>(8);
    tokio::spawn(async move {
        // A comment at once, so the browser knows the stream is open; then one every 15 s,
        // which also notices a page that has gone.
        let mut ping = tokio::time::interval(Duration::from_secs(15));
        loop {
            let chunk = tokio::select! {
                event = feed.recv() => match event {
                    Ok(chunk) => chunk,
                    // Behind: end the stream, and the page reloads the list when it reconnects.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ping.tick() => Bytes::from_static(b": ping\n\n"),
            };
            if sender.try_send(chunk).is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(EventStream { receiver }.boxed());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The body of `GET /events`: whatever the feed task sends, until it stops.
struct EventStream {
    receiver: mpsc::Receiver<Bytes>,
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// One delivery: verified, explained when refused, forwarded when verified, kept and shown.
async fn delivery(app: &Arc<App>, request: Request<Incoming>) -> Response<ResponseBody> {
    let seq = app.store.next_seq();
    let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_BODY).collect());
    let body = match read.await {
        Ok(Ok(body)) => body.to_bytes(),
        Err(_) => {
            eprintln!(
                "{time} #{seq} {} {}: the body did not arrive within {} s",
                parts.method,
                terminal_safe(&shown_path(app, &parts.uri)),
                READ_TIMEOUT.as_secs()
            );
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time\n",
            );
        }
        Ok(Err(error)) => {
            eprintln!(
                "{time} #{seq} {} {}: the body could not be read: {error}",
                parts.method,
                terminal_safe(&shown_path(app, &parts.uri))
            );
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body could not be read whole (10 MiB at most)\n",
            );
        }
    };
    let captured = Captured {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };

    let (verdict, answer) = app.judge.judge(&captured).await;
    let (claimed_event, claimed_id) = app.judge.claims(&captured);
    let mut record = Delivery {
        seq,
        time,
        method: captured.method.clone(),
        uri: captured.uri.clone(),
        shown_path: shown_path(app, &captured.uri),
        headers: captured.headers.clone(),
        body: captured.body.clone(),
        shown_headers: shown_headers(app, &captured),
        shown_body: String::new(),
        body_is_json: json::is_json(&captured.body),
        accepted: false,
        reason: None,
        status: answer.status().as_u16(),
        event_type: claimed_event.map(|text| hide(app, &text)),
        delivery_id: claimed_id.map(|text| hide(app, &text)),
        key: None,
        diagnosis: Vec::new(),
        app: None,
    };
    record.shown_body = shown_body(app, &captured.body, record.body_is_json);

    let mut response = answer.map(|body| Full::new(body).boxed());
    match verdict {
        Verdict::Accepted {
            key,
            event_type,
            id,
        } => {
            record.accepted = true;
            record.key = key;
            let hidden = |text: String| hide(app, &text);
            record.event_type = event_type.map(hidden).or(record.event_type.take());
            record.delivery_id = id.map(hidden).or(record.delivery_id.take());
            // An endpoint check the layer answered (no key) is the layer's, not the app's.
            if let (Some(forwarder), Some(_)) = (&app.forwarder, key) {
                let (answer, app_response) = forwarder
                    .forward(
                        &captured.method,
                        &captured.uri,
                        &captured.headers,
                        captured.body.clone(),
                    )
                    .await;
                response = match app_response {
                    Some(app_response) => app_response.map(|body| Full::new(body).boxed()),
                    None => text(
                        StatusCode::BAD_GATEWAY,
                        "webhook listen: verified, but the app did not answer\n",
                    ),
                };
                record.status = response.status().as_u16();
                record.app = Some(answer);
            }
        }
        Verdict::Refused(error) => {
            record.reason = Some(hide(app, &error.to_string()));
            // Verifying again, dozens of times over the whole body, is CPU work: off the
            // threads that serve connections.
            let (shared, captured) = (Arc::clone(app), captured.clone());
            let diagnose = move || {
                let runtime = tokio::runtime::Handle::current();
                runtime.block_on(shared.judge.diagnose(&captured, &error))
            };
            let findings = tokio::task::spawn_blocking(diagnose)
                .await
                .unwrap_or_default();
            // A finding may quote the request's URL, which may hold a secret.
            record.diagnosis = findings.iter().map(|text| hide(app, text)).collect();
        }
    }
    print_delivery(app, &record);
    app.store.add(record);
    response
}

/// `POST /replay/N`: forwards delivery N to the app again.
async fn replay(app: &App, seq: u64) -> Response<ResponseBody> {
    let refuse = |status, error: String| {
        json_response(
            status,
            &json!({ "seq": seq, "app_status": null, "error": error }),
        )
    };
    let Some(kept) = app.store.get(seq) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("delivery #{seq} is not kept"),
        );
    };
    if !kept.accepted {
        return refuse(
            StatusCode::CONFLICT,
            format!("delivery #{seq} was refused: only verified deliveries are forwarded"),
        );
    }
    let Some(forwarder) = &app.forwarder else {
        return refuse(
            StatusCode::CONFLICT,
            "there is nowhere to forward to: start with --forward-to".to_owned(),
        );
    };
    let (answer, _) = forwarder
        .forward(&kept.method, &kept.uri, &kept.headers, kept.body.clone())
        .await;
    let updated = app.store.set_app(seq, answer.clone());
    if app.print_json {
        if let Some(updated) = &updated {
            println!("{updated}");
        }
    } else {
        let time = humantime::format_rfc3339_seconds(SystemTime::now());
        println!(
            "{time} #{seq} forwarded again {}",
            terminal_safe(&describe_app(&answer))
        );
    }
    match answer {
        AppAnswer::Status(status) => json_response(
            StatusCode::OK,
            &json!({ "seq": seq, "app_status": status, "error": null }),
        ),
        AppAnswer::Failed(error) => refuse(StatusCode::BAD_GATEWAY, error),
    }
}

fn describe_app(answer: &AppAnswer) -> String {
    match answer {
        AppAnswer::Status(status) => format!("→ app {status}"),
        AppAnswer::Failed(error) => format!("→ app failed: {error}"),
    }
}

fn print_delivery(app: &App, record: &Delivery) {
    if app.print_json {
        println!("{}", record.to_json());
        return;
    }
    // Everything below may come from the sender (or the app): printed with control
    // characters escaped, so that none reaches the terminal as an escape sequence.
    let verdict = match (&record.reason, &record.app) {
        (Some(reason), _) => format!("refused: {reason}"),
        (None, Some(answer)) => format!("accepted {}", describe_app(answer)),
        (None, None) => "accepted".to_owned(),
    };
    let or_dash = |value: &Option<String>| {
        value
            .as_deref()
            .map_or_else(|| "-".to_owned(), terminal_safe)
    };
    let key = match record.key {
        Some(index) => format!(" | key #{}", index + 1),
        None => String::new(),
    };
    println!(
        "{} #{} {} | event {} | id {} | {} B{key} | {} {}",
        record.time,
        record.seq,
        terminal_safe(&verdict),
        or_dash(&record.event_type),
        or_dash(&record.delivery_id),
        record.body.len(),
        record.method,
        terminal_safe(&record.shown_path),
    );
    for finding in &record.diagnosis {
        println!("    diagnosis: {}", terminal_safe(finding));
    }
}

/// `text` with control characters and other unprintable ones written as Rust escapes
/// (`\u{1b}`), so that a sender's value cannot move the cursor or retitle the terminal.
fn terminal_safe(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        let mut escaped = c.escape_debug();
        // `escape_debug` also escapes quotes and backslashes, which are harmless.
        if escaped.len() > 1 && !matches!(c, '\\' | '"' | '\'') {
            safe.extend(&mut escaped);
        } else {
            safe.push(c);
        }
    }
    safe
}

fn shown_headers(app: &App, captured: &Captured) -> Vec<(String, String)> {
    captured
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if app.judge.is_secret_header(name) {
                "(hidden: a secret token)".to_owned()
            } else {
                hide(app, &String::from_utf8_lossy(value.as_bytes()))
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

fn shown_body(app: &App, body: &[u8], is_json: bool) -> String {
    // Pretty only while that stays near the input's size: deep nesting indents every line.
    let pretty = match is_json && body.len() <= SHOWN_BODY {
        true => json::relayout(body, json::Layout::Indented(2), body.len() * 2 + 4096),
        false => None,
    };
    // Hidden before it is cut, so that a cut never leaves part of a secret.
    let mut shown = hide(
        app,
        &String::from_utf8_lossy(pretty.as_deref().unwrap_or(body)),
    );
    if pretty.is_none() && shown.len() > SHOWN_BODY {
        let mut end = SHOWN_BODY;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
        shown.push_str(&format!(
            "\n… (truncated: {} B in all; /deliveries shows the first {SHOWN_BODY} B)",
            body.len()
        ));
    }
    shown
}

/// A request's path and query as shown: a secret sent as `?token=…` is hidden as it is
/// anywhere else.
fn shown_path(app: &App, uri: &http::Uri) -> String {
    hide(app, uri.path_and_query().map_or("/", |path| path.as_str()))
}

/// The forms a secret takes in a URL or a form body: percent-encoded with upper- or lowercase
/// digits, and with `+` for spaces.
/// <https://url.spec.whatwg.org/#application/x-www-form-urlencoded>
fn url_encodings(secret: &[u8]) -> [Vec<u8>; 3] {
    let encode = |upper: bool, plus: bool| {
        let mut out = Vec::new();
        for &byte in secret {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(byte)
                }
                b' ' if plus => out.push(b'+'),
                _ if upper => out.extend(format!("%{byte:02X}").bytes()),
                _ => out.extend(format!("%{byte:02x}").bytes()),
            }
        }
        out
    };
    [
        encode(true, false),
        encode(false, false),
        encode(true, true),
    ]
}

/// `text` with every secret given replaced, should a sender have echoed one.
fn hide(app: &App, text: &str) -> String {
    // Shorter strings would blank out ordinary text; no real secret is that short.
    const SHORTEST: usize = 4;
    let mut text = text.to_owned();
    for secret in &app.hidden {
        if secret.len() >= SHORTEST
            && let Ok(secret) = std::str::from_utf8(secret)
            && text.contains(secret)
        {
            text = text.replace(secret, "(hidden: a secret given)");
        }
    }
    text
}
