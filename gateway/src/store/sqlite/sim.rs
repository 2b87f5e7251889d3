//! Signing-SIM sessions on SQLite (`migrations/sqlite/0002_sim_sessions.sql`).
//!
//! "One pending session per number" is the partial unique index's job: two concurrent
//! starts for a number race in the database, and the loser sees a unique violation.
//! Completion is `UPDATE … WHERE state = 'pending'`, so a result, once written, stays.
//! Each pending session is held by the process polling it (`polled_by`, renewed until
//! `polled_until`): the file has one owner at a time, so a claim takes over the
//! sessions of the process before it — at once when that one stopped and released them,
//! once its hold lapses when it died.

use super::SqliteStore;
use super::accounts::insert_session;
use super::readers::{all, one};
use super::writer::{Durability, is_unique_violation};
use crate::domain::{
    AuditEntry, CertificateRecord, NewSession, SimOutcome, SimResult, SimSession, Ticket,
};
use crate::store::records::encode_outcome;
use crate::store::rows::{sim_session_columns, sim_session_of, sim_session_values, ts};
use crate::store::{SimStarts, SimStore, StartSimError, StoreError};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use time::OffsetDateTime;

/// How many sessions a number started since a time: in all, and from one network.
const STARTS_SINCE: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN requester = ?3 THEN 1 ELSE 0 END), 0) \
     FROM sim_sessions WHERE msisdn = ?1 AND created_at >= ?2";

