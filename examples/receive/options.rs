//! The receiver's command line, parsed by hand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tower_webhook::scheme::{Generic, GitHub, Scheme, Shopify, Slack, StandardWebhooks, Stripe};

pub const USAGE: &str = "\
usage: cargo run --example receive -- --scheme <SCHEME> --secret S [--secret S2 ...]
                                      [--tolerance SECS] [--now UNIX_SECS]
                                      [--max-body BYTES] [--addr 127.0.0.1:PORT] [--replay]

  --scheme      github | stripe | slack | standard-webhooks | shopify | generic
  --secret      a signing secret, exactly as the provider shows it; repeat it for rotation
  --tolerance   how far a signed timestamp may be from now, in seconds (default 300)
  --now         verify as if the time were this (Unix seconds), to replay captured deliveries
  --max-body    the largest body accepted, in bytes (default 10485760)
  --addr        where to listen (default 127.0.0.1:3000)
  --replay      refuse a second delivery of an id already accepted (409), in memory

POST /webhook answers 200 with JSON when the delivery verifies, and the refusal's status and
reason otherwise. GET /health answers 200.";

/// What the command line asked for.
#[derive(Debug)]
pub struct Options {
    pub scheme: SchemeName,
    pub secrets: Vec<String>,
    pub tolerance: Option<Duration>,
    pub now: Option<i64>,
    pub max_body: Option<usize>,
    pub addr: SocketAddr,
    pub replay: bool,
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
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut scheme = None;
    let mut secrets = Vec::new();
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
                         standard-webhooks, shopify or generic"
                    )
                })?);
            }
            "--secret" => secrets.push(value),
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
    if secrets.is_empty() {
        return Err("at least one `--secret` is required".to_owned());
    }
    Ok(Command::Run(Options {
        scheme,
        secrets,
        tolerance,
        now,
        max_body,
        addr,
        replay,
    }))
}
