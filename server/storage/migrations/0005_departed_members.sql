-- A membership that has ended (left, removed, refused) no longer names the account: account_pk
-- becomes NULL in the same transaction that ends it (server/storage/departures.py). While the
-- departed member still has a message in the group that could be reported, account_seal keeps
-- the account key sealed (AES-256-GCM) under a key derived from the server's secret key file,
-- which is not in the database or its backups, so that a ban can still land on the author; the
-- purge drops the seal with the member's last message. The row itself stays, so that a
-- member_id is never used twice in a group (docs/protocol.md) and old messages keep their
-- author. Rows that ended before this migration lose their link here.
CREATE TABLE members_unlinked (
    group_id       BLOB    NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    member_id      BLOB    NOT NULL,
    account_pk     BLOB    REFERENCES accounts(account_pk) ON DELETE CASCADE,
    sig_pk         BLOB    NOT NULL,
    kem_pk         BLOB    NOT NULL,
    pseudonym      TEXT    NOT NULL,
    skeleton       TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'left', 'removed', 'refused')),
    facilitator_id INTEGER REFERENCES facilitators(id) ON DELETE SET NULL,
    first_epoch    INTEGER,
    joined_at      INTEGER NOT NULL,
    muted_until    INTEGER,
    account_seal   BLOB,
    PRIMARY KEY (group_id, member_id),
    CHECK ((state IN ('pending', 'active')) = (account_pk IS NOT NULL)),
    CHECK (account_seal IS NULL OR account_pk IS NULL)
);
INSERT INTO members_unlinked (group_id, member_id, account_pk, sig_pk, kem_pk, pseudonym,
        skeleton, state, facilitator_id, first_epoch, joined_at, muted_until, account_seal)
    SELECT group_id, member_id,
        CASE WHEN state IN ('pending', 'active') THEN account_pk END,
        sig_pk, kem_pk, pseudonym, skeleton, state, facilitator_id, first_epoch,
        CASE WHEN state IN ('pending', 'active') THEN joined_at
             ELSE joined_at - joined_at % 86400000 END,
        muted_until, NULL
    FROM members;
DROP TABLE members;
ALTER TABLE members_unlinked RENAME TO members;
CREATE UNIQUE INDEX members_live_account ON members(group_id, account_pk)
    WHERE state IN ('pending', 'active');
CREATE INDEX members_account ON members(account_pk);
