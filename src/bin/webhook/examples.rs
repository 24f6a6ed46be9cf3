//! `webhook examples DIR`: sample files to try the program with, against `webhook listen`.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::value::RawValue;
use tower_webhook::{Secret, SecretFormat};

use crate::Failure;
use crate::input::SchemeName;

#[derive(Debug, clap::Args)]
pub(crate) struct ExamplesArgs {
    /// The directory to write into (made if it does not exist).
    dir: PathBuf,
    /// Overwrite batch.json, events.jsonl and README.txt if they are there already.
    #[arg(long)]
    force: bool,
}

/// One receiver of the samples: a scheme, the local address it listens on, a secret.
struct Receiver {
    scheme: &'static str,
    port: u16,
    secret: String,
}

impl Receiver {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhook", self.port)
    }
}

/// An entry of batch.json, its fields in the order a reader expects them.
#[derive(Serialize)]
struct Delivery<'a> {
    url: String,
    scheme: &'a str,
    secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    payload: &'a RawValue,
}

/// A line of events.jsonl.
#[derive(Serialize)]
struct Event<'a> {
    event: &'a str,
    payload: &'a RawValue,
    id: &'a str,
}

/// The sample deliveries: (scheme, event type header, delivery id, payload). Each provider's
/// payload is a small one of the shape it sends.
const DELIVERIES: &[(&str, Option<&str>, Option<&str>, &str)] = &[
    (
        "github",
        Some("push"),
        None,
        r#"{"ref": "refs/heads/main", "repository": {"full_name": "octo-org/hello-world"}, "head_commit": {"id": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "message": "Fix the README"}}"#,
    ),
    (
        "github",
        Some("issues"),
        None,
        r#"{"action": "opened", "issue": {"number": 42, "title": "Webhooks are late"}, "repository": {"full_name": "octo-org/hello-world"}}"#,
    ),
    (
        "stripe",
        None,
        None,
        r#"{"id": "evt_1Example", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1Example", "object": "invoice", "amount_paid": 2000, "currency": "usd"}}}"#,
    ),
    (
        "standard-webhooks",
        None,
        Some("msg_example_0001"),
        r#"{"type": "user.created", "timestamp": "2024-05-01T12:00:00Z", "data": {"id": "user_1", "email": "ada@example.com"}}"#,
    ),
    (
        "twilio",
        None,
        None,
        r#"{"AccountSid": "ACexample", "MessageSid": "SMexample", "MessageStatus": "delivered", "To": "+15558675310"}"#,
    ),
];

