-- Hearth schema 1. Privacy: no IP address, user agent, e-mail or message plaintext is ever stored.
-- Times are milliseconds since the Unix epoch (UTC). Ids chosen by clients are raw bytes.

CREATE TABLE facilitators (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

-- A session row is found by the SHA-256 of the cookie's token; the token itself is never stored.
CREATE TABLE sessions (
    token_hash     BLOB    PRIMARY KEY,
    facilitator_id INTEGER NOT NULL REFERENCES facilitators(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL
);

CREATE TABLE accounts (
    account_pk   BLOB    PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    banned       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE groups (
    group_id         BLOB    PRIMARY KEY,
    name             TEXT    NOT NULL,
    rules            TEXT    NOT NULL,
    retention_days   INTEGER NOT NULL,
    join_policy      TEXT    NOT NULL CHECK (join_policy IN ('approval', 'open')),
    posting_policy   TEXT    NOT NULL CHECK (posting_policy IN ('always', 'facilitator_present')),
    current_epoch    INTEGER NOT NULL,
    epoch_started_at INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
);

-- Facilitator accounts that manage a group (the creator first).
CREATE TABLE group_facilitators (
    group_id       BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    facilitator_id INTEGER NOT NULL REFERENCES facilitators(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, facilitator_id)
);

-- One row per membership. member_id and keys are fresh per group, so members cannot be linked
-- across groups by other members; the server links them to an account key for access control.
CREATE TABLE members (
    group_id       BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    member_id      BLOB    NOT NULL,
    account_pk     BLOB    NOT NULL REFERENCES accounts(account_pk) ON DELETE CASCADE,
    sig_pk         BLOB    NOT NULL,
    kem_pk         BLOB    NOT NULL,
    pseudonym      TEXT    NOT NULL,
    skeleton       TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'left', 'removed', 'refused')),
    facilitator_id INTEGER REFERENCES facilitators(id) ON DELETE SET NULL,
    first_epoch    INTEGER,
    joined_at      INTEGER NOT NULL,
    muted_until    INTEGER,
    PRIMARY KEY (group_id, member_id)
);
CREATE UNIQUE INDEX members_live_account ON members(group_id, account_pk)
    WHERE state IN ('pending', 'active');
CREATE INDEX members_account ON members(account_pk);

CREATE TABLE epochs (
    group_id     BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    epoch        INTEGER NOT NULL,
    commit_blob  BLOB    NOT NULL,
    commit_hash  BLOB    NOT NULL,
    committer_id BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (group_id, epoch)
);

-- Invite tokens are stored as SHA-256 only: a database thief cannot use them.
CREATE TABLE invites (
    token_hash  BLOB    PRIMARY KEY,
    group_id    BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    created_by  INTEGER REFERENCES facilitators(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    max_uses    INTEGER NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invites_group ON invites(group_id);

-- Ciphertext only. A deleted message keeps its row as a tombstone (envelope NULL).
CREATE TABLE messages (
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
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_msg_id ON messages(group_id, msg_id);
CREATE INDEX messages_time ON messages(server_ts);
