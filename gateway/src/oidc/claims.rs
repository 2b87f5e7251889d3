//! What a portal learns about a person: the subject identifier it sees, the assurance
//! and method of the login, and the claims of the scopes it was granted.
//!
//! - `sub` is pairwise by default (OpenID Connect Core §8.1): HMAC-SHA256 of the portal's
//!   sector and the account id under the provider's pairwise secret, so one portal's
//!   `sub` is stable and two sectors' cannot be correlated. `public` gives the account id.
//! - `acr` is [`ACR_IAL3`]: every kyso account is proven by a qualified certificate.
//! - `amr` follows RFC 8176 §2: both methods prove possession of a hardware-held key
//!   (`hwk`) unlocked by a PIN (`pin`), two factors (`mfa`); the USB token is a smart
//!   card (`sc`).

pub use crate::config::oidc::{SCOPES, SubjectKind};
use crate::domain::{Account, Method as LoginMethod};
use kyso_verify::identity::SubjectType;
use serde_json::{Map, Value, json};

/// The `acr` of every login: identity assurance level 3 (certificate-proven in person
/// equivalent). A URN of kyso's own, advertised in `acr_values_supported`.
pub const ACR_IAL3: &str = "urn:kyso:assurance:ial3";

/// The claims each scope releases, for the discovery document and the consent screen.
pub fn claims_of_scope(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &["name"],
        "vn_identity" => &[
            "vn_subject_type",
            "vn_identifier",
            "vn_aliases",
            "vn_organization",
        ],
        "email" => &["email", "email_verified"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// RFC 8176 method references of a login.
pub fn amr(method: LoginMethod) -> &'static [&'static str] {
    match method {
        LoginMethod::Token => &["hwk", "sc", "pin", "mfa"],
        LoginMethod::Sim => &["hwk", "pin", "mfa"],
    }
}

/// The `sub` a portal of `sector` sees for `account_id`.
pub fn subject(kind: SubjectKind, secret: &[u8], sector: &str, account_id: &str) -> String {
    match kind {
        SubjectKind::Public => account_id.to_owned(),
        SubjectKind::Pairwise => {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
            // The sector is a host name, which holds no NUL: the pair is unambiguous.
            let message = format!("{sector}\0{account_id}");
            super::jose::b64url(aws_lc_rs::hmac::sign(&key, message.as_bytes()))
        }
    }
}

/// The claims `scopes` release about `account`, beyond `sub`.
pub fn claims(account: &Account, scopes: &[String]) -> Map<String, Value> {
    let s = &account.subject;
    let mut out = Map::new();
    let has = |scope: &str| scopes.iter().any(|x| x == scope);
    if has("profile") {
        out.insert("name".into(), json!(s.full_name));
    }
    if has("vn_identity") {
        let kind = match s.subject_type {
            SubjectType::Citizen => "citizen",
            SubjectType::Organization => "organization",
        };
        out.insert("vn_subject_type".into(), json!(kind));
        out.insert(
            "vn_identifier".into(),
            json!({"kind": s.identifier.kind, "value": s.identifier.value}),
        );
        let aliases: Vec<Value> = s
            .aliases
            .iter()
            .map(|a| json!({"kind": a.kind, "value": a.value}))
            .collect();
        out.insert("vn_aliases".into(), Value::Array(aliases));
        if let Some(org) = &s.organization {
            out.insert("vn_organization".into(), json!(org));
        }
    }
    // The contact details are typed in by the person at registration and never
    // checked: unlike the certificate's claims, they prove nothing, and a portal that
    // matched accounts by an email it took for verified could be handed someone else's.
    if has("email")
        && let Some(email) = &account.email
    {
        out.insert("email".into(), json!(email));
        out.insert("email_verified".into(), json!(false));
    }
    if has("phone")
        && let Some(phone) = &account.phone
    {
        out.insert("phone_number".into(), json!(phone));
        out.insert("phone_number_verified".into(), json!(false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_subjects_are_stable_per_sector_and_differ_across_sectors() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let a1 = subject(SubjectKind::Pairwise, secret, "a.gov.vn", "acc_1");
        assert_eq!(
            a1,
            subject(SubjectKind::Pairwise, secret, "a.gov.vn", "acc_1")
        );
        assert_ne!(
            a1,
            subject(SubjectKind::Pairwise, secret, "b.gov.vn", "acc_1")
        );
        assert_ne!(
            a1,
            subject(SubjectKind::Pairwise, secret, "a.gov.vn", "acc_2")
        );
        assert_ne!(
            a1,
            subject(
                SubjectKind::Pairwise,
                b"another secret of 32 characters!",
                "a.gov.vn",
                "acc_1"
            )
        );
        assert!(!a1.contains("acc_1"));
        assert_eq!(
            subject(SubjectKind::Public, secret, "a.gov.vn", "acc_1"),
            "acc_1"
        );
    }

    #[test]
    fn contact_details_are_released_as_unverified_and_only_when_asked_for() {
        use crate::domain::Account;
        use kyso_verify::identity::{Identifier, IdentifierKind, Subject};
        let account = Account {
            id: "acc_1".into(),
            subject: Subject {
                subject_type: SubjectType::Citizen,
                identifier: Identifier {
                    kind: IdentifierKind::Cccd,
                    value: "001090012345".into(),
                },
                aliases: Vec::new(),
                full_name: "Nguyễn Thị Hoa".into(),
                organization: None,
                email_in_cert: None,
            },
            email: Some("hoa@example.vn".into()),
            phone: Some("+84912345678".into()),
            ial: 3,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let scopes = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let both = claims(&account, &scopes(&["openid", "email", "phone"]));
        assert_eq!(both["email"], "hoa@example.vn");
        assert_eq!(both["email_verified"], false);
        assert_eq!(both["phone_number"], "+84912345678");
        assert_eq!(both["phone_number_verified"], false);
        let neither = claims(&account, &scopes(&["openid", "profile"]));
        for claim in [
            "email",
            "email_verified",
            "phone_number",
            "phone_number_verified",
        ] {
            assert!(!neither.contains_key(claim), "{claim}");
        }
        // Released claims are the scopes' advertised ones.
        for claim in both.keys() {
            assert!(
                ["email", "phone"]
                    .iter()
                    .any(|s| claims_of_scope(s).contains(&claim.as_str())),
                "{claim}"
            );
        }
    }

    #[test]
    fn every_known_scope_but_openid_releases_claims() {
        for scope in SCOPES {
            assert_eq!(
                claims_of_scope(scope).is_empty(),
                scope == "openid",
                "{scope}"
            );
        }
    }
}
