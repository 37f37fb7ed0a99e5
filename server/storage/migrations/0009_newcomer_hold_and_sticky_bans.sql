-- Newcomer hold (docs/protocol.md, "Newcomer hold"): in a group with newcomer_hold = N > 0, a
-- member who joined at or after newcomer_hold_since has their messages held for the group's
-- facilitators until N of them have been released. 0: off.
ALTER TABLE groups ADD COLUMN newcomer_hold INTEGER NOT NULL DEFAULT 0
    CHECK (newcomer_hold >= 0);
ALTER TABLE groups ADD COLUMN newcomer_hold_since INTEGER NOT NULL DEFAULT 0;
-- How many of this member's messages a facilitator has released (the hold ends at N).
ALTER TABLE members ADD COLUMN hold_released INTEGER NOT NULL DEFAULT 0;

-- Messages held for the facilitators: ciphertext only, no seq (one is given on release, at the
-- end of the group's log). A declined message loses its ciphertext and stays, so that its sender
-- is told even if offline at the time, until the group's retention purges it.
CREATE TABLE held_messages (
    group_id   BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    msg_id     BLOB    NOT NULL,
    sender_id  BLOB    NOT NULL,
    epoch      INTEGER NOT NULL,
    server_ts  INTEGER NOT NULL,
    envelope   BLOB,
    kid        INTEGER NOT NULL,
    rtag       BLOB    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('held', 'declined')),
    PRIMARY KEY (group_id, msg_id)
) WITHOUT ROWID;
CREATE INDEX held_messages_sender ON held_messages(group_id, sender_id);
CREATE INDEX held_messages_time ON held_messages(server_ts);

-- A released message carries when it was released (shown as "released by a facilitator").
ALTER TABLE messages ADD COLUMN released_at INTEGER;

-- Bans that stick: the invite a membership was made with (its SHA-256, as invites keep it; one
-- group's invite, so nothing links a person's groups), so that a ban can revoke it; and whether
-- an account later banned used an invite, shown to the facilitator who approves a join made with
-- it.
ALTER TABLE members ADD COLUMN invite_hash BLOB;
ALTER TABLE invites ADD COLUMN banned_use INTEGER NOT NULL DEFAULT 0;
