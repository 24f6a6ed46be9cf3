//! The sending system's commands: `endpoints`, `dispatch`, `worker`, `deliveries`, `resend`.
//!
//! Each opens the Dispatcher's store (`--db`: a SQLite file or a `postgres://` URL) with the
//! storage key that seals endpoints' secrets, does one thing, and says what it did.

use std::path::PathBuf;
use std::time::SystemTime;

use tower_webhook::dispatch::{
    DispatchError, Dispatcher, DispatcherBuilder, KeySource, StorageKey,
};

use crate::Failure;

pub(crate) mod deliveries;
pub(crate) mod dispatch_cmd;
pub(crate) mod endpoints;
mod progress;
mod signals;
pub(crate) mod text;
pub(crate) mod worker;

/// The environment variable that may hold the storage key, as 64 hex digits.
const KEY_ENV: &str = "WEBHOOK_STORAGE_KEY";

/// Where the deliveries are kept, and the key that seals the endpoints' secrets there.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DbArgs {
    /// The database: a SQLite file (made by `endpoints add` when missing) or a postgres:// URL.
    #[arg(long, env = "WEBHOOK_DB", hide_env_values = true, value_name = "DB")]
    db: String,
    /// A file holding the storage key that seals endpoints' secrets (64 hex digits), made
    /// (mode 0600) when missing. Without it: WEBHOOK_STORAGE_KEY, else for SQLite the file
    /// `<DB>.key` beside the database. Keep the key apart from database backups.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

/// Whether `--db` names a Postgres database rather than a SQLite file.
fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl DbArgs {
    /// The database as it may be shown: a Postgres URL without its password.
    pub(crate) fn shown(&self) -> String {
        if !is_postgres(&self.db) {
            return self.db.clone();
        }
        match url::Url::parse(&self.db) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "the postgres:// URL given".to_owned(),
        }
    }

    /// Opens the store, which must exist already for a SQLite file unless `create`.
    pub(crate) async fn open(&self, create: bool) -> Result<DispatcherBuilder, Failure> {
        if !is_postgres(&self.db) && !create && !std::path::Path::new(&self.db).exists() {
            return Err(Failure::input(format!(
                "no database at {}: `webhook endpoints add --db {}` makes one",
                self.db,
                text::shell_word(&self.db)
            )));
        }
        let key = self.key()?;
        let (builder, source) =
            Dispatcher::open(&self.db, key)
                .await
                .map_err(|error| match error {
                    DispatchError::KeyRequired => Failure::input(format!(
                        "{} is shared by every worker: give its storage key with --key-file or \
                     {KEY_ENV} (64 hex digits, the same everywhere)",
                        self.shown()
                    )),
                    DispatchError::Store(error) => {
                        runtime(format!("cannot open {}: {error}", self.shown()))
                    }
                    other => failure(other),
                })?;
        if let KeySource::Created(path) = source {
            eprintln!(
                "created storage key {} (mode 0600): keep it; it is not in the database",
                path.display()
            );
        }
        Ok(builder)
    }

    /// The key given, if any: --key-file (made when missing), then the environment.
    fn key(&self) -> Result<Option<StorageKey>, Failure> {
        if let Some(path) = &self.key_file {
            let (key, created) = StorageKey::load_or_create(path).map_err(failure)?;
            if created {
                eprintln!(
                    "created storage key {} (mode 0600): keep it; it is not in the database",
                    path.display()
                );
            }
            return Ok(Some(key));
        }
        match std::env::var(KEY_ENV) {
            Ok(text) => StorageKey::from_hex(&text).map(Some).map_err(|_| {
                Failure::input(format!("{KEY_ENV} is not a storage key (64 hex digits)"))
            }),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Failure::input(format!(
                "{KEY_ENV} is not a storage key (64 hex digits)"
            ))),
        }
    }
}

/// A failure of the system rather than of the input: a database, the network.
pub(crate) fn runtime(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        status: 1,
    }
}

/// The exit status a Dispatcher error stands for: 2 when the input was wrong, 1 when the
/// store or the system failed.
pub(crate) fn failure(error: DispatchError) -> Failure {
    let message = error.to_string();
    match error {
        DispatchError::Store(_) | DispatchError::Sealed { .. } | DispatchError::Randomness => {
            runtime(message)
        }
        _ => Failure::input(message),
    }
}

/// A time as RFC 3339 in UTC, to the millisecond.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// Unix milliseconds as RFC 3339.
pub(crate) fn rfc3339_ms(millis: i64) -> String {
    let offset = std::time::Duration::from_millis(millis.unsigned_abs());
    let time = if millis >= 0 {
        SystemTime::UNIX_EPOCH + offset
    } else {
        SystemTime::UNIX_EPOCH - offset
    };
    rfc3339(time)
}
