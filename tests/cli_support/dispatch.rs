//! Running the `webhook` program's sending-system commands in tests: one-off commands, workers
//! in the background, scratch directories and Postgres databases.
#![allow(dead_code)] // Each test file uses some of these.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variables the program reads, removed so that the caller's shell cannot
/// change a test.
const ENV: [&str; 3] = ["WEBHOOK_DB", "WEBHOOK_STORAGE_KEY", "WEBHOOK_SECRET"];

pub use crate::cli_support::{Scratch, random};

/// The `webhook` program with a fixed environment: these variables set, the program's
/// others removed.
#[derive(Clone, Default)]
pub struct Webhook {
    env: HashMap<String, String>,
}

impl Webhook {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_webhook"));
        command.args(args);
        for name in ENV {
            command.env_remove(name);
        }
        command.envs(&self.env);
        command
    }

    /// Runs to the end (on a blocking thread, so that the test's servers keep answering).
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(
            output.status.success(),
            "webhook {args:?} failed ({:?}):\n{}{}",
            output.status,
            text(&output.stdout),
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Starts in the background; its stdout and stderr lines are collected as they come.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut command = self.command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Running {
            child,
            stdout,
            stderr,
            readers,
        }
    }
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(line) => lines.lock().unwrap().push(line),
                Err(_) => break,
            }
        }
    })
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `webhook` process running in the background.
pub struct Running {
    pub child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How a background process ended, and everything it printed.
#[derive(Debug)]
pub struct Ended {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Sends `signal` (SIGTERM, SIGKILL, …) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits for the process to end, at most `limit` (then kills it and fails).
    pub async fn wait(mut self, limit: Duration) -> Ended {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running after {limit:?}; stdout:\n{}\nstderr:\n{}",
                    self.stdout_lines().join("\n"),
                    self.stderr.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        Ended {
            status,
            stdout: self.stdout_lines(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `done` holds, checking every 10 ms, at most `limit`.
pub async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A database of its own on the server `DATABASE_URL` names, or `None` (having said SKIP)
/// when it is not set.
pub async fn postgres_database(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        // In CI (.ci/run starts a server) a missing database is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but DATABASE_URL is not"
        );
        eprintln!("SKIP: {test} needs PostgreSQL (set DATABASE_URL; .ci/postgres.sh starts one)");
        return None;
    };
    use sqlx::Connection as _;
    let name = format!("tw_cli_{}", random());
    let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(url.to_string())
}

/// Every occurrence of `needle` in the file at `path` (missing files hold none).
pub fn file_contains(path: &Path, needle: &[u8]) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    !needle.is_empty() && bytes.windows(needle.len()).any(|window| window == needle)
}

/// A delivery as `webhook deliveries --json` lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub endpoint: String,
    pub event: String,
    pub event_type: String,
    pub status: String,
    pub attempts: u64,
}

/// Every delivery `webhook deliveries --json` lists, by id.
pub async fn deliveries(webhook: &Webhook, db: &str) -> HashMap<String, Listed> {
    let listed = webhook
        .ok(&["deliveries", "--db", db, "--json", "--limit", "100000"])
        .await;
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    listed
        .into_iter()
        .map(|d| {
            let field = |name: &str| d[name].as_str().unwrap().to_owned();
            let delivery = Listed {
                endpoint: field("endpoint_id"),
                event: field("event_id"),
                event_type: field("event_type"),
                status: field("status"),
                attempts: d["attempts"].as_u64().unwrap(),
            };
            (field("id"), delivery)
        })
        .collect()
}
