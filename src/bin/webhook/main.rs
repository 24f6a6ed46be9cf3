//! `webhook`: send signed webhooks from the command line, over http:// or https://.
//!
//! Install with `cargo install tower-webhook --features cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod batch;
mod dispatch;
mod examples;
mod input;
mod listen;
mod send;
mod tls;

use input::SchemeName;

/// `--secret`'s help, the same for every subcommand that signs.
const SECRET_HELP: &str = "The secret to sign with, as the receiver has it; for discord and \
sendgrid the private key (the receiver holds its public half), and for standard-webhooks a \
whsk_ private key (signs v1a) or a whsec_ secret (signs v1)";

/// `--content-type`'s help, the same for `send` and `sign`.
const CONTENT_TYPE_HELP: &str = "The payload's media type, sent as Content-Type. A JSON type \
(the default) is checked to be JSON; any other payload is sent as it is. Twilio signs a form's \
fields (application/x-www-form-urlencoded) and any other body through its URL, to which \
bodySHA256=<hex SHA-256 of the body> is added as Twilio does";

const ABOUT: &str = "Send signed webhooks: one, or a batch with a progress bar, with retries.";

const LONG_ABOUT: &str = "Send signed webhooks: one, or a batch with a progress bar, with retries.

Signs with the same scheme definitions as tower-webhook's VerifySignatureLayer, so a receiver
built with it accepts what this sends. --scheme takes the name of any of the crate's presets
(github, stripe, slack, standard-webhooks, svix, shopify, twilio, square, hubspot, paddle,
twitch, gitlab, …: `--help` of a subcommand lists them all).

https:// endpoints are reached with rustls, trusting the system's root certificates and those
given with --cacert (a PEM file, for a private CA). A certificate that is not accepted fails
the delivery at once, naming the host and the reason: no retry would change it.

Twilio, Square and HubSpot sign the URL a webhook is sent to: `send` and `batch` sign the URL
they send to, `sign` the one given with --url, so give the URL the receiver knows itself by.
HubSpot also signs the method (POST) and Twilio the media type (--content-type). GitLab sends
its secret token itself rather than a signature: it proves the sender knows it, not that the
body is intact.

Schemes signed with a key pair take the private key as --secret, and the receiver verifies
with its public half: discord (the Ed25519 seed as 64 hex digits, or PKCS#8 PEM), sendgrid (a
P-256 key as PKCS#8 PEM or base64 DER), and standard-webhooks, which signs v1a (Ed25519) when
the secret is a whsk_ key and v1 (HMAC) for a whsec_ secret. A PEM key begins with dashes:
give it as --secret=\"$(cat key.pem)\" or in WEBHOOK_SECRET.

Exit status: 0 when every delivery was accepted (2xx), 1 when any was not, 2 for bad input.";

#[derive(Debug, Parser)]
#[command(name = "webhook", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign and send one webhook (POST, JSON unless --content-type says otherwise) to an
    /// http:// or https:// URL.
    Send(send::SendArgs),
    /// Send every delivery listed in a JSON file, several at a time.
    ///
    /// The file is a JSON list of objects with `url`, `payload` (any JSON), and optionally
    /// `scheme`, `secret` (else --scheme / --secret; a private key for discord and sendgrid),
    /// `event`, `id` and `retries`.
    Batch(batch::BatchArgs),
    /// Make secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Print the signature headers for a payload, one `Name: value` per line, for curl:
    /// `curl -H @headers.txt --data-binary @payload.json URL` (for twilio, square and hubspot,
    /// the URL given with --url).
    Sign(SignArgs),
    /// Receive webhooks locally: verify each, say why a refused one was refused, forward
    /// verified ones to your app, and watch them on a live page.
    Listen(listen::Args),
    /// Write sample files into a directory: a batch file (batch.json) for local receivers
    /// of several schemes, an events file (events.jsonl) and a README.txt with the commands
    /// to try them with `webhook listen` and `webhook batch`.
    Examples(examples::ExamplesArgs),
    /// Manage the endpoints that events are sent to (a SQLite file or Postgres, --db).
    #[command(subcommand)]
    Endpoints(dispatch::endpoints::Command),
    /// Queue an event (or a file of events) for every endpoint that subscribes to it.
    Dispatch(dispatch::dispatch_cmd::DispatchArgs),
    /// Deliver what is queued, with retries kept in the database, until stopped (SIGINT,
    /// SIGTERM) or, with --until-idle, until nothing is pending.
    Worker(dispatch::worker::WorkerArgs),
    /// List deliveries, or show one with its attempts.
    Deliveries(dispatch::deliveries::DeliveriesArgs),
    /// Send a delivery again, or every failed delivery of an endpoint since a time.
    Resend(dispatch::deliveries::ResendArgs),
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Print a new random secret (32 bytes from the OS) in the scheme's usual format:
    /// `whsec_` + base64 for standard-webhooks and stripe, 64 hex digits otherwise.
    ///
    /// Shared secrets only: discord and sendgrid sign with a key pair, which the provider
    /// issues (make a test pair with openssl).
    ///
    /// The secret goes to stdout; its fingerprint (to store) and display prefix go to stderr.
    New {
        /// The scheme the secret is for: any preset's name.
        #[arg(long, value_parser = SchemeName::value_parser(), default_value = "standard-webhooks")]
        scheme: SchemeName,
    },
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The signature scheme: any preset's name.
    #[arg(long, value_parser = SchemeName::value_parser())]
    scheme: SchemeName,
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true, help = SECRET_HELP)]
    secret: String,
    /// The exact bytes to sign; send this same file with `--data-binary`.
    #[arg(long)]
    payload_file: PathBuf,
    /// The URL the webhook will be sent to, for the schemes that sign it (twilio, square,
    /// hubspot). For twilio and a body that is not a form, the URL to send to (with
    /// bodySHA256 added) is printed on stderr.
    #[arg(long)]
    url: Option<String>,
    #[arg(long, default_value = "application/json", help = CONTENT_TYPE_HELP)]
    content_type: String,
    /// The event type, for schemes that send it in a header (github, shopify, twitch,
    /// bitbucket, woocommerce, …).
    #[arg(long)]
    event: Option<String>,
    /// The delivery id (default: a new random `msg_…`).
    #[arg(long)]
    id: Option<String>,
}

