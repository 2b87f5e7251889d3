-- Tickets and signing-SIM sessions are known by the SHA-256 (hex) of the id the browser
-- holds, never by the id itself: someone reading the database (a backup, a replica)
-- cannot confirm a registration or poll a session. Rows written before are rewritten
-- so, and keep working. Text operations only, no jsonb: a stored record may hold a
-- \u0000 escape, which jsonb refuses.
--
-- Where an old id also sits inside a record it is replaced there too: a SIM session's id
-- was the challenge id of its evidence (in a login's outcome, in a registration's
-- ticket). A SIM registration's outcome no longer holds its ticket (the ticket is now the
-- session id): the key is removed, with the comma beside it.

-- The evidence of a SIM registration's ticket names the session: found through the
-- session's outcome, which names the ticket.
UPDATE tickets t
SET payload = replace(t.payload, s.id, encode(sha256(convert_to(s.id, 'UTF8')), 'hex'))
FROM sim_sessions s
WHERE length(s.id) <> 64
  AND s.outcome IS NOT NULL
  AND strpos(s.outcome, '"ticket":"' || t.id || '"') > 0;

UPDATE tickets
SET payload = replace(payload, id, encode(sha256(convert_to(id, 'UTF8')), 'hex')),
    id = encode(sha256(convert_to(id, 'UTF8')), 'hex')
WHERE length(id) <> 64;

UPDATE sim_sessions
SET outcome = regexp_replace(
        regexp_replace(
            replace(outcome, id, encode(sha256(convert_to(id, 'UTF8')), 'hex')),
            '"ticket"\s*:\s*"[^"]*"\s*,\s*', ''),
        ',\s*"ticket"\s*:\s*"[^"]*"', ''),
    id = encode(sha256(convert_to(id, 'UTF8')), 'hex')
WHERE length(id) <> 64;
