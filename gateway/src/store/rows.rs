//! What both SQL backends share about rows: times as Unix seconds, reading an account or
//! a SIM session back from a row, and binding one to an `INSERT`. Written once, generic
//! over the database, so the SQLite and PostgreSQL stores cannot drift apart in what a
//! column means; only their SQL differs.

use super::records::{decode_grant, decode_outcome, decode_subject};
use super::{AuditRow, StoreError};
use crate::domain::oidc::{Consent, Grant};
use crate::domain::{
    Account, AuditEntry, Challenge, Method, Purpose, SessionLogin, SimResult, SimSession,
    audit_hash,
};
use kyso_verify::identity::SubjectType;
use sqlx::{Database, Encode, Type};
use time::OffsetDateTime;

/// A query under construction, for either backend.
pub type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// A time as stored: Unix seconds, UTC.
pub fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// A stored time read back.
pub fn from_ts(s: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(s).map_err(|e| StoreError::Corrupt {
        what: "time",
        detail: e.to_string(),
    })
}

/// Whether the database refused a row for a unique key (the database deciding a race).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Reading a column by name, the same way for every backend's rows.
pub trait Columns {
    /// A text column.
    fn text(&self, name: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
}

macro_rules! columns_for {
    ($($row:ty),+) => {$(
        impl Columns for $row {
            fn text(&self, name: &str) -> Result<String, StoreError> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
            fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
            fn int(&self, name: &str) -> Result<i64, StoreError> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
            fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
        }
    )+};
}

columns_for!(sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow);

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.get(name)?)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.get(name)?)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.get(name)?)
    }
}

/// The challenge `id` from a row holding `nonce, purpose, origin, expires_at`.
pub fn challenge_of(id: &str, row: &impl Columns) -> Result<Challenge, StoreError> {
    let purpose = row.text("purpose")?;
    Ok(Challenge {
        id: id.to_owned(),
        nonce: row.text("nonce")?,
        purpose: Purpose::from_name(&purpose).ok_or_else(|| StoreError::Corrupt {
            what: "challenge",
            detail: format!("purpose {purpose:?}"),
        })?,
        origin: row.text("origin")?,
        expires_at: from_ts(row.int("expires_at")?)?,
    })
}

/// The login of `account` from a row holding its session's `auth_time` (its
/// `created_at`) and `method`.
pub fn session_login_of(account: Account, row: &impl Columns) -> Result<SessionLogin, StoreError> {
    let method = row.text("method")?;
    Ok(SessionLogin {
        account,
        auth_time: from_ts(row.int("auth_time")?)?,
        method: Method::from_name(&method).ok_or_else(|| StoreError::Corrupt {
            what: "session",
            detail: format!("method {method:?}"),
        })?,
    })
}

/// The grant from a row holding `client_id, account_id, code_expires_at, payload`.
pub fn grant_of(row: &impl Columns) -> Result<Grant, StoreError> {
    decode_grant(
        row.text("client_id")?,
        row.text("account_id")?,
        from_ts(row.int("code_expires_at")?)?,
        &row.text("payload")?,
    )
}

/// The consent from a row holding `client_id, scopes, granted_at` (scopes space-separated).
pub fn consent_of(row: &impl Columns) -> Result<Consent, StoreError> {
    Ok(Consent {
        client_id: row.text("client_id")?,
        scopes: row
            .text("scopes")?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        granted_at: from_ts(row.int("granted_at")?)?,
    })
}

/// The account columns [`account_of`] reads.
pub const ACCOUNT_COLUMNS: &str = "id, subject_json, email, phone, ial, created_at";

/// An account from a row holding [`ACCOUNT_COLUMNS`].
pub fn account_of(r: &impl Columns) -> Result<Account, StoreError> {
    Ok(Account {
        id: r.text("id")?,
        subject: decode_subject(&r.text("subject_json")?)?,
        email: r.opt_text("email")?,
        phone: r.opt_text("phone")?,
        ial: u8::try_from(r.int("ial")?).map_err(|e| StoreError::Corrupt {
            what: "account",
            detail: e.to_string(),
        })?,
        created_at: from_ts(r.int("created_at")?)?,
    })
}

