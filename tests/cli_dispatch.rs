//! The `webhook` program's sending system, run as a user would: `endpoints`, `dispatch`,
//! `worker`, `deliveries` and `resend` against a SQLite file, delivering over real HTTP to
//! receivers behind the crate's own `VerifySignatureLayer`.
#![cfg(feature = "cli")]

// Its scripted answers are a tuple clippy finds complex; the file is shared, not ours to change.
#[allow(clippy::type_complexity)]
mod cli_support;
mod dispatch_support;

#[path = "cli_support/dispatch.rs"]
mod cli;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use cli::{Scratch, Webhook, deliveries, file_contains, text, until};
use dispatch_support::Receiver;
use serde_json::Value;

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_SECOND: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const GITHUB_SECRET: &str = "github-secret-Quiet-Harbour-8841";
const STRIPE_SECRET: &str = "whsec_stripe-Blue-Lantern-3317";
const SLACK_SECRET: &str = "slack-secret-Amber-Orchard-5521";

/// Adds an endpoint; returns its id (the only thing on stdout).
async fn add(
    webhook: &Webhook,
    db: &str,
    url: &str,
    scheme: &str,
    secret: &str,
    events: &[&str],
) -> String {
    let mut args = vec![
        "endpoints",
        "add",
        "--db",
        db,
        "--url",
        url,
        "--scheme",
        scheme,
        "--secret",
        secret,
    ];
    for pattern in events {
        args.extend(["--events", pattern]);
    }
    let out = webhook.ok(&args).await;
    let id = out.trim().to_owned();
    assert!(
        id.starts_with("ep_") && !id.contains(char::is_whitespace),
        "{out:?}"
    );
    id
}

