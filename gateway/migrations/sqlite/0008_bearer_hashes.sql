-- Signing-SIM sessions are known by the SHA-256 (hex) of the id the browser holds, never
-- by the id itself: someone reading the file cannot poll a session or confirm its
-- registration. SQLite has no SHA-256 of its own, so the ids of rows written before are
-- replaced by ones nobody holds, inside their outcomes too (a login's evidence named its
-- session): those sessions can no longer be read, and still count toward the per-number
-- limits until purged. Their outcomes lose the ticket they held (tickets live in memory
-- here, so none survived the restart anyway).
UPDATE sim_sessions
SET id = 'before-0008-' || rowid,
    outcome = replace(json_remove(outcome, '$.ticket'), id, 'before-0008-' || rowid)
WHERE length(id) <> 64;
