-- The tamper-evident audit log of facilitator actions: each entry carries the SHA-256 of the
-- previous one (moderation/audit.py defines the hash), so a changed or removed row shows.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    group_id   BLOB,
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    prev_hash  BLOB    NOT NULL,
    entry_hash BLOB    NOT NULL
);
CREATE INDEX audit_log_group ON audit_log(group_id, seq);
