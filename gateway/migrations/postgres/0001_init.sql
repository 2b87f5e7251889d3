-- kyso gateway schema, PostgreSQL (design §8). The same tables as on SQLite; times are
-- Unix seconds (UTC). Keys are random text ids, never sequences, so rows written by any
-- instance spread over the key space (what a distributed engine needs). The audit chain
-- head is the one global point, held in a single row (`audit_head`).

CREATE TABLE accounts (
    id               TEXT PRIMARY KEY,
    subject_type     TEXT NOT NULL CHECK (subject_type IN ('citizen', 'organization')),
    identifier_kind  TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    full_name        TEXT NOT NULL,
    organization     TEXT,
    email            TEXT,
    phone            TEXT,
    ial              BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    -- The identity preview as shown at registration (aliases, names), JSON.
    subject_json     TEXT NOT NULL
);

-- Every identifier of every account: the key and all personal aliases. The primary key
-- makes two accounts for one identity impossible, whichever instances race.
CREATE TABLE identifiers (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    is_key     BOOLEAN NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identifiers_account ON identifiers (account_id);

CREATE TABLE certificates (
    fingerprint TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    issuer      TEXT NOT NULL,
    serial      TEXT NOT NULL,
    not_after   BIGINT NOT NULL,
    first_used  BIGINT NOT NULL,
    last_used   BIGINT NOT NULL
);

CREATE TABLE challenges (
    id         TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    origin     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX challenges_expiry ON challenges (expires_at);

CREATE TABLE tickets (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX tickets_expiry ON tickets (expires_at);

-- Session tokens are stored as SHA-256 hashes: a stolen database opens no session.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || seq || at || event || account || details).
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    event      TEXT NOT NULL,
    account_id TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

-- The chain's head: the last row's seq and hash. An append locks this one row
-- (`SELECT … FOR UPDATE`), so appends from every instance form one chain.
CREATE TABLE audit_head (
    id   SMALLINT PRIMARY KEY CHECK (id = 0),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (0, 0, '');

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

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
    token_issued      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    answer_by         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    completed_at      BIGINT,
    CHECK ((state = 'pending') = (result IS NULL))
);

-- At most one pending request per number, enforced by the database (BUSY), so two
-- gateway instances cannot both push to one phone.
CREATE UNIQUE INDEX sim_sessions_one_pending_per_number ON sim_sessions (msisdn) WHERE state = 'pending';
CREATE INDEX sim_sessions_by_number ON sim_sessions (msisdn, created_at);
