-- A message deleted by its sender (or hidden by a facilitator) stays reportable by those who saw
-- it until its retention ends: the tombstone keeps the 103-byte envelope header (which holds the
-- commitment C) beside the row's rtag, and drops the ciphertext and signature. NULL while the
-- envelope is stored (the header is then its first 103 bytes).
ALTER TABLE messages ADD COLUMN header BLOB;
