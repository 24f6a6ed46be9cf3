//! The receiver's command line, parsed by hand.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tower_webhook::crypto::PublicKey;
use tower_webhook::scheme::{self, Meta, PRESETS, Part, Scheme};
use tower_webhook::{Key, Secret, Secrets};

/// The usage text, with every preset's name.
pub fn usage() -> String {
    format!(
        "\
usage: cargo run --example receive -- --scheme <SCHEME> (--secret S | --public-key K) ...
                                      [--url URL | --url-from-request] [--verify-token T]
                                      [--tolerance SECS] [--now UNIX_SECS]
                                      [--max-body BYTES] [--addr 127.0.0.1:PORT] [--replay]
       cargo run --example receive -- --list-schemes

  --scheme        the provider, one of {count} presets (--list-schemes prints them):
{names}
  --secret        a signing secret, exactly as the provider shows it; repeat it for rotation
  --public-key    a public key, for the schemes signed with a key pair; repeat it for rotation:
                    discord            64 hex digits (the application's public key)
                    sendgrid           base64 SPKI DER (the verification key) or PEM
                    standard-webhooks  whpk_ and base64 (v1a)
  --url           the public URL the provider calls, as registered with it, for the schemes
                  that sign it: {url_schemes}. Each request's query is added unless
                  the URL has one; the receiver serves the URL's path as well as /webhook
  --url-from-request
                  rebuild that URL from each request's Host (or X-Forwarded-Host) and
                  X-Forwarded-Proto (default https) instead: only where no proxy rewrites
                  the request and no client can set those headers
  --verify-token  meta only: the verify token you gave Meta, to answer its subscription check
                  (GET ?hub.mode=subscribe&hub.challenge=...&hub.verify_token=...)
  --tolerance     how far a signed timestamp may be from now, in seconds, both ways (default:
                  the scheme's own, 300 for most)
  --now           verify as if the time were this (Unix seconds), to replay captured deliveries
  --max-body      the largest body accepted, in bytes (default 10485760)
  --addr          where to listen (default 127.0.0.1:3000)
  --replay        refuse a second delivery of an id already accepted (409), in memory
  --list-schemes  print every scheme name, one a line, and exit

--secret and --public-key may be mixed and repeated (standard-webhooks takes whsec_ secrets
and whpk_ keys at once). Keys are numbered from 1 in the order they appear on the command
line, whichever flag gave them; a verified delivery reports the number of the key that
matched.

/webhook (and the --url path) answers 200 with JSON when the delivery verifies, and the
refusal's status and reason otherwise; providers' endpoint checks (Slack, Twitch, Zoom,
Discord, Meta with --verify-token) are answered by the layer. GET /health answers 200.",
        count = PRESETS.len(),
        names = wrapped(PRESETS, "                    ", 92),
        url_schemes = url_signing_presets().join(", "),
    )
}

/// `--list-schemes`' output: every preset's name, one a line, in `PRESETS` order.
pub fn scheme_list() -> String {
    PRESETS.join("\n")
}

/// The presets whose signature covers the URL the provider called.
pub fn url_signing_presets() -> Vec<&'static str> {
    PRESETS
        .iter()
        .copied()
        .filter(|name| scheme::preset(name).is_some_and(|scheme| signs_url(&*scheme)))
        .collect()
}

fn signs_url(scheme: &dyn Scheme) -> bool {
    scheme.signed_content().contains(&Part::Url)
}

/// `words`, separated by `, ` and wrapped before `width` columns, each line after `indent`.
fn wrapped(words: &[&str], indent: &str, width: usize) -> String {
    let mut lines = vec![String::from(indent)];
    for (index, word) in words.iter().enumerate() {
        let separator = if index + 1 < words.len() { "," } else { "" };
        let line = lines.last_mut().expect("one line at least");
        if line.len() > indent.len() && line.len() + word.len() + separator.len() + 1 > width {
            lines.push(String::from(indent));
        }
        let line = lines.last_mut().expect("one line at least");
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
        line.push_str(separator);
    }
    lines.join("\n")
}

/// What the command line asked for.
#[derive(Debug)]
pub struct Options {
    /// The preset's name, one of `PRESETS`.
    pub scheme: String,
    /// Every `--secret` and `--public-key`, in command-line order.
    pub keys: Vec<KeyArg>,
    /// `--url`: the public URL, for schemes that sign it.
    pub url: Option<String>,
    /// `--url-from-request`.
    pub url_from_request: bool,
    /// `--verify-token`, for Meta; a `Secret`, so that `Debug` does not show it.
    pub verify_token: Option<Secret>,
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

    /// The scheme: the preset of that name, or Meta with its verify token.
    pub fn scheme(&self) -> Arc<dyn Scheme> {
        match &self.verify_token {
            // `parse` allows a verify token with `--scheme meta` only.
            Some(token) => Arc::new(Meta.to_custom().verify_token(token.clone())),
            None => scheme::preset(&self.scheme).expect("`parse` checked the name"),
        }
    }
}

/// What to do after parsing.
#[derive(Debug)]
pub enum Command {
    Run(Options),
    Help,
    ListSchemes,
}

/// The flags that take a value.
const VALUED: &[&str] = &[
    "--scheme",
    "--secret",
    "--public-key",
    "--url",
    "--verify-token",
    "--tolerance",
    "--now",
    "--max-body",
    "--addr",
];

/// Parses the arguments after the program name. Flags take their value as the next argument
/// or after `=` (`--scheme=github`).
///
/// Whether the keys suit the scheme (and whether there are any), and whether `--url` is a
/// URL, is left to the layer, when the app is built: its messages name a key by position
/// without showing it.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut scheme = None;
    let mut keys = Vec::new();
    let mut url = None;
    let mut url_from_request = false;
    let mut verify_token = None;
    let mut tolerance = None;
    let mut now = None;
    let mut max_body = None;
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let mut replay = false;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--list-schemes" => return Ok(Command::ListSchemes),
            "--replay" => {
                replay = true;
                continue;
            }
            "--url-from-request" => {
                url_from_request = true;
                continue;
            }
            _ => {}
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if !VALUED.contains(&flag.as_str()) {
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
                if scheme::preset(&value).is_none() {
                    return Err(format!(
                        "unknown scheme `{value}`: `--list-schemes` prints the {} known ones",
                        PRESETS.len()
                    ));
                }
                scheme = Some(value);
            }
            "--secret" => keys.push(KeyArg::Secret(value)),
            "--public-key" => keys.push(KeyArg::Public(value)),
            "--url" => url = Some(value),
            "--verify-token" => verify_token = Some(Secret::new(value)),
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
    if verify_token.is_some() && scheme != "meta" {
        return Err(format!(
            "`--verify-token` is for `--scheme meta` (Meta's subscription check), not `{scheme}`"
        ));
    }
    let signs_url = scheme::preset(&scheme).is_some_and(|scheme| signs_url(&*scheme));
    match (url.is_some(), url_from_request) {
        (true, true) => return Err("give `--url` or `--url-from-request`, not both".into()),
        (false, false) if signs_url => {
            // Without either the layer would answer every delivery 500: say so now.
            return Err(format!(
                "`--scheme {scheme}` signs the URL the provider calls: give it with `--url` \
                 (the public URL, as registered) or use `--url-from-request`"
            ));
        }
        (true, false) | (false, true) if !signs_url => {
            let flag = if url_from_request {
                "--url-from-request"
            } else {
                "--url"
            };
            return Err(format!(
                "`{flag}` is for the schemes that sign the URL ({}), not `{scheme}`",
                url_signing_presets().join(", ")
            ));
        }
        _ => {}
    }
    Ok(Command::Run(Options {
        scheme,
        keys,
        url,
        url_from_request,
        verify_token,
        tolerance,
        now,
        max_body,
        addr,
        replay,
    }))
}
