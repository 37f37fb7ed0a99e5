-- A membership that has ended no longer names the account (../../migrations/0005_departed_members.sql):
-- account_pk becomes NULL when it ends, account_seal keeps it sealed while a message of the
-- departed member could still be reported. Rows that ended before lose their link here.
ALTER TABLE members ALTER COLUMN account_pk DROP NOT NULL;
ALTER TABLE members ADD COLUMN account_seal BYTEA;
UPDATE members SET account_pk = NULL, joined_at = joined_at - joined_at % 86400000
    WHERE state NOT IN ('pending', 'active');
ALTER TABLE members ADD CONSTRAINT members_live_names_account
    CHECK ((state IN ('pending', 'active')) = (account_pk IS NOT NULL));
ALTER TABLE members ADD CONSTRAINT members_seal_only_when_departed
    CHECK (account_seal IS NULL OR account_pk IS NULL);
