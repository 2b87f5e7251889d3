//! Challenges and tickets on SQLite: both in the gateway's memory, not in the file.
//!
//! One SQLite gateway is the only one that can take them (the file has one owner); a
//! challenge lives minutes and a ticket a few more, and losing the outstanding ones in a
//! restart costs each person one new challenge, or one new signature. Each is taken out
//! under a lock, so of any number of concurrent takers exactly one gets it — the same
//! rule as the database's `DELETE … RETURNING`, without write transactions of their own.
//! A ticket is taken when its account is written and put back if the write fails for
//! the store's reasons, so a confirmation that met a full disk can be retried. A signing
//! SIM's ticket goes into the book once the session's completion is committed.
//!
//! Each book is bounded ([`MAX_ENTRIES`]): past it, expired entries are dropped first,
//! and a new one is refused while the book is full of live ones.

use super::SqliteStore;
use crate::domain::{Challenge, Ticket};
use crate::store::{ChallengeStore, StoreError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

/// Live entries a book holds at most: five minutes of 660 new ones a second, some
/// 60 MiB of challenges (tickets, which carry a certificate, take more).
pub const MAX_ENTRIES: usize = 200_000;

/// What a book holds: an id to take it by, and when it expires.
pub trait Entry: Clone {
    /// What the entries are, for the `Full` refusal.
    const WHAT: &'static str;
    /// Its id.
    fn id(&self) -> &str;
    /// When it stops being usable.
    fn expires_at(&self) -> OffsetDateTime;
}

impl Entry for Challenge {
    const WHAT: &'static str = "challenges";
    fn id(&self) -> &str {
        &self.id
    }
    fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }
}

impl Entry for Ticket {
    const WHAT: &'static str = "tickets";
    fn id(&self) -> &str {
        &self.id
    }
    fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }
}

/// The outstanding entries of one kind, by id; cloning shares them.
#[derive(Debug, Clone)]
pub struct Book<T>(Arc<Mutex<HashMap<String, T>>>);

impl<T> Default for Book<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Entry> Book<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, T>> {
        // A panic while holding the lock cannot leave the map half-changed: every
        // change below is one insert, one remove or one retain.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `entry`, refused when the book is full of live entries.
    pub fn put(&self, entry: &T) -> Result<(), StoreError> {
        let mut book = self.lock();
        if book.len() >= MAX_ENTRIES {
            let now = OffsetDateTime::now_utc();
            book.retain(|_, e| e.expires_at() > now);
        }
        if book.len() >= MAX_ENTRIES {
            return Err(StoreError::Full {
                what: T::WHAT,
                limit: MAX_ENTRIES,
            });
        }
        book.insert(entry.id().to_owned(), entry.clone());
        Ok(())
    }

    /// Takes the entry `id` out: it is gone for everyone else.
    pub fn take(&self, id: &str) -> Option<T> {
        self.lock().remove(id)
    }

    /// A copy of the entry `id`, left in place.
    pub fn get(&self, id: &str) -> Option<T> {
        self.lock().get(id).cloned()
    }

    /// Drops the entries expired at `now`; how many.
    pub fn purge(&self, now: OffsetDateTime) -> u64 {
        let mut book = self.lock();
        let before = book.len();
        book.retain(|_, e| e.expires_at() > now);
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
        self.tickets.put(t)
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        Ok(self.tickets.get(id))
    }
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
        let book = Book::<Challenge>::default();
        let past = OffsetDateTime::now_utc() - time::Duration::minutes(1);
        let future = OffsetDateTime::now_utc() + time::Duration::minutes(5);
        {
            let mut map = book.lock();
            for i in 0..MAX_ENTRIES - 1 {
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
