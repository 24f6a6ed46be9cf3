//! The Dispatcher's delivery rate against a bare hyper client, and the time to dispatch.
//!
//! A local receiver answers 204 to everything. For the same number of deliveries at the same
//! concurrency:
//!
//! - `bare`: a hyper client posting requests signed in advance (Standard Webhooks): the floor;
//! - `memory`, `sqlite`, `postgres`: the events dispatched beforehand (not timed), then a
//!   worker draining them with `run_until_idle`: claim, sign, POST, record, in the store.
//!
//! Each prints deliveries per second, and `ratio dispatch/<store> <store ÷ bare>` lines: the
//! median over `DISPATCH_ROUNDS` (default 3) of each round's ratio to the bare run just before
//! it, `DISPATCH_DELIVERIES` (default 20 000) each; `DISPATCH_STORES=memory,sqlite` runs only
//! those stores. Then `dispatch-enqueue-p50-us`: the median time of `Dispatcher::dispatch` of
//! one event to three endpoints on SQLite. SQLite needs `--features sqlite`, Postgres
//! `--features postgres` and `DATABASE_URL` (each says when it is skipped). Without `--bench`
//! every case runs once with a few deliveries and checks they all arrived.

#[cfg(feature = "dispatch")]
mod bench {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::{BodyExt, Empty, Full};
    use hyper::body::Incoming;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio::net::TcpListener;
    use tokio::sync::Semaphore;
    use tower_webhook::Secret;
    use tower_webhook::dispatch::store::Store;
    use tower_webhook::dispatch::{Dispatcher, Event, NewEndpoint, StorageKey};
    use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const CONCURRENCY: usize = 16;
    const PAYLOAD: &str =
        r#"{"type":"order.paid","data":{"order":77,"total":1200,"currency":"EUR"}}"#;

