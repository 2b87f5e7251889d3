-- Signing-SIM sessions (design §3): one push request to one phone, pending until it has a
-- result; kept after completion for the browser to read and for per-number rate limits.

CREATE TABLE sim_sessions (
    id                TEXT PRIMARY KEY,
    purpose           TEXT NOT NULL CHECK (purpose IN ('register', 'login')),
    msisdn            TEXT NOT NULL,
    subject_type      TEXT,
    origin            TEXT NOT NULL,
    nonce             TEXT NOT NULL,
    display_text      TEXT NOT NULL,
    verification_code TEXT NOT NULL,
    ap_trans_id       TEXT NOT NULL UNIQUE,
    mssp_trans_id     TEXT,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
    result            TEXT,
    -- What a complete session produced (ticket preview, proven login, refusal), JSON.
    outcome           TEXT,
    -- A proven login's session token was handed out (once).
    token_issued      INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    answer_by         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    CHECK ((state = 'pending') = (result IS NULL))
);

-- At most one pending request per number, enforced by the database (BUSY), so two
-- gateway instances cannot both push to one phone.
CREATE UNIQUE INDEX sim_sessions_one_pending_per_number ON sim_sessions (msisdn) WHERE state = 'pending';
CREATE INDEX sim_sessions_by_number ON sim_sessions (msisdn, created_at);
