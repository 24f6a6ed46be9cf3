//! `EventRouter`: the most specific pattern wins, ties go to the earlier registration, the
//! fallback takes the rest, and a missing layer answers 500.

use std::convert::Infallible;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_webhook::scheme::{GitHub, Message, Scheme, Shopify};
use tower_webhook::{EventRouter, Pattern, PatternError, Secret, VerifySignatureLayer};

const SECRET: &str = "a long random secret";

/// A route that answers with `name`, so a test can see which one ran.
fn answer(
    name: &'static str,
) -> impl tower::Service<
    Request<Body>,
    Response = &'static str,
    Error = Infallible,
    Future = std::future::Ready<Result<&'static str, Infallible>>,
> + Clone
+ Send
+ Sync
+ 'static {
    service_fn(move |_| std::future::ready(Ok(name)))
}

fn router(patterns: &[&'static str]) -> EventRouter {
    patterns.iter().fold(EventRouter::new(), |router, pattern| {
        router.on_service(pattern, answer(pattern))
    })
}

fn chosen<'r>(router: &'r EventRouter, event_type: &str) -> Option<&'r str> {
    router
        .pattern_for(event_type)
        .map(|pattern| pattern.as_str())
}

#[test]
fn exact_match_beats_every_other_pattern() {
    let router = router(&["*", "order", "order.*", "*.completed", "order.completed"]);
    assert_eq!(chosen(&router, "order.completed"), Some("order.completed"));
}

#[test]
fn category_matching_its_own_name_is_exact() {
    let router = router(&["*", "order.*", "order"]);
    assert_eq!(chosen(&router, "order"), Some("order"));
}

#[test]
fn longer_literal_prefix_wins() {
    let router = router(&["*", "*.item.added", "order.*", "order.item.*"]);
    assert_eq!(chosen(&router, "order.item.added"), Some("order.item.*"));
    assert_eq!(chosen(&router, "order.completed"), Some("order.*"));
    assert_eq!(chosen(&router, "user.item.added"), Some("*.item.added"));
}

#[test]
fn fewer_wildcards_win_at_equal_prefix() {
    let categories = router(&["order.*", "order"]);
    assert_eq!(chosen(&categories, "order.completed"), Some("order"));
    let stars = router(&["*.*.added", "*.item.added"]);
    assert_eq!(chosen(&stars, "order.item.added"), Some("*.item.added"));
}

#[test]
fn bare_star_is_the_last_resort() {
    let router = router(&["*", "*.created"]);
    assert_eq!(chosen(&router, "user.created"), Some("*.created"));
    assert_eq!(chosen(&router, "user.deleted"), Some("*"));
}

#[test]
fn registration_order_breaks_ties() {
    // Both have the literal prefix `x` and one wildcard.
    let first = router(&["x.*.z", "x.*"]);
    assert_eq!(chosen(&first, "x.y.z"), Some("x.*.z"));
    let second = router(&["x.*", "x.*.z"]);
    assert_eq!(chosen(&second, "x.y.z"), Some("x.*"));
}

#[test]
fn nothing_matching_goes_to_the_fallback() {
    let router = router(&["order.*", "user.created"]);
    assert_eq!(chosen(&router, "order"), None);
    assert_eq!(chosen(&router, "invoice.paid"), None);
}

#[test]
fn invalid_pattern_fails_at_registration() {
    // As axum's `Router::route` on a bad path: a panic naming what is wrong.
    let panic_message = |pattern: &'static str| {
        let payload =
            std::panic::catch_unwind(|| EventRouter::new().on_service(pattern, answer("x")))
                .expect_err("an invalid pattern is refused at registration");
        payload
            .downcast_ref::<String>()
            .cloned()
            .expect("the panic carries the pattern error's message")
    };
    let error = PatternError::EmptySegment {
        pattern: "order..completed".to_owned(),
    };
    assert_eq!(panic_message("order..completed"), error.to_string());
    assert_eq!(
        panic_message("ta*sk"),
        Pattern::new("ta*sk").unwrap_err().to_string()
    );
}

/// A signed GitHub delivery of `event` with `body`.
fn github_request<B: From<Vec<u8>>>(event: &str, body: &[u8]) -> Request<B> {
    let headers = GitHub
        .sign(&Secret::new(SECRET), &Message::new(body).event_type(event))
        .unwrap();
    let mut request = Request::post("/github")
        .body(B::from(body.to_vec()))
        .unwrap();
    request.headers_mut().extend(headers);
    request
}