/// The sample events: (type, idempotency key, payload).
const EVENTS: &[(&str, &str, &str)] = &[
    (
        "user.created",
        "evt_0001",
        r#"{"id":"user_1","email":"ada@example.com"}"#,
    ),
    (
        "invoice.paid",
        "evt_0002",
        r#"{"id":"in_1","amount_paid":2000,"currency":"usd"}"#,
    ),
    (
        "invoice.payment_failed",
        "evt_0003",
        r#"{"id":"in_2","amount_due":4500,"currency":"eur","attempt":1}"#,
    ),
    ("user.deleted", "evt_0004", r#"{"id":"user_1"}"#),
];

const FILES: [&str; 3] = ["batch.json", "events.jsonl", "README.txt"];

pub(crate) fn run(args: ExamplesArgs) -> Result<(), Failure> {
    let dir = &args.dir;
    if !args.force {
        let present: Vec<String> = FILES
            .iter()
            .map(|name| dir.join(name))
            .filter(|path| path.exists())
            .map(|path| path.display().to_string())
            .collect();
        if !present.is_empty() {
            return Err(Failure::input(format!(
                "{} already there: give --force to overwrite",
                present.join(", ")
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|error| Failure::input(format!("cannot make {}: {error}", dir.display())))?;

    let receivers = receivers()?;
    write(dir, "batch.json", &batch(&receivers)?, args.force)?;
    write(dir, "events.jsonl", &events()?, args.force)?;
    write(dir, "README.txt", &readme(dir, &receivers), args.force)?;
    let shown = crate::dispatch::text::shell_word(&dir.display().to_string());
    println!("wrote {shown}/batch.json, {shown}/events.jsonl and {shown}/README.txt");
    println!(
        "next: start the receivers {shown}/README.txt lists, then `webhook batch {shown}/batch.json`"
    );
    Ok(())
}

/// One receiver per scheme, each on its own port (a `webhook listen` verifies one scheme),
/// with a new secret in the form its provider issues.
fn receivers() -> Result<Vec<Receiver>, Failure> {
    let mut receivers: Vec<Receiver> = Vec::new();
    for (scheme, ..) in DELIVERIES {
        if receivers.iter().any(|receiver| receiver.scheme == *scheme) {
            continue;
        }
        let name = SchemeName::parse(scheme).map_err(Failure::input)?;
        let format = SecretFormat::for_scheme(name.scheme().as_ref());
        let secret =
            Secret::generate_as(format).map_err(|error| Failure::input(error.to_string()))?;
        let port = 8000 + u16::try_from(receivers.len()).unwrap_or(0);
        receivers.push(Receiver {
            scheme,
            port,
            secret: String::from_utf8_lossy(secret.expose()).into_owned(),
        });
    }
    Ok(receivers)
}

fn receiver<'a>(receivers: &'a [Receiver], scheme: &str) -> &'a Receiver {
    receivers
        .iter()
        .find(|receiver| receiver.scheme == scheme)
        .expect("one receiver per scheme of DELIVERIES")
}

fn raw(json: &str) -> Result<&RawValue, Failure> {
    serde_json::from_str(json)
        .map_err(|error| Failure::input(format!("a sample payload is not JSON: {error}")))
}

fn batch(receivers: &[Receiver]) -> Result<String, Failure> {
    let mut entries = Vec::new();
    for (scheme, event, id, payload) in DELIVERIES {
        let receiver = receiver(receivers, scheme);
        entries.push(Delivery {
            url: receiver.url(),
            scheme,
            secret: &receiver.secret,
            event: *event,
            id: *id,
            payload: raw(payload)?,
        });
    }
    let mut text = serde_json::to_string_pretty(&entries)
        .map_err(|error| Failure::input(error.to_string()))?;
    text.push('\n');
    Ok(text)
}

fn events() -> Result<String, Failure> {
    let mut text = String::new();
    for (event, id, payload) in EVENTS {
        let line = Event {
            event,
            payload: raw(payload)?,
            id,
        };
        text.push_str(
            &serde_json::to_string(&line).map_err(|error| Failure::input(error.to_string()))?,
        );
        text.push('\n');
    }
    Ok(text)
}

fn readme(dir: &Path, receivers: &[Receiver]) -> String {
    let db = crate::dispatch::text::shell_word(&dir.join("deliveries.db").display().to_string());
    let dir = crate::dispatch::text::shell_word(&dir.display().to_string());
    let mut listen = String::new();
    for receiver in receivers {
        listen.push_str(&format!(
            "    webhook listen --scheme {} --secret {} --addr 127.0.0.1:{}",
            receiver.scheme,
            crate::dispatch::text::shell_word(&receiver.secret),
            receiver.port
        ));
        if SchemeName::parse(receiver.scheme).is_ok_and(SchemeName::signs_url) {
            listen.push_str(&format!(" --url {}", receiver.url()));
        }
        listen.push('\n');
    }
    let mut schemes: Vec<&str> = receivers.iter().map(|receiver| receiver.scheme).collect();
    let last = schemes.pop().unwrap_or_default();
    let schemes = format!("{} and {last}", schemes.join(", "));
    let twilio = receiver(receivers, "twilio");
    format!(
        "Samples for the `webhook` program, written by `webhook examples`.

batch.json    {deliveries} signed deliveries for {schemes},
              each to a local receiver of its own (one scheme per port), with secrets
              made for this directory: they are samples, not for production.
events.jsonl  events, one JSON object per line: {{\"event\", \"payload\", \"id\"}} (the id is the
              event's idempotency key), the format for dispatching events to subscribers.

1. Start the receivers, which verify each delivery and say why one is refused. Run each
   in a terminal of its own (or end each line with `&`):

{listen}
   Twilio signs the URL it calls, so its receiver is told that URL with --url.

2. Send every delivery of the batch, and see each accepted:

    webhook batch {dir}/batch.json

   With only some receivers running, the deliveries to the others fail with
   \"connection refused\" once their retries are spent. Change a secret in batch.json and
   send again: its receiver refuses the delivery and says why.

3. One webhook at a time, for instance the form body Twilio usually sends:

    webhook send {twilio_url} --scheme twilio --secret {twilio_secret} \\
        --content-type application/x-www-form-urlencoded \\
        --payload 'MessageSid=SMexample&MessageStatus=delivered'

   `webhook send --help` and `webhook batch --help` say more; every scheme the program
   knows is listed under --scheme.

4. Send durably: subscribe two of the receivers to the events of events.jsonl in a
   database (a SQLite file made here, its storage key beside it in deliveries.db.key),
   queue the events, and deliver them with a worker, which keeps every retry in the
   database (a restart loses nothing):

{subscribe}    webhook dispatch --db {db} --file {dir}/events.jsonl

    webhook worker --db {db} --until-idle

   Without --until-idle the worker runs until Ctrl-C, delivering what is dispatched
   meanwhile. Then see what happened, attempt by attempt:

    webhook deliveries --db {db}

   With a receiver stopped, its deliveries are retried (5 s, 5 min, 30 min, …): start it
   again and they go out. One delivery's attempts, and sending it again (the same id):

    webhook deliveries --db {db} DELIVERY_ID
    webhook resend --db {db} DELIVERY_ID
",
        deliveries = DELIVERIES.len(),
        twilio_url = twilio.url(),
        twilio_secret = crate::dispatch::text::shell_word(&twilio.secret),
        subscribe = subscribe(receivers, &db),
    )
}

/// The endpoints of step 4: which receiver gets which events of events.jsonl.
const SUBSCRIPTIONS: &[(&str, &str, &str)] = &[
    ("standard-webhooks", "user.*", "users"),
    ("stripe", "invoice.*", "billing"),
];

/// `webhook endpoints add` for each of [`SUBSCRIPTIONS`], one command per paragraph.
fn subscribe(receivers: &[Receiver], db: &str) -> String {
    let mut text = String::new();
    for (scheme, events, name) in SUBSCRIPTIONS {
        let receiver = receiver(receivers, scheme);
        text.push_str(&format!(
            "    webhook endpoints add --db {db} --url {} \\\n        --scheme {scheme} --secret {} --events '{events}' --name {name}\n\n",
            receiver.url(),
            crate::dispatch::text::shell_word(&receiver.secret),
        ));
    }
    text
}

fn write(dir: &Path, name: &str, contents: &str, force: bool) -> Result<(), Failure> {
    let path = dir.join(name);
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        // Checked above, but another process may have made it since.
        options.create_new(true);
    }
    options
        .open(&path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(|error| Failure::input(format!("cannot write {}: {error}", path.display())))
}
