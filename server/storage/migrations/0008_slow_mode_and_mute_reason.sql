-- Slow mode: the least number of seconds between two messages of one member of the group
-- (0: off). Facilitators of the group are exempt (docs/protocol.md, "Slow mode").
ALTER TABLE groups ADD COLUMN slow_mode_seconds INTEGER NOT NULL DEFAULT 0
    CHECK (slow_mode_seconds >= 0);

-- Why a member is muted, as the facilitator gave it: the group rule it is about (a line of the
-- group's rules) and the facilitator's note. Shown to that member only, on every connect, until
-- the mute ends; the same text is in the audit log already.
ALTER TABLE members ADD COLUMN mute_rule TEXT;
ALTER TABLE members ADD COLUMN mute_note TEXT;
