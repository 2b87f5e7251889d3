//! The audit chain as read back (design §8): its rows, its heads, and the check that
//! recomputes it page by page — so `audit verify` holds one page in memory, however long
//! the chain — against the head the database records and one the operator kept.

use super::{AccountStore, StoreError};
use crate::domain::audit_hash;
use time::OffsetDateTime;

/// How many rows `audit verify` and `audit export` read at a time: a few MiB of evidence.
pub const AUDIT_PAGE: usize = 1000;

/// One audit row as stored: what `kyso-gateway audit export` writes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its place in the chain (1, 2, …).
    pub seq: i64,
    /// When.
    pub at: OffsetDateTime,
    /// What happened (`account.created`, `session.created`).
    pub event: String,
    /// To which account.
    pub account_id: Option<String>,
    /// The details as stored (JSON text: identifier, evidence).
    pub details: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// A point of the audit chain: a row's place and hash. `audit verify` prints the chain's
/// last one for the operator to keep outside the database, and checks later that the
/// chain still passes through a kept one — what no check inside the database can show
/// once someone able to write it has cut rows from the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditHead {
    /// The row's place (0 for the empty chain).
    pub seq: i64,
    /// Its hash (hex SHA-256; empty for the empty chain).
    pub hash: String,
}

impl std::fmt::Display for AuditHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for AuditHead {
    type Err = String;

    /// `SEQ:HASH`, as [`Display`](std::fmt::Display) writes it, for a row that exists.
    fn from_str(s: &str) -> Result<Self, String> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or("a kept head is SEQ:HASH, as `audit verify` prints it")?;
        let seq = seq
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 1)
            .ok_or("the head's place is a row number (1, 2, ...)")?;
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err("the head's hash is 64 lowercase hex digits".into());
        }
        Ok(Self {
            seq,
            hash: hash.to_owned(),
        })
    }
}

/// Recomputes the whole chain, `page` rows at a time, and checks that it passes through the
/// head the database records (read first: rows appended while the check runs are
/// welcome, rows before it must be there) and through `anchor` when given. The chain's
/// last row; or the first row whose link or hash is wrong, or whose `seq` is not the next
/// one (a row removed from the middle or the start; sequence numbers are never reused),
/// or the first row missing before the recorded head; or the anchor it does not hold.
pub async fn verify_audit_chain(
    store: &(impl AccountStore + ?Sized),
    anchor: Option<&AuditHead>,
    page: usize,
) -> Result<AuditHead, StoreError> {
    let recorded = store
        .audit_head()
        .await?
        .ok_or(StoreError::AuditHeadMissing)?;
    let mut chain = ChainCheck::default();
    let mut held = [recorded.seq == 0, anchor.is_none()];
    loop {
        let page = store.audit_rows(chain.head.seq, None, page).await?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            chain.push(row)?;
            for (point, held) in [Some(&recorded), anchor].into_iter().zip(&mut held) {
                *held |= point.is_some_and(|p| p.seq == row.seq && p.hash == row.hash);
            }
        }
    }
    if !held[0] {
        let first_missing = (chain.head.seq + 1).min(recorded.seq);
        return Err(StoreError::AuditChainBroken { seq: first_missing });
    }
    if let (false, Some(anchor)) = (held[1], anchor) {
        return Err(StoreError::AuditAnchorMissing { seq: anchor.seq });
    }
    Ok(chain.head)
}

/// The chain recomputed so far: its last row.
#[derive(Default)]
struct ChainCheck {
    head: AuditHead,
}

impl ChainCheck {
    /// Takes the next row: it must come next and link to the head, and its hash must be
    /// the one the rule gives.
    fn push(&mut self, row: &AuditRow) -> Result<(), StoreError> {
        let expected = self.head.seq + 1;
        if row.seq != expected {
            return Err(StoreError::AuditChainBroken { seq: expected });
        }
        let want = audit_hash(
            &self.head.hash,
            row.seq,
            row.at.unix_timestamp(),
            &row.event,
            row.account_id.as_deref(),
            &row.details,
        );
        if row.prev_hash != self.head.hash || row.hash != want {
            return Err(StoreError::AuditChainBroken { seq: row.seq });
        }
        self.head = AuditHead {
            seq: row.seq,
            hash: want,
        };
        Ok(())
    }
}
