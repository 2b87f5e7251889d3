//! The audit log (design §8): an append-only list of what happened, each entry linked to
//! the one before by a hash, so that an altered, removed or inserted entry breaks the
//! chain at that point.

use time::OffsetDateTime;

/// One audit event, before it is appended.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// When.
    pub at: OffsetDateTime,
    /// `account.created`, `session.created`, …
    pub event: &'static str,
    /// The account concerned.
    pub account_id: Option<String>,
    /// JSON details (evidence), as text: made by the request's task, so that the one
    /// thread that appends to the chain only hashes and stores them. Never secrets.
    pub details: String,
}

/// The hash of an audit row: SHA-256 over the previous row's hash, the row's sequence
/// number, time (Unix seconds), event, account id (empty when none) and details (the
/// JSON text as stored), each prefixed by its length as 8 big-endian bytes so that no
/// two different rows hash the same input. Hex, lowercase.
pub fn audit_hash(
    prev_hash: &str,
    seq: i64,
    at: i64,
    event: &str,
    account_id: Option<&str>,
    details: &str,
) -> String {
    use aws_lc_rs::digest::{Context, SHA256};
    let mut ctx = Context::new(&SHA256);
    for part in [
        prev_hash,
        &seq.to_string(),
        &at.to_string(),
        event,
        account_id.unwrap_or(""),
        details,
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    hex::encode(ctx.finish())
}
