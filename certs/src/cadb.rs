//! The OpenSSL-format CA database (`index.txt`) and the CRL made from it.
//!
//! `openssl ocsp -index index.txt` answers from this file, and the CRL is rebuilt from the
//! same rows, so the two revocation channels can never disagree about a certificate.
//! Row format (OpenSSL `ca`): status `V`/`R`, expiry, revocation time[,reason], serial in
//! uppercase hex (as `BN_bn2hex` prints it, which is how `openssl ocsp` looks it up),
//! file name (`unknown`), subject in OpenSSL's `/A=b/C=d` form.

use crate::error::{Error, Result, io_at};
use std::path::Path;
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::FormatItem, macros::format_description,
};

const UTC_TIME: &[FormatItem<'static>] =
    format_description!("[year repr:last_two][month][day][hour][minute][second]Z");
const GENERALIZED_TIME: &[FormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]Z");

/// One issued certificate as the CA remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEntry {
    /// When the certificate was revoked, if it was (reason: keyCompromise).
    pub revoked_at: Option<OffsetDateTime>,
    /// notAfter of the certificate.
    pub expiry: OffsetDateTime,
    /// Serial number, uppercase hex without leading zero bytes.
    pub serial_hex: String,
    /// Subject in OpenSSL one-line form.
    pub subject: String,
}

/// The rows of one CA's `index.txt`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaDatabase {
    /// Rows in issuance order.
    pub entries: Vec<DbEntry>,
}

/// RFC 5280 §4.1.2.5: UTCTime up to 2049, GeneralizedTime from 2050; OpenSSL does the same.
fn format_time(t: OffsetDateTime) -> Result<String> {
    let fmt = if t.year() < 2050 {
        UTC_TIME
    } else {
        GENERALIZED_TIME
    };
    t.format(fmt).map_err(|e| Error::Der(e.to_string()))
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let parsed = if s.len() == 13 {
        // Two-digit years: 50–99 are 1950–1999 (RFC 5280 §4.1.2.5.1).
        let yy: i32 = s.get(..2)?.parse().ok()?;
        let century = if yy >= 50 { "19" } else { "20" };
        PrimitiveDateTime::parse(&format!("{century}{s}"), GENERALIZED_TIME).ok()?
    } else {
        PrimitiveDateTime::parse(s, GENERALIZED_TIME).ok()?
    };
    Some(parsed.assume_utc())
}

impl CaDatabase {
    /// Reads `index.txt`; a missing file is an empty database.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_at(path)(e)),
        };
        let bad = |detail: String| Error::BadFile {
            path: path.to_owned(),
            detail,
        };
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            let [status, expiry, revoked, serial, _file, subject] = f[..] else {
                return Err(bad(format!(
                    "line {}: expected 6 tab-separated fields",
                    n + 1
                )));
            };
            let expiry =
                parse_time(expiry).ok_or_else(|| bad(format!("line {}: bad expiry", n + 1)))?;
            let revoked_at = match status {
                "V" | "E" => None,
                "R" => {
                    let when = revoked.split(',').next().unwrap_or_default();
                    Some(
                        parse_time(when)
                            .ok_or_else(|| bad(format!("line {}: bad revocation time", n + 1)))?,
                    )
                }
                other => return Err(bad(format!("line {}: unknown status {other:?}", n + 1))),
            };
            entries.push(DbEntry {
                revoked_at,
                expiry,
                serial_hex: serial.to_owned(),
                subject: subject.to_owned(),
            });
        }
        Ok(Self { entries })
    }

    /// Writes `index.txt` and the `index.txt.attr` OpenSSL expects beside it.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = String::new();
        for e in &self.entries {
            let (status, revoked) = match e.revoked_at {
                Some(t) => ("R", format!("{},keyCompromise", format_time(t)?)),
                None => ("V", String::new()),
            };
            text.push_str(&format!(
                "{status}\t{}\t{revoked}\t{}\tunknown\t{}\n",
                format_time(e.expiry)?,
                e.serial_hex,
                e.subject
            ));
        }
        std::fs::write(path, text).map_err(io_at(path))?;
        let attr = path.with_extension("txt.attr");
        std::fs::write(&attr, "unique_subject = no\n").map_err(io_at(&attr))
    }

    /// The revoked rows, for the CRL.
    pub fn revoked(&self) -> impl Iterator<Item = &DbEntry> {
        self.entries.iter().filter(|e| e.revoked_at.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trips_through_openssl_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.txt");
        let db = CaDatabase {
            entries: vec![
                DbEntry {
                    revoked_at: None,
                    expiry: datetime!(2027-11-22 07:00:00 UTC),
                    serial_hex: "0A1B".into(),
                    subject: "/C=VN/CN=Nguyễn Văn An/UID=CCCD:001090012345".into(),
                },
                DbEntry {
                    revoked_at: Some(datetime!(2026-11-22 07:00:00 UTC)),
                    expiry: datetime!(2051-01-01 00:00:00 UTC),
                    serial_hex: "7F".into(),
                    subject: "/CN=x".into(),
                },
            ],
        };
        db.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("V\t271122070000Z\t\t0A1B\tunknown\t/C=VN/"));
        assert!(text.contains("R\t20510101000000Z\t261122070000Z,keyCompromise\t7F\t"));
        assert_eq!(CaDatabase::load(&path).unwrap(), db);
        assert_eq!(db.revoked().count(), 1);
    }

    #[test]
    fn rejects_a_malformed_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.txt");
        std::fs::write(&path, "V\t271122070000Z\n").unwrap();
        assert!(matches!(
            CaDatabase::load(&path),
            Err(Error::BadFile { .. })
        ));
    }
}
