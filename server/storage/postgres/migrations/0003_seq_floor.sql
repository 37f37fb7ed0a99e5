-- The highest seq retention has deleted from each group (../../migrations/0003_seq_floor.sql).
ALTER TABLE groups ADD COLUMN seq_floor BIGINT NOT NULL DEFAULT 0;
