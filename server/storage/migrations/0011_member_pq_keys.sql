-- A member's ML-KEM-768 public key with its own signature over it (pq_pk ‖ sig, 1248 bytes;
-- docs/protocol.md §6.9), sent on join by a client that supports the hybrid suite 2. NULL: the
-- member's client supports suite 1 only, which keeps the group on suite 1. Public keys only.
ALTER TABLE members ADD COLUMN pq_key BLOB;
