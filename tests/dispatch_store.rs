//! One conformance suite for every Dispatcher store: memory always, SQLite with the `sqlite`
//! feature, Postgres with the `postgres` feature and `DATABASE_URL` (it says when it skips).
//!
//! Every delivery goes over real HTTP to receivers behind the crate's own
//! `VerifySignatureLayer`, so "delivered" means "accepted as correctly signed".
#![cfg(feature = "dispatch")]

mod dispatch_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dispatch_support::Receiver;
use tower_webhook::crypto::Signature;
use tower_webhook::dispatch::store::{
    BoxFuture, Claim, Completion, DeliveryRow, DeliveryWithAttempts, EndpointHealth, EndpointRow,
    Enqueued, EventRow, Lease, NewDelivery, Next, Pending, Requeue, StatsRow, Store, StoreError,
    StoreResult,
};
use tower_webhook::dispatch::{
    AttemptRow, AutoDisable, DeliveryFilter, DeliveryStatus, DispatchError, Dispatcher, Event,
    NewEndpoint, RetrySchedule, StorageKey, Worker, WorkerSummary,
};
use tower_webhook::scheme::{Message, Part, Scheme, SignedHeaders, StandardWebhooks};
use tower_webhook::{InvalidSecret, Secret, SignError, VerifyError};

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct Fixture {
    pub store: Arc<dyn Store>,
    _guard: Option<Box<dyn std::any::Any + Send>>,
}

pub async fn memory() -> Fixture {
    Fixture {
        store: Arc::new(tower_webhook::dispatch::MemoryStore::new()),
        _guard: None,
    }
}

#[cfg(feature = "sqlite")]
pub async fn sqlite() -> Option<Fixture> {
    struct RemoveDir(std::path::PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("tw-dispatch-{}", random()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = tower_webhook::dispatch::SqliteStore::open(dir.join("deliveries.db"))
        .await
        .unwrap();
    Some(Fixture {
        store: Arc::new(store),
        _guard: Some(Box::new(RemoveDir(dir))),
    })
}

#[cfg(feature = "postgres")]
pub async fn postgres() -> Option<Fixture> {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        // In CI (.ci/run starts a server) a missing database is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but DATABASE_URL is not"
        );
        eprintln!(
            "SKIP: Postgres conformance tests (set DATABASE_URL; .ci/postgres.sh starts one)"
        );
        return None;
    };
    use sqlx::Connection as _;
    let name = format!("tw_conformance_{}", random());
    let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    let store = tower_webhook::dispatch::PostgresStore::connect(url.as_str())
        .await
        .unwrap();
    Some(Fixture {
        store: Arc::new(store),
        _guard: None,
    })
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn random() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(SystemTime::now())
}

/// Quick retries, no jitter, short timeouts: the tests wait milliseconds, not hours.
fn quick(store: &Arc<dyn Store>, key: &StorageKey) -> tower_webhook::dispatch::DispatcherBuilder {
    Dispatcher::builder_shared(Arc::clone(store), key.clone())
        .retry_schedule(RetrySchedule::new([Duration::from_millis(20); 3]).jitter(false))
        .attempt_timeout(Duration::from_secs(2))
}

fn dispatcher(store: &Arc<dyn Store>) -> Dispatcher {
    quick(store, &StorageKey::generate().unwrap()).build()
}

async fn drain(dispatcher: &Dispatcher) {
    drain_with(dispatcher.worker().concurrency(8)).await;
}

/// Runs `worker` until nothing is left to do (within a minute), polling often.
async fn drain_with(worker: Worker) -> WorkerSummary {
    let run = worker
        .poll_interval(Duration::from_millis(20))
        .run_until_idle();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the worker went idle")
        .unwrap()
}

/// Claims what is claimable now, as another worker would, with a lease that ends at once.
async fn claim_elsewhere(store: &Arc<dyn Store>, limit: u32) -> Vec<Claim> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lease = Lease {
        token: 77,
        until: now + 1,
    };
    let claims = store.claim(now, lease, limit).await.unwrap();
    // Past that lease, the claims are free again.
    tokio::time::sleep(Duration::from_millis(5)).await;
    claims
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let fixture = super::memory().await;
                    super::$test(fixture.store.clone()).await;
                }
            )*
        }
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(fixture) = super::sqlite().await else { return };
                    super::$test(fixture.store.clone()).await;
                }
            )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(fixture) = super::postgres().await else { return };
                    super::$test(fixture.store.clone()).await;
                }
            )*
        }
    };
}

suite!(
    every_delivery_verifies_at_the_matching_endpoints,
    retries_keep_the_delivery_id_until_the_receiver_recovers,
    a_final_4xx_fails_at_once_and_a_schedule_runs_out,
    connection_errors_and_timeouts_are_retried,
    retry_after_is_obeyed,
    idempotency_keys_queue_nothing_twice,
    failing_endpoints_are_disabled_and_their_deliveries_wait,
    resend_and_recover_send_again_with_the_same_id,
    dispatch_sync_attempts_now_and_reports,
    response_bodies_are_cut_and_attempts_logged,
    secrets_are_sealed_and_rotate,
    claims_respect_leases_and_the_per_endpoint_cap,
    a_lost_lease_does_not_overwrite_the_new_holder,
    complete_and_claim_records_then_claims_the_room_it_freed,
    graceful_shutdown_finishes_what_is_in_flight,
    a_result_is_recorded_without_waiting_for_slow_attempts,
    shutdown_under_load_gives_back_what_it_did_not_start,
    a_stop_gives_back_queued_claims_without_waiting_for_a_slot,
    a_dropped_handle_leaves_the_worker_running,
    a_panicking_attempt_is_given_back_and_sending_goes_on,
    a_batch_the_store_refuses_is_recorded_on_a_later_call,
    stats_count_and_measure,
    bad_input_is_refused_with_a_reason,
);

