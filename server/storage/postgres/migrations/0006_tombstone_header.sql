-- A deleted message keeps its envelope header (../../migrations/0006_tombstone_header.sql).
ALTER TABLE messages ADD COLUMN header BYTEA;
