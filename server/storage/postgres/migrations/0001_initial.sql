-- Hearth schema 1 for PostgreSQL: the tables of ../../migrations/0001_initial.sql. SQLite's
-- INTEGER is BIGINT here (times are milliseconds), BLOB is BYTEA.

-- SQLite's scalar max(a, b) and min(a, b), which the stores' shared SQL uses (beside the
-- aggregates of one argument, which PostgreSQL has already).
CREATE FUNCTION max(a BIGINT, b BIGINT) RETURNS BIGINT LANGUAGE sql IMMUTABLE
    RETURN CASE WHEN a IS NULL OR b IS NULL THEN NULL WHEN a > b THEN a ELSE b END;
CREATE FUNCTION min(a BIGINT, b BIGINT) RETURNS BIGINT LANGUAGE sql IMMUTABLE
    RETURN CASE WHEN a IS NULL OR b IS NULL THEN NULL WHEN a < b THEN a ELSE b END;

CREATE TABLE facilitators (
    id            BIGINT  PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    disabled      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

-- SQLite gives an INTEGER PRIMARY KEY left out of an INSERT the highest id plus one; so does
-- this trigger (a sequence would hand out an id that an explicit insert, or a copy made by
-- `hearth migrate-to`, already took).
CREATE FUNCTION hearth_next_facilitator_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS NULL THEN
        NEW.id := (SELECT COALESCE(MAX(id), 0) + 1 FROM facilitators);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER facilitators_next_id BEFORE INSERT ON facilitators
    FOR EACH ROW EXECUTE FUNCTION hearth_next_facilitator_id();

CREATE TABLE sessions (
    token_hash     BYTEA   PRIMARY KEY,
    facilitator_id BIGINT  NOT NULL REFERENCES facilitators(id) ON DELETE CASCADE,
    created_at     BIGINT  NOT NULL,
    last_seen_at   BIGINT  NOT NULL
);

CREATE TABLE accounts (
    account_pk   BYTEA   PRIMARY KEY,
    created_at   BIGINT  NOT NULL,
    banned       BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE groups (
    group_id         BYTEA   PRIMARY KEY,
    name             TEXT    NOT NULL,
    rules            TEXT    NOT NULL,
    retention_days   BIGINT  NOT NULL,
    join_policy      TEXT    NOT NULL CHECK (join_policy IN ('approval', 'open')),
    posting_policy   TEXT    NOT NULL CHECK (posting_policy IN ('always', 'facilitator_present')),
    current_epoch    BIGINT  NOT NULL,
    epoch_started_at BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL
);

CREATE TABLE group_facilitators (
    group_id       BYTEA   NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    facilitator_id BIGINT  NOT NULL REFERENCES facilitators(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, facilitator_id)
);

CREATE TABLE members (
    group_id       BYTEA   NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    member_id      BYTEA   NOT NULL,
    account_pk     BYTEA   NOT NULL REFERENCES accounts(account_pk) ON DELETE CASCADE,
    sig_pk         BYTEA   NOT NULL,
    kem_pk         BYTEA   NOT NULL,
    pseudonym      TEXT    NOT NULL,
    skeleton       TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'left', 'removed', 'refused')),
    facilitator_id BIGINT  REFERENCES facilitators(id) ON DELETE SET NULL,
    first_epoch    BIGINT,
    joined_at      BIGINT  NOT NULL,
    muted_until    BIGINT,
    PRIMARY KEY (group_id, member_id)
);
CREATE UNIQUE INDEX members_live_account ON members(group_id, account_pk)
    WHERE state IN ('pending', 'active');
CREATE INDEX members_account ON members(account_pk);

CREATE TABLE epochs (
    group_id     BYTEA   NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    epoch        BIGINT  NOT NULL,
    commit_blob  BYTEA   NOT NULL,
    commit_hash  BYTEA   NOT NULL,
    committer_id BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (group_id, epoch)
);

CREATE TABLE invites (
    token_hash  BYTEA   PRIMARY KEY,
    group_id    BYTEA   NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    created_by  BIGINT  REFERENCES facilitators(id) ON DELETE SET NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    max_uses    BIGINT  NOT NULL,
    uses        BIGINT  NOT NULL DEFAULT 0,
    revoked     BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX invites_group ON invites(group_id);

CREATE TABLE messages (
    group_id  BYTEA   NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    seq       BIGINT  NOT NULL,
    msg_id    BYTEA   NOT NULL,
    sender_id BYTEA   NOT NULL,
    epoch     BIGINT  NOT NULL,
    server_ts BIGINT  NOT NULL,
    envelope  BYTEA,
    kid       BIGINT  NOT NULL,
    rtag      BYTEA   NOT NULL,
    PRIMARY KEY (group_id, seq)
);
CREATE UNIQUE INDEX messages_msg_id ON messages(group_id, msg_id);
CREATE INDEX messages_time ON messages(server_ts);