async fn every_delivery_verifies_at_the_matching_endpoints(store: Arc<dyn Store>) {
    let standard = Receiver::start("standard-webhooks", WHSEC).await;
    let github = Receiver::start("github", "It's a Secret to Everybody").await;
    let stripe = Receiver::start("stripe", "whsec_test_secret").await;
    let hubspot = Receiver::start("hubspot", "hubspot-app-secret").await;
    let twilio = Receiver::start("twilio", "twilio-auth-token").await;
    let dispatcher = dispatcher(&store);
    for (receiver, patterns) in [
        (&standard, vec!["order.*"]),
        (&github, vec!["order.paid", "invoice"]),
        (&stripe, vec!["*"]),
        (&hubspot, vec!["invoice.*"]),
        (&twilio, vec!["user.*"]),
    ] {
        dispatcher
            .add_endpoint(
                NewEndpoint::new(receiver.url(), &receiver.scheme, receiver.secret.as_str())
                    .events(patterns),
            )
            .await
            .unwrap();
    }
    let mut expected: Vec<(&Receiver, String)> = Vec::new();
    for (n, event_type) in [
        "order.paid",
        "order.shipped",
        "invoice.created",
        "user.deleted",
    ]
    .into_iter()
    .enumerate()
    {
        let payload = format!(r#"{{"type":"{event_type}","n":{n}}}"#);
        let dispatched = dispatcher
            .dispatch(Event::new(event_type, payload))
            .await
            .unwrap();
        assert!(!dispatched.duplicate);
        let matching: Vec<&Receiver> = match event_type {
            "order.paid" => vec![&standard, &github, &stripe],
            "order.shipped" => vec![&standard, &stripe],
            "invoice.created" => vec![&github, &stripe, &hubspot],
            _ => vec![&stripe, &twilio],
        };
        assert_eq!(
            dispatched.delivery_ids.len(),
            matching.len(),
            "{event_type}"
        );
        for (receiver, id) in matching.into_iter().zip(dispatched.delivery_ids) {
            expected.push((receiver, id));
        }
    }
    drain(&dispatcher).await;

    for receiver in [&standard, &github, &stripe, &hubspot, &twilio] {
        let mut want: Vec<String> = expected
            .iter()
            .filter(|(r, _)| r.addr == receiver.addr)
            .map(|(_, id)| id.clone())
            .collect();
        let seen = receiver.seen();
        assert_eq!(
            seen.len(),
            want.len(),
            "{}: one verified request each",
            receiver.scheme
        );
        // Every delivery reached its receiver with its delivery id: in the scheme's id header,
        // or in `X-Webhook-ID` for schemes without one.
        let mut got = receiver.ids();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{}", receiver.scheme);
        for received in seen {
            let body: serde_json::Value = serde_json::from_slice(&received.body).unwrap();
            assert!(body["type"].is_string(), "the exact payload arrives");
        }
    }
    for (_, id) in &expected {
        let log = dispatcher.delivery(id).await.unwrap().unwrap();
        assert_eq!(log.delivery.status, DeliveryStatus::Succeeded);
        assert_eq!(log.attempts.len(), 1);
        assert_eq!(log.attempts[0].status, Some(204));
        assert_eq!(log.attempts[0].number, 1);
    }
    // GitHub carries the event type in a header: the dispatcher writes it.
    assert!(github.seen().iter().all(|r| {
        r.event_type
            .as_deref()
            .is_some_and(|t| t.starts_with("order") || t.starts_with("invoice"))
    }));
}

async fn retries_keep_the_delivery_id_until_the_receiver_recovers(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    receiver.answer_first(&[503, 500, 429]);
    let dispatcher = dispatcher(&store);
    add(&dispatcher, &receiver).await;
    let id = one(&dispatcher, "order.paid").await;
    drain(&dispatcher).await;

    assert_eq!(
        receiver.ids(),
        vec![id.clone(); 4],
        "one id across every attempt"
    );
    let timestamps: Vec<String> = receiver
        .seen()
        .iter()
        .map(|r| r.headers["webhook-timestamp"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(timestamps.len(), 4);
    let log = dispatcher.delivery(&id).await.unwrap().unwrap();
    assert_eq!(log.delivery.status, DeliveryStatus::Succeeded);
    let statuses: Vec<Option<u16>> = log.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(500), Some(429), Some(204)]);
    let numbers: Vec<u32> = log.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(log.delivery.attempts, 4);
}

async fn a_final_4xx_fails_at_once_and_a_schedule_runs_out(store: Arc<dyn Store>) {
    let refusing = Receiver::start("standard-webhooks", WHSEC).await;
    refusing.answer_always(400);
    let broken = Receiver::start("github", "gh-secret").await;
    broken.answer_always(500);
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let dispatcher = quick(&store, &StorageKey::generate().unwrap())
        .on_outcome(move |report| {
            seen.lock()
                .unwrap()
                .push((report.delivery_id.clone(), report.next))
        })
        .build();
    add(&dispatcher, &refusing).await;
    add(&dispatcher, &broken).await;
    let dispatched = dispatcher
        .dispatch(Event::new("order.paid", "{}"))
        .await
        .unwrap();
    drain(&dispatcher).await;

    let refused = dispatcher
        .delivery(&dispatched.delivery_ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused.delivery.status, DeliveryStatus::Failed);
    assert_eq!(refused.attempts.len(), 1, "a 400 is not retried");
    assert_eq!(refused.delivery.last_status, Some(400));
    let exhausted = dispatcher
        .delivery(&dispatched.delivery_ids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exhausted.delivery.status, DeliveryStatus::Failed);
    assert_eq!(exhausted.attempts.len(), 4, "three waits: four attempts");
    assert_eq!(broken.seen().len(), 4);
    let mut outcomes = outcomes.lock().unwrap().clone();
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = vec![
        (dispatched.delivery_ids[0].clone(), Next::Failed),
        (dispatched.delivery_ids[1].clone(), Next::Failed),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(outcomes, want, "one final callback per delivery");
}

async fn connection_errors_and_timeouts_are_retried(store: Arc<dyn Store>) {
    // Nothing listens here at first; the receiver comes up on the same port later.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let slow = Receiver::start("standard-webhooks", WHSEC).await;
    slow.delay(Duration::from_millis(1500));
    let dispatcher =
        Dispatcher::builder_shared(Arc::clone(&store), StorageKey::generate().unwrap())
            .retry_schedule(RetrySchedule::new([Duration::from_millis(300); 8]).jitter(false))
            .attempt_timeout(Duration::from_millis(500))
            .build();
    let down = dispatcher
        .add_endpoint(NewEndpoint::new(
            format!("http://{addr}/hook"),
            "standard-webhooks",
            WHSEC,
        ))
        .await
        .unwrap();
    add(&dispatcher, &slow).await;
    let dispatched = dispatcher
        .dispatch(Event::new("order.paid", "{}"))
        .await
        .unwrap();
    let worker = dispatcher
        .worker()
        .poll_interval(Duration::from_millis(20))
        .spawn();
    // Let the first attempts fail, then bring the receiver up and speed up the slow one.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let back = Receiver::on(listener, "standard-webhooks", WHSEC);
    slow.delay(Duration::ZERO);
    wait_for(|| async {
        let logs = [
            dispatcher
                .delivery(&dispatched.delivery_ids[0])
                .await
                .unwrap()
                .unwrap(),
            dispatcher
                .delivery(&dispatched.delivery_ids[1])
                .await
                .unwrap()
                .unwrap(),
        ];
        logs.iter()
            .all(|log| log.delivery.status == DeliveryStatus::Succeeded)
    })
    .await;
    worker.shutdown().await.unwrap();

    let refused = dispatcher
        .delivery(&dispatched.delivery_ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused.delivery.endpoint_id, down.id);
    let first = &refused.attempts[0];
    assert_eq!(first.status, None);
    assert!(
        first.error.as_deref().is_some_and(|e| !e.is_empty()),
        "{first:?}"
    );
    assert_eq!(back.ids(), [dispatched.delivery_ids[0].clone()]);
    let timed_out = dispatcher
        .delivery(&dispatched.delivery_ids[1])
        .await
        .unwrap()
        .unwrap();
    let first = &timed_out.attempts[0];
    assert_eq!(first.status, None);
    assert!(
        first.error.as_deref().unwrap().contains("timed out"),
        "{first:?}"
    );
}

async fn retry_after_is_obeyed(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    receiver.answer_with_header(429, "retry-after", "1");
    let dispatcher = dispatcher(&store);
    add(&dispatcher, &receiver).await;
    let id = one(&dispatcher, "order.paid").await;
    drain(&dispatcher).await;
    let log = dispatcher.delivery(&id).await.unwrap().unwrap();
    assert_eq!(log.attempts.len(), 2);
    let gap = log.attempts[1].started_at - log.attempts[0].started_at;
    assert!(gap >= 1000, "waited {gap} ms, not the 20 ms scheduled");
}

async fn idempotency_keys_queue_nothing_twice(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    let dispatcher = dispatcher(&store);
    add(&dispatcher, &receiver).await;
    add(&dispatcher, &receiver).await;
    let event = || Event::new("order.paid", r#"{"order":77}"#).idempotency_key("order-77-paid");
    let first = dispatcher.dispatch(event()).await.unwrap();
    let again = dispatcher.dispatch(event()).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.event_id, first.event_id);
    assert_eq!(again.delivery_ids, first.delivery_ids);
    // Concurrent dispatches of one key: one wins, the others get its ids.
    let racing = (0..8).map(|_| {
        let dispatcher = dispatcher.clone();
        tokio::spawn(async move {
            dispatcher
                .dispatch(Event::new("order.paid", "{}").idempotency_key("race"))
                .await
                .unwrap()
        })
    });
    let results: Vec<_> = futures_join(racing).await;
    assert_eq!(results.iter().filter(|d| !d.duplicate).count(), 1);
    assert!(
        results
            .iter()
            .all(|d| d.delivery_ids == results[0].delivery_ids)
    );
    drain(&dispatcher).await;
    assert_eq!(receiver.seen().len(), 4, "two events, two endpoints each");
}

async fn failing_endpoints_are_disabled_and_their_deliveries_wait(store: Arc<dyn Store>) {
    let failing = Receiver::start("standard-webhooks", WHSEC).await;
    failing.answer_always(503);
    let healthy = Receiver::start("github", "gh").await;
    let disabled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&disabled);
    let dispatcher = quick(&store, &StorageKey::generate().unwrap())
        .auto_disable(AutoDisable::after(3))
        .on_endpoint_disabled(move |endpoint| {
            assert!(!endpoint.enabled);
            assert!(endpoint.disabled_reason.as_deref().unwrap().contains('3'));
            count.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    let bad = add(&dispatcher, &failing).await;
    add(&dispatcher, &healthy).await;
    for n in 0..3 {
        dispatcher
            .dispatch(Event::new("order.paid", format!(r#"{{"n":{n}}}"#)))
            .await
            .unwrap();
    }
    // `run_until_idle` ends: what is left belongs to a disabled endpoint.
    drain(&dispatcher).await;
    assert_eq!(disabled.load(Ordering::SeqCst), 1);
    let endpoint = dispatcher.endpoint(&bad).await.unwrap().unwrap();
    assert!(!endpoint.enabled);
    assert_eq!(healthy.seen().len(), 3);
    let waiting = dispatcher
        .deliveries(DeliveryFilter {
            endpoint_id: Some(bad.clone()),
            status: Some(DeliveryStatus::Pending),
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert!(!waiting.is_empty(), "deliveries wait for the endpoint");
    // New events skip a disabled endpoint.
    let skipped = dispatcher
        .dispatch(Event::new("order.paid", "{}"))
        .await
        .unwrap();
    assert_eq!(skipped.delivery_ids.len(), 1);

    failing.answer_always(204);
    dispatcher.enable(&bad).await.unwrap();
    let endpoint = dispatcher.endpoint(&bad).await.unwrap().unwrap();
    assert!(endpoint.enabled);
    assert_eq!(endpoint.failures, 0);
    drain(&dispatcher).await;
    let left = dispatcher
        .deliveries(DeliveryFilter {
            endpoint_id: Some(bad.clone()),
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 3);
    assert!(
        left.iter().all(|d| d.status == DeliveryStatus::Succeeded),
        "{left:?}"
    );
    assert!(matches!(
        dispatcher.enable("ep_nope").await,
        Err(DispatchError::NoSuchEndpoint(_))
    ));
}

async fn resend_and_recover_send_again_with_the_same_id(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    receiver.answer_always(410);
    let dispatcher = dispatcher(&store);
    let endpoint = add(&dispatcher, &receiver).await;
    let before = SystemTime::now() - Duration::from_secs(1);
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(one(&dispatcher, "order.paid").await);
        }
        ids
    };
    drain(&dispatcher).await;
    for id in &ids {
        let log = dispatcher.delivery(id).await.unwrap().unwrap();
        assert_eq!(log.delivery.status, DeliveryStatus::Failed);
    }
    receiver.answer_always(204);
    let later = SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(
        dispatcher.recover(&endpoint, later).await.unwrap(),
        0,
        "none failed since then"
    );
    assert_eq!(dispatcher.recover(&endpoint, before).await.unwrap(), 3);
    drain(&dispatcher).await;
    for id in &ids {
        let log = dispatcher.delivery(id).await.unwrap().unwrap();
        assert_eq!(log.delivery.status, DeliveryStatus::Succeeded);
        assert_eq!(log.attempts.len(), 2);
        assert_eq!(log.attempts[1].number, 2);
    }
    // Resend a succeeded one: the receiver sees its id a third time.
    dispatcher.resend(&ids[0]).await.unwrap();
    drain(&dispatcher).await;
    assert_eq!(receiver.ids().iter().filter(|id| **id == ids[0]).count(), 3);
    assert!(matches!(
        dispatcher.resend("msg_nope").await,
        Err(DispatchError::NoSuchDelivery(_))
    ));
}

async fn dispatch_sync_attempts_now_and_reports(store: Arc<dyn Store>) {
    let up = Receiver::start("standard-webhooks", WHSEC).await;
    let flaky = Receiver::start("standard-webhooks", WHSEC).await;
    flaky.answer_first(&[502]);
    let dispatcher = dispatcher(&store);
    let up_id = add(&dispatcher, &up).await;
    let flaky_id = add(&dispatcher, &flaky).await;
    let (dispatched, reports) = dispatcher
        .dispatch_sync(Event::new("order.paid", "{}"))
        .await
        .unwrap();
    assert_eq!(reports.len(), 2);
    let report = |endpoint: &str| reports.iter().find(|r| r.endpoint_id == endpoint).unwrap();
    assert_eq!(report(&up_id).status, Some(204));
    assert!(report(&up_id).is_final());
    assert_eq!(report(&flaky_id).status, Some(502));
    assert!(
        report(&flaky_id).retry_at().is_some(),
        "left for the workers"
    );
    assert_eq!(up.ids(), [report(&up_id).delivery_id.clone()]);
    assert!(
        dispatched
            .delivery_ids
            .contains(&report(&flaky_id).delivery_id)
    );
    drain(&dispatcher).await;
    let log = dispatcher
        .delivery(&report(&flaky_id).delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.delivery.status, DeliveryStatus::Succeeded);
    assert_eq!(log.attempts.len(), 2);
    assert_eq!(
        up.seen().len(),
        1,
        "a synchronous delivery is not sent again by workers"
    );
}

async fn response_bodies_are_cut_and_attempts_logged(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    receiver.answer_with_body(500, 100_000);
    receiver.answer_with_body(200, 10);
    let dispatcher = dispatcher(&store);
    add(&dispatcher, &receiver).await;
    let id = one(&dispatcher, "order.paid").await;
    drain(&dispatcher).await;
    let log = dispatcher.delivery(&id).await.unwrap().unwrap();
    assert_eq!(log.attempts.len(), 2);
    let AttemptRow { response_body, .. } = &log.attempts[0];
    assert_eq!(
        response_body.len(),
        tower_webhook::dispatch::store::RESPONSE_BODY_LIMIT
    );
    assert!(response_body.iter().all(|&b| b == b'x'));
    assert_eq!(log.attempts[1].response_body, b"xxxxxxxxxx");
    assert_eq!(log.attempts[1].status, Some(200));
}

async fn secrets_are_sealed_and_rotate(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    let key = StorageKey::generate().unwrap();
    let dispatcher = quick(&store, &key).build();
    let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let endpoint = dispatcher
        .add_endpoint(NewEndpoint::new(receiver.url(), "standard-webhooks", old).secret(WHSEC))
        .await
        .unwrap();
    let row = store.endpoint(&endpoint.id).await.unwrap().unwrap();
    for secret in [
        old,
        WHSEC,
        "C2FVsBQIhrscChlQIMV",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(
            !row.sealed_secrets
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "a secret in plain text in the store"
        );
    }
    assert!(!format!("{row:?}{endpoint:?}{dispatcher:?}").contains("MfKQ9r8G"));

    // Signed with the first secret, which this receiver does not know: refused (401, final).
    let refused = one(&dispatcher, "order.paid").await;
    drain(&dispatcher).await;
    let log = dispatcher.delivery(&refused).await.unwrap().unwrap();
    assert_eq!(log.delivery.last_status, Some(401));
    assert!(receiver.seen().is_empty());

    dispatcher
        .rotate_secrets(&endpoint.id, [Secret::new(WHSEC), Secret::new(old)])
        .await
        .unwrap();
    let accepted = one(&dispatcher, "order.paid").await;
    drain(&dispatcher).await;
    assert_eq!(receiver.ids(), [accepted]);

    // Another storage key cannot open them: the attempt says so, nothing is sent.
    let stranger = quick(&store, &StorageKey::generate().unwrap())
        .retry_schedule(RetrySchedule::new([]))
        .build();
    let unopened = one(&stranger, "order.paid").await;
    drain(&stranger).await;
    let log = stranger.delivery(&unopened).await.unwrap().unwrap();
    assert_eq!(log.delivery.status, DeliveryStatus::Failed);
    assert!(
        log.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("storage key")
    );
    assert_eq!(receiver.seen().len(), 1);
}

fn endpoint_row(id: &str, max_in_flight: u32) -> EndpointRow {
    EndpointRow {
        id: id.to_owned(),
        url: "http://127.0.0.1:9/".into(),
        scheme: "standard-webhooks".into(),
        sealed_secrets: vec![1, 2, 3],
        patterns: vec!["*".into()],
        enabled: true,
        disabled_reason: None,
        name: None,
        labels: Default::default(),
        max_in_flight,
        failures: 0,
        failing_since: None,
        created_at: 1,
    }
}

async fn enqueue_raw(
    store: &Arc<dyn Store>,
    event: &str,
    endpoints: &[&str],
    due: i64,
) -> Vec<String> {
    let deliveries = endpoints
        .iter()
        .enumerate()
        .map(|(n, endpoint)| NewDelivery {
            id: format!("msg_{event}_{n}"),
            endpoint_id: (*endpoint).to_owned(),
            next_attempt_at: due,
        })
        .collect();
    let row = EventRow {
        id: format!("evt_{event}"),
        event_type: "order.paid".into(),
        payload: bytes::Bytes::from_static(b"{}"),
        content_type: "application/json".into(),
        idempotency_key: None,
        created_at: due,
    };
    store
        .enqueue(row, deliveries, None)
        .await
        .unwrap()
        .delivery_ids
}

async fn claims_respect_leases_and_the_per_endpoint_cap(store: Arc<dyn Store>) {
    store
        .add_endpoint(endpoint_row("ep_narrow", 2))
        .await
        .unwrap();
    store
        .add_endpoint(endpoint_row("ep_wide", 100))
        .await
        .unwrap();
    for n in 0..5 {
        enqueue_raw(
            &store,
            &format!("e{n}"),
            &["ep_narrow", "ep_wide"],
            1_000 + n,
        )
        .await;
    }
    enqueue_raw(&store, "later", &["ep_wide"], 50_000).await;
    let lease = |until| Lease { token: 7, until };

    let claims = store.claim(2_000, lease(10_000), 100).await.unwrap();
    let narrow = claims
        .iter()
        .filter(|c| c.endpoint.id == "ep_narrow")
        .count();
    let wide = claims.iter().filter(|c| c.endpoint.id == "ep_wide").count();
    assert_eq!(
        (narrow, wide),
        (2, 5),
        "the cap holds one endpoint, not the other"
    );
    assert!(
        claims.iter().all(|c| c.delivery.id != "msg_later_0"),
        "not due yet"
    );
    let first = claims
        .iter()
        .find(|c| c.endpoint.id == "ep_narrow")
        .unwrap();
    assert_eq!(first.delivery.id, "msg_e0_0", "oldest due first");
    assert_eq!(first.event.payload, &b"{}"[..]);
    assert_eq!(first.delivery.attempts, 0);

    // Leased ones are not claimed again, and still count against the cap.
    assert!(
        store
            .claim(3_000, lease(10_000), 100)
            .await
            .unwrap()
            .is_empty()
    );
    // When the leases end, they come back (a killed worker's deliveries).
    let again = store
        .claim(
            10_001,
            Lease {
                token: 8,
                until: 20_000,
            },
            100,
        )
        .await
        .unwrap();
    let narrow: Vec<String> = again
        .iter()
        .filter(|c| c.endpoint.id == "ep_narrow")
        .map(|c| c.delivery.id.clone())
        .collect();
    assert_eq!(
        narrow,
        ["msg_e0_0", "msg_e1_0"],
        "the narrow endpoint's cap again"
    );
    assert_eq!(again.len(), 7);

    // Released ones are claimable at once.
    let ids = narrow;
    store
        .release(
            &ids,
            Lease {
                token: 8,
                until: 20_000,
            },
        )
        .await
        .unwrap();
    let released = store
        .claim(
            10_002,
            Lease {
                token: 9,
                until: 20_000,
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    // Disabled endpoints' deliveries are not claimed, and not pending for `run_until_idle`.
    store
        .set_enabled("ep_narrow", false, Some("test"))
        .await
        .unwrap();
    assert!(
        store
            .claim(30_000, lease(40_000), 100)
            .await
            .unwrap()
            .iter()
            .all(|c| c.endpoint.id == "ep_wide")
    );
    let pending = store.pending().await.unwrap();
    assert_eq!(pending.count, 6, "ep_wide's five and the later one");
}

async fn a_lost_lease_does_not_overwrite_the_new_holder(store: Arc<dyn Store>) {
    store.add_endpoint(endpoint_row("ep_a", 10)).await.unwrap();
    let ids = enqueue_raw(&store, "x", &["ep_a"], 1_000).await;
    let old = Lease {
        token: 1,
        until: 2_000,
    };
    let new = Lease {
        token: 2,
        until: 9_000,
    };
    assert_eq!(store.claim(1_000, old, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.claim(2_001, new, 10).await.unwrap().len(),
        1,
        "the old lease ended"
    );
    let attempt = |number, status| AttemptRow {
        delivery_id: ids[0].clone(),
        number,
        started_at: 2_500,
        duration_ms: 5,
        status: Some(status),
        error: None,
        response_body: Vec::new(),
    };
    // The old holder finishes late with a failure: logged, but it does not decide.
    store
        .complete(vec![Completion {
            lease: old,
            endpoint_id: "ep_a".into(),
            attempt: attempt(1, 500),
            succeeded: false,
            next: Next::Failed,
        }])
        .await
        .unwrap();
    let (row, attempts) = store.delivery(&ids[0]).await.unwrap().unwrap();
    assert_eq!(row.status, DeliveryStatus::Pending);
    assert_eq!(attempts.len(), 1);
    let health = store
        .complete(vec![Completion {
            lease: new,
            endpoint_id: "ep_a".into(),
            attempt: attempt(1, 200),
            succeeded: true,
            next: Next::Succeeded,
        }])
        .await
        .unwrap();
    assert!(
        health.is_empty(),
        "a success does not grow a run of failures"
    );
    let (row, attempts) = store.delivery(&ids[0]).await.unwrap().unwrap();
    assert_eq!(row.status, DeliveryStatus::Succeeded);
    assert_eq!(row.last_status, Some(200));
    assert_eq!(attempts.len(), 2);
    assert_eq!(store.pending().await.unwrap().count, 0);
    let endpoint = store.endpoint("ep_a").await.unwrap().unwrap();
    assert_eq!((endpoint.failures, endpoint.failing_since), (0, None));
}

async fn complete_and_claim_records_then_claims_the_room_it_freed(store: Arc<dyn Store>) {
    store.add_endpoint(endpoint_row("ep_a", 2)).await.unwrap();
    for n in 0..4 {
        enqueue_raw(&store, &format!("r{n}"), &["ep_a"], 1_000 + n).await;
    }
    let lease = Lease {
        token: 5,
        until: 90_000,
    };
    let first = store.claim(2_000, lease, 10).await.unwrap();
    assert_eq!(first.len(), 2, "the endpoint's cap");
    let done = |claim: &Claim| Completion {
        lease,
        endpoint_id: "ep_a".into(),
        attempt: AttemptRow {
            delivery_id: claim.delivery.id.clone(),
            number: 1,
            started_at: 1_100,
            duration_ms: 3,
            status: Some(204),
            error: None,
            response_body: Vec::new(),
        },
        succeeded: true,
        next: Next::Succeeded,
    };
    // Recording only (limit 0) claims nothing, even with room.
    let (_, none) = store
        .complete_and_claim(vec![done(&first[0])], 2_000, lease, 0)
        .await
        .unwrap();
    assert!(none.is_empty());
    // Recording the other frees its place, and the same call takes it, and the one before.
    let (health, next) = store
        .complete_and_claim(vec![done(&first[1])], 2_000, lease, 10)
        .await
        .unwrap();
    assert!(health.is_empty());
    let next: Vec<&str> = next
        .iter()
        .map(|claim| claim.delivery.id.as_str())
        .collect();
    assert_eq!(
        next,
        ["msg_r2_0", "msg_r3_0"],
        "oldest first, up to the cap"
    );
    for claim in &first {
        let (row, attempts) = store.delivery(&claim.delivery.id).await.unwrap().unwrap();
        assert_eq!(row.status, DeliveryStatus::Succeeded);
        assert_eq!(attempts.len(), 1, "recorded once");
    }
}

async fn graceful_shutdown_finishes_what_is_in_flight(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    receiver.delay(Duration::from_millis(400));
    let dispatcher = dispatcher(&store);
    add(&dispatcher, &receiver).await;
    let ids = [one(&dispatcher, "a").await, one(&dispatcher, "b").await];
    let worker = dispatcher.worker().spawn();
    wait_for(|| async { !receiver.seen().is_empty() }).await;
    let summary = worker.shutdown().await.unwrap();
    assert_eq!(summary.succeeded, 2, "{summary}");
    for id in &ids {
        let log = dispatcher.delivery(id).await.unwrap().unwrap();
        assert_eq!(log.delivery.status, DeliveryStatus::Succeeded);
    }
}

async fn a_result_is_recorded_without_waiting_for_slow_attempts(store: Arc<dyn Store>) {
    // With more claims queued than sending tasks, results are recorded in batches; a lone
    // result still goes in soon, not with the next result of a slow endpoint.
    let fast = Receiver::start("standard-webhooks", WHSEC).await;
    let slow = Receiver::start("standard-webhooks", WHSEC).await;
    slow.delay(Duration::from_millis(1500));
    let dispatcher = dispatcher(&store);
    for (receiver, events) in [(&fast, "fast.*"), (&slow, "slow.*")] {
        dispatcher
            .add_endpoint(
                NewEndpoint::new(receiver.url(), "standard-webhooks", WHSEC)
                    .events([events])
                    .max_in_flight(8),
            )
            .await
            .unwrap();
    }
    let quick = one(&dispatcher, "fast.one").await;
    let mut slow_ids = Vec::new();
    for n in 0..6 {
        slow_ids.push(one(&dispatcher, &format!("slow.{n}")).await);
    }
    // Two sending tasks: one attempt to the fast endpoint, then both on slow attempts. The
    // worker claims all seven (four claims per task; the slow endpoint's cap is 8), so with
    // six outstanding, at least twice the tasks, it would wait for a second result.
    let worker = dispatcher.worker().concurrency(2).spawn();
    wait_for(|| async {
        let log = dispatcher.delivery(&quick).await.unwrap().unwrap();
        log.delivery.status == DeliveryStatus::Succeeded
    })
    .await;
    for id in &slow_ids {
        let log = dispatcher.delivery(id).await.unwrap().unwrap();
        assert!(
            log.attempts.is_empty(),
            "recorded before any slow attempt ended"
        );
    }
    worker.shutdown().await.unwrap();
}

async fn shutdown_under_load_gives_back_what_it_did_not_start(store: Arc<dyn Store>) {
    const EVENTS: usize = 1_500;
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    let dispatcher = dispatcher(&store);
    dispatcher
        .add_endpoint(
            NewEndpoint::new(receiver.url(), "standard-webhooks", WHSEC).max_in_flight(10_000),
        )
        .await
        .unwrap();
    for n in 0..EVENTS {
        one(&dispatcher, &format!("load.{n}")).await;
    }
    // A fast receiver keeps the worker busy from one turn to the next: the stop must be
    // heard between turns, not only when it waits.
    let worker = dispatcher.worker().concurrency(8).spawn();
    wait_for(|| async { receiver.seen().len() >= 50 }).await;
    let summary = tokio::time::timeout(Duration::from_secs(30), worker.shutdown())
        .await
        .expect("the worker stopped while it still had work")
        .unwrap();
    let sent = receiver.ids();
    assert!(sent.len() < EVENTS, "stopped before the end");
    assert_eq!(summary.attempts as usize, sent.len(), "{summary}");
    assert_eq!(summary.succeeded as usize, sent.len(), "{summary}");
    // What it claimed but did not start was given back: due now, not at its lease's end.
    let left = store.pending().await.unwrap();
    assert_eq!(left.count as usize, EVENTS - sent.len());
    let claimable = claim_elsewhere(&store, 10_000).await;
    assert_eq!(claimable.len(), EVENTS - sent.len(), "none still leased");
    // The rest go out once each after the short lease above ends.
    drain(&dispatcher).await;
    let mut all = receiver.ids();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), EVENTS);
    assert_eq!(receiver.ids().len(), EVENTS, "none sent twice");
}

async fn a_stop_gives_back_queued_claims_without_waiting_for_a_slot(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    // Within the attempt timeout (2 s), and long enough to look while it runs.
    receiver.delay(Duration::from_millis(1_500));
    let dispatcher = dispatcher(&store);
    add(&dispatcher, &receiver).await;
    for n in 0..4 {
        one(&dispatcher, &format!("slow.{n}")).await;
    }
    // One slot, four claims: one attempt waits on the slow receiver, three wait for the slot.
    let worker = dispatcher.worker().concurrency(1).spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = tokio::spawn(worker.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Given back while the attempt in flight still waits for its answer.
    let claimable = claim_elsewhere(&store, 10).await;
    assert_eq!(claimable.len(), 3, "the queued claims are free at once");
    assert!(
        !stopped.is_finished(),
        "the attempt in flight is still running"
    );
    let summary = stopped.await.unwrap().unwrap();
    assert_eq!((summary.attempts, summary.succeeded), (1, 1), "{summary}");
    receiver.delay(Duration::ZERO);
    drain(&dispatcher).await;
    let mut sent = receiver.ids();
    sent.sort();
    sent.dedup();
    assert_eq!((sent.len(), receiver.ids().len()), (4, 4), "each sent once");
}

async fn a_dropped_handle_leaves_the_worker_running(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    let dispatcher = dispatcher(&store);
    add(&dispatcher, &receiver).await;
    drop(
        dispatcher
            .worker()
            .poll_interval(Duration::from_millis(20))
            .spawn(),
    );
    let id = one(&dispatcher, "order.paid").await;
    wait_for(|| async { receiver.ids() == [id.clone()] }).await;
}

/// Standard Webhooks under another name, whose first signature panics: code of the user's
/// own that runs inside an attempt.
struct PanicsOnce(Arc<std::sync::atomic::AtomicBool>);

impl Scheme for PanicsOnce {
    fn name(&self) -> &str {
        "panics-once"
    }
    fn signed_content(&self) -> &[Part] {
        StandardWebhooks.signed_content()
    }
    fn parse<'h>(&self, headers: &'h http::HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        StandardWebhooks.parse(headers)
    }
    fn write_headers(
        &self,
        headers: &mut http::HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        assert!(
            self.0.swap(true, Ordering::SeqCst),
            "the first signature panics"
        );
        StandardWebhooks.write_headers(headers, message, signature)
    }
    fn key(&self, secret: &Secret) -> Result<zeroize::Zeroizing<Vec<u8>>, InvalidSecret> {
        StandardWebhooks.key(secret)
    }
    fn id_header(&self) -> Option<&http::HeaderName> {
        StandardWebhooks.id_header()
    }
}

async fn a_panicking_attempt_is_given_back_and_sending_goes_on(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    let panicked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dispatcher = quick(&store, &StorageKey::generate().unwrap())
        .scheme("panics-once", PanicsOnce(Arc::clone(&panicked)))
        .build();
    dispatcher
        .add_endpoint(NewEndpoint::new(receiver.url(), "panics-once", WHSEC))
        .await
        .unwrap();
    add(&dispatcher, &receiver).await;
    let dispatched = dispatcher
        .dispatch(Event::new("order.paid", "{}"))
        .await
        .unwrap();
    // One sending task: it dies with the first attempt, and only a new one can send the rest.
    let summary = drain_with(dispatcher.worker().concurrency(1)).await;
    assert!(panicked.load(Ordering::SeqCst), "the scheme panicked");
    // The panicked attempt was never made: given back, claimed again, sent once.
    assert_eq!((summary.attempts, summary.succeeded), (2, 2), "{summary}");
    let mut sent = receiver.ids();
    sent.sort();
    let mut ids = dispatched.delivery_ids;
    ids.sort();
    assert_eq!(sent, ids);
}

async fn stats_count_and_measure(store: Arc<dyn Store>) {
    let ok = Receiver::start("standard-webhooks", WHSEC).await;
    let bad = Receiver::start("standard-webhooks", WHSEC).await;
    bad.answer_always(404);
    let dispatcher = dispatcher(&store);
    let ok_id = add(&dispatcher, &ok).await;
    add(&dispatcher, &bad).await;
    ok.answer_first(&[500]);
    for _ in 0..3 {
        dispatcher
            .dispatch(Event::new("order.paid", "{}"))
            .await
            .unwrap();
    }
    drain(&dispatcher).await;
    let stats = dispatcher.stats(None).await.unwrap();
    assert_eq!((stats.succeeded, stats.failed, stats.pending), (3, 3, 0));
    assert_eq!(stats.attempts, 7, "one retry");
    assert_eq!(stats.success_rate, Some(0.5));
    assert_eq!(stats.attempts_per_delivery, Some(7.0 / 6.0));
    let latency = stats.latency.unwrap();
    assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max);
    let mine = dispatcher.stats(Some(&ok_id)).await.unwrap();
    assert_eq!((mine.succeeded, mine.failed, mine.attempts), (3, 0, 4));
}

async fn bad_input_is_refused_with_a_reason(store: Arc<dyn Store>) {
    let dispatcher = dispatcher(&store);
    let add = |endpoint| dispatcher.add_endpoint(endpoint);
    assert!(matches!(
        add(NewEndpoint::new("ftp://example.com/", "github", "s")).await,
        Err(DispatchError::InvalidUrl { .. })
    ));
    assert!(matches!(
        add(NewEndpoint::new("not a url", "github", "s")).await,
        Err(DispatchError::InvalidUrl { .. })
    ));
    assert!(matches!(
        add(NewEndpoint::new("http://127.0.0.1/", "nope", "s")).await,
        Err(DispatchError::UnknownScheme(_))
    ));
    let error = add(NewEndpoint::new(
        "http://127.0.0.1/",
        "standard-webhooks",
        "not base64 !",
    ))
    .await;
    let Err(DispatchError::InvalidSecret { index: 0, .. }) = &error else {
        panic!("{error:?}")
    };
    assert!(!error.unwrap_err().to_string().contains("not base64 !"));
    assert!(matches!(
        add(NewEndpoint::new("http://127.0.0.1/", "github", "s").events(["order..x"])).await,
        Err(DispatchError::Pattern(_))
    ));
    assert!(matches!(
        dispatcher.dispatch(Event::new("", "{}")).await,
        Err(DispatchError::InvalidEventType(_))
    ));
    assert!(matches!(
        dispatcher.dispatch(Event::new("bad\ntype", "{}")).await,
        Err(DispatchError::InvalidEventType(_))
    ));
    assert!(
        store.endpoints().await.unwrap().is_empty(),
        "nothing half-added"
    );
    let none = dispatcher
        .dispatch(Event::new("order.paid", "{}"))
        .await
        .unwrap();
    assert!(none.delivery_ids.is_empty(), "no endpoint, no delivery");
}

/// A store that refuses its first `refusals` calls that record attempts, and is otherwise
/// `inner`: as a database that drops out for a moment.
#[derive(Debug)]
struct Refusing {
    inner: Arc<dyn Store>,
    refusals: AtomicUsize,
}

impl Store for Refusing {
    fn add_endpoint(&self, endpoint: EndpointRow) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.add_endpoint(endpoint)
    }
    fn endpoints(&self) -> BoxFuture<'_, StoreResult<Vec<EndpointRow>>> {
        self.inner.endpoints()
    }
    fn endpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<EndpointRow>>> {
        self.inner.endpoint(id)
    }
    fn set_enabled<'a>(
        &'a self,
        id: &'a str,
        enabled: bool,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.inner.set_enabled(id, enabled, reason)
    }
    fn set_secrets<'a>(
        &'a self,
        id: &'a str,
        sealed_secrets: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.inner.set_secrets(id, sealed_secrets)
    }
    fn enqueue(
        &self,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        lease: Option<Lease>,
    ) -> BoxFuture<'_, StoreResult<Enqueued>> {
        self.inner.enqueue(event, deliveries, lease)
    }
    fn claim(&self, now: i64, lease: Lease, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Claim>>> {
        self.inner.claim(now, lease, limit)
    }
    fn complete(
        &self,
        completions: Vec<Completion>,
    ) -> BoxFuture<'_, StoreResult<Vec<EndpointHealth>>> {
        self.inner.complete(completions)
    }
    fn complete_and_claim(
        &self,
        completions: Vec<Completion>,
        now: i64,
        lease: Lease,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<(Vec<EndpointHealth>, Vec<Claim>)>> {
        let refuse = !completions.is_empty()
            && self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if refuse {
            return Box::pin(async { Err(StoreError::new("record attempts", "refused")) });
        }
        self.inner
            .complete_and_claim(completions, now, lease, limit)
    }
    fn release<'a>(&'a self, ids: &'a [String], lease: Lease) -> BoxFuture<'a, StoreResult<()>> {
        self.inner.release(ids, lease)
    }
    fn delivery<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DeliveryWithAttempts>>> {
        self.inner.delivery(id)
    }
    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, StoreResult<Vec<DeliveryRow>>> {
        self.inner.deliveries(filter)
    }
    fn requeue(&self, which: Requeue, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        self.inner.requeue(which, now)
    }
    fn stats(&self, endpoint: Option<String>) -> BoxFuture<'_, StoreResult<StatsRow>> {
        self.inner.stats(endpoint)
    }
    fn pending(&self) -> BoxFuture<'_, StoreResult<Pending>> {
        self.inner.pending()
    }
    // Forwarded too, though it has a default: on Postgres the worker then keeps two calls
    // under way, and the refused batch goes back beside a call still running.
    fn concurrent_calls(&self) -> usize {
        self.inner.concurrent_calls()
    }
    fn wait_for_work(&self, timeout: Duration) -> BoxFuture<'_, ()> {
        self.inner.wait_for_work(timeout)
    }
}

