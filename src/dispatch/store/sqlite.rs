//! Placeholder: the SqliteStore is being written.

/// The sqlite store (not implemented yet).
#[derive(Debug)]
pub struct SqliteStore;
