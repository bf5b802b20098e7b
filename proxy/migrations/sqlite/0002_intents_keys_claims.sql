-- Intents (rows without an outcome) that outcome rows point at; key bindings and claims in
-- tables of their own. The audit table is rebuilt to drop NOT NULL from `outcome`; 0.1's
-- webhook rows kept the event name in `source`, now in `detail`.
CREATE TABLE audit_v2 (
    id              INTEGER PRIMARY KEY,
    ts              TEXT NOT NULL,      -- RFC 3339, UTC, milliseconds: sorts as text
    kind            TEXT NOT NULL,      -- intent, unlink, webhook, resolution
    request_id      TEXT,
    principal       TEXT,
    account_id      TEXT,
    idempotency_key TEXT,
    client_ip       TEXT,
    outcome         TEXT,               -- NULL exactly for intents
    source          TEXT,
    upstream_status INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    latency_ms      INTEGER,
    intent_id       INTEGER,            -- the intent an unlink or resolution row settles
    detail          TEXT,
    CHECK ((kind = 'intent') = (outcome IS NULL))
);
INSERT INTO audit_v2 (id, ts, kind, request_id, principal, account_id, idempotency_key,
    client_ip, outcome, source, upstream_status, attempts, latency_ms, detail)
SELECT id, ts, kind, request_id, principal, account_id, idempotency_key, client_ip,
    outcome, CASE WHEN kind = 'webhook' THEN 'webhook' ELSE source END, upstream_status,
    attempts, latency_ms, CASE WHEN kind = 'webhook' THEN source END
FROM audit;
DROP TABLE audit;
ALTER TABLE audit_v2 RENAME TO audit;
CREATE INDEX audit_by_account ON audit (account_id, id);
CREATE INDEX audit_by_intent ON audit (intent_id) WHERE intent_id IS NOT NULL;
CREATE INDEX audit_by_ts ON audit (ts);
CREATE UNIQUE INDEX audit_webhook_once ON audit (account_id) WHERE kind = 'webhook';
CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    principal   TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    outcome     TEXT                    -- the final outcome, once there is one
);
-- 0.1 replayed final outcomes from audit rows: keep replaying the recent ones.
INSERT OR IGNORE INTO idempotency_keys (key, principal, account_id, created_ms, outcome)
SELECT idempotency_key, principal, account_id,
    CAST((julianday(ts) - 2440587.5) * 86400000 AS INTEGER), outcome
FROM audit
WHERE kind = 'unlink' AND outcome IN ('unlinked', 'already_unlinked')
    AND idempotency_key IS NOT NULL AND principal IS NOT NULL AND account_id IS NOT NULL
ORDER BY id;
CREATE TABLE claims (
    account_id  TEXT PRIMARY KEY,
    intent_id   INTEGER NOT NULL,
    holder      TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
);
