-- The network (IPv4 /24, IPv6 /48) each SIM session was started from: the per-number
-- limit counts per network, so strangers cannot use up a number's starts (design §3).
ALTER TABLE sim_sessions ADD COLUMN requester TEXT NOT NULL DEFAULT '';
