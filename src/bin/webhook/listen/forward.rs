//! Handing verified deliveries on to the app: their original headers and exact bytes.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request, Response, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::store::AppAnswer;

/// How long the app may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Headers about one hop, which a forwarder must not pass on, and `Host`, which is the app's.
/// <https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1>
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Where verified deliveries go.
#[derive(Debug, Clone)]
pub(crate) struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    url: Uri,
}

impl Forwarder {
    /// A forwarder to `url`, an `http://` URL.
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|error| format!("--forward-to `{url}` is not a URL: {error}"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
            return Err(format!(
                "--forward-to `{url}` is not an http:// URL with a host (the app runs locally)"
            ));
        }
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url: uri,
        })
    }

    /// The URL a delivery goes to: `--forward-to`, with the delivery's query when that URL has
    /// none (Twilio signs a hash of the body there).
    fn target(&self, original: &Uri) -> Uri {
        match (self.url.query(), original.query()) {
            (None, Some(query)) => format!("{}?{query}", self.url)
                .parse()
                .unwrap_or_else(|_| self.url.clone()),
            _ => self.url.clone(),
        }
    }

    /// Sends the delivery to the app and returns its answer, whole.
    pub(crate) async fn forward(
        &self,
        method: &Method,
        original: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> (AppAnswer, Option<Response<Bytes>>) {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method.clone();
        *request.uri_mut() = self.target(original);
        let mut headers = headers.clone();
        drop_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        *request.headers_mut() = headers;
        let sent = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| describe(&error))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|error| format!("the app's answer broke off: {error}"))?
                .to_bytes();
            Ok::<_, String>(Response::from_parts(parts, body))
        };
        match tokio::time::timeout(TIMEOUT, sent).await {
            Ok(Ok(mut response)) => {
                let status = response.status().as_u16();
                drop_hop_by_hop(response.headers_mut());
                response.headers_mut().remove(header::CONTENT_LENGTH);
                (AppAnswer::Status(status), Some(response))
            }
            Ok(Err(error)) => (AppAnswer::Failed(error), None),
            Err(_) => (
                AppAnswer::Failed(format!("no answer within {} s", TIMEOUT.as_secs())),
                None,
            ),
        }
    }
}

/// Removes the hop-by-hop headers: the fixed ones, and those the `Connection` header names.
/// <https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1>
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// A client error with its causes, which say what went wrong (connection refused…).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("cannot reach the app: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
