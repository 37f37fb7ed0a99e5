-- A member's signed ML-KEM-768 public key (../../migrations/0011_member_pq_keys.sql).
ALTER TABLE members ADD COLUMN pq_key BYTEA;