#[async_trait]
impl SimStore for SqliteStore {
    async fn start_sim_session(
        &self,
        s: &SimSession,
        now: OffsetDateTime,
    ) -> Result<(), StartSimError> {
        let s = s.clone();
        self.writer
            .write(Durability::Crash, move |conn| {
                conn.prepare_cached(
                    "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', \
                     completed_at = ?1 WHERE msisdn = ?2 AND state = 'pending' AND expires_at <= ?1",
                )
                .and_then(|mut q| q.execute((ts(now), &s.msisdn)))
                .map_err(StoreError::from)?;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO sim_sessions (id, purpose, msisdn, requester, subject_type, \
                         origin, nonce, display_text, verification_code, ap_trans_id, created_at, \
                         answer_by, expires_at, state) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'pending')",
                    )
                    .and_then(|mut q| q.execute(sim_session_values(&s)));
                match inserted {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => Err(StartSimError::Busy),
                    Err(e) => Err(StoreError::from(e).into()),
                }
            })
            .await
    }

    async fn set_mssp_trans_id(&self, id: &str, trans: &str) -> Result<(), StoreError> {
        let (id, trans) = (id.to_owned(), trans.to_owned());
        self.writer
            .write(Durability::Crash, move |conn| {
                conn.prepare_cached("UPDATE sim_sessions SET mssp_trans_id = ?1 WHERE id = ?2")?
                    .execute((trans, id))?;
                Ok(())
            })
            .await
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
        let id = id.to_owned();
        // The ticket goes in the book in the same transaction as the completion, once the
        // update won, so a reader who sees the result can confirm at once — and nobody
        // (the browser knows the ticket's id: it is the session's) can confirm one whose
        // completion then loses to the purge or an expiry. A completion that did not
        // commit takes back its own ticket, never one a winning completion of the same
        // session put there.
        let tickets = self.tickets.clone();
        let owned = ticket.cloned();
        // Whether this completion put its ticket in the book (then, if the transaction does
        // not commit, it takes it back).
        let put = Arc::new(AtomicBool::new(false));
        let put_here = put.clone();
        let completed = self
            .writer
            .write(Durability::Crash, move |conn| {
                let done = conn
                    .prepare_cached(
                        "UPDATE sim_sessions SET state = 'complete', result = ?1, outcome = ?2, \
                         completed_at = ?3 WHERE id = ?4 AND state = 'pending'",
                    )?
                    .execute((result.as_str(), outcome, ts(now), id))?;
                if let (Some(t), 1) = (&owned, done) {
                    put_here.store(tickets.put_new(t)?, Ordering::SeqCst);
                }
                Ok::<_, StoreError>(done == 1)
            })
            .await;
        if let (Some(t), Err(_)) = (ticket, &completed)
            && put.load(Ordering::SeqCst)
        {
            self.tickets.take(&t.id);
        }
        completed
    }

    async fn sim_session(&self, id: &str) -> Result<Option<SimSession>, StoreError> {
        let id = id.to_owned();
        self.readers
            .read(move |conn| {
                one(
                    conn,
                    concat!(
                        "SELECT ",
                        sim_session_columns!(),
                        " FROM sim_sessions WHERE id = ?1"
                    ),
                    [id],
                    |row| sim_session_of(row),
                )
            })
            .await
    }

    async fn claim_sim_sessions(
        &self,
        poller: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        unheld_since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<SimSession>, StoreError> {
        let poller = poller.to_owned();
        // The one writer decides: two claims never see the same session unheld.
        self.writer
            .write(Durability::Crash, move |conn| {
                all(
                    conn,
                    concat!(
                        "UPDATE sim_sessions SET polled_by = ?1, polled_until = ?2 \
                         WHERE id IN (SELECT id FROM sim_sessions WHERE state = 'pending' \
                         AND (polled_until <= ?3 OR (polled_until IS NULL AND created_at <= ?4)) \
                         ORDER BY created_at LIMIT ?5) RETURNING ",
                        sim_session_columns!()
                    ),
                    (poller, ts(until), ts(now), ts(unheld_since), limit),
                    |row| sim_session_of(row),
                )
            })
            .await
    }

    async fn hold_sim_session(
        &self,
        id: &str,
        poller: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (id, poller) = (id.to_owned(), poller.to_owned());
        self.writer
            .write(Durability::Crash, move |conn| {
                let held = conn
                    .prepare_cached(
                        "UPDATE sim_sessions SET polled_by = ?1, polled_until = ?2 \
                         WHERE id = ?3 AND state = 'pending' \
                         AND (polled_by = ?1 OR polled_by IS NULL)",
                    )?
                    .execute((poller, ts(until), id))?;
                Ok(held == 1)
            })
            .await
    }

    async fn release_sim_sessions(
        &self,
        ids: &[String],
        poller: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (ids, poller) = (ids.to_vec(), poller.to_owned());
        self.writer
            .write(Durability::Crash, move |conn| {
                let mut release = conn.prepare_cached(
                    "UPDATE sim_sessions SET polled_until = ?1 \
                     WHERE id = ?2 AND state = 'pending' AND (polled_by = ?3 OR polled_by IS NULL)",
                )?;
                for id in ids {
                    release.execute((ts(now), id, &poller))?;
                }
                Ok(())
            })
            .await
    }

    async fn sim_starts_since(
        &self,
        msisdn: &str,
        requester: &str,
        since: OffsetDateTime,
    ) -> Result<SimStarts, StoreError> {
        let (msisdn, requester) = (msisdn.to_owned(), requester.to_owned());
        let (all, from_requester) = self
            .readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(STARTS_SINCE)?
                    .query_row((msisdn, ts(since), requester), |row| {
                        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
                    })?)
            })
            .await?;
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
        let id = id.to_owned();
        let (session, certificate, audit) = (session.clone(), certificate.clone(), audit.clone());
        // In the job's own savepoint: a failed insert takes the claim back with it.
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                let claimed = conn
                    .prepare_cached(
                        "UPDATE sim_sessions SET token_issued = 1 \
                         WHERE id = ?1 AND purpose = 'login' AND result = 'OK' \
                         AND token_issued = 0 AND expires_at > ?2",
                    )?
                    .execute((id, ts(now)))?;
                if claimed != 1 {
                    return Ok(false);
                }
                insert_session(conn, &session, &certificate, &audit)?;
                Ok(true)
            })
            .await
    }
}
