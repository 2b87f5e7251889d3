//! Signing-SIM sessions on SQLite (`migrations/sqlite/0002_sim_sessions.sql`).
//!
//! "One pending session per number" is the partial unique index's job: two concurrent
//! starts for a number race in the database, and the loser sees a unique violation.
//! Completion is `UPDATE … WHERE state = 'pending'`, so a result, once written, stays.

use super::{SqliteStore, from_ts, is_unique_violation, ts};
use crate::domain::{Purpose, SimOutcome, SimResult, SimSession, Ticket};
use crate::store::records::{decode_outcome, encode_outcome, encode_ticket};
use crate::store::{SimStore, StartSimError, StoreError};
use async_trait::async_trait;
use kyso_verify::identity::SubjectType;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

/// Complete sessions are kept this long after their hard expiry (rate limits, reads).
const KEEP_COMPLETE: time::Duration = time::Duration::days(1);

/// The columns [`session_of`] reads, as a literal for `concat!` (sqlx takes only static SQL).
macro_rules! columns {
    () => {
        "id, purpose, msisdn, subject_type, origin, nonce, display_text, verification_code, \
         ap_trans_id, mssp_trans_id, result, outcome, created_at, answer_by, expires_at"
    };
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        what: "SIM session",
        detail,
    }
}

fn session_of(row: &SqliteRow) -> Result<SimSession, StoreError> {
    let purpose: String = row.try_get("purpose")?;
    let subject_type = row
        .try_get::<Option<String>, _>("subject_type")?
        .map(|t| SubjectType::from_name(&t).ok_or_else(|| corrupt(format!("subject type {t:?}"))))
        .transpose()?;
    let result = row
        .try_get::<Option<String>, _>("result")?
        .map(|r| SimResult::from_name(&r).ok_or_else(|| corrupt(format!("result {r:?}"))))
        .transpose()?;
    let outcome = row
        .try_get::<Option<String>, _>("outcome")?
        .map(|o| decode_outcome(&o))
        .transpose()?;
    Ok(SimSession {
        id: row.try_get("id")?,
        purpose: Purpose::from_name(&purpose)
            .ok_or_else(|| corrupt(format!("purpose {purpose:?}")))?,
        msisdn: row.try_get("msisdn")?,
        subject_type,
        origin: row.try_get("origin")?,
        nonce: row.try_get("nonce")?,
        display_text: row.try_get("display_text")?,
        verification_code: row.try_get("verification_code")?,
        ap_trans_id: row.try_get("ap_trans_id")?,
        mssp_trans_id: row.try_get("mssp_trans_id")?,
        created_at: from_ts(row.try_get("created_at")?)?,
        answer_by: from_ts(row.try_get("answer_by")?)?,
        expires_at: from_ts(row.try_get("expires_at")?)?,
        result,
        outcome,
    })
}

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
        let inserted = sqlx::query(
            "INSERT INTO sim_sessions (id, purpose, msisdn, subject_type, origin, nonce, display_text, \
             verification_code, ap_trans_id, state, created_at, answer_by, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(s.purpose.as_str())
        .bind(&s.msisdn)
        .bind(s.subject_type.map(SubjectType::as_str))
        .bind(&s.origin)
        .bind(&s.nonce)
        .bind(&s.display_text)
        .bind(&s.verification_code)
        .bind(&s.ap_trans_id)
        .bind(ts(s.created_at))
        .bind(ts(s.answer_by))
        .bind(ts(s.expires_at))
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
            columns!(),
            " FROM sim_sessions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(session_of)
        .transpose()
    }

    async fn pending_sim_sessions(&self) -> Result<Vec<SimSession>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM sim_sessions WHERE state = 'pending' ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session_of)
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
