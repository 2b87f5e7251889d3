-- The audit chain's head: the last row's seq and hash, written in the same transaction
-- as the row. An append links to it, not to whatever row is last, so a row cut from the
-- end behind the triggers' back leaves a gap at the next append; `audit verify` checks
-- that the chain reaches it (design §8).
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 0),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
SELECT 0, COALESCE(MAX(seq), 0),
       COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '')
FROM audit_log;
