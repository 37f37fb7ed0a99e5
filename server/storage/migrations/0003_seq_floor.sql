-- The highest seq retention has deleted from each group. A group's next seq is its highest
-- stored seq plus one; once retention has deleted all of a quiet group's messages, it is this
-- plus one instead, so seqs never restart and a client's "highest seen" stays meaningful.
ALTER TABLE groups ADD COLUMN seq_floor INTEGER NOT NULL DEFAULT 0;
