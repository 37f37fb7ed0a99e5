-- Companion groups (docs/protocol.md §6.10): a hidden group beside a group, whose roster is its
-- facilitators ('notes': hand-over notes) or one member and its facilitators ('ask': a member's
-- private request). A companion is a group like any other (epochs, messages, retention); this
-- table only says whose companion it is. `asker_id` is the asking member's member_id in the
-- group (the companion reuses the group's member keys, so it names nothing the group does not);
-- `claimed_by` is the facilitator account that said it handles a request. No content here.
CREATE TABLE companions (
    companion_id BLOB    PRIMARY KEY REFERENCES groups(group_id) ON DELETE CASCADE,
    group_id     BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('notes', 'ask')),
    asker_id     BLOB,
    claimed_by   INTEGER REFERENCES facilitators(id) ON DELETE SET NULL,
    closed_at    INTEGER,
    created_at   INTEGER NOT NULL,
    CHECK ((kind = 'ask') = (asker_id IS NOT NULL))
);
CREATE UNIQUE INDEX companions_one_notes ON companions(group_id) WHERE kind = 'notes';
CREATE UNIQUE INDEX companions_one_open_ask ON companions(group_id, asker_id)
    WHERE kind = 'ask' AND closed_at IS NULL;
CREATE INDEX companions_group ON companions(group_id);

-- Administrators (docs/protocol.md §6.11): facilitator accounts the operator made administrators
-- with `hearth facilitator administrator NAME`; they invite and remove facilitators of any group.
ALTER TABLE facilitators ADD COLUMN administrator INTEGER NOT NULL DEFAULT 0;
