-- messages becomes an ordinary rowid table: rows are appended in the order they are stored, so
-- the messages of one committed batch share table pages, and (group_id, seq) is kept as a
-- separate unique index. As a WITHOUT ROWID table keyed by (group_id, seq), every message of a
-- batch in a different group dirtied (and often split) its own 4 kB leaf of ~500-byte rows,
-- and the commit wrote each such page to the WAL in full (docs/storage.md). SQLite's own advice
-- is that WITHOUT ROWID suits rows well under a twentieth of a page.
CREATE TABLE messages_appended (
    group_id  BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    msg_id    BLOB    NOT NULL,
    sender_id BLOB    NOT NULL,
    epoch     INTEGER NOT NULL,
    server_ts INTEGER NOT NULL,
    envelope  BLOB,
    kid       INTEGER NOT NULL,
    rtag      BLOB    NOT NULL,
    PRIMARY KEY (group_id, seq)
);
INSERT INTO messages_appended (group_id, seq, msg_id, sender_id, epoch, server_ts, envelope, kid, rtag)
    SELECT group_id, seq, msg_id, sender_id, epoch, server_ts, envelope, kid, rtag
    FROM messages ORDER BY server_ts, group_id, seq;
DROP TABLE messages;
ALTER TABLE messages_appended RENAME TO messages;
CREATE UNIQUE INDEX messages_msg_id ON messages(group_id, msg_id);
CREATE INDEX messages_time ON messages(server_ts);
