-- The purge every instance runs each minute (`PostgresStore::PURGES`) finds expired rows
-- by index instead of reading whole tables; `store_postgres` checks every plan.
CREATE INDEX IF NOT EXISTS oidc_grants_code_expiry ON oidc_grants (code_expires_at);
CREATE INDEX IF NOT EXISTS oidc_assertions_expiry ON oidc_assertions (expires_at);
CREATE INDEX IF NOT EXISTS sim_sessions_expiry ON sim_sessions (state, expires_at);
