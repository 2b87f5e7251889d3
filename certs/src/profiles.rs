//! The catalogue of test persons (design §9): one entry per certificate profile the
//! gateway must handle, with the verdict it must give.
//!
//! Subjects follow Vietnamese CA practice: `C=VN`, province and locality, the holder's name
//! with diacritics in CN (names may contain commas), identities in `UID` attributes as
//! `PREFIX:value`. Identifier values are chosen to be valid unless the profile is about an
//! invalid one; the CCCDs decode to real province codes and birth years.

use crate::der::{
    Attribute, OID_COMMON_NAME, OID_COUNTRY, OID_LOCALITY, OID_ORGANIZATION, OID_PROVINCE,
    OID_SERIAL_NUMBER, OID_UID, StringKind,
};
use crate::keys::KeyKind;
use crate::manifest::{ErrorCode, ExpectedIdentity, Identifier, Medium, Verdict};
use time::{Duration, OffsetDateTime};

/// How a person's certificate departs from a good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// A good certificate.
    None,
    /// Expired a day before generation.
    Expired,
    /// Valid only from 30 days after generation.
    NotYetValid,
    /// Listed as revoked in the CA database and CRL.
    Revoked,
    /// keyUsage is keyEncipherment only.
    WrongKeyUsage,
    /// extendedKeyUsage is serverAuth only.
    WrongExtendedKeyUsage,
    /// Signed with sha1WithRSAEncryption.
    Sha1Signature,
    /// Issued with the CA's key but left out of its database: its OCSP responder answers
    /// `unknown` (and its CRL cannot list it).
    UnknownToCa,
}

/// One test person: who they are, how their certificate is made, and the verdict.
#[derive(Debug, Clone)]
pub struct PersonProfile {
    /// Stable id, also the token label and file folder.
    pub id: &'static str,
    /// What the profile is for.
    pub description: &'static str,
    /// Id of the issuing CA (see [`crate::hierarchy`]).
    pub issuer: &'static str,
    /// Key type.
    pub key: KeyKind,
    /// Subject attributes, in order.
    pub subject: Vec<Attribute>,
    /// An email address in subjectAltName, if any.
    pub email: Option<&'static str>,
    /// What is wrong with it.
    pub defect: Defect,
    /// USB token or signing SIM.
    pub medium: Medium,
    /// E.164 phone number of a SIM person.
    pub phone: Option<&'static str>,
    /// `ok` or the gateway's error code (design §6).
    pub verdict: Verdict,
    /// The identity the gateway must read, when it must read one.
    pub identity: Option<ExpectedIdentity>,
    /// Another person id that is the same human or enterprise (renewal, CMND vs CCCD).
    pub same_holder_as: Option<&'static str>,
}

impl PersonProfile {
    /// The validity period, relative to the generation time `now`.
    pub fn validity(&self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        match self.defect {
            Defect::Expired => (now - Duration::days(400), now - Duration::days(1)),
            Defect::NotYetValid => (now + Duration::days(30), now + Duration::days(400)),
            _ => (now - Duration::hours(1), now + Duration::days(365)),
        }
    }
}

fn attr(oid: &'static [u64], kind: StringKind, value: &str) -> Attribute {
    Attribute {
        oid,
        kind,
        value: value.to_owned(),
    }
}

/// `C=VN, ST=…, L=…, CN=…` then the UIDs.
fn subject(province: &str, locality: &str, cn: &str, extra: &[Attribute]) -> Vec<Attribute> {
    let mut v = vec![
        attr(OID_COUNTRY, StringKind::Printable, "VN"),
        attr(OID_PROVINCE, StringKind::Utf8, province),
        attr(OID_LOCALITY, StringKind::Utf8, locality),
        attr(OID_COMMON_NAME, StringKind::Utf8, cn),
    ];
    v.extend_from_slice(extra);
    v
}

fn uid(value: &str) -> Attribute {
    attr(OID_UID, StringKind::Utf8, value)
}

fn org(name: &str) -> Attribute {
    attr(OID_ORGANIZATION, StringKind::Utf8, name)
}

fn id(kind: &str, value: &str) -> Identifier {
    Identifier {
        kind: kind.to_owned(),
        value: value.to_owned(),
    }
}

fn citizen(key: Identifier, aliases: Vec<Identifier>, name: &str) -> Option<ExpectedIdentity> {
    Some(citizen_identity(key, aliases, name))
}