    /// A receiver that reads each body and answers 204; counts what it got.
    async fn receiver(count: Arc<AtomicU64>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let count = Arc::clone(&count);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let count = Arc::clone(&count);
                        async move {
                            let _ = request.into_body().collect().await;
                            count.fetch_add(1, Ordering::Relaxed);
                            let mut response = Response::new(Empty::<Bytes>::new());
                            *response.status_mut() = StatusCode::NO_CONTENT;
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{addr}/hook")
    }

    /// `n` signed requests posted `CONCURRENCY` at a time; deliveries per second.
    async fn bare(url: &str, n: usize) -> f64 {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let secret = Secret::new(SECRET);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let requests: Vec<Request<Full<Bytes>>> = (0..n)
            .map(|i| {
                let id = format!("msg_bench_{i}");
                let headers = StandardWebhooks
                    .sign(
                        &secret,
                        &Message::new(PAYLOAD.as_bytes()).id(&id).timestamp(now),
                    )
                    .unwrap();
                let mut request = Request::post(url)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(PAYLOAD.as_bytes())))
                    .unwrap();
                request.headers_mut().extend(headers);
                request
            })
            .collect();
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for request in requests {
            let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
            let client = client.clone();
            tasks.spawn(async move {
                let response = client.request(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
                let _ = response.into_body().collect().await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        n as f64 / started.elapsed().as_secs_f64()
    }

    /// `n` events dispatched (not timed) to one endpoint, then drained by a worker.
    async fn dispatcher(store: Arc<dyn Store>, url: &str, n: usize) -> f64 {
        let dispatcher = Dispatcher::builder_shared(store, StorageKey::generate().unwrap()).build();
        dispatcher
            .add_endpoint(
                NewEndpoint::new(url, "standard-webhooks", SECRET)
                    // Above any worker's claims ahead: the cap does not throttle.
                    .max_in_flight(16 * CONCURRENCY as u32),
            )
            .await
            .unwrap();
        for _ in 0..n {
            let dispatched = dispatcher
                .dispatch(Event::new("order.paid", PAYLOAD))
                .await
                .unwrap();
            assert_eq!(dispatched.delivery_ids.len(), 1);
        }
        let started = Instant::now();
        let summary = dispatcher
            .worker()
            .concurrency(CONCURRENCY)
            .run_until_idle()
            .await
            .unwrap();
        let rate = n as f64 / started.elapsed().as_secs_f64();
        assert_eq!(summary.succeeded, n as u64, "{summary}");
        rate
    }

    type Factory =
        Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>>>>>;

    fn stores() -> Vec<(&'static str, Factory)> {
        #[allow(unused_mut)]
        let mut stores: Vec<(&'static str, Factory)> = vec![(
            "memory",
            Box::new(|| {
                Box::pin(async {
                    Arc::new(tower_webhook::dispatch::MemoryStore::new()) as Arc<dyn Store>
                })
            }),
        )];
        #[cfg(feature = "sqlite")]
        stores.push((
            "sqlite",
            Box::new(|| Box::pin(async { sqlite_store().await })),
        ));
        #[cfg(not(feature = "sqlite"))]
        println!("SKIP: dispatch/sqlite (run with --features sqlite)");
        #[cfg(feature = "postgres")]
        match std::env::var("DATABASE_URL") {
            Ok(url) => stores.push((
                "postgres",
                Box::new(move || {
                    let url = url.clone();
                    Box::pin(async move { postgres_store(&url).await })
                }),
            )),
            Err(_) => {
                println!("SKIP: dispatch/postgres (set DATABASE_URL; .ci/postgres.sh starts one)")
            }
        }
        #[cfg(not(feature = "postgres"))]
        println!("SKIP: dispatch/postgres (run with --features postgres and DATABASE_URL)");
        stores
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite_store() -> Arc<dyn Store> {
        let dir = scratch().join(unique().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        Arc::new(
            tower_webhook::dispatch::SqliteStore::open(dir.join("bench.db"))
                .await
                .unwrap(),
        )
    }

    /// This run's SQLite files, removed when it ends.
    #[cfg(feature = "sqlite")]
    fn scratch() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tw-bench-{}", std::process::id()))
    }

    #[cfg(feature = "postgres")]
    async fn postgres_store(admin: &str) -> Arc<dyn Store> {
        use sqlx::Connection as _;
        let name = format!("tw_bench_{}_{}", std::process::id(), unique());
        let mut connection = sqlx::PgConnection::connect(admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .unwrap();
        let mut url = url::Url::parse(admin).unwrap();
        url.set_path(&name);
        Arc::new(
            tower_webhook::dispatch::PostgresStore::connect(url.as_str())
                .await
                .unwrap(),
        )
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    fn unique() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    pub(crate) fn main() {
        let benching = std::env::args().any(|arg| arg == "--bench");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let rounds: usize = std::env::var("DISPATCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3);
        let n: usize = if benching {
            std::env::var("DISPATCH_DELIVERIES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(20_000)
        } else {
            50
        };
        let rounds = if benching { rounds } else { 1 };
        runtime.block_on(async {
            // DISPATCH_STORES=memory,sqlite runs only those.
            let only: Option<Vec<String>> = std::env::var("DISPATCH_STORES")
                .ok()
                .map(|names| names.split(',').map(str::to_owned).collect());
            let known = ["memory", "sqlite", "postgres"];
            for name in only.iter().flatten() {
                assert!(
                    known.contains(&name.as_str()),
                    "DISPATCH_STORES: no store named {name:?}; known: {known:?}"
                );
            }
            let chosen =
                |name: &str| only.as_ref().is_none_or(|only| only.iter().any(|o| o == name));
            let received = Arc::new(AtomicU64::new(0));
            let url = receiver(Arc::clone(&received)).await;
            // Warm up connections and code paths.
            bare(&url, 200.min(n)).await;
            for (name, make) in stores().into_iter().filter(|(name, _)| chosen(name)) {
                let mut bare_rates = Vec::new();
                let mut store_rates = Vec::new();
                let mut ratios = Vec::new();
                for _ in 0..rounds {
                    let store = make().await;
                    // The bare run right before the store's, so each ratio compares like with
                    // like on a machine whose speed drifts.
                    let bare_rate = bare(&url, n).await;
                    let before = received.load(Ordering::Relaxed);
                    let store_rate = dispatcher(store, &url, n).await;
                    assert_eq!(received.load(Ordering::Relaxed) - before, n as u64, "{name}: every delivery arrived");
                    bare_rates.push(bare_rate);
                    store_rates.push(store_rate);
                    ratios.push(store_rate / bare_rate);
                    // Gone before the page cache writes them back in a later round.
                    #[cfg(feature = "sqlite")]
                    let _ = std::fs::remove_dir_all(scratch());
                }
                let (bare_rate, store_rate) = (median(bare_rates), median(store_rates));
                println!("dispatch/{name}: {store_rate:.0} deliveries/s, bare {bare_rate:.0}/s ({n} deliveries, concurrency {CONCURRENCY})");
                let each: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
                println!("dispatch/{name}: each round's ratio {}", each.join(" "));
                println!("ratio dispatch/{name} {:.3}", median(ratios));
            }
            enqueue_p50(&url, benching).await;
        });
        // Every store is dropped by now, and with it its files' connections.
        #[cfg(feature = "sqlite")]
        let _ = std::fs::remove_dir_all(scratch());
    }

    #[cfg(feature = "sqlite")]
    async fn enqueue_p50(url: &str, benching: bool) {
        let store = sqlite_store().await;
        let dispatcher = Dispatcher::builder_shared(store, StorageKey::generate().unwrap()).build();
        for _ in 0..3 {
            dispatcher
                .add_endpoint(
                    NewEndpoint::new(url, "standard-webhooks", SECRET).events(["order.*"]),
                )
                .await
                .unwrap();
        }
        let count = if benching { 2_000 } else { 20 };
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            let dispatched = dispatcher
                .dispatch(Event::new("order.paid", PAYLOAD))
                .await
                .unwrap();
            times.push(started.elapsed());
            assert_eq!(dispatched.delivery_ids.len(), 3);
        }
        times.sort();
        let p50 = times[times.len() / 2];
        println!("dispatch-enqueue-p50-us {:.0}", p50.as_secs_f64() * 1e6);
    }

    #[cfg(not(feature = "sqlite"))]
    async fn enqueue_p50(_url: &str, _benching: bool) {
        println!("SKIP: dispatch-enqueue-p50-us (run with --features sqlite)");
    }
}

fn main() {
    #[cfg(feature = "dispatch")]
    bench::main();
    #[cfg(not(feature = "dispatch"))]
    println!(
        "SKIP: the dispatch bench needs the Dispatcher: cargo bench --bench dispatch --features sqlite,postgres"
    );
}
