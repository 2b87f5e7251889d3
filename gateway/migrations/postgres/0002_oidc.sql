-- The OpenID Provider (design §12).

-- A login session remembers how it was proven: portals are told (amr).
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'token';

-- One grant per authorization code; the code and the access token are stored as SHA-256
-- hashes. A code is redeemed once (redeemed false → true in one statement); redeeming it again
-- revokes the access token it gave (access_token_hash set to NULL).
CREATE TABLE oidc_grants (
    code_hash         TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    code_expires_at   BIGINT NOT NULL,
    redeemed          BOOLEAN NOT NULL DEFAULT FALSE,
    access_token_hash TEXT UNIQUE,
    access_expires_at BIGINT,
    payload           TEXT NOT NULL
);
CREATE INDEX oidc_grants_by_account ON oidc_grants (account_id, client_id);

-- What a person agreed each portal receives; its rows are the linked portals.
CREATE TABLE oidc_consents (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

-- private_key_jwt assertions seen, until they expire: each is accepted once.
CREATE TABLE oidc_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
