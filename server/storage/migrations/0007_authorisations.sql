-- Signed authorisations of roster changes (docs/protocol.md §6.4), kept until a commit carries
-- them: a member's admission (signed by a facilitator, or by an invite key in an open group)
-- and its departure (a facilitator's removal or its own leave). They hold keys and signatures
-- only, nothing a person wrote.
CREATE TABLE member_authorisations (
    group_id  BLOB NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    member_id BLOB NOT NULL,
    admission BLOB,
    departure BLOB,
    PRIMARY KEY (group_id, member_id)
);

-- An invite's public signing key and the facilitator's certificate of it (invite_pk ‖
-- issuer_id ‖ cert_sig); the private key exists only in the invite link.
CREATE TABLE invite_keys (
    token_hash BLOB PRIMARY KEY REFERENCES invites(token_hash) ON DELETE CASCADE,
    invite_key BLOB NOT NULL
);
