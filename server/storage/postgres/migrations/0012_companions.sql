-- Companion groups (../../migrations/0012_companions.sql).
CREATE TABLE companions (
    companion_id BYTEA   PRIMARY KEY REFERENCES groups(group_id) ON DELETE CASCADE,
    group_id     BYTEA   NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('notes', 'ask')),
    asker_id     BYTEA,
    claimed_by   BIGINT  REFERENCES facilitators(id) ON DELETE SET NULL,
    closed_at    BIGINT,
    created_at   BIGINT  NOT NULL,
    CHECK ((kind = 'ask') = (asker_id IS NOT NULL))
);
CREATE UNIQUE INDEX companions_one_notes ON companions(group_id) WHERE kind = 'notes';
CREATE UNIQUE INDEX companions_one_open_ask ON companions(group_id, asker_id)
    WHERE kind = 'ask' AND closed_at IS NULL;
CREATE INDEX companions_group ON companions(group_id);

-- Administrators (../../migrations/0012_companions.sql).
ALTER TABLE facilitators ADD COLUMN administrator BIGINT NOT NULL DEFAULT 0;
