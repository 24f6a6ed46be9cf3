//! `webhook`: send signed webhooks from the command line (plain http:// only).
//!
//! Install with `cargo install tower-webhook --features cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod batch;
mod input;
mod send;

use input::SchemeName;

/// `--secret`'s help, the same for every subcommand that signs.
const SECRET_HELP: &str = "The secret to sign with, as the receiver has it; for discord and \
sendgrid the private key (the receiver holds its public half), and for standard-webhooks a \
whsk_ private key (signs v1a) or a whsec_ secret (signs v1)";

const ABOUT: &str = "Send signed webhooks: one, or a batch with a progress bar, with retries.";

const LONG_ABOUT: &str = "Send signed webhooks: one, or a batch with a progress bar, with retries.

Signs with the same scheme definitions as tower-webhook's VerifySignatureLayer, so a receiver
built with it accepts what this sends. This build sends over plain http:// only: it has no TLS.
To reach an https:// endpoint, use `webhook sign` and curl, or a local TLS-terminating proxy.

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
    /// Sign and send one webhook (POST, application/json) to an http:// URL.
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
    /// `curl -H @headers.txt --data-binary @payload.json URL`.
    Sign(SignArgs),
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
        /// The scheme the secret is for.
        #[arg(long, value_enum, default_value = "standard-webhooks")]
        scheme: SchemeName,
    },
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The signature scheme.
    #[arg(long, value_enum)]
    scheme: SchemeName,
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true, help = SECRET_HELP)]
    secret: String,
    /// The exact bytes to sign; send this same file with `--data-binary`.
    #[arg(long)]
    payload_file: PathBuf,
    /// The event type, for schemes with an event header (github, shopify).
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

    let payload = input::read_payload_file(&args.payload_file)?;
    let scheme = args.scheme.scheme();
    let id = match args.id {
        Some(id) => id,
        None => DeliveryId::generate()
            .map_err(|error| Failure::input(error.to_string()))?
            .to_string(),
    };
    let now = tower_webhook::Clock::unix_now(&tower_webhook::SystemClock);
    let mut message = Message::new(&payload).id(&id).timestamp(now);
    if let Some(event) = &args.event {
        message = message.event_type(event);
    }
    let headers = scheme
        .sign(&Secret::new(args.secret), &message)
        .map_err(|error| Failure::input(error.to_string()))?;
    println!("Content-Type: application/json");
    for (name, value) in &headers {
        println!("{name}: {}", value.to_str().unwrap_or_default());
    }
    Ok(())
}
