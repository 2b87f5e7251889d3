//! Signing-SIM sessions on SQLite (`migrations/sqlite/0002_sim_sessions.sql`).
//!
//! "One pending session per number" is the partial unique index's job: two concurrent
//! starts for a number race in the database, and the loser sees a unique violation.
//! Completion is `UPDATE … WHERE state = 'pending'`, so a result, once written, stays.

use super::SqliteStore;
use crate::domain::{SimOutcome, SimResult, SimSession, Ticket};
use crate::store::records::{encode_outcome, encode_ticket};
use crate::store::rows::{
    bind_sim_session, is_unique_violation, sim_session_columns, sim_session_of, ts,
};
use crate::store::{SimStore, StartSimError, StoreError};
use async_trait::async_trait;
use time::OffsetDateTime;

/// Complete sessions are kept this long after their hard expiry (rate limits, reads).
const KEEP_COMPLETE: time::Duration = time::Duration::days(1);

impl SqliteStore {
    /// Ends pending sessions past their hard expiry and deletes complete ones kept long
    /// enough; part of [`crate::store::Store::purge_expired`].
    pub(super) async fn purge_sim_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        sqlx::query(
            "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', completed_at = ? \
             WHERE state = 'pending' AND expires_at <= ?",
        )
        .bind(ts(now))
        .bind(ts(now))
        .execute(&self.writer)
        .await?;
        Ok(
            sqlx::query("DELETE FROM sim_sessions WHERE state = 'complete' AND expires_at <= ?")
                .bind(ts(now - KEEP_COMPLETE))
                .execute(&self.writer)
                .await?
                .rows_affected(),
        )
    }
}

#[async_trait]
impl SimStore for SqliteStore {
    async fn start_sim_session(
        &self,
        s: &SimSession,
        now: OffsetDateTime,
    ) -> Result<(), StartSimError> {
        let mut tx = self.writer.begin().await.map_err(StoreError::from)?;
        sqlx::query(
            "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', completed_at = ? \
             WHERE msisdn = ? AND state = 'pending' AND expires_at <= ?",
        )
        .bind(ts(now))
        .bind(&s.msisdn)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let inserted = bind_sim_session(
            sqlx::query(
                "INSERT INTO sim_sessions (id, purpose, msisdn, subject_type, origin, nonce, \
                 display_text, verification_code, ap_trans_id, created_at, answer_by, expires_at, \
                 state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            ),
            s,
        )
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(StartSimError::Busy),
            Err(e) => return Err(StoreError::from(e).into()),
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn set_mssp_trans_id(&self, id: &str, trans: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sim_sessions SET mssp_trans_id = ? WHERE id = ?")
            .bind(trans)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn complete_sim_session(
        &self,
        id: &str,
        result: SimResult,
        outcome: Option<&SimOutcome>,
        ticket: Option<&Ticket>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let outcome = outcome.map(encode_outcome).transpose()?;
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE sim_sessions SET state = 'complete', result = ?, outcome = ?, completed_at = ? \
             WHERE id = ? AND state = 'pending'",
        )
        .bind(result.as_str())
        .bind(outcome)
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(t) = ticket {
            sqlx::query("INSERT INTO tickets (id, expires_at, payload) VALUES (?, ?, ?)")
                .bind(&t.id)
                .bind(ts(t.expires_at))
                .bind(encode_ticket(t)?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn sim_session(&self, id: &str) -> Result<Option<SimSession>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            sim_session_columns!(),
            " FROM sim_sessions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(sim_session_of)
        .transpose()
    }

    async fn pending_sim_sessions(&self) -> Result<Vec<SimSession>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            sim_session_columns!(),
            " FROM sim_sessions WHERE state = 'pending' ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sim_session_of)
        .collect()
    }

    async fn sim_sessions_started_since(
        &self,
        msisdn: &str,
        since: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sim_sessions WHERE msisdn = ? AND created_at >= ?",
        )
        .bind(msisdn)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn claim_sim_login(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE sim_sessions SET token_issued = 1 \
             WHERE id = ? AND purpose = 'login' AND result = 'OK' AND token_issued = 0 \
             AND expires_at > ?",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&self.writer)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }
}
