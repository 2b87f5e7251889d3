//! The certification authorities of the test PKI and issuing from them.
//!
//! Shaped like Vietnam's: a national root (RSA-4096) above provider CAs (one RSA, one EC,
//! like VNPT-CA and Viettel-CA), each with its own OCSP responder certificate, CRL and
//! OpenSSL CA database; plus a self-signed CA outside the trust anchors. A [`Pki`] is made
//! once by [`Pki::create`], then reopened from its folder by [`Pki::open`] whenever more
//! certificates must be issued (the SoftHSM provisioner issues for keys made on tokens).

use crate::cadb::{CaDatabase, DbEntry};
use crate::der::{self, Attribute};
use crate::error::{Error, Result, io_at};
use crate::keys::{self, KeyKind};
use crate::manifest::{CaEntry, Manifest};
use crate::profiles::{Defect, PersonProfile};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
    SigningKey, SubjectPublicKeyInfo,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// A CA the generator makes.
#[derive(Debug, Clone, Copy)]
pub struct CaSpec {
    /// Short id, used in paths and URLs.
    pub id: &'static str,
    /// Common name.
    pub name: &'static str,
    /// Organization name.
    pub organization: &'static str,
    /// Issuing CA id; `None` for a self-signed root.
    pub parent: Option<&'static str>,
    /// Key type.
    pub key: KeyKind,
    /// Whether it chains to the trust anchor.
    pub trusted: bool,
}

/// The CAs, parents before children.
pub const CA_SPECS: [CaSpec; 4] = [
    CaSpec {
        id: "root",
        name: "Test Vietnam National Root CA",
        organization: "Trung tâm Chứng thực điện tử quốc gia (THỬ NGHIỆM)",
        parent: None,
        key: KeyKind::Rsa4096,
        trusted: true,
    },
    CaSpec {
        id: "vnpt",
        name: "VNPT Certification Authority (TEST)",
        organization: "VNPT Group (TEST)",
        parent: Some("root"),
        key: KeyKind::Rsa2048,
        trusted: true,
    },
    CaSpec {
        id: "viettel",
        name: "Viettel-CA (TEST)",
        organization: "Tập đoàn Viettel (TEST)",
        parent: Some("root"),
        key: KeyKind::EcP384,
        trusted: true,
    },
    CaSpec {
        id: "untrusted",
        name: "Untrusted Test CA",
        organization: "Nobody You Know",
        parent: None,
        key: KeyKind::Rsa2048,
        trusted: false,
    },
];

/// One CA with its signing key and database, ready to issue.
pub struct Ca {
    /// What it is.
    pub spec: CaSpec,
    /// Its certificate, DER.
    pub cert_der: Vec<u8>,
    key: KeyPair,
    key_pkcs8: Vec<u8>,
    db: CaDatabase,
}

/// A certificate just issued.
pub struct Issued {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Its serial, uppercase hex.
    pub serial_hex: String,
}

/// The test PKI, open for issuing.
pub struct Pki {
    dir: PathBuf,
    base_url: String,
    /// A second base for every AIA OCSP URL and CRL distribution point, as a real CA
    /// lists mirrors.
    mirror_url: Option<String>,
    /// Validity periods of persons are relative to this (the manifest's `generated_at`).
    generated_at: OffsetDateTime,
    /// thisUpdate of CRLs written now.
    now: OffsetDateTime,
    cas: Vec<Ca>,
}

fn ca_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join("ca").join(id)
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_at(parent))?;
    }
    std::fs::write(path, bytes).map_err(io_at(path))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io_at(path))
}

fn pem_of(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der.to_vec()))
}

