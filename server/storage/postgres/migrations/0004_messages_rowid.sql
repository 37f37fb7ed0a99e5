-- Nothing to do: SQLite's 0004 turned messages from a WITHOUT ROWID table into a rowid table so
-- that rows are appended in the order they are stored. A PostgreSQL table is a heap that is
-- appended to already, with (group_id, seq) as a separate index, as 0001 created it.
SELECT 1;
