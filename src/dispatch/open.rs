//! Opening a Dispatcher from a database name: a SQLite file path or a `postgres://` URL.

use std::path::{Path, PathBuf};

use super::cipher::StorageKey;
use super::dispatcher::{Dispatcher, DispatcherBuilder};
use super::error::DispatchError;

/// Where a Dispatcher's storage key came from, as [`Dispatcher::open`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// The key was given.
    Given,
    /// Read from the key file beside the SQLite database.
    File(PathBuf),
    /// Created just now in a new key file beside the SQLite database (mode 0600): tell the
    /// operator, who must keep it, apart from database backups.
    Created(PathBuf),
}

impl Dispatcher {
    /// Opens the store `db` names — a SQLite file path (created if missing), or a
    /// `postgres://` / `postgresql://` URL — runs its migrations, and returns a builder.
    ///
    /// With no `key`, a SQLite database uses the key file beside it (`<db>.key`), creating
    /// one when there is none; the [`KeySource`] says which, so that a program can say so.
    /// Postgres, shared by several machines, needs the key given.
    ///
    /// ```no_run
    /// use tower_webhook::dispatch::{Dispatcher, KeySource};
    ///
    /// # async fn run() -> Result<(), tower_webhook::dispatch::DispatchError> {
    /// let (builder, key) = Dispatcher::open("deliveries.db", None).await?;
    /// if let KeySource::Created(path) = &key {
    ///     eprintln!("created the storage key {}: keep it apart from backups", path.display());
    /// }
    /// let dispatcher = builder.build();
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The store cannot be opened (or its feature is not enabled), or the key file cannot be
    /// read or created.
    pub async fn open(
        db: &str,
        key: Option<StorageKey>,
    ) -> Result<(DispatcherBuilder, KeySource), DispatchError> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return open_postgres(db, key).await;
        }
        open_sqlite(Path::new(db), key).await
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &str,
    key: Option<StorageKey>,
) -> Result<(DispatcherBuilder, KeySource), DispatchError> {
    let key = key.ok_or(DispatchError::KeyRequired)?;
    let store = super::PostgresStore::connect(url).await?;
    Ok((Dispatcher::builder(store, key), KeySource::Given))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    _url: &str,
    _key: Option<StorageKey>,
) -> Result<(DispatcherBuilder, KeySource), DispatchError> {
    Err(DispatchError::StoreUnavailable("postgres"))
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(
    path: &Path,
    key: Option<StorageKey>,
) -> Result<(DispatcherBuilder, KeySource), DispatchError> {
    let (key, source) = match key {
        Some(key) => (key, KeySource::Given),
        None => {
            let mut file = path.as_os_str().to_owned();
            file.push(".key");
            let file = PathBuf::from(file);
            let (key, created) = StorageKey::load_or_create(&file)?;
            let source = match created {
                true => KeySource::Created(file),
                false => KeySource::File(file),
            };
            (key, source)
        }
    };
    let store = super::SqliteStore::open(path).await?;
    Ok((Dispatcher::builder(store, key), source))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(
    _path: &Path,
    _key: Option<StorageKey>,
) -> Result<(DispatcherBuilder, KeySource), DispatchError> {
    Err(DispatchError::StoreUnavailable("sqlite"))
}
