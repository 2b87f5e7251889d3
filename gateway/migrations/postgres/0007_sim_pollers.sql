-- Which gateway instance polls the operator for each pending SIM session, and until when
-- that hold lasts unless renewed. An instance that dies stops renewing; another's next
-- claim (`SimStore::claim_sim_sessions`) takes its sessions over, so a session is polled
-- by one instance, and by one again when that one is gone. NULL: never held yet.
ALTER TABLE sim_sessions ADD COLUMN IF NOT EXISTS polled_by TEXT;
ALTER TABLE sim_sessions ADD COLUMN IF NOT EXISTS polled_until BIGINT;