async fn text(response: http::Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn behind_the_layer_it_dispatches_by_the_verified_event_type() {
    let events = router(&["issues", "issues.opened", "push"]);
    let service = ServiceBuilder::new()
        .layer(VerifySignatureLayer::new(GitHub, [SECRET]).unwrap())
        .service(events);
    let cases: [(&str, &[u8], &str); 4] = [
        ("issues", br#"{"action":"opened"}"#, "issues.opened"),
        ("issues", br#"{"action":"closed"}"#, "issues"),
        ("push", br#"{"ref":"refs/heads/main"}"#, "push"),
        ("ping", br#"{"zen":"Design for failure."}"#, "ignored"),
    ];
    for (event, body, expected) in cases {
        let request: Request<Full<Bytes>> = github_request(event, body);
        let response = service.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, expected.as_bytes(), "{event} {body:?}");
    }
}

#[tokio::test]
async fn without_the_layer_it_answers_500_naming_it() {
    let events = router(&["*"]);
    let request: Request<Body> = github_request("push", b"{}");
    let (status, body) = text(events.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("VerifySignatureLayer"), "{body}");
}

#[tokio::test]
async fn delivery_without_event_type_goes_to_the_fallback() {
    let events = router(&["*"]).fallback_service(answer("fallback"));
    let service = ServiceBuilder::new()
        .layer(VerifySignatureLayer::new(Shopify, [SECRET]).unwrap())
        .service(events);
    // No `X-Shopify-Topic`: no event type.
    let body = b"{}";
    let headers = Shopify
        .sign(&Secret::new(SECRET), &Message::new(body))
        .unwrap();
    let mut request = Request::post("/")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    request.headers_mut().extend(headers);
    let response = service.oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, "fallback");
}

#[cfg(feature = "axum")]
mod handlers {
    use axum::Router;
    use axum::extract::State;
    use serde::Deserialize;
    use tower_webhook::{Verified, WebhookEvent};

    use super::*;

    #[derive(Deserialize)]
    struct IssueEvent {
        issue: Issue,
    }

    #[derive(Deserialize)]
    struct Issue {
        number: u64,
    }

    async fn issue_opened(event: WebhookEvent<IssueEvent>) -> String {
        format!("opened #{}", event.payload.issue.number)
    }

    async fn any_issue(verified: Verified) -> String {
        format!("issue event {}", verified.event_type().unwrap_or("?"))
    }

    async fn push(State(prefix): State<&'static str>) -> String {
        format!("{prefix} push")
    }

    async fn fallback() -> (StatusCode, &'static str) {
        (StatusCode::ACCEPTED, "nobody handles this")
    }

    fn app() -> Router {
        let events = EventRouter::new()
            .on("issues.opened", issue_opened)
            .on("issues", any_issue)
            .on_service("push", axum::handler::Handler::with_state(push, "stateful"))
            .fallback(fallback);
        Router::new()
            .route_service("/github", events)
            .layer(VerifySignatureLayer::new(GitHub, [SECRET]).unwrap())
    }

    #[tokio::test]
    async fn axum_handlers_receive_their_events() {
        let cases: [(&str, &[u8], StatusCode, &str); 5] = [
            (
                "issues",
                br#"{"action":"opened","issue":{"number":42}}"#,
                StatusCode::OK,
                "opened #42",
            ),
            (
                "issues",
                br#"{"action":"labeled","issue":{"number":42}}"#,
                StatusCode::OK,
                "issue event issues.labeled",
            ),
            ("push", b"{}", StatusCode::OK, "stateful push"),
            ("ping", b"{}", StatusCode::ACCEPTED, "nobody handles this"),
            (
                "issues",
                br#"{"action":"opened","issue":{"number":"x"}}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Failed to deserialize the webhook payload: invalid type: string \"x\", expected u64 at line 1 column 40",
            ),
        ];
        for (event, body, status, expected) in cases {
            let response = app()
                .oneshot(github_request::<Body>(event, body))
                .await
                .unwrap();
            assert_eq!(text(response).await, (status, expected.to_owned()));
        }
    }

    #[tokio::test]
    async fn unsigned_requests_never_reach_a_handler() {
        let request = Request::post("/github")
            .header("x-github-event", "push")
            .body(Body::from("{}"))
            .unwrap();
        let (status, _) = text(app().oneshot(request).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "missing signature header");
    }

    #[tokio::test]
    async fn default_fallback_answers_200_ignored() {
        let events = EventRouter::new().on("push", push_default);
        async fn push_default() -> &'static str {
            "push"
        }
        let app = Router::new()
            .route_service("/github", events)
            .layer(VerifySignatureLayer::new(GitHub, [SECRET]).unwrap());
        let response = app
            .oneshot(github_request::<Body>("star", b"{}"))
            .await
            .unwrap();
        assert_eq!(text(response).await, (StatusCode::OK, "ignored".to_owned()));
    }
}

#[test]
fn an_invalid_pattern_panics_at_the_callers_line() {
    // As axum's `Router::route`: the panic points at the registration, not into the crate.
    let location = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = location.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Other tests of this binary may panic meanwhile; only this pattern's panic counts.
        let message = info.payload().downcast_ref::<String>();
        if message.is_some_and(|message| message.contains("a..b")) {
            *seen.lock().unwrap() = info.location().map(|l| (l.file().to_owned(), l.line()));
        }
    }));
    let line = line!() + 1;
    let outcome = std::panic::catch_unwind(|| EventRouter::new().on_service("a..b", answer("x")));
    std::panic::set_hook(previous);
    assert!(outcome.is_err());
    let (file, at) = location
        .lock()
        .unwrap()
        .clone()
        .expect("the hook saw the panic");
    assert!(file.ends_with("tests/router.rs"), "{file}");
    assert_eq!(at, line);
}
