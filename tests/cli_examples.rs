//! `webhook examples`: the files it writes parse, its README's commands agree with its batch
//! file, and what it writes is delivered to receivers built with the crate's own layer.
#![cfg(feature = "cli")]

mod cli_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use cli_support::{Scratch, args, stderr, stdout, webhook};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use serde_json::Value;
use tower_webhook::scheme::preset;
use tower_webhook::{Verified, VerifySignatureLayer};

/// The value after `flag` in `words`.
fn flag<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    let at = words.iter().position(|word| word == flag)?;
    words.get(at + 1).map(String::as_str)
}

/// A `webhook listen` line of the README, as the flags it gives.
#[derive(Debug)]
struct Listen {
    scheme: String,
    secret: String,
    addr: String,
    url: Option<String>,
}

fn listen_commands(readme: &str) -> Vec<Listen> {
    readme
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("webhook listen "))
        .map(|line| {
            let words = cli_support::shell_words(line);
            Listen {
                scheme: flag(&words, "--scheme").unwrap().to_owned(),
                secret: flag(&words, "--secret").unwrap().to_owned(),
                addr: flag(&words, "--addr").unwrap().to_owned(),
                url: flag(&words, "--url").map(str::to_owned),
            }
        })
        .collect()
}

/// What a receiver saw: each verified delivery's event type (or `-`).
type Seen = Arc<Mutex<Vec<String>>>;

