//! Challenges and tickets on PostgreSQL: a challenge is taken with `DELETE … RETURNING`,
//! so of any number of takers, on any instance, exactly one gets it.

use super::PostgresStore;
use crate::domain::{Challenge, Ticket};
use crate::store::records::{decode_ticket, encode_ticket};
use crate::store::rows::{challenge_of, ts};
use crate::store::{ChallengeStore, StoreError};
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl ChallengeStore for PostgresStore {
    async fn put_challenge(&self, c: &Challenge) -> Result<(), StoreError> {
        self.write(|| {
            self.sql(
                "INSERT INTO challenges (id, nonce, purpose, origin, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(c.id.clone())
            .bind(c.nonce.clone())
            .bind(c.purpose.as_str())
            .bind(c.origin.clone())
            .bind(ts(c.expires_at))
        })
        .await?;
        Ok(())
    }

    async fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        // A read that deletes: what it returns is gone for everyone else.
        let row = self
            .read_one(|| {
                self.sql(
                    "DELETE FROM challenges WHERE id = $1 \
                     RETURNING nonce, purpose, origin, expires_at",
                )
                .bind(id.to_owned())
            })
            .await?;
        row.map(|r| challenge_of(id, &r)).transpose()
    }

    async fn put_ticket(&self, t: &Ticket) -> Result<(), StoreError> {
        let payload = encode_ticket(t)?;
        self.write(|| {
            self.sql("INSERT INTO tickets (id, expires_at, payload) VALUES ($1, $2, $3)")
                .bind(t.id.clone())
                .bind(ts(t.expires_at))
                .bind(payload.clone())
        })
        .await?;
        Ok(())
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let row = self
            .read_one(|| {
                self.sql("SELECT payload FROM tickets WHERE id = $1")
                    .bind(id.to_owned())
            })
            .await?;
        row.map(|r| decode_ticket(&r.try_get::<String, _>(0)?))
            .transpose()
    }
}
