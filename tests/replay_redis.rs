//! The Redis guard against a real redis-server, found through `REDIS_URL`.
//!
//! `.ci/run` starts one and sets the variable; without it these tests say so and pass.
//! Without the `redis` feature there is no Redis guard to test, and one test says so.

#[cfg(not(feature = "redis"))]
#[test]
fn redis_tests_need_the_redis_feature() {
    println!(
        "skipped: the Redis replay guard is behind the `redis` feature; \
         run `cargo test --all-features` with REDIS_URL set (as .ci/run does)"
    );
}

#[cfg(feature = "redis")]
mod with_redis {

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use bytes::Bytes;
    use http::{HeaderMap, Request, Response, StatusCode};
    use http_body_util::Full;
    use tower::{BoxError, ServiceBuilder, ServiceExt};
    use tower_webhook::replay::{Freshness, RedisReplayGuard, ReplayGuard};
    use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
    use tower_webhook::{Secret, VerifiedBody, VerifyError, VerifySignatureLayer};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// A guard on its own connection, and on a prefix of its own so that test runs never see
    /// each other's keys.
    async fn guard(test: &str) -> Option<RedisReplayGuard> {
        let Ok(url) = std::env::var("REDIS_URL") else {
            println!("skipped {test}: REDIS_URL not set (set it to a redis:// URL to run it)");
            return None;
        };
        Some(connect(&url, &format!("tower-webhook-test:{test}:{}:", unique())).await)
    }

    async fn connect(url: &str, prefix: &str) -> RedisReplayGuard {
        RedisReplayGuard::connect(url)
            .await
            .unwrap_or_else(|error| panic!("REDIS_URL is set but Redis is unreachable: {error}"))
            .prefix(prefix)
    }

    fn unique() -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{}-{nanos}", std::process::id())
    }

    #[tokio::test]
    async fn set_nx_answers_fresh_once_then_seen() {
        let Some(guard) = guard("fresh_once").await else {
            return;
        };
        let ttl = Duration::from_secs(60);
        assert_eq!(
            guard.check_and_record("a".into(), ttl).await.unwrap(),
            Freshness::Fresh
        );
        assert_eq!(
            guard.check_and_record("a".into(), ttl).await.unwrap(),
            Freshness::Seen
        );
        assert_eq!(
            guard.check_and_record("b".into(), ttl).await.unwrap(),
            Freshness::Fresh
        );
        guard.forget("a".into()).await.unwrap();
        assert_eq!(
            guard.check_and_record("a".into(), ttl).await.unwrap(),
            Freshness::Fresh
        );
    }

    #[tokio::test]
    async fn records_expire_with_their_ttl() {
        let Some(guard) = guard("expiry").await else {
            return;
        };
        // Redis counts EX in whole seconds; one second is the shortest record there is.
        assert_eq!(
            guard
                .check_and_record("a".into(), Duration::ZERO)
                .await
                .unwrap(),
            Freshness::Fresh
        );
        let mut waited = Duration::ZERO;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            waited += Duration::from_millis(250);
            let answer = guard
                .check_and_record("a".into(), Duration::from_secs(60))
                .await
                .unwrap();
            if answer == Freshness::Fresh {
                break;
            }
            assert!(
                waited < Duration::from_secs(10),
                "a one-second record outlived 10 s"
            );
        }
        assert!(waited >= Duration::from_millis(500), "expired too soon");
    }

    #[tokio::test]
    async fn concurrent_checks_of_one_key_get_exactly_one_fresh() {
        let Some(guard) = guard("concurrent").await else {
            return;
        };
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let guard = guard.clone();
                tokio::spawn(async move {
                    guard
                        .check_and_record("same".into(), Duration::from_secs(60))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut fresh = 0;
        for task in tasks {
            if task.await.unwrap() == Freshness::Fresh {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1);
    }

    fn delivery(id: &str) -> Request<Full<Bytes>> {
        let body = br#"{"type":"invoice.paid"}"#;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let headers: HeaderMap = StandardWebhooks
            .sign(
                &Secret::new(SECRET),
                &Message::new(body).id(id).timestamp(now),
            )
            .unwrap();
        let mut request = Request::post("/webhook")
            .body(Full::new(Bytes::from_static(body)))
            .unwrap();
        request.headers_mut().extend(headers);
        request
    }

    #[tokio::test]
    async fn two_replicas_sharing_redis_accept_a_delivery_once() {
        let Ok(url) = std::env::var("REDIS_URL") else {
            println!(
                "skipped two_replicas_sharing_redis_accept_a_delivery_once: REDIS_URL not set"
            );
            return;
        };
        let prefix = format!("tower-webhook-test:replicas:{}:", unique());
        let handled = Arc::new(AtomicUsize::new(0));
        let replica = |guard: RedisReplayGuard| {
            let handled = Arc::clone(&handled);
            ServiceBuilder::new()
                .layer(
                    VerifySignatureLayer::new(StandardWebhooks, SECRET)
                        .unwrap()
                        .replay_guard(guard),
                )
                .service_fn(move |_: Request<VerifiedBody>| {
                    handled.fetch_add(1, Ordering::SeqCst);
                    async { Ok::<_, BoxError>(Response::new(Full::new(Bytes::new()))) }
                })
        };
        // Two replicas, each with its own connection to the same server.
        let first = replica(connect(&url, &prefix).await);
        let second = replica(connect(&url, &prefix).await);

        let id = format!("msg_{}", unique());
        let accepted = first.clone().oneshot(delivery(&id)).await.unwrap();
        assert_eq!(accepted.status(), StatusCode::OK);
        let replayed = second.clone().oneshot(delivery(&id)).await.unwrap();
        assert_eq!(replayed.status(), StatusCode::CONFLICT);
        assert!(matches!(
            replayed.extensions().get::<VerifyError>(),
            Some(VerifyError::Replayed { .. })
        ));
        // And the other way round, for a new delivery.
        let id = format!("msg_{}", unique());
        assert_eq!(
            second.oneshot(delivery(&id)).await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            first.oneshot(delivery(&id)).await.unwrap().status(),
            StatusCode::CONFLICT
        );
        assert_eq!(handled.load(Ordering::SeqCst), 2);
    }
}
