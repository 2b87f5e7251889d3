//! The OpenID Provider's grants and consents on SQLite. A code is redeemed by one
//! `UPDATE … WHERE redeemed = FALSE … RETURNING` in the writer, so of any
//! number of concurrent redeemers exactly one gets the grant.

use super::SqliteStore;
use super::readers::{all, one};
use super::writer::{Durability, is_unique_violation};
use crate::domain::oidc::{Consent, Grant, Redeemed};
use crate::store::records::encode_grant;
use crate::store::rows::{consent_of, grant_of, ts};
use crate::store::{OidcStore, StoreError};
use async_trait::async_trait;
use rusqlite::OptionalExtension;
use time::OffsetDateTime;

#[async_trait]
impl OidcStore for SqliteStore {
    async fn put_grant(&self, code_hash: &str, g: &Grant) -> Result<(), StoreError> {
        let row = (
            code_hash.to_owned(),
            g.client_id.clone(),
            g.account_id.clone(),
            ts(g.code_expires_at),
            encode_grant(g)?,
        );
        self.writer
            .write(Durability::Crash, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO oidc_grants (code_hash, client_id, account_id, code_expires_at, \
                     payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(row)?;
                Ok(())
            })
            .await
    }

    async fn note_session_portal(
        &self,
        session_hash: &str,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        let (session, client) = (session_hash.to_owned(), client_id.to_owned());
        self.writer
            .write(Durability::Crash, move |conn| {
                let Some(expires_at) = session_expiry(conn, &session)? else {
                    return Ok(false);
                };
                conn.prepare_cached(
                    "INSERT INTO oidc_session_portals (session_hash, client_id, expires_at) \
                     VALUES (?1, ?2, ?3) ON CONFLICT (session_hash, client_id) DO NOTHING",
                )?
                .execute((&session, &client, expires_at))?;
                Ok(true)
            })
            .await
    }

    async fn carry_session_portals(
        &self,
        from_hash: &str,
        to_hash: &str,
    ) -> Result<bool, StoreError> {
        let (from, to) = (from_hash.to_owned(), to_hash.to_owned());
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                let Some(new_expires) = session_expiry(conn, &to)? else {
                    return Ok(false);
                };
                conn.prepare_cached(
                    "INSERT INTO oidc_session_portals (session_hash, client_id, expires_at) \
                     SELECT ?2, client_id, ?3 FROM oidc_session_portals WHERE session_hash = ?1 \
                     ON CONFLICT (session_hash, client_id) DO NOTHING",
                )?
                .execute((&from, &to, new_expires))?;
                for sql in [
                    "DELETE FROM oidc_session_portals WHERE session_hash = ?1",
                    "DELETE FROM sessions WHERE token_hash = ?1",
                ] {
                    conn.prepare_cached(sql)?.execute([&from])?;
                }
                Ok(true)
            })
            .await
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        client_id: &str,
        access_token_hash: &str,
        access_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Redeemed, StoreError> {
        let (code_hash, client_id, access_token_hash) = (
            code_hash.to_owned(),
            client_id.to_owned(),
            access_token_hash.to_owned(),
        );
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                let granted = conn
                    .prepare_cached(
                        "UPDATE oidc_grants SET redeemed = TRUE, access_token_hash = ?1, \
                         access_expires_at = ?2 WHERE code_hash = ?3 AND client_id = ?4 \
                         AND redeemed = FALSE AND code_expires_at > ?5 \
                         AND EXISTS (SELECT 1 FROM oidc_consents c \
                         WHERE c.account_id = oidc_grants.account_id \
                         AND c.client_id = oidc_grants.client_id) \
                         RETURNING client_id, account_id, code_expires_at, payload",
                    )?
                    .query_row(
                        (
                            &access_token_hash,
                            ts(access_expires_at),
                            &code_hash,
                            &client_id,
                            ts(now),
                        ),
                        |row| Ok(grant_of(row)),
                    )
                    .optional()?;
                if let Some(grant) = granted {
                    return Ok(Redeemed::Granted(grant?));
                }
                let revoked = conn
                    .prepare_cached(
                        "UPDATE oidc_grants SET access_token_hash = NULL, access_expires_at = NULL \
                         WHERE code_hash = ?1 AND client_id = ?2 AND redeemed = TRUE",
                    )?
                    .execute((&code_hash, &client_id))?;
                Ok(if revoked > 0 {
                    Redeemed::Reused
                } else {
                    Redeemed::Unknown
                })
            })
            .await
    }

    async fn issued_grant(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        let (code_hash, client_id) = (code_hash.to_owned(), client_id.to_owned());
        self.readers
            .read(move |conn| {
                one(
                    conn,
                    "SELECT client_id, account_id, code_expires_at, payload FROM oidc_grants \
                     WHERE code_hash = ?1 AND client_id = ?2",
                    (code_hash, client_id),
                    |row| grant_of(row),
                )
            })
            .await
    }

    async fn access_grant(
        &self,
        access_token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Grant>, StoreError> {
        let access_token_hash = access_token_hash.to_owned();
        self.readers
            .read(move |conn| {
                one(
                    conn,
                    "SELECT client_id, account_id, code_expires_at, payload FROM oidc_grants \
                     WHERE access_token_hash = ?1 AND access_expires_at > ?2",
                    (access_token_hash, ts(now)),
                    |row| grant_of(row),
                )
            })
            .await
    }

    async fn put_consent(&self, account_id: &str, c: &Consent) -> Result<(), StoreError> {
        let row = (
            account_id.to_owned(),
            c.client_id.clone(),
            c.scopes.join(" "),
            ts(c.granted_at),
        );
        self.writer
            .write(Durability::Crash, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO oidc_consents (account_id, client_id, scopes, granted_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id, client_id) \
                     DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
                )?
                .execute(row)?;
                Ok(())
            })
            .await
    }

    async fn consents(&self, account_id: &str) -> Result<Vec<Consent>, StoreError> {
        let account_id = account_id.to_owned();
        self.readers
            .read(move |conn| {
                all(
                    conn,
                    "SELECT client_id, scopes, granted_at FROM oidc_consents \
                     WHERE account_id = ?1 ORDER BY granted_at, client_id",
                    [account_id],
                    |row| consent_of(row),
                )
            })
            .await
    }

    async fn delete_consent(&self, account_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let (account_id, client_id) = (account_id.to_owned(), client_id.to_owned());
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                let gone = conn
                    .prepare_cached(
                        "DELETE FROM oidc_consents WHERE account_id = ?1 AND client_id = ?2",
                    )?
                    .execute((&account_id, &client_id))?;
                conn.prepare_cached(
                    "UPDATE oidc_grants SET redeemed = TRUE, access_token_hash = NULL, \
                     access_expires_at = NULL WHERE account_id = ?1 AND client_id = ?2",
                )?
                .execute((&account_id, &client_id))?;
                Ok(gone > 0)
            })
            .await
    }

    async fn use_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let row = (client_id.to_owned(), jti.to_owned(), ts(expires_at));
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO oidc_assertions (client_id, jti, expires_at) \
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(row);
                match inserted {
                    Ok(_) => Ok(true),
                    Err(e) if is_unique_violation(&e) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }
}

/// When the session `token_hash` expires (Unix seconds); `None` when there is none.
fn session_expiry(
    conn: &rusqlite::Connection,
    token_hash: &str,
) -> Result<Option<i64>, rusqlite::Error> {
    conn.prepare_cached("SELECT expires_at FROM sessions WHERE token_hash = ?1")?
        .query_row([token_hash], |r| r.get(0))
        .optional()
}
