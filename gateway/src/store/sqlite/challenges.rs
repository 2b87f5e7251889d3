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
//! and a new one is refused while the book is full of live ones. Dropping them means a
//! pass over the whole book under its lock, so a full book makes that pass at most once
//! a [`SWEEP_INTERVAL`]: a flood that keeps it full gets cheap refusals, not a scan of
//! 200,000 entries per request.

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

/// How often a full book looks for expired entries to make room.
pub const SWEEP_INTERVAL: time::Duration = time::Duration::SECOND;

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
pub struct Book<T>(Arc<Mutex<Entries<T>>>);

/// A book's entries and when a full book last dropped the expired ones.
#[derive(Debug)]
struct Entries<T> {
    by_id: HashMap<String, T>,
    swept_at: Option<OffsetDateTime>,
}

impl<T> Default for Book<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Entries {
            by_id: HashMap::new(),
            swept_at: None,
        })))
    }
}

impl<T: Entry> Book<T> {
    fn lock(&self) -> MutexGuard<'_, Entries<T>> {
        // A panic while holding the lock cannot leave the map half-changed: every
        // change below is one insert, one remove or one retain.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `entry`, refused when the book is full of live entries.
    pub fn put(&self, entry: &T) -> Result<(), StoreError> {
        self.put_at(entry, OffsetDateTime::now_utc(), true)
            .map(|_| ())
    }

    /// Adds `entry` unless the book holds one under its id already: `false`, and the
    /// book unchanged.
    pub fn put_new(&self, entry: &T) -> Result<bool, StoreError> {
        self.put_at(entry, OffsetDateTime::now_utc(), false)
    }

    /// [`Self::put`] at `now` (replacing an entry of the same id only if `replace`): a
    /// full book drops its expired entries first, unless it did so less than
    /// [`SWEEP_INTERVAL`] ago.
    fn put_at(&self, entry: &T, now: OffsetDateTime, replace: bool) -> Result<bool, StoreError> {
        let mut book = self.lock();
        if !replace && book.by_id.contains_key(entry.id()) {
            return Ok(false);
        }
        let mut swept = false;
        if book.by_id.len() >= MAX_ENTRIES
            && book.swept_at.is_none_or(|at| now - at >= SWEEP_INTERVAL)
        {
            book.by_id.retain(|_, e| e.expires_at() > now);
            book.swept_at = Some(now);
            swept = true;
        }
        if book.by_id.len() < MAX_ENTRIES {
            book.by_id.insert(entry.id().to_owned(), entry.clone());
            return Ok(true);
        }
        drop(book);
        if swept {
            // Once a sweep, not once a refusal: a flood must not become a flood of lines.
            tracing::warn!(
                what = T::WHAT,
                limit = MAX_ENTRIES,
                "full of live entries: new ones are refused until some expire"
            );
        }
        Err(StoreError::Full {
            what: T::WHAT,
            limit: MAX_ENTRIES,
        })
    }

    /// Takes the entry `id` out: it is gone for everyone else.
    pub fn take(&self, id: &str) -> Option<T> {
        self.lock().by_id.remove(id)
    }

    /// A copy of the entry `id`, left in place.
    pub fn get(&self, id: &str) -> Option<T> {
        self.lock().by_id.get(id).cloned()
    }

    /// Drops the entries expired at `now`; how many.
    pub fn purge(&self, now: OffsetDateTime) -> u64 {
        let mut book = self.lock();
        let before = book.by_id.len();
        book.by_id.retain(|_, e| e.expires_at() > now);
        (before - book.by_id.len()) as u64
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

    /// A book of `MAX_ENTRIES` challenges: `expired` of them expiring at `soon`, the rest
    /// five minutes after `now`.
    fn full_book(now: OffsetDateTime, soon: OffsetDateTime, expired: usize) -> Book<Challenge> {
        let book = Book::<Challenge>::default();
        let later = now + time::Duration::minutes(5);
        let mut entries = book.lock();
        for i in 0..MAX_ENTRIES {
            let at = if i < expired { soon } else { later };
            entries
                .by_id
                .insert(format!("c-{i}"), challenge(&format!("c-{i}"), at));
        }
        drop(entries);
        book
    }

    #[test]
    fn a_full_book_drops_expired_challenges_first_and_then_refuses() {
        let now = OffsetDateTime::now_utc();
        let book = full_book(now, now - time::Duration::minutes(1), 1);
        // Full: the expired one makes room.
        book.put_at(
            &challenge("new", now + time::Duration::minutes(5)),
            now,
            true,
        )
        .unwrap();
        assert!(book.take("c-0").is_none());
        // Full of live challenges: refused, nothing dropped.
        let later = now + SWEEP_INTERVAL;
        assert!(matches!(
            book.put_at(&challenge("one-more", later), later, true),
            Err(StoreError::Full { .. })
        ));
        assert!(book.take("c-1").is_some() && book.take("new").is_some());
    }

    #[test]
    fn a_full_book_looks_for_expired_entries_at_most_once_an_interval() {
        let now = OffsetDateTime::now_utc();
        let soon = now + time::Duration::milliseconds(100);
        let book = full_book(now, soon, 2);
        let fresh = |id: &str| challenge(id, now + time::Duration::minutes(5));
        // Nothing has expired yet: refused, and the book was swept at `now`.
        assert!(matches!(
            book.put_at(&fresh("a"), now, true),
            Err(StoreError::Full { .. })
        ));
        // Two have expired, but the last sweep was less than an interval ago: refused
        // without a pass over the book, so the expired ones are still there.
        let after_expiry = soon + time::Duration::milliseconds(1);
        assert!(matches!(
            book.put_at(&fresh("b"), after_expiry, true),
            Err(StoreError::Full { .. })
        ));
        assert!(book.get("c-0").is_some());
        // An interval after the last sweep, the expired ones make room.
        let next = now + SWEEP_INTERVAL;
        book.put_at(&fresh("c"), next, true).unwrap();
        book.put_at(&fresh("d"), next, true).unwrap();
        assert!(book.get("c-0").is_none() && book.get("c-1").is_none());
        assert!(matches!(
            book.put_at(&fresh("e"), next, true),
            Err(StoreError::Full { .. })
        ));
    }

    #[test]
    fn put_new_leaves_an_entry_of_the_same_id_alone() {
        let now = OffsetDateTime::now_utc();
        let book = Book::default();
        let first = challenge("same", now + time::Duration::minutes(5));
        let second = challenge("same", now + time::Duration::minutes(9));
        assert!(book.put_new(&first).unwrap());
        assert!(!book.put_new(&second).unwrap());
        assert_eq!(book.take("same"), Some(first));
    }
}