/// A receiver for what one `webhook listen` line describes, built with the crate's layer,
/// on a free port (the README's port may be taken on this machine).
async fn receiver(listen: &Listen) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scheme = preset(&listen.scheme).unwrap_or_else(|| panic!("{}", listen.scheme));
    let mut layer = VerifySignatureLayer::new(scheme, listen.secret.as_str()).unwrap();
    if let Some(url) = &listen.url {
        let local = url.replace(&listen.addr, &addr.to_string());
        assert_ne!(&local, url, "--url names the --addr it listens on");
        layer = layer.public_url(&local).unwrap();
    }
    let seen = Seen::default();
    let recorded = Arc::clone(&seen);
    let router = Router::new()
        .route(
            "/webhook",
            post(move |verified: Verified| {
                let recorded = Arc::clone(&recorded);
                async move {
                    let event = verified.event_type().unwrap_or("-").to_owned();
                    recorded.lock().unwrap().push(event);
                    "ok"
                }
            }),
        )
        .layer(layer);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, seen)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_are_delivered_to_the_receivers_its_readme_starts() {
    let scratch = Scratch::new("cli-examples");
    // Not there yet: the command makes it.
    let dir = scratch.path("deliver");
    let output = webhook(args(&["examples", dir.to_str().unwrap()])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("README.txt"),
        "{}",
        stdout(&output)
    );

    let batch: Vec<Value> = serde_json::from_str(&read(&dir.join("batch.json"))).unwrap();
    assert!(batch.len() >= 4, "{batch:?}");
    let events = read(&dir.join("events.jsonl"));
    assert!(events.lines().count() >= 2, "{events}");
    for line in events.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        assert!(event["event"].is_string(), "{line}");
        assert!(event["payload"].is_object(), "{line}");
        assert!(event["id"].is_string(), "{line}");
    }

    // The README starts one receiver per scheme, with the batch file's secrets and ports.
    let readme = read(&dir.join("README.txt"));
    let listens = listen_commands(&readme);
    let mut schemes: Vec<&str> = batch
        .iter()
        .map(|entry| entry["scheme"].as_str().unwrap())
        .collect();
    schemes.sort_unstable();
    schemes.dedup();
    assert_eq!(listens.len(), schemes.len(), "{readme}");
    for scheme in ["github", "stripe", "standard-webhooks", "twilio"] {
        assert!(schemes.contains(&scheme), "{scheme}: {schemes:?}");
    }
    for entry in &batch {
        let scheme = entry["scheme"].as_str().unwrap();
        let listen = listens.iter().find(|l| l.scheme == scheme).unwrap();
        assert_eq!(entry["secret"].as_str(), Some(listen.secret.as_str()));
        assert_eq!(
            entry["url"].as_str(),
            Some(format!("http://{}/webhook", listen.addr).as_str())
        );
    }
    let batch_path = dir.join("batch.json");
    assert!(
        readme.contains(&format!("webhook batch {}", batch_path.display())),
        "{readme}"
    );

    // Receivers as the README describes them, moved to free ports; the batch file's URLs
    // follow them.
    let mut moved = read(&batch_path);
    let mut seen = BTreeMap::new();
    for listen in &listens {
        let (addr, receiver_seen) = receiver(listen).await;
        moved = moved.replace(&listen.addr, &addr.to_string());
        seen.insert(listen.scheme.clone(), (addr, receiver_seen));
    }
    let moved_path = dir.join("batch-moved.json");
    std::fs::write(&moved_path, moved).unwrap();
    let output = webhook(args(&[
        "batch",
        moved_path.to_str().unwrap(),
        "--retries",
        "0",
    ]))
    .await;
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains(&format!("{} delivered, 0 failed", batch.len())),
        "{}",
        stdout(&output)
    );
    for (scheme, (_, receiver_seen)) in &seen {
        let entries: Vec<&Value> = batch
            .iter()
            .filter(|entry| entry["scheme"] == scheme.as_str())
            .collect();
        let got = receiver_seen.lock().unwrap().clone();
        assert_eq!(got.len(), entries.len(), "{scheme}: {got:?}");
        // An event type given in the entry reached the receiver (GitHub's with the body's
        // `action` after it, as `issues.opened`); the others are read from the payloads.
        for entry in entries {
            if let Some(event) = entry["event"].as_str() {
                assert!(
                    got.iter().any(|got| got.starts_with(event)),
                    "{scheme}: {event} in {got:?}"
                );
            }
        }
    }

    // The README's single `webhook send` (a Twilio form) is accepted too.
    let send = readme
        .split("\n\n")
        .map(str::trim)
        .find(|block| block.starts_with("webhook send "))
        .unwrap_or_else(|| panic!("no `webhook send` in {readme}"));
    let mut words = cli_support::shell_words(send);
    assert_eq!(words.remove(0), "webhook");
    let twilio = listens.iter().find(|l| l.scheme == "twilio").unwrap();
    let (twilio_addr, twilio_seen) = &seen["twilio"];
    for word in &mut words {
        *word = word.replace(&twilio.addr, &twilio_addr.to_string());
    }
    assert_eq!(
        flag(&words, "--content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let before = twilio_seen.lock().unwrap().len();
    let output = webhook(words).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(twilio_seen.lock().unwrap().len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_overwrite_only_with_force() {
    let scratch = Scratch::new("cli-examples");
    // Not there yet: the command makes it.
    let dir = scratch.path("force");
    let output = webhook(args(&["examples", dir.to_str().unwrap()])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let first = read(&dir.join("batch.json"));

    let output = webhook(args(&["examples", dir.to_str().unwrap()])).await;
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("batch.json"), "{message}");
    assert!(message.contains("--force"), "{message}");
    assert_eq!(read(&dir.join("batch.json")), first);

    // One file of the three is enough to refuse, and nothing is written then.
    std::fs::remove_file(dir.join("batch.json")).unwrap();
    std::fs::remove_file(dir.join("events.jsonl")).unwrap();
    let output = webhook(args(&["examples", dir.to_str().unwrap()])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("README.txt"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.join("batch.json").exists());

    let output = webhook(args(&["examples", dir.to_str().unwrap(), "--force"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    // New secrets each time: nobody copies a published one.
    assert_ne!(read(&dir.join("batch.json")), first);
    assert!(dir.join("events.jsonl").exists());
}
