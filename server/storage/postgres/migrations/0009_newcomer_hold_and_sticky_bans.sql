-- Newcomer hold and bans that stick (../../migrations/0009_newcomer_hold_and_sticky_bans.sql).
ALTER TABLE groups ADD COLUMN newcomer_hold BIGINT NOT NULL DEFAULT 0
    CHECK (newcomer_hold >= 0);
ALTER TABLE groups ADD COLUMN newcomer_hold_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN hold_released BIGINT NOT NULL DEFAULT 0;

CREATE TABLE held_messages (
    group_id   BYTEA   NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    msg_id     BYTEA   NOT NULL,
    sender_id  BYTEA   NOT NULL,
    epoch      BIGINT  NOT NULL,
    server_ts  BIGINT  NOT NULL,
    envelope   BYTEA,
    kid        BIGINT  NOT NULL,
    rtag       BYTEA   NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('held', 'declined')),
    PRIMARY KEY (group_id, msg_id)
);
CREATE INDEX held_messages_sender ON held_messages(group_id, sender_id);
CREATE INDEX held_messages_time ON held_messages(server_ts);

ALTER TABLE messages ADD COLUMN released_at BIGINT;

ALTER TABLE members ADD COLUMN invite_hash BYTEA;
ALTER TABLE invites ADD COLUMN banned_use BIGINT NOT NULL DEFAULT 0;
