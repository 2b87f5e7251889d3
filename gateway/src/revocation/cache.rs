//! A bounded map whose entries carry their own expiry, for OCSP answers and CRLs.
//!
//! Expiry is judged at a time the caller passes (the verification time), never read from
//! the clock here, so tests move time instead of waiting. When the map is full, expired
//! entries go first, then the one that would expire soonest.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Entries kept until their expiry, at most `capacity` of them.
#[derive(Debug)]
pub struct ExpiringCache<K, V> {
    capacity: usize,
    entries: Mutex<HashMap<K, (V, OffsetDateTime)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> ExpiringCache<K, V> {
    /// An empty cache holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, OffsetDateTime)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value for `key` if it has not expired at `at`.
    pub fn get(&self, key: &K, at: OffsetDateTime) -> Option<V> {
        self.lock()
            .get(key)
            .filter(|(_, until)| at < *until)
            .map(|(v, _)| v.clone())
    }

    /// Keeps `value` for `key` until `until`, making room if the cache is full at `at`.
    pub fn insert(&self, key: K, value: V, until: OffsetDateTime, at: OffsetDateTime) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, u)| at < *u);
            if entries.len() >= self.capacity
                && let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, (_, u))| *u)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(key, (value, until));
    }

    /// Forgets `key` (a cached CRL that failed verification).
    pub fn remove(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Removes the entry for `key` only while `still` holds of its value (another task
    /// may have replaced it since it was read).
    pub fn remove_if(&self, key: &K, still: impl FnOnce(&V) -> bool) {
        let mut entries = self.lock();
        if entries.get(key).is_some_and(|(v, _)| still(v)) {
            entries.remove(key);
        }
    }

    /// Keys whose entries expire before `before`, expired ones included.
    pub fn expiring_before(&self, before: OffsetDateTime) -> Vec<K> {
        self.lock()
            .iter()
            .filter(|(_, (_, u))| *u < before)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// How many entries are held, expired or not.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

    #[test]
    fn entries_live_until_their_expiry() {
        let c = ExpiringCache::new(4);
        c.insert("a", 1, T0 + Duration::minutes(5), T0);
        assert_eq!(c.get(&"a", T0), Some(1));
        assert_eq!(c.get(&"a", T0 + Duration::minutes(4)), Some(1));
        assert_eq!(c.get(&"a", T0 + Duration::minutes(5)), None);
        assert_eq!(c.get(&"b", T0), None);
        c.remove(&"a");
        assert!(c.is_empty());
    }

    #[test]
    fn a_full_cache_drops_expired_then_soonest_entries() {
        let c = ExpiringCache::new(2);
        c.insert("old", 1, T0 + Duration::minutes(1), T0);
        c.insert("soon", 2, T0 + Duration::minutes(10), T0);
        let later = T0 + Duration::minutes(2);
        c.insert("new", 3, T0 + Duration::minutes(30), later);
        assert_eq!(c.len(), 2, "the expired entry made room");
        assert_eq!(c.get(&"soon", later), Some(2));
        c.insert("newest", 4, T0 + Duration::minutes(60), later);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&"soon", later), None, "the soonest to expire went");
        assert_eq!(c.get(&"new", later), Some(3));
        assert_eq!(c.get(&"newest", later), Some(4));
        assert_eq!(c.expiring_before(T0 + Duration::minutes(45)), vec!["new"]);
        c.insert("new", 5, T0 + Duration::minutes(90), later);
        assert_eq!(
            (c.len(), c.get(&"new", later)),
            (2, Some(5)),
            "replacing needs no room"
        );
    }
}
