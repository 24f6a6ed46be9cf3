//! A real webhook receiver, for trying a provider's webhooks locally.
//!
//! ```text
//! cargo run --example receive -- --scheme github --secret "It's a Secret to Everybody"
//! cargo run --example receive -- --scheme stripe --secret whsec_... --now 1700000000
//! cargo run --example receive -- --scheme discord --public-key <64 hex digits>
//! cargo run --example receive -- --scheme sendgrid --public-key MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...
//! cargo run --example receive -- --scheme standard-webhooks --secret whsec_... --public-key whpk_...
//! ```
//!
//! POST /webhook answers 200 with JSON (`scheme`, `id`, `key`, `key_flag`, `bytes`,
//! `event_type`) when the delivery verifies, and the refusal's status and reason otherwise;
//! GET /health answers 200. `key` counts `--secret` and `--public-key` together from 1, in
//! command-line order. `--now` fixes the clock, for replaying captured deliveries. Bad flags,
//! and keys the scheme cannot use (the layer's own message), print the usage on stderr and
//! exit with code 2. Run with `--help` for every flag.

mod app;
mod options;

use std::process::ExitCode;

use options::{Command, USAGE};

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let app = match app::app(&options) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
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
    println!(
        "receiving {} webhooks on http://{addr}/webhook ({} key(s){})",
        options.scheme.scheme().name(),
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