fn read_pem(path: &Path) -> Result<Vec<u8>> {
    let text = read(path)?;
    pem::parse(text)
        .map(|p| p.into_contents())
        .map_err(|e| Error::BadFile {
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

/// A random positive serial of 16 bytes whose first byte is 0x01–0x7F, so DER adds no
/// padding byte and the hex OpenSSL prints equals ours.
fn random_serial() -> Result<Vec<u8>> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::Key("no randomness".into()))?;
    b[0] = (b[0] & 0x7f).max(1);
    Ok(b.to_vec())
}

/// URL layout under the base URL: one OCSP path and one CRL path per CA.
pub fn ocsp_url(base_url: &str, ca: &str) -> String {
    format!("{}/ocsp/{ca}", base_url.trim_end_matches('/'))
}

/// Where the CA's CRL is published.
pub fn crl_url(base_url: &str, ca: &str) -> String {
    format!("{}/crl/{ca}.crl", base_url.trim_end_matches('/'))
}

/// Where the CA's certificate is published (AIA caIssuers).
pub fn ca_cert_url(base_url: &str, ca: &str) -> String {
    format!("{}/ca/{ca}.crt", base_url.trim_end_matches('/'))
}

/// OpenSSL's one-line subject form for `index.txt` (`/C=VN/CN=…`).
fn oneline(attributes: &[Attribute]) -> String {
    attributes
        .iter()
        .map(|a| {
            let name = match a.oid {
                der::OID_COUNTRY => "C",
                der::OID_PROVINCE => "ST",
                der::OID_LOCALITY => "L",
                der::OID_ORGANIZATION => "O",
                der::OID_ORG_UNIT => "OU",
                der::OID_COMMON_NAME => "CN",
                der::OID_SERIAL_NUMBER => "serialNumber",
                der::OID_ORGANIZATION_IDENTIFIER => "organizationIdentifier",
                der::OID_UID => "UID",
                _ => "unknown",
            };
            format!("/{name}={}", a.value.replace(['/', '\t', '\n'], "_"))
        })
        .collect()
}

fn dn(spec: &CaSpec, cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::OrganizationName, spec.organization);
    dn.push(DnType::CommonName, cn);
    dn
}