/// A failure to report: its message, and the exit status it stands for.
#[derive(Debug)]
struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    /// Bad input: arguments, files, URLs, secrets.
    fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 2,
        }
    }

    /// A delivery that was not accepted.
    fn delivery(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 1,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(args) => runtime().and_then(|rt| rt.block_on(send::run(args))),
        Command::Batch(args) => runtime().and_then(|rt| rt.block_on(batch::run(args))),
        Command::Secret(SecretCommand::New { scheme }) => new_secret(scheme),
        Command::Sign(args) => sign(args),
        Command::Listen(args) => runtime().and_then(|rt| rt.block_on(listen::run(args))),
        Command::Examples(args) => examples::run(args),
        Command::Endpoints(command) => {
            runtime().and_then(|rt| rt.block_on(dispatch::endpoints::run(command)))
        }
        Command::Dispatch(args) => {
            runtime().and_then(|rt| rt.block_on(dispatch::dispatch_cmd::run(args)))
        }
        Command::Worker(args) => runtime().and_then(|rt| rt.block_on(dispatch::worker::run(args))),
        Command::Deliveries(args) => {
            runtime().and_then(|rt| rt.block_on(dispatch::deliveries::run(args)))
        }
        Command::Resend(args) => {
            runtime().and_then(|rt| rt.block_on(dispatch::deliveries::resend(args)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.status)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::input(format!("cannot start the async runtime: {error}")))
}

fn new_secret(scheme: SchemeName) -> Result<(), Failure> {
    use tower_webhook::{Secret, SecretFormat};
    // Random text is no P-256 key; random hex is an Ed25519 seed, but the receiver needs its
    // public half, which this command does not print. Refuse rather than hand out half a pair.
    if scheme.signs_with_key_pair() {
        let name = scheme.scheme().name().to_owned();
        return Err(Failure::input(format!(
            "{name} signs with a key pair, not a shared secret: the provider issues it, and \
             `secret new` makes shared secrets only; for a test pair, use openssl (`openssl \
             genpkey -algorithm ed25519` for discord, `openssl genpkey -algorithm EC -pkeyopt \
             ec_paramgen_curve:P-256` for sendgrid)"
        )));
    }
    let format = SecretFormat::for_scheme(scheme.scheme().as_ref());
    let secret = Secret::generate_as(format).map_err(|error| Failure::input(error.to_string()))?;
    println!("{}", String::from_utf8_lossy(secret.expose()));
    eprintln!("fingerprint: {}", secret.fingerprint());
    eprintln!("prefix:      {}", secret.display_prefix());
    Ok(())
}

fn sign(args: SignArgs) -> Result<(), Failure> {
    use tower_webhook::Secret;
    use tower_webhook::scheme::Message;
    use tower_webhook::sign::DeliveryId;

    let payload = input::read_payload_file(&args.payload_file, &args.content_type)?;
    let scheme = args.scheme.scheme();
    let url = match &args.url {
        Some(url) => Some(input::url_for_body(
            scheme.as_ref(),
            url,
            &args.content_type,
            &payload,
        )),
        None if args.scheme.signs_url() => {
            return Err(Failure::input(format!(
                "{} signs the URL the webhook is sent to: give it with --url",
                scheme.name()
            )));
        }
        None => None,
    };
    let id = match args.id {
        Some(id) => id,
        None => DeliveryId::generate()
            .map_err(|error| Failure::input(error.to_string()))?
            .to_string(),
    };
    let now = tower_webhook::Clock::unix_now(&tower_webhook::SystemClock);
    // curl with --data-binary sends a POST, which is what HubSpot signs.
    let mut message = Message::new(&payload)
        .id(&id)
        .timestamp(now)
        .method("POST")
        .content_type(&args.content_type);
    if let Some(event) = &args.event {
        message = message.event_type(event);
    }
    if let Some(url) = &url {
        message = message.url(url);
    }
    let headers = scheme
        .sign(&Secret::new(args.secret), &message)
        .map_err(|error| Failure::input(error.to_string()))?;
    if let (Some(given), Some(url)) = (&args.url, &url)
        && given != url
    {
        eprintln!("send it to {url}");
    }
    println!("Content-Type: {}", args.content_type);
    for (name, value) in &headers {
        println!("{name}: {}", value.to_str().unwrap_or_default());
    }
    Ok(())
}
