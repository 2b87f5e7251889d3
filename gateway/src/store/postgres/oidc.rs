//! The OpenID Provider's grants and consents on PostgreSQL. A code is redeemed by one
//! `UPDATE … WHERE redeemed = FALSE … RETURNING`: of any number of redeemers, on any
//! instance, exactly one gets the grant.

use super::PostgresStore;
use crate::domain::oidc::{Consent, Grant, Redeemed};
use crate::store::records::encode_grant;
use crate::store::rows::{consent_of, grant_of, ts};
use crate::store::{OidcStore, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

#[async_trait]
impl OidcStore for PostgresStore {
    async fn put_grant(&self, code_hash: &str, g: &Grant) -> Result<(), StoreError> {
        let payload = encode_grant(g)?;
        self.write(|| {
            self.sql(
                "INSERT INTO oidc_grants (code_hash, client_id, account_id, code_expires_at, payload) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(code_hash.to_owned())
            .bind(g.client_id.clone())
            .bind(g.account_id.clone())
            .bind(ts(g.code_expires_at))
            .bind(payload.clone())
        })
        .await?;
        Ok(())
    }

    async fn note_session_portal(
        &self,
        session_hash: &str,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        // The session's row is locked against a logout's delete until the note commits:
        // a logout then waits and finds the note; one that committed first leaves no row
        // to note under.
        let row = self
            .read_one(|| {
                self.sql(
                    "WITH live AS (SELECT token_hash, expires_at FROM sessions \
                     WHERE token_hash = $1 FOR KEY SHARE), \
                     noted AS (INSERT INTO oidc_session_portals \
                     (session_hash, client_id, expires_at) \
                     SELECT token_hash, $2, expires_at FROM live \
                     ON CONFLICT (session_hash, client_id) DO NOTHING) \
                     SELECT EXISTS (SELECT 1 FROM live) AS live",
                )
                .bind(session_hash.to_owned())
                .bind(client_id.to_owned())
            })
            .await?;
        Ok(match row {
            Some(row) => row.try_get("live")?,
            None => false,
        })
    }

    async fn carry_session_portals(
        &self,
        from_hash: &str,
        to_hash: &str,
    ) -> Result<bool, StoreError> {
        retrying!(self, self.try_carry_session_portals(from_hash, to_hash))
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        client_id: &str,
        access_token_hash: &str,
        access_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Redeemed, StoreError> {
        let row = self
            .read_one(|| {
                self.sql(
                    "UPDATE oidc_grants SET redeemed = TRUE, access_token_hash = $1, \
                     access_expires_at = $2 \
                     WHERE code_hash = $3 AND client_id = $4 AND redeemed = FALSE \
                     AND code_expires_at > $5 \
                     AND EXISTS (SELECT 1 FROM oidc_consents c \
                     WHERE c.account_id = oidc_grants.account_id \
                     AND c.client_id = oidc_grants.client_id) \
                     RETURNING client_id, account_id, code_expires_at, payload",
                )
                .bind(access_token_hash.to_owned())
                .bind(ts(access_expires_at))
                .bind(code_hash.to_owned())
                .bind(client_id.to_owned())
                .bind(ts(now))
            })
            .await?;
        if let Some(row) = row {
            return Ok(Redeemed::Granted(grant_of(&row)?));
        }
        // Revoke only a token not yet revoked: concurrent reusers then write the row at
        // most once, so at SERIALIZABLE they do not fail each other over and over.
        self.write(|| {
            self.sql(
                "UPDATE oidc_grants SET access_token_hash = NULL, access_expires_at = NULL \
                 WHERE code_hash = $1 AND client_id = $2 AND redeemed = TRUE \
                 AND access_token_hash IS NOT NULL",
            )
            .bind(code_hash.to_owned())
            .bind(client_id.to_owned())
        })
        .await?;
        let used = self
            .read_one(|| {
                self.sql(
                    "SELECT 1 FROM oidc_grants \
                     WHERE code_hash = $1 AND client_id = $2 AND redeemed = TRUE",
                )
                .bind(code_hash.to_owned())
                .bind(client_id.to_owned())
            })
            .await?;
        Ok(if used.is_some() {
            Redeemed::Reused
        } else {
            Redeemed::Unknown
        })
    }

    async fn issued_grant(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        let row = self
            .read_one(|| {
                self.sql(
                    "SELECT client_id, account_id, code_expires_at, payload FROM oidc_grants \
                     WHERE code_hash = $1 AND client_id = $2",
                )
                .bind(code_hash.to_owned())
                .bind(client_id.to_owned())
            })
            .await?;
        row.map(|r| grant_of(&r)).transpose()
    }

    async fn access_grant(
        &self,
        access_token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Grant>, StoreError> {
        let row = self
            .read_one(|| {
                self.sql(
                    "SELECT client_id, account_id, code_expires_at, payload FROM oidc_grants \
                     WHERE access_token_hash = $1 AND access_expires_at > $2",
                )
                .bind(access_token_hash.to_owned())
                .bind(ts(now))
            })
            .await?;
        row.map(|r| grant_of(&r)).transpose()
    }

    async fn put_consent(&self, account_id: &str, c: &Consent) -> Result<(), StoreError> {
        self.write(|| {
            self.sql(
                "INSERT INTO oidc_consents (account_id, client_id, scopes, granted_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, client_id) \
                 DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
            )
            .bind(account_id.to_owned())
            .bind(c.client_id.clone())
            .bind(c.scopes.join(" "))
            .bind(ts(c.granted_at))
        })
        .await?;
        Ok(())
    }

    async fn consents(&self, account_id: &str) -> Result<Vec<Consent>, StoreError> {
        let rows = self
            .read(|| {
                self.sql(
                    "SELECT client_id, scopes, granted_at FROM oidc_consents \
                     WHERE account_id = $1 ORDER BY granted_at, client_id",
                )
                .bind(account_id.to_owned())
            })
            .await?;
        rows.iter().map(consent_of).collect()
    }

    async fn delete_consent(&self, account_id: &str, client_id: &str) -> Result<bool, StoreError> {
        retrying!(self, self.try_delete_consent(account_id, client_id))
    }

    async fn use_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .write(|| {
                self.sql(
                    "INSERT INTO oidc_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(client_id.to_owned())
                .bind(jti.to_owned())
                .bind(ts(expires_at))
            })
            .await?;
        Ok(inserted > 0)
    }
}

impl PostgresStore {
    /// The transaction of [`OidcStore::carry_session_portals`], once. The new session's
    /// row is locked first (a logout of it waits, or has ended it: nothing is carried);
    /// the old session is deleted before its portals are read, so a note being made
    /// under it (which locks its row) is waited for and carried, or finds no session.
    async fn try_carry_session_portals(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let new_expires: Option<i64> = self
            .sql("SELECT expires_at FROM sessions WHERE token_hash = $1 FOR KEY SHARE")
            .bind(to.to_owned())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        let Some(new_expires) = new_expires else {
            return Ok(false);
        };
        self.sql("DELETE FROM sessions WHERE token_hash = $1")
            .bind(from.to_owned())
            .execute(&mut *tx)
            .await?;
        self.sql(
            "WITH moved AS (DELETE FROM oidc_session_portals WHERE session_hash = $1 \
             RETURNING client_id) \
             INSERT INTO oidc_session_portals (session_hash, client_id, expires_at) \
             SELECT $2, client_id, $3 FROM moved \
             ON CONFLICT (session_hash, client_id) DO NOTHING",
        )
        .bind(from.to_owned())
        .bind(to.to_owned())
        .bind(new_expires)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The transaction of [`OidcStore::delete_consent`], once.
    async fn try_delete_consent(
        &self,
        account_id: &str,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let gone = self
            .sql("DELETE FROM oidc_consents WHERE account_id = $1 AND client_id = $2")
            .bind(account_id.to_owned())
            .bind(client_id.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.sql(
            "UPDATE oidc_grants SET redeemed = TRUE, access_token_hash = NULL, \
             access_expires_at = NULL WHERE account_id = $1 AND client_id = $2",
        )
        .bind(account_id.to_owned())
        .bind(client_id.to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone > 0)
    }
}
