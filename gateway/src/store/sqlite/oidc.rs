//! The OpenID Provider's grants and consents on SQLite. A code is redeemed by one
//! `UPDATE … WHERE redeemed = FALSE … RETURNING` on the writer connection, so of any
//! number of concurrent redeemers exactly one gets the grant.

use super::SqliteStore;
use crate::domain::oidc::{Consent, Grant, Redeemed};
use crate::store::records::encode_grant;
use crate::store::rows::{consent_of, grant_of, is_unique_violation, ts};
use crate::store::{OidcStore, StoreError};
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
impl OidcStore for SqliteStore {
    async fn put_grant(&self, code_hash: &str, g: &Grant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_grants (code_hash, client_id, account_id, code_expires_at, payload) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(code_hash)
        .bind(&g.client_id)
        .bind(&g.account_id)
        .bind(ts(g.code_expires_at))
        .bind(encode_grant(g)?)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        client_id: &str,
        access_token_hash: &str,
        access_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Redeemed, StoreError> {
        let row = sqlx::query(
            "UPDATE oidc_grants SET redeemed = TRUE, access_token_hash = ?, access_expires_at = ? \
             WHERE code_hash = ? AND client_id = ? AND redeemed = FALSE AND code_expires_at > ? \
             RETURNING client_id, account_id, code_expires_at, payload",
        )
        .bind(access_token_hash)
        .bind(ts(access_expires_at))
        .bind(code_hash)
        .bind(client_id)
        .bind(ts(now))
        .fetch_optional(&self.writer)
        .await?;
        if let Some(row) = row {
            return Ok(Redeemed::Granted(grant_of(&row)?));
        }
        let revoked = sqlx::query(
            "UPDATE oidc_grants SET access_token_hash = NULL, access_expires_at = NULL \
             WHERE code_hash = ? AND client_id = ? AND redeemed = TRUE",
        )
        .bind(code_hash)
        .bind(client_id)
        .execute(&self.writer)
        .await?;
        Ok(if revoked.rows_affected() > 0 {
            Redeemed::Reused
        } else {
            Redeemed::Unknown
        })
    }

    async fn access_grant(
        &self,
        access_token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, account_id, code_expires_at, payload FROM oidc_grants \
             WHERE access_token_hash = ? AND access_expires_at > ?",
        )
        .bind(access_token_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| grant_of(&r)).transpose()
    }

    async fn put_consent(&self, account_id: &str, c: &Consent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_consents (account_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
        )
        .bind(account_id)
        .bind(&c.client_id)
        .bind(c.scopes.join(" "))
        .bind(ts(c.granted_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn consents(&self, account_id: &str) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query(
            "SELECT client_id, scopes, granted_at FROM oidc_consents \
             WHERE account_id = ? ORDER BY granted_at, client_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(consent_of).collect()
    }

    async fn delete_consent(&self, account_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let gone = sqlx::query("DELETE FROM oidc_consents WHERE account_id = ? AND client_id = ?")
            .bind(account_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE oidc_grants SET redeemed = TRUE, access_token_hash = NULL, \
             access_expires_at = NULL WHERE account_id = ? AND client_id = ?",
        )
        .bind(account_id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }

    async fn use_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO oidc_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)",
        )
        .bind(client_id)
        .bind(jti)
        .bind(ts(expires_at))
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
