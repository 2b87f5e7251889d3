-- The audit chain's head: the last row's seq and hash. The database moves it with every
-- row inserted (the trigger below), whichever build inserts it — so a gateway of the
-- previous build still running beside a migrated file cannot leave it behind. An append
-- links to it, not to whatever row is last, so a row cut from the end behind the
-- triggers' back leaves a gap at the next append; `audit verify` checks that the chain
-- reaches it (design §8).
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 0),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
SELECT 0, COALESCE(MAX(seq), 0),
       COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '')
FROM audit_log;
CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 0;
END;
