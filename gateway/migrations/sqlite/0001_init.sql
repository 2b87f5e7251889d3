-- kyso gateway schema, SQLite. Times are Unix seconds (UTC).

CREATE TABLE accounts (
    id               TEXT PRIMARY KEY,
    subject_type     TEXT NOT NULL CHECK (subject_type IN ('citizen', 'organization')),
    identifier_kind  TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    full_name        TEXT NOT NULL,
    organization     TEXT,
    email            TEXT,
    phone            TEXT,
    ial              INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    -- The identity preview as shown at registration (aliases, names), JSON.
    subject_json     TEXT NOT NULL
);


-- Every identifier of every account: the key and all personal aliases. The primary key
-- is what makes two accounts for one identity impossible, under any concurrency.
CREATE TABLE identifiers (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    is_key     INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identifiers_account ON identifiers (account_id);

CREATE TABLE certificates (
    fingerprint TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    issuer      TEXT NOT NULL,
    serial      TEXT NOT NULL,
    not_after   INTEGER NOT NULL,
    first_used  INTEGER NOT NULL,
    last_used   INTEGER NOT NULL
);

CREATE TABLE challenges (
    id         TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    origin     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE tickets (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    payload    TEXT NOT NULL
);

-- Session tokens are stored as SHA-256 hashes: a stolen database opens no session.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || seq || at || event || account || details).
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    event      TEXT NOT NULL,
    account_id TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