fn citizen_identity(key: Identifier, aliases: Vec<Identifier>, name: &str) -> ExpectedIdentity {
    ExpectedIdentity {
        subject_type: "citizen".into(),
        identifier: key,
        aliases,
        full_name: name.into(),
        organization: None,
    }
}

fn organization(key: Identifier, name: &str) -> Option<ExpectedIdentity> {
    Some(ExpectedIdentity {
        subject_type: "organization".into(),
        identifier: key,
        aliases: vec![],
        full_name: name.into(),
        organization: Some(name.into()),
    })
}

const ENTERPRISE: &str = "CÔNG TY CỔ PHẦN KYSO THỬ NGHIỆM";
const BRANCH: &str = "CÔNG TY TNHH THƯƠNG MẠI ABC, CHI NHÁNH HÀ NỘI";
const SIM_ENTERPRISE: &str = "CÔNG TY TNHH MỘT THÀNH VIÊN DỊCH VỤ SỐ, THỬ NGHIỆM";

fn good(
    id: &'static str,
    description: &'static str,
    issuer: &'static str,
    key: KeyKind,
    subject: Vec<Attribute>,
    identity: Option<ExpectedIdentity>,
) -> PersonProfile {
    PersonProfile {
        id,
        description,
        issuer,
        key,
        subject,
        email: None,
        defect: Defect::None,
        medium: Medium::Token,
        phone: None,
        verdict: Verdict::Ok,
        identity,
        same_holder_as: None,
    }
}

/// A good citizen certificate (CCCD 001090012345) with one thing wrong.
fn defective(
    id: &'static str,
    description: &'static str,
    key: KeyKind,
    defect: Defect,
    verdict: Verdict,
    cccd: &str,
) -> PersonProfile {
    let name = "Đỗ Minh Khoa";
    PersonProfile {
        defect,
        verdict,
        ..good(
            id,
            description,
            "vnpt",
            key,
            subject(
                "Hà Nội",
                "Quận Cầu Giấy",
                name,
                &[uid(&format!("CCCD:{cccd}"))],
            ),
            citizen(id_cccd(cccd), vec![], name),
        )
    }
}

fn id_cccd(v: &str) -> Identifier {
    id("CCCD", v)
}

/// The catalogue entry with this id.
pub fn find(id: &str) -> crate::Result<PersonProfile> {
    catalogue()
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| crate::Error::Unknown {
            what: "person",
            name: id.to_owned(),
        })
}

