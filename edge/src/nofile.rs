//! The process's file-descriptor limit, and how many connections it leaves room for.
//!
//! Each connection holds one descriptor; the rest of the process needs some too (the
//! listener, logs, the database and its WAL, outgoing HTTP pools, the PKCS#11 module). A
//! cap on connections below what is left turns "too many open files" — which stops the
//! accept loop for everyone — into clients waiting in the listen backlog.

/// Raises the soft limit on open files to the hard limit where allowed; the soft limit now
/// in force (`None`: unlimited, or not a Unix system).
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if let Some(max) = limit.maximum
            && limit.current.is_none_or(|current| current < max)
        {
            limit.current = Some(max);
            if setrlimit(Resource::Nofile, limit).is_err() {
                tracing::warn!("could not raise the open-file limit");
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Connections the process may hold: `configured`, but never more than the open-file
/// limit minus a reserve (a tenth of it, at least 64) for everything else.
pub fn connection_budget(configured: usize, soft_limit: Option<u64>) -> usize {
    match soft_limit.and_then(|l| usize::try_from(l).ok()) {
        None => configured,
        Some(limit) => {
            let reserve = (limit / 10).max(64);
            configured.min(limit.saturating_sub(reserve)).max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_stays_below_the_limit() {
        assert_eq!(connection_budget(4096, Some(1024)), 922);
        assert_eq!(connection_budget(100, Some(1_048_576)), 100);
        assert_eq!(connection_budget(4096, Some(65)), 1);
        assert_eq!(connection_budget(4096, None), 4096);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        #[cfg(unix)]
        {
            use rustix::process::{Resource, getrlimit};
            let before = getrlimit(Resource::Nofile).current;
            let after = raise_nofile_limit();
            assert!(after >= before || after.is_none());
        }
    }
}
