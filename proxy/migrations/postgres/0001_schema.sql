-- The record shared by every replica: the trail, key bindings, claims and rate limits.
CREATE TABLE audit (
    id              BIGSERIAL PRIMARY KEY,
    ts              TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    kind            TEXT NOT NULL,
    request_id      TEXT,
    principal       TEXT,
    account_id      TEXT,
    idempotency_key TEXT,
    client_ip       TEXT,
    outcome         TEXT,
    source          TEXT,
    upstream_status INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    latency_ms      BIGINT,
    intent_id       BIGINT,
    detail          TEXT,
    imported_from   TEXT,
    CHECK ((kind = 'intent') = (outcome IS NULL))
);
CREATE INDEX audit_by_account ON audit (account_id, id);
CREATE INDEX audit_by_intent ON audit (intent_id) WHERE intent_id IS NOT NULL;
CREATE INDEX audit_by_ts ON audit (ts);
CREATE UNIQUE INDEX audit_webhook_once ON audit (account_id) WHERE kind = 'webhook';
CREATE UNIQUE INDEX audit_imported_once ON audit (imported_from)
    WHERE imported_from IS NOT NULL;
CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    principal   TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    outcome     TEXT
);
CREATE TABLE claims (
    account_id  TEXT PRIMARY KEY,
    intent_id   BIGINT NOT NULL,
    holder      TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
-- Counters need no durability: a crash forgets them, and skipping the WAL makes the
-- check on every request cheap.
CREATE UNLOGGED TABLE rate_limits (
    bucket      TEXT PRIMARY KEY,
    tat_us      BIGINT NOT NULL
);
