//! Signing-SIM sessions on PostgreSQL (`migrations/postgres/0001_init.sql`).
//!
//! "One pending session per number" is the partial unique index's job on every instance:
//! of two starts racing for a number, the second waits for the first's commit and then
//! meets the index. Each pending session is polled by the one instance that holds it
//! (`polled_by`, renewed until `polled_until`); when that instance dies, another's claim
//! takes the session over. Completion is `UPDATE … WHERE state = 'pending'`: should two
//! instances still poll one session (a holder that stalled past its hold while another
//! took over), the first result written stays and only its transaction stores a ticket.

use super::PostgresStore;
use crate::domain::{
    AuditEntry, CertificateRecord, NewSession, SimOutcome, SimResult, SimSession, Ticket,
};
use crate::store::records::{encode_outcome, encode_ticket};
use crate::store::rows::{
    bind_sim_session, is_unique_violation, sim_session_columns, sim_session_of, ts,
};
use crate::store::{SimStarts, SimStore, StartSimError, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

impl PostgresStore {
    async fn try_hand_out_sim_login(
        &self,
        id: &str,
        now: OffsetDateTime,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let claimed = self
            .sql(
                "UPDATE sim_sessions SET token_issued = TRUE \
                 WHERE id = $1 AND purpose = 'login' AND result = 'OK' \
                 AND NOT token_issued AND expires_at > $2",
            )
            .bind(id.to_owned())
            .bind(ts(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed != 1 {
            // Dropped unfinished: rolled back, though nothing was written.
            return Ok(false);
        }
        self.insert_session(&mut tx, session, certificate, audit)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The transaction of [`SimStore::start_sim_session`], once.
    async fn try_start_sim_session(
        &self,
        s: &SimSession,
        now: OffsetDateTime,
    ) -> Result<(), StartSimError> {
        let mut tx = self.begin().await?;
        self.sql(
            "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', completed_at = $2 \
             WHERE msisdn = $1 AND state = 'pending' AND expires_at <= $2",
        )
        .bind(s.msisdn.as_str())
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let inserted = bind_sim_session(
            self.sql(
                "INSERT INTO sim_sessions (id, purpose, msisdn, requester, subject_type, origin, \
                 nonce, display_text, verification_code, ap_trans_id, created_at, answer_by, \
                 expires_at, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'pending')",
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

    /// The transaction of [`SimStore::complete_sim_session`], once.
    async fn try_complete_sim_session(
        &self,
        id: &str,
        result: SimResult,
        outcome: Option<&str>,
        ticket: Option<(&Ticket, &str)>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = self
            .sql(
                "UPDATE sim_sessions SET state = 'complete', result = $1, outcome = $2, \
                 completed_at = $3 WHERE id = $4 AND state = 'pending'",
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
        if let Some((t, payload)) = ticket {
            self.sql("INSERT INTO tickets (id, expires_at, payload) VALUES ($1, $2, $3)")
                .bind(t.id.as_str())
                .bind(ts(t.expires_at))
                .bind(payload)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl SimStore for PostgresStore {
    async fn start_sim_session(
        &self,
        s: &SimSession,
        now: OffsetDateTime,
    ) -> Result<(), StartSimError> {
        retrying!(self, self.try_start_sim_session(s, now))
    }

    async fn set_mssp_trans_id(&self, id: &str, trans: &str) -> Result<(), StoreError> {
        self.write(|| {
            self.sql("UPDATE sim_sessions SET mssp_trans_id = $1 WHERE id = $2")
                .bind(trans.to_owned())
                .bind(id.to_owned())
        })
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
        let ticket = ticket
            .map(|t| encode_ticket(t).map(|payload| (t, payload)))
            .transpose()?;
        retrying!(
            self,
            self.try_complete_sim_session(
                id,
                result,
                outcome.as_deref(),
                ticket.as_ref().map(|(t, p)| (*t, p.as_str())),
                now,
            )
        )
    }

    async fn sim_session(&self, id: &str) -> Result<Option<SimSession>, StoreError> {
        self.read_one(|| {
            self.sql(concat!(
                "SELECT ",
                sim_session_columns!(),
                " FROM sim_sessions WHERE id = $1"
            ))
            .bind(id.to_owned())
        })
        .await?
        .as_ref()
        .map(sim_session_of)
        .transpose()
    }

    async fn claim_sim_sessions(
        &self,
        poller: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        unheld_since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<SimSession>, StoreError> {
        // Sessions another claim has locked are skipped; one it took meanwhile is locked
        // here in its new version, which no longer matches, and left out.
        self.read(|| {
            self.sql(concat!(
                "UPDATE sim_sessions SET polled_by = $1, polled_until = $2 \
                 WHERE id IN (SELECT id FROM sim_sessions WHERE state = 'pending' \
                 AND (polled_until <= $3 OR (polled_until IS NULL AND created_at <= $4)) \
                 ORDER BY created_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
                 AND state = 'pending' \
                 AND (polled_until <= $3 OR (polled_until IS NULL AND created_at <= $4)) \
                 RETURNING ",
                sim_session_columns!()
            ))
            .bind(poller.to_owned())
            .bind(ts(until))
            .bind(ts(now))
            .bind(ts(unheld_since))
            .bind(i64::from(limit))
        })
        .await?
        .iter()
        .map(sim_session_of)
        .collect()
    }

    async fn hold_sim_session(
        &self,
        id: &str,
        poller: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let held = self
            .write(|| {
                self.sql(
                    "UPDATE sim_sessions SET polled_by = $1, polled_until = $2 \
                     WHERE id = $3 AND state = 'pending' \
                     AND (polled_by = $1 OR polled_by IS NULL)",
                )
                .bind(poller.to_owned())
                .bind(ts(until))
                .bind(id.to_owned())
            })
            .await?;
        Ok(held == 1)
    }

    async fn release_sim_sessions(
        &self,
        ids: &[String],
        poller: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.write(|| {
            self.sql(
                "UPDATE sim_sessions SET polled_until = $1 \
                 WHERE id = ANY($2) AND state = 'pending' AND (polled_by = $3 OR polled_by IS NULL)",
            )
            .bind(ts(now))
            .bind(ids.to_vec())
            .bind(poller.to_owned())
        })
        .await?;
        Ok(())
    }

    async fn sim_starts_since(
        &self,
        msisdn: &str,
        requester: &str,
        since: OffsetDateTime,
    ) -> Result<SimStarts, StoreError> {
        let row = self
            .read_one(|| {
                self.sql(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE requester = $3) FROM sim_sessions \
                     WHERE msisdn = $1 AND created_at >= $2",
                )
                .bind(msisdn.to_owned())
                .bind(ts(since))
                .bind(requester.to_owned())
            })
            .await?;
        let (all, from_requester): (i64, i64) = match row {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            None => (0, 0),
        };
        Ok(SimStarts::counted(all, from_requester))
    }

    async fn hand_out_sim_login(
        &self,
        id: &str,
        now: OffsetDateTime,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let _turn = self.chain_turn().await;
        retrying!(
            self,
            self.try_hand_out_sim_login(id, now, session, certificate, audit)
        )
    }
}
