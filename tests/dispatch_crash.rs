//! `webhook worker` processes under stress: one killed with SIGKILL mid-run on SQLite, and
//! two sharing one Postgres database. Real processes, real HTTP, receivers behind the crate's
//! own `VerifySignatureLayer`.
#![cfg(feature = "cli")]

// Its scripted answers are a tuple clippy finds complex; the file is shared, not ours to change.
#[allow(clippy::type_complexity)]
mod dispatch_support;

#[path = "cli_support/dispatch.rs"]
mod cli;
mod cli_support;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use cli::{Scratch, Webhook, deliveries, postgres_database, until};
use dispatch_support::Receiver;

/// Secrets of schemes whose deliveries carry their id (`webhook-id`, `X-GitHub-Delivery`).
const RECEIVERS: [(&str, &str); 3] = [
    (
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("github", "crash-test-github-secret"),
    (
        "standard-webhooks",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    ),
];

/// An events file of `count` events `n.<i>` with payload `{"n":<i>}`.
fn events_file(dir: &Scratch, count: usize) -> String {
    let lines: String = (0..count)
        .map(|n| format!("{{\"event\":\"n.{n}\",\"payload\":{{\"n\":{n}}}}}\n"))
        .collect();
    dir.write("events.jsonl", &lines)
        .to_str()
        .unwrap()
        .to_owned()
}

/// The event number a verified body carries.
fn number(body: &[u8]) -> usize {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["n"].as_u64().unwrap() as usize
}

const EVENTS: usize = 300;
const CONCURRENCY: usize = 16;

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_run_loses_nothing_and_repeats_only_what_was_in_flight() {
    let dir = Scratch::new("crash");
    let db = dir.path("d.db");
    let db = db.to_str().unwrap();
    let webhook = Webhook::new();
    let mut receivers = HashMap::new();
    for (scheme, secret) in RECEIVERS {
        let receiver = Receiver::start(scheme, secret).await;
        // Slow enough that many attempts are in flight when the worker dies.
        receiver.delay(Duration::from_millis(100));
        let id = webhook
            .ok(&[
                "endpoints",
                "add",
                "--db",
                db,
                "--url",
                &receiver.url(),
                "--scheme",
                scheme,
                "--secret",
                secret,
            ])
            .await
            .trim()
            .to_owned();
        receivers.insert(id, receiver);
    }
    let total = EVENTS * receivers.len();
    // A short lease, so that the restarted worker takes over the dead one's claims soon; the
    // attempt timeout below it.
    let tuning = [
        "--lease",
        "2s",
        "--attempt-timeout",
        "1500ms",
        "--poll-interval",
        "50ms",
        "--concurrency",
    ];
    let concurrency = CONCURRENCY.to_string();
    let mut args = vec!["worker", "--db", db];
    args.extend(tuning);
    args.push(&concurrency);
    let worker = webhook.spawn(&args);
    let file = events_file(&dir, EVENTS);
    let queued = webhook.ok(&["dispatch", "--db", db, "--file", &file]).await;
    assert_eq!(
        queued.trim(),
        format!("queued {total} deliveries for {EVENTS} events (0 duplicates)")
    );

    let received = || receivers.values().map(|r| r.seen().len()).sum::<usize>();
    until(Duration::from_secs(60), "a third delivered", || {
        received() >= total / 3
    })
    .await;
    worker.signal("KILL");
    let at_kill = received();
    let ended = worker.wait(Duration::from_secs(10)).await;
    assert!(!ended.status.success(), "killed: {ended:?}");
    assert!(
        at_kill < total,
        "killed mid-run ({at_kill} of {total} received)"
    );

    // What was not recorded when it died: the only deliveries that may be sent twice.
    let unrecorded: BTreeSet<String> = deliveries(&webhook, db)
        .await
        .into_iter()
        .filter(|(_, d)| d.status == "pending")
        .map(|(id, _)| id)
        .collect();
    assert!(!unrecorded.is_empty());

    let mut args = vec!["worker", "--db", db, "--until-idle"];
    args.extend(tuning);
    args.push(&concurrency);
    let ended = webhook.spawn(&args).wait(Duration::from_secs(120)).await;
    assert!(ended.status.success(), "{ended:?}");

    let listed = deliveries(&webhook, db).await;
    assert_eq!(listed.len(), total);
    let mut by_pair = HashMap::new();
    for (id, delivery) in &listed {
        assert_eq!(delivery.status, "succeeded", "{id}: {delivery:?}");
        let n: usize = delivery.event_type["n.".len()..].parse().unwrap();
        by_pair.insert((delivery.endpoint.clone(), n), id.clone());
    }
    let mut duplicates = Vec::new();
    for (endpoint, receiver) in &receivers {
        let mut ids_by_event: HashMap<usize, Vec<String>> = HashMap::new();
        for seen in receiver.seen() {
            let id = seen.id.expect("the scheme sends the delivery id");
            ids_by_event.entry(number(&seen.body)).or_default().push(id);
        }
        for n in 0..EVENTS {
            let ids = ids_by_event
                .get(&n)
                .unwrap_or_else(|| panic!("event {n} never reached {endpoint}"));
            let expected = &by_pair[&(endpoint.clone(), n)];
            assert!(
                ids.iter().all(|id| id == expected),
                "event {n} at {endpoint}: {ids:?}, the delivery is {expected}"
            );
            if ids.len() > 1 {
                duplicates.extend(std::iter::repeat_n(expected.clone(), ids.len() - 1));
            }
        }
    }
    // A repeat is an attempt that reached the receiver but was not recorded: in flight at
    // the kill. Workers claim up to four times their concurrency ahead of sending, and an
    // attempt holds its claim until recorded, so that is the bound.
    for id in &duplicates {
        assert!(unrecorded.contains(id), "{id} was recorded, yet sent again");
    }
    assert!(
        duplicates.len() <= 4 * CONCURRENCY,
        "{} repeats: {duplicates:?}",
        duplicates.len()
    );
    eprintln!(
        "killed after {at_kill} of {total} received; {} unrecorded then; {} sent twice",
        unrecorded.len(),
        duplicates.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_on_one_postgres_deliver_ten_thousand_exactly_once() {
    let Some(db) = postgres_database("two_workers_on_one_postgres").await else {
        return;
    };
    let key = "5e".repeat(32);
    let webhook = Webhook::new().env("WEBHOOK_STORAGE_KEY", &key);
    let secret = RECEIVERS[0].1;
    let mut receivers = HashMap::new();
    for _ in 0..4 {
        let receiver = Receiver::start("standard-webhooks", secret).await;
        let id = webhook
            .ok(&[
                "endpoints",
                "add",
                "--db",
                &db,
                "--url",
                &receiver.url(),
                "--scheme",
                "standard-webhooks",
                "--secret",
                secret,
                "--max-in-flight",
                "64",
            ])
            .await
            .trim()
            .to_owned();
        receivers.insert(id, receiver);
    }
    let dir = Scratch::new("postgres");
    let file = events_file(&dir, 2_500);
    let queued = webhook
        .ok(&["dispatch", "--db", &db, "--file", &file])
        .await;
    assert_eq!(
        queued.trim(),
        "queued 10000 deliveries for 2500 events (0 duplicates)"
    );

    let args = [
        "worker",
        "--db",
        &db,
        "--until-idle",
        "--concurrency",
        "32",
        "--poll-interval",
        "100ms",
    ];
    let first = webhook.spawn(&args);
    let second = webhook.spawn(&args);
    let first = first.wait(Duration::from_secs(300)).await;
    let second = second.wait(Duration::from_secs(300)).await;
    for ended in [&first, &second] {
        assert!(ended.status.success(), "{ended:?}");
        let summary = ended
            .stdout
            .iter()
            .rev()
            .find(|l| l.starts_with("worker done"));
        eprintln!("{}", summary.map_or("(no summary)", String::as_str));
    }

    let listed = deliveries(&webhook, &db).await;
    assert_eq!(listed.len(), 10_000);
    assert!(
        listed
            .values()
            .all(|d| d.status == "succeeded" && d.attempts == 1)
    );
    let mut received = BTreeSet::new();
    for (endpoint, receiver) in &receivers {
        for id in receiver.ids() {
            assert_eq!(listed[&id].endpoint, *endpoint, "{id} went to its endpoint");
            assert!(received.insert(id.clone()), "{id} was delivered twice");
        }
    }
    let expected: BTreeSet<String> = listed.keys().cloned().collect();
    assert_eq!(received, expected, "none lost");

    // Claims and records of two workers take rows in one order: none waited for deadlock
    // detection (a second's stall each time) to break a cycle.
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(&db).await.unwrap();
    let deadlocks: i64 = sqlx::query_scalar(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(deadlocks, 0, "deadlocks between the two workers");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_postgres_commands_work_as_on_sqlite() {
    let Some(db) = postgres_database("the_postgres_commands_work_as_on_sqlite").await else {
        return;
    };
    let webhook = Webhook::new().env("WEBHOOK_STORAGE_KEY", &"7a".repeat(32));
    let (scheme, secret) = RECEIVERS[1];
    let receiver = Receiver::start(scheme, secret).await;
    let endpoint = webhook
        .ok(&[
            "endpoints",
            "add",
            "--db",
            &db,
            "--url",
            &receiver.url(),
            "--scheme",
            scheme,
            "--secret",
            secret,
            "--events",
            "n.*",
        ])
        .await;
    let endpoint = endpoint.trim();
    let listed = webhook
        .ok(&["endpoints", "list", "--db", &db, "--json"])
        .await;
    assert!(!listed.contains(secret), "{listed}");
    assert!(listed.contains(endpoint));
    let dir = Scratch::new("postgres-commands");
    let file = events_file(&dir, 5);
    webhook
        .ok(&["dispatch", "--db", &db, "--file", &file])
        .await;
    let again = webhook
        .ok(&[
            "dispatch",
            "--db",
            &db,
            "--event",
            "n.9",
            "--payload",
            "{}",
            "--id",
            "k",
        ])
        .await;
    assert!(again.starts_with("queued 1 delivery"), "{again}");
    let again = webhook
        .ok(&[
            "dispatch",
            "--db",
            &db,
            "--event",
            "n.9",
            "--payload",
            "{}",
            "--id",
            "k",
        ])
        .await;
    assert!(again.starts_with("queued 0 deliveries"), "{again}");
    webhook
        .ok(&[
            "worker",
            "--db",
            &db,
            "--until-idle",
            "--poll-interval",
            "50ms",
        ])
        .await;
    let listed = deliveries(&webhook, &db).await;
    assert_eq!(listed.len(), 6);
    assert!(listed.values().all(|d| d.status == "succeeded"));
    let one = listed.keys().next().unwrap();
    webhook.ok(&["resend", "--db", &db, one]).await;
    webhook
        .ok(&[
            "worker",
            "--db",
            &db,
            "--until-idle",
            "--poll-interval",
            "50ms",
        ])
        .await;
    assert_eq!(receiver.ids().iter().filter(|id| *id == one).count(), 2);
}
