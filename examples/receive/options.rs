//! The receiver's command line, parsed by hand.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tower_webhook::crypto::PublicKey;
use tower_webhook::scheme::{
    Discord, Generic, GitHub, Scheme, SendGrid, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{Key, Secret, Secrets};

pub const USAGE: &str = "\
usage: cargo run --example receive -- --scheme <SCHEME> (--secret S | --public-key K) ...
                                      [--tolerance SECS] [--now UNIX_SECS]
                                      [--max-body BYTES] [--addr 127.0.0.1:PORT] [--replay]

  --scheme      github | stripe | slack | standard-webhooks | shopify | generic
                | discord | sendgrid
  --secret      a signing secret, exactly as the provider shows it; repeat it for rotation
  --public-key  a public key, for the schemes signed with a key pair; repeat it for rotation:
                  discord            64 hex digits (the application's public key)
                  sendgrid           base64 SPKI DER (the verification key) or PEM
                  standard-webhooks  whpk_ and base64 (v1a)
  --tolerance   how far a signed timestamp may be from now, in seconds (default 300)
  --now         verify as if the time were this (Unix seconds), to replay captured deliveries
  --max-body    the largest body accepted, in bytes (default 10485760)
  --addr        where to listen (default 127.0.0.1:3000)
  --replay      refuse a second delivery of an id already accepted (409), in memory

--secret and --public-key may be mixed and repeated (standard-webhooks takes whsec_ secrets
and whpk_ keys at once). Keys are numbered from 1 in the order they appear on the command
line, whichever flag gave them; a verified delivery reports the number of the key that
matched.

POST /webhook answers 200 with JSON when the delivery verifies, and the refusal's status and
reason otherwise. GET /health answers 200.";

/// What the command line asked for.
#[derive(Debug)]
pub struct Options {
    pub scheme: SchemeName,
    /// Every `--secret` and `--public-key`, in command-line order.
    pub keys: Vec<KeyArg>,
    pub tolerance: Option<Duration>,
    pub now: Option<i64>,
    pub max_body: Option<usize>,
    pub addr: SocketAddr,
    pub replay: bool,
}

/// One key flag, as given.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyArg {
    Secret(String),
    Public(String),
}

impl KeyArg {
    /// The flag that gave it, for messages.
    pub fn flag(&self) -> &'static str {
        match self {
            Self::Secret(_) => "--secret",
            Self::Public(_) => "--public-key",
        }
    }

    pub fn key(&self) -> Key {
        match self {
            Self::Secret(text) => Secret::new(text.as_str()).into(),
            Self::Public(text) => PublicKey::new(text.as_str()).into(),
        }
    }
}

// Options are printed when a test fails; a secret (or a private key given as one) must not be.
impl fmt::Debug for KeyArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(***)"),
            Self::Public(text) => f.debug_tuple("Public").field(text).finish(),
        }
    }
}

impl Options {
    /// The keys in the order given, so that `Verified::key_index` is a position in `keys`.
    pub fn secrets(&self) -> Secrets {
        self.keys.iter().map(KeyArg::key).collect()
    }
}

/// The schemes the receiver knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeName {
    GitHub,
    Stripe,
    Slack,
    StandardWebhooks,
    Shopify,
    Generic,
    Discord,
    SendGrid,
}

impl SchemeName {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "github" => Self::GitHub,
            "stripe" => Self::Stripe,
            "slack" => Self::Slack,
            "standard-webhooks" => Self::StandardWebhooks,
            "shopify" => Self::Shopify,
            "generic" => Self::Generic,
            "discord" => Self::Discord,
            "sendgrid" => Self::SendGrid,
            _ => return None,
        })
    }

    pub fn scheme(self) -> Arc<dyn Scheme> {
        match self {
            Self::GitHub => Arc::new(GitHub),
            Self::Stripe => Arc::new(Stripe),
            Self::Slack => Arc::new(Slack),
            Self::StandardWebhooks => Arc::new(StandardWebhooks),
            Self::Shopify => Arc::new(Shopify),
            Self::Generic => Arc::new(Generic),
            Self::Discord => Arc::new(Discord),
            Self::SendGrid => Arc::new(SendGrid),
        }
    }
}

/// What to do after parsing.
#[derive(Debug)]
pub enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name. Flags take their value as the next argument
/// or after `=` (`--scheme=github`).
///
/// Whether the keys suit the scheme (and whether there are any) is left to the layer, when
/// the app is built: it knows which schemes take secrets and which take public keys, and its
/// message names the key by position without showing it.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut scheme = None;
    let mut keys = Vec::new();
    let mut tolerance = None;
    let mut now = None;
    let mut max_body = None;
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let mut replay = false;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        if arg == "--replay" {
            replay = true;
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let known = [
            "--scheme",
            "--secret",
            "--public-key",
            "--tolerance",
            "--now",
            "--max-body",
            "--addr",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown argument `{flag}`"));
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?,
        };
        match flag.as_str() {
            "--scheme" => {
                scheme = Some(SchemeName::parse(&value).ok_or_else(|| {
                    format!(
                        "unknown scheme `{value}`: expected github, stripe, slack, \
                         standard-webhooks, shopify, generic, discord or sendgrid"
                    )
                })?);
            }
            "--secret" => keys.push(KeyArg::Secret(value)),
            "--public-key" => keys.push(KeyArg::Public(value)),
            "--tolerance" => {
                let seconds = value
                    .parse()
                    .map_err(|_| format!("`--tolerance` takes whole seconds, not `{value}`"))?;
                tolerance = Some(Duration::from_secs(seconds));
            }
            "--now" => {
                now = Some(
                    value
                        .parse()
                        .map_err(|_| format!("`--now` takes Unix seconds, not `{value}`"))?,
                );
            }
            "--max-body" => {
                max_body =
                    Some(value.parse().map_err(|_| {
                        format!("`--max-body` takes a number of bytes, not `{value}`")
                    })?);
            }
            "--addr" => {
                addr = value.parse().map_err(|_| {
                    format!("`--addr` takes IP:PORT, such as 127.0.0.1:3000, not `{value}`")
                })?;
            }
            _ => unreachable!("checked against the known flags"),
        }
    }

    let scheme = scheme.ok_or("`--scheme` is required")?;
    Ok(Command::Run(Options {
        scheme,
        keys,
        tolerance,
        now,
        max_body,
        addr,
        replay,
    }))
}