/// Runs `webhook worker --until-idle` with quick retries; returns its stdout.
async fn drain(webhook: &Webhook, db: &str) -> String {
    webhook
        .ok(&[
            "worker",
            "--db",
            db,
            "--until-idle",
            "--retry-schedule",
            "100ms,200ms",
            "--attempt-timeout",
            "5s",
            "--poll-interval",
            "50ms",
        ])
        .await
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_round_trip_and_no_secret_is_kept_in_plain_text() {
    let dir = Scratch::new("endpoints");
    let db_path = dir.path("hooks.db");
    let db = db_path.to_str().unwrap();
    let webhook = Webhook::new();
    let mut printed = String::new();

    // The first command makes the database and its key file, and says so.
    let output = webhook
        .run(&[
            "endpoints",
            "add",
            "--db",
            db,
            "--url",
            "http://127.0.0.1:9/orders",
            "--scheme",
            "standard-webhooks",
            "--secret",
            STANDARD_SECRET,
            "--secret",
            STANDARD_SECOND,
            "--events",
            "order.*",
            "--events",
            "refund.created",
            "--name",
            "shop",
            "--max-in-flight",
            "3",
        ])
        .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let key_path = format!("{db}.key");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "created storage key {key_path} (mode 0600): keep it; it is not in the database"
        )),
        "{stderr}"
    );
    let shop = text(&output.stdout).trim().to_owned();
    assert!(shop.starts_with("ep_"), "{shop}");
    assert_eq!(
        text(&output.stdout),
        format!("{shop}\n"),
        "only the id on stdout"
    );
    printed.push_str(&text(&output.stdout));
    printed.push_str(&stderr);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(key.trim().len(), 64, "64 hex digits");

    // The next uses it, silently.
    let output = webhook
        .run(&[
            "endpoints",
            "add",
            "--db",
            db,
            "--url",
            "http://127.0.0.1:9/git",
            "--scheme",
            "github",
            "--secret",
            GITHUB_SECRET,
        ])
        .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        !text(&output.stderr).contains("created"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key);
    let git = text(&output.stdout).trim().to_owned();
    printed.push_str(&text(&output.stdout));
    printed.push_str(&text(&output.stderr));

    let listed = webhook
        .ok(&["endpoints", "list", "--db", db, "--json"])
        .await;
    printed.push_str(&listed);
    let listed = json(&listed);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], shop.as_str());
    assert_eq!(listed[0]["scheme"], "standard-webhooks");
    assert_eq!(
        listed[0]["events"],
        serde_json::json!(["order.*", "refund.created"])
    );
    assert_eq!(listed[0]["name"], "shop");
    assert_eq!(listed[0]["max_in_flight"], 3);
    assert_eq!(listed[0]["enabled"], true);
    assert_eq!(listed[1]["id"], git.as_str());
    assert_eq!(listed[1]["events"], serde_json::json!(["*"]));

    let table = webhook.ok(&["endpoints", "list", "--db", db]).await;
    printed.push_str(&table);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID", "ENABLED", "SCHEME", "EVENTS", "URL", "NAME", "FAILURES"
        ]
    );
    assert!(table.contains(&shop) && table.contains(&git), "{table}");

    // Disable, enable; unknown ids are an input error.
    printed.push_str(
        &webhook
            .ok(&["endpoints", "disable", "--db", db, &shop])
            .await,
    );
    let listed = json(
        &webhook
            .ok(&["endpoints", "list", "--db", db, "--json"])
            .await,
    );
    assert_eq!(listed[0]["enabled"], false);
    assert_eq!(listed[1]["enabled"], true);
    printed.push_str(
        &webhook
            .ok(&["endpoints", "enable", "--db", db, &shop])
            .await,
    );
    let listed = json(
        &webhook
            .ok(&["endpoints", "list", "--db", db, "--json"])
            .await,
    );
    assert_eq!(listed[0]["enabled"], true);
    let output = webhook
        .run(&["endpoints", "enable", "--db", db, "ep_nobody"])
        .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no endpoint ep_nobody"),
        "{}",
        text(&output.stderr)
    );

    // No secret in anything printed, nor in the database's bytes (the file, its WAL, its
    // shared memory), while the endpoints' plain fields are there to be found.
    let files = [db.to_owned(), format!("{db}-wal"), format!("{db}-shm")];
    assert!(
        files
            .iter()
            .any(|f| file_contains(f.as_ref(), b"http://127.0.0.1:9/orders")),
        "the search reads the database"
    );
    for secret in [STANDARD_SECRET, STANDARD_SECOND, GITHUB_SECRET] {
        assert!(!printed.contains(secret), "{secret} printed");
        let core = &secret[secret.len() - 16..];
        for file in &files {
            assert!(
                !file_contains(file.as_ref(), secret.as_bytes()),
                "{secret} in {file}"
            );
            assert!(
                !file_contains(file.as_ref(), core.as_bytes()),
                "{core} in {file}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_comes_from_a_key_file_or_the_environment() {
    let dir = Scratch::new("keys");
    let webhook = Webhook::new();

    // --key-file: made once (mode 0600, said on stderr), then read; no <db>.key.
    let db = dir.path("a.db");
    let db = db.to_str().unwrap();
    let key_file = dir.path("storage.key");
    let key_file = key_file.to_str().unwrap();
    let args = |url: &'static str| {
        vec![
            "endpoints",
            "add",
            "--db",
            db,
            "--key-file",
            key_file,
            "--url",
            url,
            "--scheme",
            "github",
            "--secret",
            GITHUB_SECRET,
        ]
    };
    let output = webhook.run(&args("http://127.0.0.1:9/a")).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains(&format!("created storage key {key_file} (mode 0600)")),
        "{}",
        text(&output.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let key = std::fs::read_to_string(key_file).unwrap();
    let output = webhook.run(&args("http://127.0.0.1:9/b")).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!text(&output.stderr).contains("created"));
    assert_eq!(std::fs::read_to_string(key_file).unwrap(), key);
    assert!(!std::path::Path::new(&format!("{db}.key")).exists());

    // WEBHOOK_STORAGE_KEY: no key file at all.
    let db = dir.path("b.db");
    let db = db.to_str().unwrap();
    let with_key = Webhook::new().env("WEBHOOK_STORAGE_KEY", &"ab".repeat(32));
    add(
        &with_key,
        db,
        "http://127.0.0.1:9/c",
        "github",
        GITHUB_SECRET,
        &[],
    )
    .await;
    assert!(!std::path::Path::new(&format!("{db}.key")).exists());

    // A key that is not one, and Postgres without a key: input errors, said in one line.
    let bad = Webhook::new().env("WEBHOOK_STORAGE_KEY", "not-a-key");
    let output = bad.run(&["endpoints", "list", "--db", db]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("WEBHOOK_STORAGE_KEY"),
        "{}",
        text(&output.stderr)
    );
    let output = webhook
        .run(&[
            "endpoints",
            "list",
            "--db",
            "postgres://user:hunter2@127.0.0.1:1/hooks",
        ])
        .await;
    assert_eq!(output.status.code(), Some(2));
    let message = text(&output.stderr);
    assert!(message.contains("--key-file"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password is not shown: {message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_exit_status_2() {
    let dir = Scratch::new("input");
    let db = dir.path("d.db");
    let db = db.to_str().unwrap();
    let webhook = Webhook::new();

    // Commands other than `endpoints add` do not make a database from a typo.
    for args in [
        vec!["worker", "--db", db, "--until-idle"],
        vec!["deliveries", "--db", db],
        vec!["dispatch", "--db", db, "--event", "a", "--payload", "{}"],
    ] {
        let output = webhook.run(&args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains("no database at"),
            "{}",
            text(&output.stderr)
        );
    }
    assert!(!dir.path("d.db").exists());

    let bad_secret = "whsec_not base64 at all!";
    for (args, expected) in [
        (
            vec!["--url", "ftp://x/y", "--scheme", "github", "--secret", "s"],
            "ftp://x/y",
        ),
        (
            vec![
                "--url",
                "http://x/y",
                "--scheme",
                "nonesuch",
                "--secret",
                "s",
            ],
            "nonesuch",
        ),
        (
            vec![
                "--url",
                "http://x/y",
                "--scheme",
                "standard-webhooks",
                "--secret",
                bad_secret,
            ],
            "secret #0",
        ),
        (
            vec![
                "--url",
                "http://x/y",
                "--scheme",
                "github",
                "--secret",
                "s",
                "--events",
                "a..b",
            ],
            "a..b",
        ),
    ] {
        let mut full = vec!["endpoints", "add", "--db", db];
        full.extend(&args);
        let output = webhook.run(&full).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        let message = text(&output.stderr);
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains(bad_secret), "{message}");
        assert!(!message.contains("panicked"), "{message}");
    }

    add(
        &webhook,
        db,
        "http://127.0.0.1:9/x",
        "github",
        GITHUB_SECRET,
        &[],
    )
    .await;
    for (args, expected) in [
        (
            vec!["--event", "a", "--payload", "{not json"],
            "--payload is not valid JSON",
        ),
        (vec!["--event", "", "--payload", "{}"], "empty"),
        (
            vec!["--event", "a", "--payload-file", "/nonexistent/p.json"],
            "cannot read",
        ),
        (vec!["--event", "a"], "--payload"),
        (vec!["--payload", "{}"], "--event"),
    ] {
        let mut full = vec!["dispatch", "--db", db];
        full.extend(&args);
        let output = webhook.run(&full).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains(expected),
            "{}",
            text(&output.stderr)
        );
    }
    for args in [
        vec!["worker", "--db", db, "--retry-schedule", "1s,soon"],
        vec![
            "worker",
            "--db",
            db,
            "--lease",
            "1s",
            "--attempt-timeout",
            "2s",
        ],
        vec!["deliveries", "--db", db, "--status", "lost"],
        vec!["deliveries", "--db", db, "msg_nonesuch"],
        vec!["resend", "--db", db, "msg_nonesuch"],
        vec!["resend", "--db", db, "--endpoint", "ep_x"],
        vec![
            "resend",
            "--db",
            db,
            "--endpoint",
            "ep_x",
            "--failed-since",
            "last tuesday",
        ],
    ] {
        let output = webhook.run(&args).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(!text(&output.stderr).contains("panicked"));
    }
    assert!(
        deliveries(&webhook, db).await.is_empty(),
        "nothing was queued"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dispatch_takes_payloads_files_and_idempotency_keys() {
    let dir = Scratch::new("dispatch");
    let db = dir.path("d.db");
    let db = db.to_str().unwrap();
    let webhook = Webhook::new();
    let orders = Receiver::start("standard-webhooks", STANDARD_SECRET).await;
    let all = Receiver::start("github", GITHUB_SECRET).await;
    let orders_id = add(
        &webhook,
        db,
        &orders.url(),
        "standard-webhooks",
        STANDARD_SECRET,
        &["order.*"],
    )
    .await;
    let all_id = add(&webhook, db, &all.url(), "github", GITHUB_SECRET, &["*"]).await;

    let exact = r#"{ "order": 1,  "total": 12.5 }"#;
    let out = webhook
        .ok(&[
            "dispatch",
            "--db",
            db,
            "--event",
            "order.paid",
            "--payload",
            exact,
        ])
        .await;
    assert!(
        out.starts_with("queued 2 deliveries for event evt_"),
        "{out}"
    );
    let file = dir.write("payload.json", "{\"user\": \"ada\"}\n");
    let out = webhook
        .ok(&[
            "dispatch",
            "--db",
            db,
            "--event",
            "user.created",
            "--payload-file",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(out.starts_with("queued 1 delivery for event evt_"), "{out}");

    // The same idempotency key twice: the second queues nothing.
    let keyed = [
        "dispatch",
        "--db",
        db,
        "--event",
        "order.shipped",
        "--payload",
        "{}",
        "--id",
        "ship-77",
    ];
    let first = webhook.ok(&keyed).await;
    assert!(first.starts_with("queued 2 deliveries"), "{first}");
    let again = webhook.ok(&keyed).await;
    assert!(again.starts_with("queued 0 deliveries"), "{again}");
    let first_event = first.trim().rsplit(' ').next().unwrap();
    assert!(
        again.contains(first_event),
        "the first event is named: {again}"
    );

    // A file with a bad line queues nothing, and names the line.
    let before = deliveries(&webhook, db).await.len();
    for (lines, bad_line) in [
        (
            "{\"event\":\"order.a\",\"payload\":{}}\n{\"event\":\"order.b\",\"payload\":{}}\n{\"event\":\"order.c\",\"payload\":{oops}}\n",
            3,
        ),
        (
            "{\"event\":\"order.a\",\"payload\":{}}\n{\"event\":\"\",\"payload\":1}\n",
            2,
        ),
        ("{\"event\":\"order.a\"}\n", 1),
        ("{\"event\":\"order.a\",\"payload\":1,\"extra\":true}\n", 1),
    ] {
        let bad = dir.write("bad.jsonl", lines);
        let output = webhook
            .run(&["dispatch", "--db", db, "--file", bad.to_str().unwrap()])
            .await;
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        let message = text(&output.stderr);
        assert!(
            message.contains(&format!("bad.jsonl:{bad_line}:")),
            "line {bad_line}: {message}"
        );
        assert!(message.contains("nothing was queued"), "{message}");
    }
    assert_eq!(
        deliveries(&webhook, db).await.len(),
        before,
        "nothing was queued"
    );

    // A good file: any JSON payload, sent compact; a key seen before is a duplicate.
    let events = dir.write(
        "events.jsonl",
        "{\"event\": \"order.paid\", \"payload\": {\"b\": [1, 2], \"a\": \"x y\"}, \"id\": \"file-1\"}\n\
         \n\
         {\"event\": \"user.deleted\", \"payload\": 42}\n\
         {\"event\": \"order.shipped\", \"payload\": {}, \"id\": \"ship-77\"}\n",
    );
    let out = webhook
        .ok(&["dispatch", "--db", db, "--file", events.to_str().unwrap()])
        .await;
    assert_eq!(out.trim(), "queued 3 deliveries for 3 events (1 duplicate)");

    drain(&webhook, db).await;
    let listed = deliveries(&webhook, db).await;
    assert_eq!(listed.len(), 2 + 1 + 2 + 3);
    assert!(
        listed.values().all(|d| d.status == "succeeded"),
        "{listed:?}"
    );
    let bodies = |receiver: &Receiver| -> BTreeSet<String> {
        receiver
            .seen()
            .iter()
            .map(|r| String::from_utf8(r.body.clone()).unwrap())
            .collect()
    };
    let expected: BTreeSet<String> = [exact, "{}", r#"{"b":[1,2],"a":"x y"}"#]
        .map(String::from)
        .into();
    assert_eq!(bodies(&orders), expected);
    let mut expected_all = expected.clone();
    expected_all.extend(["{\"user\": \"ada\"}\n".to_owned(), "42".to_owned()]);
    assert_eq!(bodies(&all), expected_all);
    for (id, delivery) in &listed {
        let receiver = if delivery.endpoint == orders_id {
            &orders
        } else {
            &all
        };
        assert!(delivery.endpoint == orders_id || delivery.endpoint == all_id);
        assert_eq!(
            receiver.ids().iter().filter(|seen| *seen == id).count(),
            1,
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_delivers_every_scheme_verified_and_logs_each_attempt() {
    let dir = Scratch::new("schemes");
    let db = dir.path("d.db");
    let db = db.to_str().unwrap();
    let webhook = Webhook::new();
    let mut receivers: HashMap<String, (Receiver, Vec<&str>)> = HashMap::new();
    for (scheme, secret, events) in [
        ("standard-webhooks", STANDARD_SECRET, vec!["*"]),
        ("github", GITHUB_SECRET, vec!["issues.*", "push"]),
        ("stripe", STRIPE_SECRET, vec!["invoice.*"]),
        ("slack", SLACK_SECRET, vec!["invoice.paid", "push"]),
    ] {
        let receiver = Receiver::start(scheme, secret).await;
        let id = add(&webhook, db, &receiver.url(), scheme, secret, &events).await;
        receivers.insert(id, (receiver, events));
    }
    let types = [
        "issues.opened",
        "push",
        "invoice.paid",
        "invoice.voided",
        "user.created",
    ];
    for (n, event) in types.iter().enumerate() {
        let payload = format!("{{\"n\":{n}}}");
        webhook
            .ok(&[
                "dispatch",
                "--db",
                db,
                "--event",
                event,
                "--payload",
                &payload,
            ])
            .await;
    }

    let out = drain(&webhook, db).await;
    let listed = deliveries(&webhook, db).await;
    // standard-webhooks: 5; github: issues.opened, push; stripe: 2 invoices; slack: 2.
    assert_eq!(listed.len(), 5 + 2 + 2 + 2, "{listed:?}");
    for (id, delivery) in &listed {
        assert_eq!(delivery.status, "succeeded", "{id}: {delivery:?}");
        assert_eq!(delivery.attempts, 1, "{id}");
        let (receiver, _) = &receivers[&delivery.endpoint];
        // Stripe and Slack send no delivery id: their receivers are matched by the payload.
        let n = types
            .iter()
            .position(|t| *t == delivery.event_type)
            .unwrap();
        let body = format!("{{\"n\":{n}}}").into_bytes();
        let verified = receiver.seen().iter().filter(|r| r.body == body).count();
        assert_eq!(verified, 1, "{} verified {id} once", receiver.scheme);
        if ["standard-webhooks", "github"].contains(&receiver.scheme.as_str()) {
            assert!(
                receiver.ids().contains(id),
                "{} did not verify {id}",
                receiver.scheme
            );
        }
        // One line per attempt: time, delivery, endpoint, event type, attempt, result, next.
        let line = out
            .lines()
            .find(|line| line.contains(id.as_str()))
            .unwrap_or_else(|| panic!("no line for {id} in {out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &words[1..6],
            [
                id.as_str(),
                &delivery.endpoint,
                &delivery.event_type,
                "attempt",
                "1:"
            ],
            "{line}"
        );
        assert!(
            line.contains("204 No Content in ") && line.ends_with("; delivered"),
            "{line}"
        );
    }
    for (receiver, _) in receivers.values() {
        let ids: Vec<Vec<u8>> = receiver.seen().into_iter().map(|r| r.body).collect();
        let unique: BTreeSet<&Vec<u8>> = ids.iter().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "{}: each delivered once",
            receiver.scheme
        );
        let expected = listed
            .iter()
            .filter(|(_, d)| receivers[&d.endpoint].0.addr == receiver.addr)
            .count();
        assert_eq!(ids.len(), expected, "{}", receiver.scheme);
    }
    let summary = out.lines().last().unwrap();
    assert_eq!(
        summary,
        "worker done (nothing pending): 11 attempts: 11 succeeded, 0 failed, 0 to retry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_is_down_then_back_gets_everything() {
    let dir = Scratch::new("down");
    let db = dir.path("d.db");
    let db = db.to_str().unwrap();
    let webhook = Webhook::new();
    // A port with nothing behind it, for now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/hook");
    let endpoint = add(
        &webhook,
        db,
        &url,
        "standard-webhooks",
        STANDARD_SECRET,
        &[],
    )
    .await;
    for n in 0..5 {
        webhook
            .ok(&[
                "dispatch",
                "--db",
                db,
                "--event",
                "invoice.paid",
                "--payload",
                &format!("{{\"n\":{n}}}"),
            ])
            .await;
    }
    let worker = webhook.spawn(&[
        "worker",
        "--db",
        db,
        "--until-idle",
        "--retry-schedule",
        "300ms,300ms,300ms,300ms,300ms,1s,1s,1s,2s,2s,5s,5s",
        "--poll-interval",
        "50ms",
    ]);
    // Some attempts fail first.
    until(Duration::from_secs(20), "failed attempts", || {
        worker
            .stdout_lines()
            .iter()
            .filter(|l| l.contains("Connection refused"))
            .count()
            >= 5
    })
    .await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let receiver = Receiver::on(listener, "standard-webhooks", STANDARD_SECRET);
    let ended = worker.wait(Duration::from_secs(60)).await;
    assert!(ended.status.success(), "{ended:?}");

    let listed = deliveries(&webhook, db).await;
    assert_eq!(listed.len(), 5);
    let ids: BTreeSet<String> = receiver.ids().into_iter().collect();
    for (id, delivery) in &listed {
        assert_eq!(delivery.endpoint, endpoint);
        assert_eq!(delivery.status, "succeeded", "{id}");
        assert!(delivery.attempts >= 2, "{id} failed first: {delivery:?}");
        assert!(ids.contains(id), "{id} verified");
    }
    assert_eq!(ids.len(), 5);
    let bodies: BTreeSet<Vec<u8>> = receiver.seen().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 5, "every event");
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_show_attempts_and_resend_sends_again_with_the_same_id() {
    let dir = Scratch::new("resend");
    let db = dir.path("d.db");
    let db = db.to_str().unwrap();
    let webhook = Webhook::new();
    let receiver = Receiver::start("github", GITHUB_SECRET).await;
    let endpoint = add(&webhook, db, &receiver.url(), "github", GITHUB_SECRET, &[]).await;
    // The first two deliveries are refused for good (400 is final), with a body.
    receiver.answer_with_body(400, 10);
    receiver.answer_first(&[400]);
    for n in 0..4 {
        webhook
            .ok(&[
                "dispatch",
                "--db",
                db,
                "--event",
                "push",
                "--payload",
                &format!("{{\"n\":{n}}}"),
            ])
            .await;
    }
    let out = drain(&webhook, db).await;
    assert!(
        out.contains("failed for good (the receiver refused it)"),
        "{out}"
    );

    let failed = json(
        &webhook
            .ok(&["deliveries", "--db", db, "--status", "failed", "--json"])
            .await,
    );
    let failed: Vec<String> = failed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    let succeeded = json(
        &webhook
            .ok(&["deliveries", "--db", db, "--status", "succeeded", "--json"])
            .await,
    );
    assert_eq!(succeeded.as_array().unwrap().len(), 2);
    let limited = json(
        &webhook
            .ok(&[
                "deliveries",
                "--db",
                db,
                "--limit",
                "3",
                "--json",
                "--endpoint",
                &endpoint,
            ])
            .await,
    );
    assert_eq!(limited.as_array().unwrap().len(), 3);
    let none = json(
        &webhook
            .ok(&["deliveries", "--db", db, "--json", "--endpoint", "ep_other"])
            .await,
    );
    assert_eq!(none.as_array().unwrap().len(), 0);

    // One delivery with its attempts: status, duration, the start of the answer.
    let shown = webhook.ok(&["deliveries", "--db", db, &failed[0]]).await;
    assert!(
        shown.contains(&failed[0]) && shown.contains("failed"),
        "{shown}"
    );
    assert!(shown.contains(&receiver.url()), "{shown}");
    let attempt_line = shown
        .lines()
        .find(|l| l.starts_with("1 "))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        attempt_line.contains(" 400 ") && attempt_line.contains(" ms"),
        "{attempt_line}"
    );
    let logged = json(
        &webhook
            .ok(&["deliveries", "--db", db, &failed[0], "--json"])
            .await,
    );
    assert_eq!(logged["status"], "failed");
    assert_eq!(logged["attempt_log"][0]["status"], 400);
    // One of the two refusals came with a body of ten bytes: its log keeps it.
    let mut bodies = Vec::new();
    for id in &failed {
        let logged = json(&webhook.ok(&["deliveries", "--db", db, id, "--json"]).await);
        bodies.push(
            logged["attempt_log"][0]["response_body"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    bodies.sort();
    assert_eq!(bodies, ["", "xxxxxxxxxx"]);

    // Resend one delivery: the same id again. Then recover the other failed one by time.
    let out = webhook.ok(&["resend", "--db", db, &failed[0]]).await;
    assert!(out.contains(&failed[0]), "{out}");
    let out = webhook
        .ok(&[
            "resend",
            "--db",
            db,
            "--endpoint",
            &endpoint,
            "--failed-since",
            "1h",
        ])
        .await;
    assert!(
        out.starts_with("1 delivery"),
        "recovers the one still failed: {out}"
    );
    let since =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(3600))
            .to_string();
    let out = webhook
        .ok(&[
            "resend",
            "--db",
            db,
            "--endpoint",
            &endpoint,
            "--failed-since",
            &since,
        ])
        .await;
    assert!(
        out.starts_with("0 deliveries"),
        "nothing failed in the future: {out}"
    );
    drain(&webhook, db).await;
    let listed = deliveries(&webhook, db).await;
    assert!(
        listed.values().all(|d| d.status == "succeeded"),
        "{listed:?}"
    );
    for id in &failed {
        assert_eq!(listed[id].attempts, 2);
        assert_eq!(
            receiver.ids().iter().filter(|seen| *seen == id).count(),
            2,
            "{id} twice, same id"
        );
    }
    assert_eq!(
        receiver.seen().len(),
        6,
        "four deliveries, two of them twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_worker_after_what_is_in_flight() {
    let dir = Scratch::new("sigterm");
    let db = dir.path("d.db");
    let db = db.to_str().unwrap();
    let webhook = Webhook::new();
    let receiver = Receiver::start("standard-webhooks", STANDARD_SECRET).await;
    receiver.delay(Duration::from_millis(700));
    add(
        &webhook,
        db,
        &receiver.url(),
        "standard-webhooks",
        STANDARD_SECRET,
        &[],
    )
    .await;
    let lines: String = (0..40)
        .map(|n| format!("{{\"event\":\"tick\",\"payload\":{{\"n\":{n}}}}}\n"))
        .collect();
    let file = dir.write("events.jsonl", &lines);
    webhook
        .ok(&["dispatch", "--db", db, "--file", file.to_str().unwrap()])
        .await;

    let worker = webhook.spawn(&["worker", "--db", db, "--concurrency", "4"]);
    // The first attempts are answered, and the next are in flight.
    until(Duration::from_secs(30), "a first answer", || {
        !receiver.seen().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.signal("TERM");
    let ended = worker.wait(Duration::from_secs(30)).await;
    assert_eq!(ended.status.code(), Some(0), "{ended:?}");
    let stopped = ended.stdout.iter().rev().nth(1).unwrap();
    assert!(
        stopped.starts_with("worker done (stopped by SIGTERM)"),
        "{ended:?}"
    );

    // Every attempt the receiver answered was recorded; the rest were never sent.
    let listed = deliveries(&webhook, db).await;
    let seen: BTreeSet<String> = receiver.ids().into_iter().collect();
    assert_eq!(seen.len(), receiver.ids().len(), "each once");
    let succeeded: BTreeSet<String> = listed
        .iter()
        .filter(|(_, d)| d.status == "succeeded")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(succeeded, seen, "in-flight attempts were recorded");
    assert!(
        seen.len() >= 5 && seen.len() < 40,
        "stopped mid-run: {}",
        seen.len()
    );
    for (id, delivery) in &listed {
        if !seen.contains(id) {
            assert_eq!(
                (delivery.status.as_str(), delivery.attempts),
                ("pending", 0),
                "{id}"
            );
        }
    }
    assert_eq!(
        ended.stdout.last().unwrap(),
        &format!("{} deliveries still pending", 40 - seen.len())
    );
    assert_eq!(
        ended
            .stdout
            .iter()
            .filter(|l| l.contains("; delivered"))
            .count(),
        seen.len(),
        "one line per attempt"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_examples_readme_sends_its_events_durably() {
    let dir = Scratch::new("examples");
    let samples = dir.path("samples");
    let webhook = Webhook::new();
    webhook.ok(&["examples", samples.to_str().unwrap()]).await;
    let readme = std::fs::read_to_string(samples.join("README.txt")).unwrap();
    let events = std::fs::read_to_string(samples.join("events.jsonl")).unwrap();

    // The README's commands in order, each a paragraph of its own.
    let commands: Vec<Vec<String>> = readme
        .split("\n\n")
        .map(str::trim)
        .filter(|block| block.starts_with("webhook "))
        .map(cli_support::shell_words)
        .collect();
    let adds: Vec<&Vec<String>> = commands.iter().filter(|c| c[1] == "endpoints").collect();
    assert!(adds.len() >= 2, "{readme}");
    let mut receivers = Vec::new();
    for add in &adds {
        let mut add: Vec<String> = add[1..].to_vec();
        let flag = |name: &str| {
            let at = add.iter().position(|w| w == name).unwrap();
            add[at + 1].clone()
        };
        let (scheme, secret, pattern) = (flag("--scheme"), flag("--secret"), flag("--events"));
        let receiver = Receiver::start(&scheme, &secret).await;
        let at = add.iter().position(|w| w == "--url").unwrap();
        add[at + 1] = receiver.url();
        let words: Vec<&str> = add.iter().map(String::as_str).collect();
        webhook.ok(&words).await;
        receivers.push((receiver, pattern));
    }
    for verb in ["dispatch", "worker", "deliveries"] {
        let command = commands
            .iter()
            .find(|c| c[1] == verb)
            .unwrap_or_else(|| panic!("no `webhook {verb}` in {readme}"));
        let words: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        if verb == "dispatch" {
            assert!(
                words.contains(&samples.join("events.jsonl").to_str().unwrap()),
                "{words:?}"
            );
        }
        webhook.ok(&words).await;
    }
    // Each receiver got exactly the events of events.jsonl its pattern matches, verified.
    for (receiver, pattern) in &receivers {
        let pattern = tower_webhook::Pattern::new(pattern).unwrap();
        let expected = events
            .lines()
            .filter(|line| pattern.matches(json(line)["event"].as_str().unwrap()))
            .count();
        assert!(expected > 0, "{pattern:?} matches some sample events");
        assert_eq!(receiver.seen().len(), expected, "{}", receiver.scheme);
    }
}
