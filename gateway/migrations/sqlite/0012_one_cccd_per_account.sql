-- An account holds at most one CCCD: a citizen's lifetime number, so a second is another
-- person's. A login that opens a CMND-keyed account records the certificate's CCCD as an
-- alias (design §5); without this, a later certificate carrying the same (reused) CMND
-- and another CCCD would add that CCCD too, and the account would open for two people.
-- The database holds the rule, so concurrent logins on several instances cannot race
-- past it. (A database where an account already holds two fails here; find them with
-- SELECT account_id FROM identifiers WHERE kind = 'CCCD' GROUP BY account_id
-- HAVING count(*) > 1.)
CREATE UNIQUE INDEX IF NOT EXISTS identifiers_one_cccd_per_account ON identifiers (account_id)
    WHERE kind = 'CCCD';
