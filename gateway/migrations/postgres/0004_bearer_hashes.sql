-- Tickets and signing-SIM sessions are known by the SHA-256 (hex) of the id the browser
-- holds, never by the id itself: someone reading the database (a backup, a replica)
-- cannot confirm a registration or poll a session. Rows written before are rewritten
-- so, and keep working. A SIM registration's outcome no longer holds its ticket (the
-- ticket is the session id).
UPDATE tickets
SET id = encode(sha256(convert_to(id, 'UTF8')), 'hex'),
    payload = jsonb_set(payload::jsonb, '{id}',
                        to_jsonb(encode(sha256(convert_to(id, 'UTF8')), 'hex')))::text
WHERE length(id) <> 64;

UPDATE sim_sessions
SET id = encode(sha256(convert_to(id, 'UTF8')), 'hex'),
    outcome = (outcome::jsonb - 'ticket')::text
WHERE length(id) <> 64;
