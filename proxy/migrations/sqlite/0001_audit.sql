-- The trail as 0.1 wrote it: one row per request.
CREATE TABLE audit (
    id              INTEGER PRIMARY KEY,
    ts              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    request_id      TEXT,
    principal       TEXT,
    account_id      TEXT,
    idempotency_key TEXT,
    client_ip       TEXT,
    outcome         TEXT NOT NULL,
    source          TEXT,
    upstream_status INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    latency_ms      INTEGER
);
CREATE INDEX audit_by_key ON audit (idempotency_key, ts);
CREATE INDEX audit_by_account ON audit (account_id, ts);
CREATE UNIQUE INDEX audit_webhook_once ON audit (account_id, outcome) WHERE kind = 'webhook';
