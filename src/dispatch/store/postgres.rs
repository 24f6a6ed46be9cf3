//! Placeholder: the PostgresStore is being written.

/// The postgres store (not implemented yet).
#[derive(Debug)]
pub struct PostgresStore;
