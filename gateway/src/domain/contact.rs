//! The contact details a person gives when confirming a registration (design §4): an
//! email (required for organizations, optional for citizens) and a phone number.

use kyso_verify::error::{ErrorCode, Rejection};
use kyso_verify::identity::SubjectType;

/// Validated contact details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// A plausible email address, trimmed.
    pub email: Option<String>,
    /// A Vietnamese mobile number in E.164.
    pub phone: Option<String>,
}

impl Contact {
    /// Checks what the person typed for an account of `subject_type`: blank fields are
    /// absent; an organization must give an email (`EMAIL_REQUIRED`); an email must look
    /// like one (`INVALID_EMAIL`); a phone must be a Vietnamese mobile number in any
    /// accepted form (`INVALID_PHONE`).
    pub fn validate(
        email: Option<&str>,
        phone: Option<&str>,
        subject_type: SubjectType,
    ) -> Result<Self, Rejection> {
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        match email {
            None if subject_type == SubjectType::Organization => {
                return Err(Rejection::new(
                    ErrorCode::EmailRequired,
                    "organizations must give an email address",
                ));
            }
            Some(e) if !valid_email(e) => {
                return Err(Rejection::new(
                    ErrorCode::InvalidEmail,
                    "not a valid email address",
                ));
            }
            _ => {}
        }
        let phone = phone
            .filter(|p| !p.trim().is_empty())
            .map(kyso_proto::phone::normalize_msisdn)
            .transpose()
            .map_err(|e| Rejection::new(ErrorCode::InvalidPhone, e.to_string()))?;
        Ok(Self {
            email: email.map(str::to_owned),
            phone,
        })
    }
}

/// A plausible email address: one `@`, a local part of at most 64 characters, a dotted
/// domain, no spaces or control characters, at most 254 characters (RFC 5321
/// §4.5.3.1). Deliverability is the mail system's business.
pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        for ok in ["a@b.vn", "ke.toan+kyso@cong-ty.com.vn"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.vn", "a@.vn", "a@b.", "a b@c.vn", "a@b@c.vn", "a@b .vn",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
        let long_local = format!("{}@b.vn", "a".repeat(65));
        assert!(!valid_email(&long_local));
    }

    #[test]
    fn organizations_need_an_email_and_blank_fields_are_absent() {
        use SubjectType::{Citizen, Organization};
        let code = |r: Result<Contact, Rejection>| r.map_err(|e| e.code);
        assert_eq!(
            code(Contact::validate(Some("  "), None, Organization)),
            Err(ErrorCode::EmailRequired)
        );
        assert_eq!(
            code(Contact::validate(None, Some(" "), Citizen)),
            Ok(Contact::default())
        );
        assert_eq!(
            code(Contact::validate(Some("x@"), None, Citizen)),
            Err(ErrorCode::InvalidEmail)
        );
        assert_eq!(
            code(Contact::validate(None, Some("12345"), Citizen)),
            Err(ErrorCode::InvalidPhone)
        );
        let c = Contact::validate(Some(" a@b.vn "), Some("0912 345 678"), Organization).unwrap();
        assert_eq!(c.email.as_deref(), Some("a@b.vn"));
        assert_eq!(c.phone.as_deref(), Some("+84912345678"));
    }
}
