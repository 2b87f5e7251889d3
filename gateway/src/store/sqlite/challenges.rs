//! Challenges and tickets on SQLite.
//!
//! Challenges are kept in the gateway's memory, not in the file: one SQLite gateway is
//! the only one that can take them (the file has one owner), a challenge lives minutes,
//! and losing the outstanding ones in a restart costs each person one new challenge. Each
//! is taken out under a lock, so of any number of concurrent takers exactly one gets it —
//! the same rule as the database's `DELETE … RETURNING`, without two write transactions
//! per registration. Their number is bounded ([`MAX_CHALLENGES`]): past it, expired ones
//! are dropped first, and a new one is refused while the book is full of live ones.
//!
//! Tickets stay in the database: a signing-SIM result stores its ticket in the same
//! transaction that completes its session.

use super::SqliteStore;
use super::readers::one;
use super::writer::Durability;
use crate::domain::{Challenge, Ticket};
use crate::store::records::{decode_ticket, encode_ticket};
use crate::store::rows::ts;
use crate::store::{ChallengeStore, StoreError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

/// Live challenges a SQLite gateway holds at most: five minutes of 660 new ones a
/// second, some 60 MiB.
pub const MAX_CHALLENGES: usize = 200_000;

/// The outstanding challenges, by id.
#[derive(Debug, Clone, Default)]
pub struct ChallengeBook(Arc<Mutex<HashMap<String, Challenge>>>);

impl ChallengeBook {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Challenge>> {
        // A panic while holding the lock cannot leave the map half-changed: every
        // change below is one insert or one remove.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, c: &Challenge) -> Result<(), StoreError> {
        let mut book = self.lock();
        if book.len() >= MAX_CHALLENGES {
            let now = OffsetDateTime::now_utc();
            book.retain(|_, c| c.expires_at > now);
        }
        if book.len() >= MAX_CHALLENGES {
            return Err(StoreError::Full {
                what: "challenges",
                limit: MAX_CHALLENGES,
            });
        }
        book.insert(c.id.clone(), c.clone());
        Ok(())
    }

    fn take(&self, id: &str) -> Option<Challenge> {
        self.lock().remove(id)
    }

    /// Drops the challenges expired at `now`; how many.
    pub fn purge(&self, now: OffsetDateTime) -> u64 {
        let mut book = self.lock();
        let before = book.len();
        book.retain(|_, c| c.expires_at > now);
        (before - book.len()) as u64
    }
}

#[async_trait]
impl ChallengeStore for SqliteStore {
    async fn put_challenge(&self, c: &Challenge) -> Result<(), StoreError> {
        self.challenges.put(c)
    }

    async fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        Ok(self.challenges.take(id))
    }

    async fn put_ticket(&self, t: &Ticket) -> Result<(), StoreError> {
        let row = (t.id.clone(), ts(t.expires_at), encode_ticket(t)?);
        self.writer
            .write(Durability::Crash, move |conn| insert_ticket(conn, &row))
            .await
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let id = id.to_owned();
        self.readers
            .read(move |conn| {
                one(
                    conn,
                    "SELECT payload FROM tickets WHERE id = ?1",
                    [id],
                    |row| decode_ticket(&row.get::<_, String>(0)?),
                )
            })
            .await
    }
}

/// Stores a ticket row `(id, expires_at, payload)`; also part of a SIM session's
/// completion.
pub(super) fn insert_ticket(
    conn: &rusqlite::Connection,
    (id, expires_at, payload): &(String, i64, String),
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO tickets (id, expires_at, payload) VALUES (?1, ?2, ?3)")?
        .execute((id, expires_at, payload))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Purpose;

    fn challenge(id: &str, expires_at: OffsetDateTime) -> Challenge {
        Challenge {
            id: id.into(),
            nonce: "n".into(),
            purpose: Purpose::Register,
            origin: "https://o".into(),
            expires_at,
        }
    }

    #[test]
    fn a_full_book_drops_expired_challenges_first_and_then_refuses() {
        let book = ChallengeBook::default();
        let past = OffsetDateTime::now_utc() - time::Duration::minutes(1);
        let future = OffsetDateTime::now_utc() + time::Duration::minutes(5);
        {
            let mut map = book.lock();
            for i in 0..MAX_CHALLENGES - 1 {
                map.insert(format!("live-{i}"), challenge(&format!("live-{i}"), future));
            }
            map.insert("old".into(), challenge("old", past));
        }
        // Full: the expired one makes room.
        book.put(&challenge("new", future)).unwrap();
        assert!(book.take("old").is_none());
        // Full of live challenges: refused, nothing dropped.
        assert!(matches!(
            book.put(&challenge("one-more", future)),
            Err(StoreError::Full { .. })
        ));
        assert!(book.take("live-0").is_some() && book.take("new").is_some());
    }
}
