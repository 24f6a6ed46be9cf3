//! Receivers for the Dispatcher's tests: real HTTP servers behind the crate's own
//! `VerifySignatureLayer`, answering as a script says.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Extension, extract::State};
use tower_webhook::{Verified, VerifySignatureLayer, scheme};

/// One verified delivery as a receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: Option<String>,
    pub event_type: Option<String>,
    pub body: Vec<u8>,
    pub headers: HeaderMap,
}

/// An answer: status, an extra header, the body's length.
type Answer = (u16, Option<(&'static str, String)>, usize);

#[derive(Default)]
struct Script {
    /// Answers to give first, in order.
    queue: VecDeque<Answer>,
    /// Then this status.
    default: Option<u16>,
    delay: Duration,
}

/// A receiver that verifies with `scheme` and a secret, records what verified, and answers
/// 204 unless scripted otherwise.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub scheme: String,
    pub secret: String,
    id_header: Option<axum::http::HeaderName>,
    seen: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    pub async fn start(scheme_name: &str, secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, scheme_name, secret)
    }

    /// Serves on `listener` (to bring a receiver up again on the same port).
    pub fn on(listener: tokio::net::TcpListener, scheme_name: &str, secret: &str) -> Self {
        let addr = listener.local_addr().unwrap();
        let receiver = Self {
            addr,
            scheme: scheme_name.to_owned(),
            secret: secret.to_owned(),
            id_header: scheme::preset(scheme_name).unwrap().id_header().cloned(),
            seen: Arc::default(),
            script: Arc::default(),
        };
        let scheme = scheme::preset(scheme_name).expect("a preset");
        let mut layer = VerifySignatureLayer::new(scheme, secret).unwrap();
        if scheme::preset(scheme_name)
            .unwrap()
            .signed_content()
            .contains(&scheme::Part::Url)
        {
            layer = layer.public_url(&format!("http://{addr}/hook")).unwrap();
        }
        let router = Router::new()
            .route("/hook", post(handle))
            .layer(layer)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers these statuses first, in order.
    pub fn answer_first(&self, statuses: &[u16]) {
        let mut script = self.script.lock().unwrap();
        script.queue.extend(statuses.iter().map(|&s| (s, None, 0)));
    }

    /// Answers `status` with a header first.
    pub fn answer_with_header(&self, status: u16, name: &'static str, value: &str) {
        let mut script = self.script.lock().unwrap();
        script
            .queue
            .push_back((status, Some((name, value.to_owned())), 0));
    }

    /// Answers `status` with a body of `len` bytes first.
    pub fn answer_with_body(&self, status: u16, len: usize) {
        self.script
            .lock()
            .unwrap()
            .queue
            .push_back((status, None, len));
    }

    /// From now on answers `status` (after the queue).
    pub fn answer_always(&self, status: u16) {
        self.script.lock().unwrap().default = Some(status);
    }

    /// Waits this long before answering.
    pub fn delay(&self, delay: Duration) {
        self.script.lock().unwrap().delay = delay;
    }

    pub fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    pub fn ids(&self) -> Vec<String> {
        self.seen().into_iter().filter_map(|r| r.id).collect()
    }
}

async fn handle(
    State(receiver): State<Receiver>,
    Extension(verified): Extension<Verified>,
    headers: HeaderMap,
) -> axum::response::Response {
    let delay = receiver.script.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    receiver.seen.lock().unwrap().push(Received {
        id: verified.id().map(str::to_owned).or_else(|| {
            // The scheme's own id header, else the one the Dispatcher adds for schemes that
            // send none.
            let own = receiver
                .id_header
                .as_ref()
                .and_then(|name| headers.get(name));
            let value = own.or_else(|| headers.get("x-webhook-id"))?;
            Some(value.to_str().ok()?.to_owned())
        }),
        event_type: verified.event_type().map(str::to_owned),
        body: verified.body().to_vec(),
        headers,
    });
    let (status, header, len) = {
        let mut script = receiver.script.lock().unwrap();
        let default = script.default.unwrap_or(204);
        script.queue.pop_front().unwrap_or((default, None, 0))
    };
    let status = StatusCode::from_u16(status).unwrap();
    let body = "x".repeat(len);
    match header {
        Some((name, value)) => (status, [(name, value)], body).into_response(),
        None => (status, body).into_response(),
    }
}
