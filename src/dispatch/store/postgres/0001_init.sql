-- tower-webhook's Dispatcher tables. Times are Unix milliseconds (BIGINT).

CREATE TABLE tower_webhook_endpoints (
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    scheme TEXT NOT NULL,
    sealed_secrets BYTEA NOT NULL,
    patterns TEXT[] NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    name TEXT,
    labels JSONB NOT NULL,
    max_in_flight BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    failing_since BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE tower_webhook_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    content_type TEXT NOT NULL,
    -- NULLs never conflict: only events given a key are deduplicated.
    idempotency_key TEXT UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE tower_webhook_deliveries (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    run_attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_status INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Claims: each enabled endpoint's oldest due deliveries.
CREATE INDEX tower_webhook_deliveries_due
    ON tower_webhook_deliveries (endpoint_id, next_attempt_at, seq)
    WHERE status = 'pending';
-- Listings, newest first, of all or of one endpoint or event.
CREATE INDEX tower_webhook_deliveries_seq ON tower_webhook_deliveries (seq);
CREATE INDEX tower_webhook_deliveries_endpoint ON tower_webhook_deliveries (endpoint_id, seq);
CREATE INDEX tower_webhook_deliveries_event ON tower_webhook_deliveries (event_id, seq);

-- Leases of pending deliveries, apart from them: a claim writes only this small table, not
-- a new version of each delivery in every one of its indexes.
CREATE TABLE tower_webhook_leases (
    delivery_id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    token BIGINT NOT NULL,
    until BIGINT NOT NULL
);

-- Claims: each endpoint's deliveries in flight, against its max_in_flight.
CREATE INDEX tower_webhook_leases_endpoint ON tower_webhook_leases (endpoint_id, until);

CREATE TABLE tower_webhook_attempts (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status INTEGER,
    error TEXT,
    response_body BYTEA NOT NULL
);

CREATE INDEX tower_webhook_attempts_delivery ON tower_webhook_attempts (delivery_id, seq);
CREATE INDEX tower_webhook_attempts_endpoint ON tower_webhook_attempts (endpoint_id, seq);
