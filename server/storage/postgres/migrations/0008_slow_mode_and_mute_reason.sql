-- Slow mode and why a member is muted (../../migrations/0008_slow_mode_and_mute_reason.sql).
ALTER TABLE groups ADD COLUMN slow_mode_seconds BIGINT NOT NULL DEFAULT 0
    CHECK (slow_mode_seconds >= 0);
ALTER TABLE members ADD COLUMN mute_rule TEXT;
ALTER TABLE members ADD COLUMN mute_note TEXT;