/// The SIM session columns [`sim_session_of`] reads, as a literal for `concat!` (sqlx
/// takes only static SQL).
macro_rules! sim_session_columns {
    () => {
        "id, purpose, msisdn, requester, subject_type, origin, nonce, display_text, \
         verification_code, ap_trans_id, mssp_trans_id, result, outcome, created_at, \
         answer_by, expires_at, completed_at"
    };
}
pub(crate) use sim_session_columns;

fn corrupt_sim(detail: String) -> StoreError {
    StoreError::Corrupt {
        what: "SIM session",
        detail,
    }
}

/// A SIM session from a row holding `sim_session_columns!()`.
pub fn sim_session_of(row: &impl Columns) -> Result<SimSession, StoreError> {
    let purpose = row.text("purpose")?;
    let subject_type = row
        .opt_text("subject_type")?
        .map(|t| {
            SubjectType::from_name(&t).ok_or_else(|| corrupt_sim(format!("subject type {t:?}")))
        })
        .transpose()?;
    let result = row
        .opt_text("result")?
        .map(|r| SimResult::from_name(&r).ok_or_else(|| corrupt_sim(format!("result {r:?}"))))
        .transpose()?;
    let outcome = row
        .opt_text("outcome")?
        .map(|o| decode_outcome(&o))
        .transpose()?;
    Ok(SimSession {
        id: row.text("id")?,
        purpose: Purpose::from_name(&purpose)
            .ok_or_else(|| corrupt_sim(format!("purpose {purpose:?}")))?,
        msisdn: row.text("msisdn")?,
        requester: row.text("requester")?,
        subject_type,
        origin: row.text("origin")?,
        nonce: row.text("nonce")?,
        display_text: row.text("display_text")?,
        verification_code: row.text("verification_code")?,
        ap_trans_id: row.text("ap_trans_id")?,
        mssp_trans_id: row.opt_text("mssp_trans_id")?,
        created_at: from_ts(row.int("created_at")?)?,
        answer_by: from_ts(row.int("answer_by")?)?,
        expires_at: from_ts(row.int("expires_at")?)?,
        completed_at: row.opt_int("completed_at")?.map(from_ts).transpose()?,
        result,
        outcome,
    })
}

/// What `INSERT INTO accounts (id, subject_type, identifier_kind, identifier_value,
/// full_name, organization, email, phone, ial, created_at, subject_json)` takes.
pub type AccountValues<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    i64,
    i64,
    String,
);

/// The values of `account`'s row, in [`AccountValues`]' order.
pub fn account_values(account: &Account, subject_json: String) -> AccountValues<'_> {
    let s = &account.subject;
    (
        account.id.as_str(),
        s.subject_type.as_str(),
        s.identifier.kind.as_str(),
        s.identifier.value.as_str(),
        s.full_name.as_str(),
        s.organization.as_deref(),
        account.email.as_deref(),
        account.phone.as_deref(),
        i64::from(account.ial),
        ts(account.created_at),
        subject_json,
    )
}

/// Binds [`account_values`] to a query.
pub fn bind_account<'q, DB: Database>(
    q: Query<'q, DB>,
    account: &Account,
    subject_json: String,
) -> Query<'q, DB>
where
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    let (id, subject_type, kind, value, name, organization, email, phone, ial, at, json) =
        account_values(account, subject_json);
    q.bind(id)
        .bind(subject_type)
        .bind(kind)
        .bind(value)
        .bind(name)
        .bind(organization)
        .bind(email)
        .bind(phone)
        .bind(ial)
        .bind(at)
        .bind(json)
}

/// What `INSERT INTO sim_sessions (id, purpose, msisdn, requester, subject_type, origin,
/// nonce, display_text, verification_code, ap_trans_id, created_at, answer_by,
/// expires_at)` takes.
pub type SimSessionValues<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    i64,
    i64,
    i64,
);

