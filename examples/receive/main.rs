//! A real webhook receiver, for trying a provider's webhooks locally.
//!
//! ```text
//! cargo run --example receive -- --scheme github --secret "It's a Secret to Everybody"
//! cargo run --example receive -- --scheme stripe --secret whsec_... --now 1700000000
//! cargo run --example receive -- --scheme discord --public-key <64 hex digits>
//! cargo run --example receive -- --scheme sendgrid --public-key MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...
//! cargo run --example receive -- --scheme standard-webhooks --secret whsec_... --public-key whpk_...
//! cargo run --example receive -- --scheme twilio --secret <auth token> --url https://example.com/twilio
//! cargo run --example receive -- --scheme meta --secret <app secret> --verify-token <your token>
//! cargo run --example receive -- --list-schemes
//! ```
//!
//! `--scheme` takes any name in `tower_webhook::scheme::PRESETS`; `--list-schemes` prints
//! them. /webhook answers 200 with JSON (`scheme`, `id`, `key`, `key_flag`, `bytes`,
//! `event_type`) when the delivery verifies, and the refusal's status and reason otherwise;
//! GET /health answers 200. `key` counts `--secret` and `--public-key` together from 1, in
//! command-line order. `--now` fixes the clock, for replaying captured deliveries.
//!
//! Twilio, Square and HubSpot sign the URL they call: give it with `--url` (the public URL, as
//! registered; the receiver serves its path as well as /webhook) or, with no proxy in between,
//! `--url-from-request`. `--verify-token` answers Meta's subscription check. Bad flags, and keys
//! the scheme cannot use (the layer's own message), print the usage on stderr and exit with
//! code 2. Run with `--help` for every flag.

mod app;
mod options;

use std::process::ExitCode;

use options::Command;

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{}", options::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::ListSchemes) => {
            println!("{}", options::scheme_list());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{}", options::usage());
            return ExitCode::from(2);
        }
    };
    let app = match app::app(&options) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: {error}\n\n{}", options::usage());
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(options.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    // The bound address, not the flag's: with `--addr 127.0.0.1:0` it holds the port given.
    let addr = listener.local_addr().unwrap_or(options.addr);
    // The URL's path only: a URL may carry credentials, which a log should not.
    let also = match app::url_path(&options) {
        Some(path) => format!(" and {path}"),
        None => String::new(),
    };
    println!(
        "receiving {} webhooks on http://{addr}/webhook{also} ({} key(s){})",
        options.scheme,
        options.keys.len(),
        match options.now {
            Some(now) => format!(", clock fixed at {now}"),
            None => String::new(),
        }
    );
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