impl Pki {
    /// Makes every CA, OCSP responder certificate, CA database and CRL under `dir`.
    /// `progress` hears about each slow step.
    pub fn create(
        dir: &Path,
        (base_url, mirror_url): (&str, Option<&str>),
        now: OffsetDateTime,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self> {
        let mut pki = Pki {
            dir: dir.to_owned(),
            base_url: base_url.to_owned(),
            mirror_url: mirror_url.map(str::to_owned),
            generated_at: now,
            now,
            cas: Vec::new(),
        };
        for spec in CA_SPECS {
            progress(&format!("CA {} ({})", spec.id, spec.key.name()));
            let key_material = keys::generate(spec.key)?;
            let key = keys::load_signing_key(spec.key, &key_material.pkcs8_der)?;
            let params = pki.ca_params(&spec, now)?;
            let cert = match spec.parent {
                None => params.self_signed(&key)?,
                Some(parent) => {
                    let parent = pki.ca(parent)?;
                    parent.issue_params(&params, &key)?
                }
            };
            if let Some(parent) = spec.parent {
                let expiry = params.not_after;
                let subject = format!("/C=VN/O={}/CN={}", spec.organization, spec.name);
                pki.ca_mut(parent)?
                    .record(cert.der(), expiry, None, subject)?;
            }
            pki.cas.push(Ca {
                spec,
                cert_der: cert.der().to_vec(),
                key,
                key_pkcs8: key_material.pkcs8_der,
                db: CaDatabase::default(),
            });
        }
        for spec in CA_SPECS {
            progress(&format!("OCSP responder of {}", spec.id));
            pki.make_ocsp_responder(&spec, now)?;
        }
        for ca in &pki.cas {
            pki.save_ca(ca)?;
        }
        Ok(pki)
    }

    /// Reopens a PKI made by [`Pki::create`] (its CA keys, certificates and databases)
    /// to issue more certificates; CRLs written from now on carry `now` as thisUpdate.
    pub fn open(dir: &Path, now: OffsetDateTime) -> Result<Self> {
        let manifest = Manifest::load(dir)?;
        let mut cas = Vec::new();
        for entry in &manifest.cas {
            let spec = CA_SPECS
                .iter()
                .find(|s| s.id == entry.id)
                .copied()
                .ok_or_else(|| Error::Unknown {
                    what: "CA",
                    name: entry.id.clone(),
                })?;
            let key_pkcs8 = read_pem(&dir.join(&entry.key_file))?;
            cas.push(Ca {
                spec,
                cert_der: read_pem(&dir.join(&entry.cert))?,
                key: keys::load_signing_key(spec.key, &key_pkcs8)?,
                key_pkcs8,
                db: CaDatabase::load(&dir.join(&entry.index))?,
            });
        }
        Ok(Pki {
            dir: dir.to_owned(),
            base_url: manifest.base_url,
            mirror_url: manifest.mirror_url,
            generated_at: manifest.generated_at,
            now,
            cas,
        })
    }

    /// The generation time validity periods are relative to.
    pub fn generated_at(&self) -> OffsetDateTime {
        self.generated_at
    }

    /// The base URL of AIA and CRLDP.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The CA with this id.
    pub fn ca(&self, id: &str) -> Result<&Ca> {
        self.cas
            .iter()
            .find(|c| c.spec.id == id)
            .ok_or_else(|| Error::Unknown {
                what: "CA",
                name: id.to_owned(),
            })
    }

    fn ca_mut(&mut self, id: &str) -> Result<&mut Ca> {
        self.cas
            .iter_mut()
            .find(|c| c.spec.id == id)
            .ok_or_else(|| Error::Unknown {
                what: "CA",
                name: id.to_owned(),
            })
    }

    /// The manifest entries of every CA.
    pub fn ca_entries(&self) -> Vec<CaEntry> {
        self.cas
            .iter()
            .map(|ca| {
                let id = ca.spec.id;
                let rel = |f: &str| format!("ca/{id}/{f}");
                CaEntry {
                    id: id.to_owned(),
                    name: ca.spec.name.to_owned(),
                    parent: ca.spec.parent.map(str::to_owned),
                    trusted: ca.spec.trusted,
                    key: ca.spec.key,
                    cert: rel("cert.pem"),
                    key_file: rel("key.pem"),
                    ocsp_cert: rel("ocsp.pem"),
                    ocsp_key: rel("ocsp-key.pem"),
                    crl: rel("crl.der"),
                    index: rel("index.txt"),
                    ocsp_url: ocsp_url(&self.base_url, id),
                    crl_url: crl_url(&self.base_url, id),
                }
            })
            .collect()
    }

    /// The certificates of a CA and of every CA above it, nearest first, the self-signed
    /// root last: what a CA ships on its tokens beside the holder's certificate.
    pub fn path_of(&self, ca_id: &str) -> Result<Vec<Vec<u8>>> {
        let mut path = Vec::new();
        let mut next = Some(ca_id);
        while let Some(id) = next {
            let ca = self.ca(id)?;
            path.push(ca.cert_der.clone());
            next = ca.spec.parent;
        }
        Ok(path)
    }

    /// The chain above a CA, nearest first, excluding the self-signed root.
    pub fn chain_of(&self, ca_id: &str) -> Result<Vec<Vec<u8>>> {
        let mut chain = self.path_of(ca_id)?;
        chain.pop();
        Ok(chain)
    }

    fn ca_params(&self, spec: &CaSpec, now: OffsetDateTime) -> Result<CertificateParams> {
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(spec, spec.name);
        p.serial_number = Some(SerialNumber::from(random_serial()?));
        p.not_before = now - Duration::days(1);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.key_identifier_method = KeyIdMethod::Sha256;
        match spec.parent {
            None => {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.not_after = now + Duration::days(20 * 365);
            }
            Some(parent) => {
                p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
                p.not_after = now + Duration::days(10 * 365);
                p.use_authority_key_identifier_extension = true;
                self.add_revocation_pointers(&mut p, parent);
            }
        }
        Ok(p)
    }

    fn add_revocation_pointers(&self, p: &mut CertificateParams, issuer: &str) {
        let bases: Vec<&str> = std::iter::once(self.base_url.as_str())
            .chain(self.mirror_url.as_deref())
            .collect();
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: bases.iter().map(|b| crl_url(b, issuer)).collect(),
        }];
        let ocsp: Vec<String> = bases.iter().map(|b| ocsp_url(b, issuer)).collect();
        p.custom_extensions.push(CustomExtension::from_oid_content(
            der::OID_AIA,
            der::aia_value(&ocsp, &ca_cert_url(&self.base_url, issuer)),
        ));
    }

    fn make_ocsp_responder(&mut self, spec: &CaSpec, now: OffsetDateTime) -> Result<()> {
        let kind = if spec.key.is_rsa() {
            KeyKind::Rsa2048
        } else {
            KeyKind::EcP256
        };
        let key = keys::generate(kind)?;
        let mut p = CertificateParams::default();
        let cn = format!("{} OCSP Responder", spec.name);
        p.distinguished_name = dn(spec, &cn);
        p.serial_number = Some(SerialNumber::from(random_serial()?));
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(2 * 365);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
        p.use_authority_key_identifier_extension = true;
        p.custom_extensions.push(CustomExtension::from_oid_content(
            der::OID_OCSP_NOCHECK,
            der::null_value(),
        ));
        let public = SubjectPublicKeyInfo::from_der(&key.spki_der)?;
        let ca = self.ca(spec.id)?;
        let cert = ca.issue_params(&p, &public)?;
        let dir = ca_dir(&self.dir, spec.id);
        write(&dir.join("ocsp.pem"), pem_of("CERTIFICATE", cert.der()))?;
        write(
            &dir.join("ocsp-key.pem"),
            pem_of("PRIVATE KEY", &key.pkcs8_der),
        )?;
        let subject = format!("/C=VN/O={}/CN={cn}", spec.organization);
        self.ca_mut(spec.id)?
            .record(cert.der(), p.not_after, None, subject)?;
        Ok(())
    }

    /// Issues a person's certificate for `spki_der` (a key made here or on a token),
    /// records it in the CA database and rewrites the CA's CRL.
    pub fn issue_person(&mut self, profile: &PersonProfile, spki_der: &[u8]) -> Result<Issued> {
        let issued = self.issue_unsaved(profile, spki_der)?;
        self.save(profile.issuer)?;
        Ok(issued)
    }

    /// Writes a CA's database and a fresh CRL, after [`Pki::issue_unsaved`].
    pub fn save(&self, ca_id: &str) -> Result<()> {
        self.save_ca(self.ca(ca_id)?)
    }

    /// Issues like [`Pki::issue_person`] but only records the certificate in memory, for
    /// issuing many (load tests) and saving once.
    pub fn issue_unsaved(&mut self, profile: &PersonProfile, spki_der: &[u8]) -> Result<Issued> {
        let (not_before, not_after) = profile.validity(self.generated_at);
        let mut p = CertificateParams::default();
        p.serial_number = Some(SerialNumber::from(random_serial()?));
        p.not_before = not_before;
        p.not_after = not_after;
        p.key_usages = match profile.defect {
            Defect::WrongKeyUsage => vec![KeyUsagePurpose::KeyEncipherment],
            _ => vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ],
        };
        p.extended_key_usages = match profile.defect {
            Defect::WrongExtendedKeyUsage => vec![ExtendedKeyUsagePurpose::ServerAuth],
            _ => vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::EmailProtection,
            ],
        };
        if let Some(email) = profile.email {
            p.subject_alt_names = vec![SanType::Rfc822Name(email.try_into()?)];
        }
        p.use_authority_key_identifier_extension = true;
        self.add_revocation_pointers(&mut p, profile.issuer);
        let public = SubjectPublicKeyInfo::from_der(spki_der)?;
        let ca = self.ca(profile.issuer)?;
        let built = ca.issue_params(&p, &public)?;

        // rcgen wrote an empty subject: put the real one in and sign again.
        let parts = der::split_certificate(built.der())?;
        let subject = der::encode_name(&profile.subject);
        let der = if profile.defect == Defect::Sha1Signature {
            let algorithm = der::sha1_with_rsa_algorithm();
            let tbs = der::rewrite_tbs(&parts.tbs, &subject, Some(&algorithm))?;
            let signature = keys::sign_sha1_rsa(&ca.key_pkcs8, &tbs)?;
            der::join_certificate(&tbs, &algorithm, &signature)
        } else {
            let tbs = der::rewrite_tbs(&parts.tbs, &subject, None)?;
            let signature = ca.key.sign(&tbs)?;
            der::join_certificate(&tbs, &parts.algorithm, &signature)
        };
        let revoked_at = (profile.defect == Defect::Revoked).then_some(self.generated_at);
        let serial_hex = if profile.defect == Defect::UnknownToCa {
            der::serial_hex(&der)?
        } else {
            self.ca_mut(profile.issuer)?.record(
                &der,
                not_after,
                revoked_at,
                oneline(&profile.subject),
            )?
        };
        Ok(Issued { der, serial_hex })
    }

    /// A CRL in CA `ca_id`'s name listing its revoked certificates, valid from
    /// `this_update` to `next_update`, signed with CA `signer_id`'s key (another CA's key
    /// makes a forgery). For revocation tests: nothing is written.
    pub fn crl_signed_by(
        &self,
        ca_id: &str,
        signer_id: &str,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        let ca = self.ca(ca_id)?;
        let signer = self.ca(signer_id)?;
        let der = rustls_pki_types::CertificateDer::from(ca.cert_der.as_slice());
        let issuer = Issuer::from_ca_cert_der(&der, &signer.key)?;
        let params = ca.crl_params(u64::MAX >> 1, this_update, next_update)?;
        Ok(params.signed_by(&issuer)?.der().to_vec())
    }

    /// Writes a CA's certificate, keys, database and a fresh CRL.
    fn save_ca(&self, ca: &Ca) -> Result<()> {
        let dir = ca_dir(&self.dir, ca.spec.id);
        write(&dir.join("cert.pem"), pem_of("CERTIFICATE", &ca.cert_der))?;
        write(&dir.join("cert.der"), &ca.cert_der)?;
        write(&dir.join("key.pem"), pem_of("PRIVATE KEY", &ca.key_pkcs8))?;
        ca.db.save(&dir.join("index.txt"))?;
        let crl = ca.crl(&dir, self.now)?;
        write(&dir.join("crl.der"), &crl)?;
        write(&dir.join("crl.pem"), pem_of("X509 CRL", &crl))
    }
}

