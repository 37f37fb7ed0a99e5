-- The tamper-evident audit log (../../migrations/0002_audit_log.sql).
CREATE TABLE audit_log (
    seq        BIGINT  PRIMARY KEY,
    at         BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    group_id   BYTEA,
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    prev_hash  BYTEA   NOT NULL,
    entry_hash BYTEA   NOT NULL
);
CREATE INDEX audit_log_group ON audit_log(group_id, seq);

-- SQLite's json_extract for the audit queries the stores share (server/storage/audit.py), for
-- the paths they use: '$.key' of a JSON object whose value is an integer.
CREATE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT
    RETURN (doc::jsonb ->> substr(path, 3))::bigint;
