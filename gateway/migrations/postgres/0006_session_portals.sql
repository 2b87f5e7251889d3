-- The portals each browser session signed in to (a code was issued to them in it): its
-- logout tells those portals by back channel, and no other. Telling every portal the
-- person ever linked would hand two portals of different sectors, each knowing only its
-- own pairwise `sub`, logout tokens of the same instant: enough to learn that their two
-- subs are one person. Rows go with their session (logout) or at its expiry (purge).
CREATE TABLE IF NOT EXISTS oidc_session_portals (
    session_hash TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (session_hash, client_id)
);
CREATE INDEX IF NOT EXISTS oidc_session_portals_expiry ON oidc_session_portals (expires_at);

-- Sessions open before this migration signed in who knows where: their logout tells
-- every portal the person is linked to, as it did before.
INSERT INTO oidc_session_portals (session_hash, client_id, expires_at)
SELECT s.token_hash, c.client_id, s.expires_at
FROM sessions s JOIN oidc_consents c ON c.account_id = s.account_id
WHERE TRUE
ON CONFLICT (session_hash, client_id) DO NOTHING;
