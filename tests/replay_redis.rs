//! The Redis guard against a real redis-server, found through `REDIS_URL`.
//!
//! `.ci/run` starts one and sets the variable. Without it these tests say so and pass, except
//! under CI (the `CI` variable set), where a missing server must fail the run rather than skip
//! the tests silently. Without the `redis` feature there is no Redis guard to test, and one test
//! says so. The outage tests need no server of their own: a proxy, a stand-in and a closed port.

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

    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use bytes::Bytes;
    use http::{HeaderMap, Request, Response, StatusCode};
    use http_body_util::Full;
    use redis::aio::{ConnectionManager, ConnectionManagerConfig};
    use redis::{Client, ConnectionAddr, IntoConnectionInfo};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tower::{BoxError, ServiceBuilder, ServiceExt};
    use tower_webhook::replay::{Freshness, RedisReplayGuard, ReplayGuard, ReplayProtection};
    use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
    use tower_webhook::{ResponseBody, Secret, VerifiedBody, VerifyError, VerifySignatureLayer};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// The server's URL; without one, a skip (said out loud), or under CI a failure.
    fn redis_url(test: &str) -> Option<String> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Some(url);
        }
        let under_ci = std::env::var_os("CI").is_some_and(|ci| !ci.is_empty());
        assert!(
            !under_ci,
            "{test}: CI is set but REDIS_URL is not: the Redis replay guard's tests would be \
             skipped. .ci/run starts redis-server and exports REDIS_URL; set it to a redis:// URL."
        );
        println!("skipped {test}: REDIS_URL not set (set it to a redis:// URL to run it)");
        None
    }

    /// A guard on its own connection, and on a prefix of its own so that test runs never see
    /// each other's keys.
    async fn guard(test: &str) -> Option<RedisReplayGuard> {
        let url = redis_url(test)?;
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
        let Some(url) = redis_url("two_replicas_sharing_redis_accept_a_delivery_once") else {
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

    // Outages: the guard's store stops answering.

    /// Few, short reconnection attempts: an outage is answered in milliseconds, not after the
    /// manager's default six exponential retries.
    fn quick_config() -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(50))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
    }

    type Service = tower::util::BoxCloneService<
        Request<Full<Bytes>>,
        Response<ResponseBody<Full<Bytes>>>,
        BoxError,
    >;

    /// Two layers on one guard, fail-closed (the default) and fail-open, each in front of an
    /// inner service that counts its calls.
    struct Pair {
        closed: Service,
        closed_calls: Arc<AtomicUsize>,
        open: Service,
        open_calls: Arc<AtomicUsize>,
    }

    fn pair(guard: RedisReplayGuard) -> Pair {
        let layer = VerifySignatureLayer::new(StandardWebhooks, SECRET)
            .unwrap()
            .replay_guard(guard.clone());
        let counted = |layer: VerifySignatureLayer| {
            let calls = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&calls);
            let service =
                ServiceBuilder::new()
                    .layer(layer)
                    .service_fn(move |_: Request<VerifiedBody>| {
                        seen.fetch_add(1, Ordering::SeqCst);
                        async { Ok::<_, BoxError>(Response::new(Full::new(Bytes::new()))) }
                    });
            (Service::new(service), calls)
        };
        let (closed, closed_calls) = counted(layer.clone());
        let (open, open_calls) =
            counted(layer.replay_guard(ReplayProtection::new(guard).fail_open(true)));
        Pair {
            closed,
            closed_calls,
            open,
            open_calls,
        }
    }

    /// A TCP proxy in front of Redis: the guard talks through it, so the test can find the
    /// guard's connection on the server (by the proxy's side of it) and keep it from coming back.
    struct Proxy {
        addr: SocketAddr,
        /// The local ports of the proxy's connections to Redis, as Redis lists its clients.
        upstream_ports: Arc<Mutex<Vec<u16>>>,
        /// Connections being relayed now.
        live: Arc<AtomicUsize>,
        /// While set, every new connection is closed as soon as it is accepted.
        down: Arc<AtomicBool>,
    }

    impl Proxy {
        async fn start(upstream: SocketAddr) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let proxy = Self {
                addr: listener.local_addr().unwrap(),
                upstream_ports: Arc::default(),
                live: Arc::default(),
                down: Arc::default(),
            };
            let (ports, live, down) = (
                Arc::clone(&proxy.upstream_ports),
                Arc::clone(&proxy.live),
                Arc::clone(&proxy.down),
            );
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if down.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    ports
                        .lock()
                        .unwrap()
                        .push(server.local_addr().unwrap().port());
                    let live = Arc::clone(&live);
                    live.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        live.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            });
            proxy
        }
    }

    /// Where `url` points, for a proxy to relay to; `None` for a server not on TCP.
    fn tcp_address(url: &str) -> Option<SocketAddr> {
        let info = url.into_connection_info().expect("REDIS_URL parses");
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                use std::net::ToSocketAddrs;
                (host.as_str(), *port).to_socket_addrs().ok()?.next()
            }
            _ => None,
        }
    }

    /// Has the server close every connection the proxy opened to it (`CLIENT KILL ID`, found
    /// by port in `CLIENT LIST`), through a connection of the test's own.
    async fn kill_proxied_clients(url: &str, proxy: &Proxy) -> usize {
        let mut admin = Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut admin)
            .await
            .unwrap();
        let ports = proxy.upstream_ports.lock().unwrap().clone();
        let mut killed = 0;
        for line in list.lines() {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                    .map(str::to_owned)
            };
            let (Some(id), Some(addr)) = (field("id"), field("addr")) else {
                continue;
            };
            let port = addr.rsplit(':').next().and_then(|port| port.parse().ok());
            if port.is_some_and(|port| ports.contains(&port)) {
                let _: i64 = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("ID")
                    .arg(&id)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                killed += 1;
            }
        }
        killed
    }

    /// A Redis outage after a working request: refused with 503 and the inner service never
    /// called (fail-closed, the default), let through with fail-open, and working again (a
    /// replay refused again) once the server is back.
    #[tokio::test]
    async fn a_redis_outage_fails_closed_unless_told_to_fail_open() {
        let test = "a_redis_outage_fails_closed_unless_told_to_fail_open";
        let Some(url) = redis_url(test) else {
            return;
        };
        let upstream = tcp_address(&url).expect("the outage test needs a TCP REDIS_URL");
        let proxy = Proxy::start(upstream).await;
        let through_proxy =
            url.as_str()
                .into_connection_info()
                .unwrap()
                .set_addr(ConnectionAddr::Tcp(
                    proxy.addr.ip().to_string(),
                    proxy.addr.port(),
                ));
        let manager = ConnectionManager::new_with_config(
            Client::open(through_proxy).unwrap(),
            quick_config(),
        )
        .await
        .expect("Redis through the proxy");
        let guard = RedisReplayGuard::new(manager)
            .prefix(format!("tower-webhook-test:outage:{}:", unique()));
        let services = pair(guard);

        let response = services
            .closed
            .clone()
            .oneshot(delivery(&format!("msg_{}", unique())))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "before the outage");
        assert_eq!(services.closed_calls.load(Ordering::SeqCst), 1);

        // The outage: no new connection gets through, and the server drops the guard's.
        proxy.down.store(true, Ordering::SeqCst);
        assert!(
            kill_proxied_clients(&url, &proxy).await >= 1,
            "found the guard's connection"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while proxy.live.load(Ordering::SeqCst) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the kill did not land"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        for attempt in 0..2 {
            let response = services
                .closed
                .clone()
                .oneshot(delivery(&format!("msg_{}", unique())))
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "fail-closed during the outage, attempt {attempt}"
            );
            assert!(
                matches!(
                    response.extensions().get::<VerifyError>(),
                    Some(VerifyError::ReplayGuardUnavailable { .. })
                ),
                "{:?}",
                response.extensions().get::<VerifyError>()
            );
        }
        assert_eq!(
            services.closed_calls.load(Ordering::SeqCst),
            1,
            "fail-closed: the inner service is never called during the outage"
        );

        let response = services
            .open
            .clone()
            .oneshot(delivery(&format!("msg_{}", unique())))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "fail-open during the outage"
        );
        assert_eq!(services.open_calls.load(Ordering::SeqCst), 1);

        // Back up: the manager reconnects, and the guard records and refuses again.
        proxy.down.store(false, Ordering::SeqCst);
        let id = format!("msg_{}", unique());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let response = services
                .closed
                .clone()
                .oneshot(delivery(&id))
                .await
                .unwrap();
            if response.status() == StatusCode::OK {
                break;
            }
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                tokio::time::Instant::now() < deadline,
                "no recovery in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let replayed = services
            .closed
            .clone()
            .oneshot(delivery(&id))
            .await
            .unwrap();
        assert_eq!(replayed.status(), StatusCode::CONFLICT, "after the outage");
        assert_eq!(services.closed_calls.load(Ordering::SeqCst), 2);
    }

    /// A port nobody listens on.
    async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A guard whose server is gone from the start (built lazily, so nothing connects up
    /// front): 503 and no call, or a call with fail-open; the refusal the layer puts into the
    /// response's extensions, which outer layers log, never shows the password.
    #[tokio::test]
    async fn a_guard_pointed_at_a_closed_port_fails_closed() {
        let url = format!("redis://:secretpw@127.0.0.1:{}/", closed_port().await);
        let manager = ConnectionManager::new_lazy_with_config(
            Client::open(url.as_str()).unwrap(),
            quick_config(),
        )
        .unwrap();
        let guard = RedisReplayGuard::new(manager);
        assert!(!format!("{guard:?}").contains("secretpw"), "{guard:?}");
        let services = pair(guard);

        for _ in 0..2 {
            let response = services
                .closed
                .clone()
                .oneshot(delivery(&format!("msg_{}", unique())))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let error = response
                .extensions()
                .get::<VerifyError>()
                .expect("the refusal is in the extensions");
            assert!(
                matches!(error, VerifyError::ReplayGuardUnavailable { .. }),
                "{error:?}"
            );
            for text in [format!("{error}"), format!("{error:?}")] {
                assert!(!text.contains("secretpw"), "{text}");
            }
        }
        assert_eq!(services.closed_calls.load(Ordering::SeqCst), 0);

        let response = services
            .open
            .clone()
            .oneshot(delivery(&format!("msg_{}", unique())))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "fail-open");
        assert_eq!(services.open_calls.load(Ordering::SeqCst), 1);
    }

    /// A stand-in server that answers `+OK` to every command and records each command's
    /// words: enough for a client to log in and for `SET … NX` to answer "fresh".
    async fn stand_in_redis() -> (SocketAddr, Arc<Mutex<Vec<Vec<String>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&commands);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let _ = answer_ok(stream, log).await;
                });
            }
        });
        (addr, commands)
    }

    /// Reads RESP arrays of bulk strings and answers each with `+OK`.
    async fn answer_ok(
        stream: TcpStream,
        log: Arc<Mutex<Vec<Vec<String>>>>,
    ) -> std::io::Result<()> {
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        let number = |line: &str, tag: char| -> usize {
            line.trim_end()
                .strip_prefix(tag)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected RESP line {line:?}"))
        };
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let mut words = Vec::new();
            for _ in 0..number(&line, '*') {
                line.clear();
                stream.read_line(&mut line).await?;
                let mut word = vec![0; number(&line, '$') + 2];
                stream.read_exact(&mut word).await?;
                word.truncate(word.len() - 2);
                words.push(String::from_utf8_lossy(&word).into_owned());
            }
            log.lock().unwrap().push(words);
            stream.get_mut().write_all(b"+OK\r\n").await?;
        }
    }

    /// `Debug` of a guard connected with a password, and of a layer holding it, never shows
    /// the password; nor does the error of a connection that failed.
    #[tokio::test]
    async fn the_password_in_the_url_is_never_printed() {
        let (addr, commands) = stand_in_redis().await;
        let url = format!("redis://:secretpw@127.0.0.1:{}/", addr.port());
        let guard = RedisReplayGuard::connect(&url)
            .await
            .expect("the stand-in accepts the login");
        assert!(
            commands.lock().unwrap().iter().any(|words| words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("AUTH"))
                && words.iter().any(|w| w == "secretpw")),
            "the client logged in with the password: {:?}",
            commands.lock().unwrap()
        );
        assert_eq!(
            guard
                .check_and_record("k".into(), Duration::from_secs(60))
                .await
                .unwrap(),
            Freshness::Fresh,
            "the guard works through the stand-in"
        );
        let debug = format!("{guard:?}");
        assert!(!debug.contains("secretpw"), "{debug}");
        let layer = VerifySignatureLayer::new(StandardWebhooks, SECRET)
            .unwrap()
            .replay_guard(guard.clone());
        let debug = format!("{layer:?} {:#?}", layer);
        assert!(!debug.contains("secretpw"), "{debug}");

        let url = format!("redis://:secretpw@127.0.0.1:{}/", closed_port().await);
        let error = RedisReplayGuard::connect(&url)
            .await
            .expect_err("nothing listens there");
        for text in [format!("{error}"), format!("{error:?}")] {
            assert!(!text.contains("secretpw"), "{text}");
        }
    }
}