impl Ca {
    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>> {
        let der = rustls_pki_types::CertificateDer::from(self.cert_der.as_slice());
        Ok(Issuer::from_ca_cert_der(&der, &self.key)?)
    }

    fn issue_params(
        &self,
        params: &CertificateParams,
        public: &impl rcgen::PublicKeyData,
    ) -> Result<rcgen::Certificate> {
        Ok(params.signed_by(public, &self.issuer()?)?)
    }

    /// Adds a row to the database; returns the serial as it is written there.
    fn record(
        &mut self,
        cert_der: &[u8],
        expiry: OffsetDateTime,
        revoked_at: Option<OffsetDateTime>,
        subject: String,
    ) -> Result<String> {
        let serial_hex = der::serial_hex(cert_der)?;
        self.db.entries.push(DbEntry {
            revoked_at,
            expiry,
            serial_hex: serial_hex.clone(),
            subject,
        });
        Ok(serial_hex)
    }

    /// A CRL listing every revoked row, numbered one above the last (kept in `crlnumber`).
    fn crl(&self, dir: &Path, now: OffsetDateTime) -> Result<Vec<u8>> {
        let number_file = dir.join("crlnumber");
        let number: u64 = std::fs::read_to_string(&number_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
            + 1;
        write(&number_file, format!("{number}\n"))?;
        let params =
            self.crl_params(number, now - Duration::minutes(1), now + Duration::days(7))?;
        Ok(params.signed_by(&self.issuer()?)?.der().to_vec())
    }

    /// The CRL content: every revoked row, with these times.
    fn crl_params(
        &self,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<CertificateRevocationListParams> {
        let revoked_certs =
            self.db
                .revoked()
                .map(|e| {
                    Ok(RevokedCertParams {
                        serial_number: SerialNumber::from(hex::decode(&e.serial_hex).map_err(
                            |err| Error::Der(format!("serial {}: {err}", e.serial_hex)),
                        )?),
                        revocation_time: e.revoked_at.unwrap_or(this_update),
                        reason_code: Some(RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        Ok(CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        })
    }
}
