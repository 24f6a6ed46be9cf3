//! Running the `webhook` program as a user would, for the tests of its commands.
#![allow(dead_code)] // Each test file uses some of these.

use std::process::Output;

/// Runs `webhook` with `args` (on a blocking thread, so that servers in the test keep
/// answering), without a `WEBHOOK_SECRET` from the environment.
pub async fn webhook(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_webhook"))
            .args(args)
            .env_remove("WEBHOOK_SECRET")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
