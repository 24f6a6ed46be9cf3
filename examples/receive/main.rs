//! A real webhook receiver, for trying a provider's webhooks locally.
//!
//! ```text
//! cargo run --example receive -- --scheme github --secret "It's a Secret to Everybody"
//! cargo run --example receive -- --scheme stripe --secret whsec_... --now 1700000000
//! ```
//!
//! POST /webhook answers 200 with JSON (`scheme`, `id`, `key`, `bytes`) when the delivery
//! verifies, and the refusal's status and reason otherwise; GET /health answers 200. `--now`
//! fixes the clock, for replaying captured deliveries. Bad flags print the usage on stderr and
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
    println!(
        "receiving {} webhooks on http://{}/webhook ({} secret(s){})",
        options.scheme.scheme().name(),
        options.addr,
        options.secrets.len(),
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
