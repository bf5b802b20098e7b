-- One row that /healthz rewrites, so the health check is a real write: a full disk or a
-- read-only file shows there before an unlink finds out. `room` is rewritten with as many
-- bytes as an unlink's commits take, so a disk with room for the check has room for one.
CREATE TABLE health (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_ms  INTEGER NOT NULL,
    room        BLOB
);
-- Why an unlink was asked for (user_request, account_closed, erasure_request, offboarding,
-- other), and through which door it came (widget, service, cli, library).
ALTER TABLE audit ADD COLUMN reason TEXT;
ALTER TABLE audit ADD COLUMN via TEXT;
