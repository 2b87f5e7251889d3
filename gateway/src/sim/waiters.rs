//! How many reads wait on each SIM session at once.
//!
//! A long poll holds one of the poll pool's places for up to 30 s. Whoever started a
//! session holds its id and could poll it many times over in parallel, filling the pool
//! so that everyone else's polls are refused. So only [`MAX_WAITING`] reads of one
//! session wait; any more are answered at once with what the session holds (the
//! per-address rate limit then bounds how often they come back).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Reads of one session that may wait for its result at the same time: a page and, say,
/// the same page reloaded in a second tab.
pub const MAX_WAITING: usize = 2;

/// The waiting reads, by session (the hash the store knows it by); cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Waiters(Arc<Mutex<HashMap<String, usize>>>);

/// A read's place among its session's waiters, given back when dropped (also when the
/// request is dropped because its client hung up).
#[derive(Debug)]
pub struct Waiting {
    waiters: Waiters,
    id: String,
}

impl Waiters {
    /// A place to wait on session `id`, or `None` when [`MAX_WAITING`] reads already wait.
    pub fn enter(&self, id: &str) -> Option<Waiting> {
        let mut counts = self.lock();
        let count = counts.entry(id.to_owned()).or_insert(0);
        if *count >= MAX_WAITING {
            return None;
        }
        *count += 1;
        Some(Waiting {
            waiters: self.clone(),
            id: id.to_owned(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // Every change is one increment or one decrement: a panic cannot leave it torn.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut counts = self.waiters.lock();
        if let Some(count) = counts.get_mut(&self.id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_has_two_waiting_places_given_back_when_dropped() {
        let waiters = Waiters::default();
        let first = waiters.enter("s").unwrap();
        let second = waiters.enter("s").unwrap();
        assert!(waiters.enter("s").is_none());
        assert!(waiters.enter("other").is_some(), "counted per session");
        drop(first);
        let third = waiters.enter("s").unwrap();
        drop((second, third));
        assert!(waiters.lock().is_empty(), "nothing left behind");
    }
}