/// Every test person, in a stable order.
pub fn catalogue() -> Vec<PersonProfile> {
    let mut v = vec![
        PersonProfile {
            email: Some("nguyen.van.an@example.vn"),
            ..good(
                "citizen-cccd",
                "citizen with a CCCD, RSA-2048",
                "vnpt",
                KeyKind::Rsa2048,
                subject(
                    "Hà Nội",
                    "Quận Ba Đình",
                    "Nguyễn Văn An",
                    &[uid("CCCD:001090012345")],
                ),
                citizen(id_cccd("001090012345"), vec![], "Nguyễn Văn An"),
            )
        },
        PersonProfile {
            same_holder_as: Some("citizen-cccd"),
            ..good(
                "citizen-cccd-renewed",
                "the same citizen after renewal: new key, same CCCD",
                "viettel",
                KeyKind::Rsa2048,
                subject(
                    "Hà Nội",
                    "Quận Ba Đình",
                    "Nguyễn Văn An",
                    &[uid("CCCD:001090012345")],
                ),
                citizen(id_cccd("001090012345"), vec![], "Nguyễn Văn An"),
            )
        },
        good(
            "citizen-cmnd",
            "citizen with only a legacy 9-digit CMND",
            "vnpt",
            KeyKind::Rsa2048,
            subject(
                "Hà Nội",
                "Quận Hoàn Kiếm",
                "Trần Thị Bình",
                &[uid("CMND:012345678")],
            ),
            citizen(id("CMND", "012345678"), vec![], "Trần Thị Bình"),
        ),
        good(
            "citizen-cmnd-cccd",
            "citizen with both CMND and CCCD (two UIDs, two string types)",
            "viettel",
            KeyKind::Rsa2048,
            subject(
                "Thành phố Hồ Chí Minh",
                "Quận 1",
                "Võ Thị Hồng Nhung",
                &[
                    attr(OID_UID, StringKind::Printable, "CMND:025123456"),
                    uid("CCCD:079195001234"),
                ],
            ),
            citizen(
                id_cccd("079195001234"),
                vec![id("CMND", "025123456")],
                "Võ Thị Hồng Nhung",
            ),
        ),
        PersonProfile {
            same_holder_as: Some("citizen-cmnd-cccd"),
            ..good(
                "citizen-cmnd-legacy",
                "the CMND-only certificate of the citizen-cmnd-cccd person",
                "vnpt",
                KeyKind::Rsa2048,
                subject(
                    "Thành phố Hồ Chí Minh",
                    "Quận 1",
                    "Võ Thị Hồng Nhung",
                    &[uid("CMND:025123456")],
                ),
                citizen(id("CMND", "025123456"), vec![], "Võ Thị Hồng Nhung"),
            )
        },
        good(
            "citizen-ec",
            "citizen with a CCCD, EC P-256 key",
            "viettel",
            KeyKind::EcP256,
            subject(
                "Đà Nẵng",
                "Quận Hải Châu",
                "Lê Hoàng Cường",
                &[uid("CCCD:048201000123")],
            ),
            citizen(id_cccd("048201000123"), vec![], "Lê Hoàng Cường"),
        ),
        good(
            "citizen-etsi",
            "citizen identified by an ETSI EN 319 412-1 semantics identifier (PNOVN-)",
            "viettel",
            KeyKind::EcP256,
            subject(
                "Nam Định",
                "Thành phố Nam Định",
                "Phan Văn Đức",
                &[attr(
                    OID_SERIAL_NUMBER,
                    StringKind::Printable,
                    "PNOVN-036088001122",
                )],
            ),
            citizen(id_cccd("036088001122"), vec![], "Phan Văn Đức"),
        ),
        PersonProfile {
            email: Some("ketoan@kyso-thu-nghiem.vn"),
            ..good(
                "enterprise-mst",
                "enterprise identified by its 10-digit MST",
                "vnpt",
                KeyKind::Rsa2048,
                subject(
                    "Hà Nội",
                    "Quận Đống Đa",
                    ENTERPRISE,
                    &[org(ENTERPRISE), uid("MST:0100112437")],
                ),
                organization(id("MST", "0100112437"), ENTERPRISE),
            )
        },
        good(
            "enterprise-branch",
            "enterprise branch with a 13-character MST-NNN (comma in its name)",
            "viettel",
            KeyKind::Rsa2048,
            subject(
                "Hà Nội",
                "Quận Tây Hồ",
                BRANCH,
                &[org(BRANCH), uid("MST:0301519977-029")],
            ),
            organization(id("MST", "0301519977-029"), BRANCH),
        ),
        PersonProfile {
            identity: Some(ExpectedIdentity {
                organization: Some(ENTERPRISE.into()),
                ..citizen_identity(id_cccd("001185004321"), vec![], "Phạm Thị Dung")
            }),
            ..good(
                "enterprise-employee",
                "employee certificate: the enterprise's MST and the person's CCCD (a citizen)",
                "vnpt",
                KeyKind::Rsa2048,
                subject(
                    "Hà Nội",
                    "Quận Đống Đa",
                    "Phạm Thị Dung",
                    &[
                        org(ENTERPRISE),
                        uid("MST:0100112437"),
                        uid("CCCD:001185004321"),
                    ],
                ),
                None,
            )
        },
        defective(
            "expired",
            "expired yesterday",
            KeyKind::Rsa2048,
            Defect::Expired,
            Verdict::Refused(ErrorCode::CertExpired),
            "001090000101",
        ),
        defective(
            "not-yet-valid",
            "valid only from 30 days after generation",
            KeyKind::Rsa2048,
            Defect::NotYetValid,
            Verdict::Refused(ErrorCode::CertNotYetValid),
            "001090000102",
        ),
        defective(
            "revoked",
            "revoked by its CA (OCSP and CRL)",
            KeyKind::Rsa2048,
            Defect::Revoked,
            Verdict::Refused(ErrorCode::CertRevoked),
            "001090000103",
        ),
        defective(
            "wrong-key-usage",
            "keyUsage keyEncipherment only",
            KeyKind::Rsa2048,
            Defect::WrongKeyUsage,
            Verdict::Refused(ErrorCode::CertWrongPurpose),
            "001090000104",
        ),
        defective(
            "wrong-eku",
            "extendedKeyUsage serverAuth only",
            KeyKind::Rsa2048,
            Defect::WrongExtendedKeyUsage,
            Verdict::Refused(ErrorCode::CertWrongPurpose),
            "001090000105",
        ),
        defective(
            "rsa-1024",
            "RSA-1024 key",
            KeyKind::Rsa1024,
            Defect::None,
            Verdict::Refused(ErrorCode::WeakKey),
            "001090000106",
        ),
        defective(
            "sha1-signed",
            "certificate signed with sha1WithRSAEncryption",
            KeyKind::Rsa2048,
            Defect::Sha1Signature,
            Verdict::Refused(ErrorCode::WeakSignatureAlgorithm),
            "001090000107",
        ),
        defective(
            "unknown-to-ca",
            "signed by the CA's key but not in its database: OCSP answers unknown",
            KeyKind::Rsa2048,
            Defect::UnknownToCa,
            Verdict::Refused(ErrorCode::CertRevoked),
            "001090000109",
        ),
        PersonProfile {
            issuer: "untrusted",
            ..defective(
                "untrusted-ca",
                "issued by a CA outside the trust anchors",
                KeyKind::Rsa2048,
                Defect::None,
                Verdict::Refused(ErrorCode::CertUntrusted),
                "001090000108",
            )
        },
        PersonProfile {
            verdict: Verdict::Refused(ErrorCode::InvalidIdentifier),
            identity: None,
            ..good(
                "bad-cccd-province",
                "CCCD with province code 003, which does not exist",
                "vnpt",
                KeyKind::Rsa2048,
                subject(
                    "Hà Nội",
                    "Quận Long Biên",
                    "Hoàng Văn Em",
                    &[uid("CCCD:003090012345")],
                ),
                None,
            )
        },
        PersonProfile {
            verdict: Verdict::Refused(ErrorCode::InvalidIdentifier),
            ..good(
                "bad-mst-checksum",
                "MST whose check digit is wrong",
                "vnpt",
                KeyKind::Rsa2048,
                subject(
                    "Hà Nội",
                    "Quận Đống Đa",
                    ENTERPRISE,
                    &[org(ENTERPRISE), uid("MST:0100112438")],
                ),
                None,
            )
        },
        PersonProfile {
            verdict: Verdict::Refused(ErrorCode::NoIdentity),
            ..good(
                "no-identity",
                "no CCCD, CMND or MST anywhere",
                "vnpt",
                KeyKind::Rsa2048,
                subject("Hà Nội", "Quận Ba Đình", "Bùi Thị Giang", &[]),
                None,
            )
        },
    ];
    v.extend(sim_persons());
    v
}

