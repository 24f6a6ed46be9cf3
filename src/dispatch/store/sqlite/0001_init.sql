-- The Dispatcher's tables. Times are Unix milliseconds. Every table that is listed in order has
-- an explicit INTEGER PRIMARY KEY (`seq`): VACUUM may renumber an implicit rowid.
-- https://www.sqlite.org/lang_vacuum.html

CREATE TABLE endpoints (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    scheme TEXT NOT NULL,
    -- Sealed by the Dispatcher's storage key: never plain text.
    sealed_secrets BLOB NOT NULL,
    -- A JSON array of event-type patterns.
    patterns TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    disabled_reason TEXT,
    name TEXT,
    -- A JSON object of labels.
    labels TEXT NOT NULL,
    max_in_flight INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    failing_since INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    payload BLOB NOT NULL,
    content_type TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL REFERENCES events (id),
    endpoint_id TEXT NOT NULL REFERENCES endpoints (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    run_attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    -- Set only while pending: cleared by every completion, release and requeue.
    lease_token INTEGER,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Claims walk the due deliveries in (next_attempt_at, seq) order: SQLite appends the rowid to
-- every index entry, so this index yields that order without a sort.
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id);
CREATE INDEX deliveries_event ON deliveries (event_id);
-- The deliveries in flight, per endpoint: small, as leases are cleared when attempts finish.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id, lease_until)
    WHERE lease_until IS NOT NULL;

-- No foreign key to deliveries: an attempt is logged whatever happens (it did happen).
CREATE TABLE attempts (
    seq INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    response_body BLOB NOT NULL
);

CREATE INDEX attempts_delivery ON attempts (delivery_id);