async fn a_batch_the_store_refuses_is_recorded_on_a_later_call(store: Arc<dyn Store>) {
    let receiver = Receiver::start("standard-webhooks", WHSEC).await;
    let refusing: Arc<dyn Store> = Arc::new(Refusing {
        inner: Arc::clone(&store),
        refusals: AtomicUsize::new(2),
    });
    let dispatcher = dispatcher(&refusing);
    add(&dispatcher, &receiver).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(one(&dispatcher, "order.paid").await);
    }
    let summary = drain_with(dispatcher.worker().concurrency(4)).await;
    assert_eq!(summary.succeeded, 40, "{summary}");
    assert_eq!(
        summary.attempts, 40,
        "each attempt recorded once: {summary}"
    );
    let mut seen = receiver.ids();
    seen.sort();
    ids.sort();
    assert_eq!(
        seen, ids,
        "each sent once: a refused record is not a new attempt"
    );
    for id in &ids {
        let (delivery, attempts) = store.delivery(id).await.unwrap().unwrap();
        assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{id}");
        assert_eq!(attempts.len(), 1, "{id}");
    }
}

async fn add(dispatcher: &Dispatcher, receiver: &Receiver) -> String {
    dispatcher
        .add_endpoint(NewEndpoint::new(
            receiver.url(),
            &receiver.scheme,
            receiver.secret.as_str(),
        ))
        .await
        .unwrap()
        .id
}

async fn one(dispatcher: &Dispatcher, event_type: &str) -> String {
    let dispatched = dispatcher
        .dispatch(Event::new(
            event_type,
            format!(r#"{{"type":"{event_type}"}}"#),
        ))
        .await
        .unwrap();
    assert_eq!(dispatched.delivery_ids.len(), 1);
    dispatched.delivery_ids[0].clone()
}

async fn wait_for<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not met within 15 s");
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}