fn sim(p: PersonProfile, phone: &'static str) -> PersonProfile {
    PersonProfile {
        medium: Medium::Sim,
        phone: Some(phone),
        ..p
    }
}

fn sim_persons() -> Vec<PersonProfile> {
    vec![
        sim(
            good(
                "sim-citizen",
                "signing-SIM citizen, RSA-2048",
                "vnpt",
                KeyKind::Rsa2048,
                subject(
                    "Hải Phòng",
                    "Quận Ngô Quyền",
                    "Ngô Thanh Hà",
                    &[uid("CCCD:031092000111")],
                ),
                citizen(id_cccd("031092000111"), vec![], "Ngô Thanh Hà"),
            ),
            "+84912000001",
        ),
        sim(
            good(
                "sim-citizen-ec",
                "signing-SIM citizen, EC P-256",
                "viettel",
                KeyKind::EcP256,
                subject(
                    "Cần Thơ",
                    "Quận Ninh Kiều",
                    "Đặng Quốc Huy",
                    &[uid("CCCD:092203000222")],
                ),
                citizen(id_cccd("092203000222"), vec![], "Đặng Quốc Huy"),
            ),
            "+84912000002",
        ),
        sim(
            good(
                "sim-enterprise",
                "signing-SIM enterprise, RSA-2048",
                "viettel",
                KeyKind::Rsa2048,
                subject(
                    "Hà Nội",
                    "Quận Cầu Giấy",
                    SIM_ENTERPRISE,
                    &[org(SIM_ENTERPRISE), uid("MST:0100109106")],
                ),
                organization(id("MST", "0100109106"), SIM_ENTERPRISE),
            ),
            "+84912000003",
        ),
    ]
}
