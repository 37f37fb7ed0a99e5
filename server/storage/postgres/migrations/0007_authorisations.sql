-- Signed authorisations of roster changes and invite keys (../../migrations/0007_authorisations.sql).
CREATE TABLE member_authorisations (
    group_id  BYTEA NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    member_id BYTEA NOT NULL,
    admission BYTEA,
    departure BYTEA,
    PRIMARY KEY (group_id, member_id)
);

CREATE TABLE invite_keys (
    token_hash BYTEA PRIMARY KEY REFERENCES invites(token_hash) ON DELETE CASCADE,
    invite_key BYTEA NOT NULL
);