/// The values of `s`'s row, in [`SimSessionValues`]' order.
pub fn sim_session_values(s: &SimSession) -> SimSessionValues<'_> {
    (
        s.id.as_str(),
        s.purpose.as_str(),
        s.msisdn.as_str(),
        s.requester.as_str(),
        s.subject_type.map(SubjectType::as_str),
        s.origin.as_str(),
        s.nonce.as_str(),
        s.display_text.as_str(),
        s.verification_code.as_str(),
        s.ap_trans_id.as_str(),
        ts(s.created_at),
        ts(s.answer_by),
        ts(s.expires_at),
    )
}

/// Binds [`sim_session_values`] to a query.
pub fn bind_sim_session<'q, DB: Database>(q: Query<'q, DB>, s: &SimSession) -> Query<'q, DB>
where
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let (
        id,
        purpose,
        msisdn,
        requester,
        subject_type,
        origin,
        nonce,
        text,
        code,
        trans,
        at,
        by,
        exp,
    ) = sim_session_values(s);
    q.bind(id)
        .bind(purpose)
        .bind(msisdn)
        .bind(requester)
        .bind(subject_type)
        .bind(origin)
        .bind(nonce)
        .bind(text)
        .bind(code)
        .bind(trans)
        .bind(at)
        .bind(by)
        .bind(exp)
}

/// An audit entry ready to insert after the row `prev_seq` whose hash is `prev_hash`
/// (`prev_seq` 0 and an empty hash for the first row).
pub struct ChainedAudit<'e> {
    /// Its place in the chain.
    pub seq: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// What happened.
    pub event: &'e str,
    /// To which account.
    pub account_id: Option<&'e str>,
    /// The details as stored (JSON text).
    pub details: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash, which the next row links to.
    pub hash: String,
}

impl<'e> ChainedAudit<'e> {
    /// Links `entry` after the row `prev_seq` with hash `prev_hash`.
    pub fn after(prev_seq: i64, prev_hash: String, entry: &'e AuditEntry) -> Self {
        let seq = prev_seq + 1;
        let details = entry.details.clone();
        let at = ts(entry.at);
        let account_id = entry.account_id.as_deref();
        let hash = audit_hash(&prev_hash, seq, at, entry.event, account_id, &details);
        Self {
            seq,
            at,
            event: entry.event,
            account_id,
            details,
            prev_hash,
            hash,
        }
    }

    /// `seq, at, event, account_id, details, prev_hash, hash`, in that order.
    pub fn values(self) -> (i64, i64, &'e str, Option<&'e str>, String, String, String) {
        (
            self.seq,
            self.at,
            self.event,
            self.account_id,
            self.details,
            self.prev_hash,
            self.hash,
        )
    }

    /// Binds [`Self::values`] to a query.
    pub fn bind<'q, DB: Database>(self, q: Query<'q, DB>) -> Query<'q, DB>
    where
        for<'t> &'t str: Encode<'t, DB> + Type<DB>,
        for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
        for<'t> i64: Encode<'t, DB> + Type<DB>,
        for<'t> String: Encode<'t, DB> + Type<DB>,
    {
        let (seq, at, event, account_id, details, prev_hash, hash) = self.values();
        q.bind(seq)
            .bind(at)
            .bind(event)
            .bind(account_id)
            .bind(details)
            .bind(prev_hash)
            .bind(hash)
    }
}

/// An audit row from a row holding [`AUDIT_COLUMNS`].
pub fn audit_row_of(r: &impl Columns) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: r.int("seq")?,
        at: from_ts(r.int("at")?)?,
        event: r.text("event")?,
        account_id: r.opt_text("account_id")?,
        details: r.text("details")?,
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
    })
}

/// The audit columns [`audit_row_of`] reads, in chain order.
pub const AUDIT_COLUMNS: &str = "seq, at, event, account_id, details, prev_hash, hash";
