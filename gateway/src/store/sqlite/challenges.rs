//! Challenges and tickets on SQLite: a challenge is taken with `DELETE … RETURNING`, so
//! of any number of concurrent takers exactly one gets it.

use super::SqliteStore;
use crate::domain::{Challenge, Ticket};
use crate::store::records::{decode_ticket, encode_ticket};
use crate::store::rows::{challenge_of, ts};
use crate::store::{ChallengeStore, StoreError};
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl ChallengeStore for SqliteStore {
    async fn put_challenge(&self, c: &Challenge) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO challenges (id, nonce, purpose, origin, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.nonce)
        .bind(c.purpose.as_str())
        .bind(&c.origin)
        .bind(ts(c.expires_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM challenges WHERE id = ? RETURNING nonce, purpose, origin, expires_at",
        )
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|r| challenge_of(id, &r)).transpose()
    }

    async fn put_ticket(&self, t: &Ticket) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tickets (id, expires_at, payload) VALUES (?, ?, ?)")
            .bind(&t.id)
            .bind(ts(t.expires_at))
            .bind(encode_ticket(t)?)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let row = sqlx::query("SELECT payload FROM tickets WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| decode_ticket(&r.try_get::<String, _>(0)?))
            .transpose()
    }
}
