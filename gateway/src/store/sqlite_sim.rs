//! The SQLite side of signing-SIM sessions (`migrations/sqlite/0002_sim_sessions.sql`).
//!
//! "One pending session per number" is the partial unique index's job: two concurrent
//! starts for a number race in the database, and the loser sees a unique violation.
//! Completion is `UPDATE … WHERE state = 'pending'`, so a result, once written, stays.

use super::sqlite::{SqliteStore, err, from_ts, is_unique_violation, ts};
use super::{Purpose, StartSimError, StoreError, Ticket};
use crate::sim::session::{SimOutcome, SimResult, SimSession};
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

fn subject_type_name(t: SubjectType) -> &'static str {
    match t {
        SubjectType::Citizen => "citizen",
        SubjectType::Organization => "organization",
    }
}

fn session_of(row: &SqliteRow) -> Result<SimSession, StoreError> {
    let purpose = match row.try_get::<String, _>("purpose").map_err(err)?.as_str() {
        "register" => Purpose::Register,
        "login" => Purpose::Login,
        other => return Err(StoreError(format!("unknown purpose {other:?}"))),
    };
    let subject_type = match row
        .try_get::<Option<String>, _>("subject_type")
        .map_err(err)?
        .as_deref()
    {
        None => None,
        Some("citizen") => Some(SubjectType::Citizen),
        Some("organization") => Some(SubjectType::Organization),
        Some(other) => return Err(StoreError(format!("unknown subject type {other:?}"))),
    };
    let result = row
        .try_get::<Option<String>, _>("result")
        .map_err(err)?
        .map(|r| {
            SimResult::from_name(&r).ok_or_else(|| StoreError(format!("unknown result {r:?}")))
        })
        .transpose()?;
    let outcome = row
        .try_get::<Option<String>, _>("outcome")
        .map_err(err)?
        .map(|o| serde_json::from_str(&o).map_err(err))
        .transpose()?;
    Ok(SimSession {
        id: row.try_get("id").map_err(err)?,
        purpose,
        msisdn: row.try_get("msisdn").map_err(err)?,
        subject_type,
        origin: row.try_get("origin").map_err(err)?,
        nonce: row.try_get("nonce").map_err(err)?,
        display_text: row.try_get("display_text").map_err(err)?,
        verification_code: row.try_get("verification_code").map_err(err)?,
        ap_trans_id: row.try_get("ap_trans_id").map_err(err)?,
        mssp_trans_id: row.try_get("mssp_trans_id").map_err(err)?,
        created_at: from_ts(row.try_get("created_at").map_err(err)?)?,
        answer_by: from_ts(row.try_get("answer_by").map_err(err)?)?,
        expires_at: from_ts(row.try_get("expires_at").map_err(err)?)?,
        result,
        outcome,
    })
}

impl SqliteStore {
    pub(super) async fn sim_start(
        &self,
        s: &SimSession,
        now: OffsetDateTime,
    ) -> Result<(), StartSimError> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        sqlx::query(
            "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', completed_at = ? \
             WHERE msisdn = ? AND state = 'pending' AND expires_at <= ?",
        )
        .bind(ts(now))
        .bind(&s.msisdn)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let inserted = sqlx::query(
            "INSERT INTO sim_sessions (id, purpose, msisdn, subject_type, origin, nonce, display_text, \
             verification_code, ap_trans_id, state, created_at, answer_by, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(s.purpose.as_str())
        .bind(&s.msisdn)
        .bind(s.subject_type.map(subject_type_name))
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
            Err(e) => return Err(err(e).into()),
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    pub(super) async fn sim_set_trans_id(&self, id: &str, trans: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sim_sessions SET mssp_trans_id = ? WHERE id = ?")
            .bind(trans)
            .bind(id)
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(err)
    }

    pub(super) async fn sim_complete(
        &self,
        id: &str,
        result: SimResult,
        outcome: Option<&SimOutcome>,
        ticket: Option<&Ticket>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let outcome = outcome
            .map(serde_json::to_string)
            .transpose()
            .map_err(err)?;
        let mut tx = self.writer.begin().await.map_err(err)?;
        let done = sqlx::query(
            "UPDATE sim_sessions SET state = 'complete', result = ?, outcome = ?, completed_at = ? \
             WHERE id = ? AND state = 'pending'",
        )
        .bind(result.as_str())
        .bind(outcome)
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(t) = ticket {
            sqlx::query("INSERT INTO tickets (id, expires_at, payload) VALUES (?, ?, ?)")
                .bind(&t.id)
                .bind(ts(t.expires_at))
                .bind(serde_json::to_string(t).map_err(err)?)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    pub(super) async fn sim_get(&self, id: &str) -> Result<Option<SimSession>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM sim_sessions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?
        .as_ref()
        .map(session_of)
        .transpose()
    }

    pub(super) async fn sim_pending(&self) -> Result<Vec<SimSession>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM sim_sessions WHERE state = 'pending' ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?
        .iter()
        .map(session_of)
        .collect()
    }

    pub(super) async fn sim_started_since(
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
        .await
        .map_err(err)?;
        u64::try_from(n).map_err(err)
    }

    pub(super) async fn sim_claim_login(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE sim_sessions SET token_issued = 1 \
             WHERE id = ? AND purpose = 'login' AND result = 'OK' AND token_issued = 0 \
             AND expires_at > ?",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .map_err(err)?;
        Ok(claimed.rows_affected() == 1)
    }

    pub(super) async fn sim_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        sqlx::query(
            "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', completed_at = ? \
             WHERE state = 'pending' AND expires_at <= ?",
        )
        .bind(ts(now))
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .map_err(err)?;
        sqlx::query("DELETE FROM sim_sessions WHERE state = 'complete' AND expires_at <= ?")
            .bind(ts(now - KEEP_COMPLETE))
            .execute(&self.writer)
            .await
            .map(|r| r.rows_affected())
            .map_err(err)
    }
}
