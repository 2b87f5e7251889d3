-- Which gateway process polls the operator for each pending SIM session, and until when
-- that hold lasts unless renewed. A process that dies stops renewing; the next claim
-- (`SimStore::claim_sim_sessions`) takes its sessions over, so a session is polled by
-- one process, and by one again when that one is gone. NULL: never held yet.
ALTER TABLE sim_sessions ADD COLUMN polled_by TEXT;
ALTER TABLE sim_sessions ADD COLUMN polled_until INTEGER;
