//! The PKCS#11 calls of provisioning: make a token, make a key on it, store a certificate.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use kyso_certs::keys::KeyKind;
use yasna::models::ObjectIdentifier;

/// Where Debian's softhsm2 package puts the module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A PKCS#11 call failed.
    #[error("PKCS#11 {call}: {source}")]
    Pkcs11 {
        /// Which step.
        call: &'static str,
        /// The module's answer.
        source: cryptoki::error::Error,
    },
    /// The test PKI refused to issue or could not be read.
    #[error(transparent)]
    Pki(#[from] kyso_certs::Error),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something the module returned was not what PKCS#11 promises.
    #[error("{0}")]
    Unexpected(String),
}

fn p11(call: &'static str) -> impl FnOnce(cryptoki::error::Error) -> ProvisionError {
    move |source| ProvisionError::Pkcs11 { call, source }
}

const OID_RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const OID_P384: &[u64] = &[1, 3, 132, 0, 34];

fn curve_oid(kind: KeyKind) -> Option<&'static [u64]> {
    match kind {
        KeyKind::EcP256 => Some(OID_P256),
        KeyKind::EcP384 => Some(OID_P384),
        _ => None,
    }
}

/// The loaded module.
pub struct Module {
    ctx: Pkcs11,
}

impl Module {
    /// Loads and initialises a PKCS#11 module.
    pub fn load(path: &str) -> Result<Self, ProvisionError> {
        let ctx = Pkcs11::new(path).map_err(p11("load module"))?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(p11("C_Initialize"))?;
        Ok(Self { ctx })
    }

    /// Initialises a fresh token in a free slot and sets its user PIN. Returns the
    /// token's serial. The slot is found again by label afterwards, because SoftHSM
    /// renumbers slots once a token is initialised.
    pub fn create_token(
        &self,
        label: &str,
        so_pin: &str,
        user_pin: &str,
    ) -> Result<(Slot, String), ProvisionError> {
        let free = self
            .ctx
            .get_slots_with_token()
            .map_err(p11("C_GetSlotList"))?
            .into_iter()
            .find(|s| {
                self.ctx
                    .get_token_info(*s)
                    .is_ok_and(|t| !t.token_initialized())
            })
            .ok_or_else(|| ProvisionError::Unexpected("no free SoftHSM slot".into()))?;
        self.ctx
            .init_token(free, &AuthPin::from(so_pin.to_owned()), label)
            .map_err(p11("C_InitToken"))?;
        let slot = self.slot_by_label(label)?;
        let session = self
            .ctx
            .open_rw_session(slot)
            .map_err(p11("C_OpenSession"))?;
        session
            .login(UserType::So, Some(&AuthPin::from(so_pin.to_owned())))
            .map_err(p11("C_Login(SO)"))?;
        session
            .init_pin(&AuthPin::from(user_pin.to_owned()))
            .map_err(p11("C_InitPIN"))?;
        let serial = self
            .ctx
            .get_token_info(slot)
            .map_err(p11("C_GetTokenInfo"))?
            .serial_number()
            .trim()
            .to_owned();
        Ok((slot, serial))
    }

    fn slot_by_label(&self, label: &str) -> Result<Slot, ProvisionError> {
        self.ctx
            .get_slots_with_initialized_token()
            .map_err(p11("C_GetSlotList"))?
            .into_iter()
            .find(|s| {
                self.ctx
                    .get_token_info(*s)
                    .is_ok_and(|t| t.label().trim_end() == label)
            })
            .ok_or_else(|| {
                ProvisionError::Unexpected(format!("token {label:?} vanished after C_InitToken"))
            })
    }

    /// Opens a user session on a token.
    pub fn user_session(&self, slot: Slot, user_pin: &str) -> Result<Session, ProvisionError> {
        let session = self
            .ctx
            .open_rw_session(slot)
            .map_err(p11("C_OpenSession"))?;
        session
            .login(UserType::User, Some(&AuthPin::from(user_pin.to_owned())))
            .map_err(p11("C_Login(User)"))?;
        Ok(session)
    }
}

/// Generates a key pair on the token (private half sensitive, never extractable) and
/// returns the public key as a DER SubjectPublicKeyInfo.
pub fn generate_key(
    session: &Session,
    kind: KeyKind,
    id: &[u8],
    label: &str,
) -> Result<Vec<u8>, ProvisionError> {
    let common = |extra: Vec<Attribute>| {
        let mut v = vec![
            Attribute::Token(true),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        v.extend(extra);
        v
    };
    let private = common(vec![
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
    ]);
    let (mechanism, public) = match (kind, curve_oid(kind)) {
        (_, Some(curve)) => (
            Mechanism::EccKeyPairGen,
            common(vec![
                Attribute::Verify(true),
                Attribute::EcParams(yasna::construct_der(|w| {
                    w.write_oid(&ObjectIdentifier::from_slice(curve))
                })),
            ]),
        ),
        (KeyKind::Rsa1024 | KeyKind::Rsa2048 | KeyKind::Rsa4096, None) => {
            let bits: u64 = match kind {
                KeyKind::Rsa1024 => 1024,
                KeyKind::Rsa4096 => 4096,
                _ => 2048,
            };
            (
                Mechanism::RsaPkcsKeyPairGen,
                common(vec![
                    Attribute::Verify(true),
                    Attribute::ModulusBits(bits.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                ]),
            )
        }
        (other, None) => {
            return Err(ProvisionError::Unexpected(format!(
                "no token key for {other:?}"
            )));
        }
    };
    let (public_handle, _) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(p11("C_GenerateKeyPair"))?;
    public_key_info(session, public_handle, kind)
}

/// Reads a public key object back as a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7;
/// RSA per RFC 3279 §2.3.1, EC per RFC 5480).
fn public_key_info(
    session: &Session,
    handle: ObjectHandle,
    kind: KeyKind,
) -> Result<Vec<u8>, ProvisionError> {
    use cryptoki::object::AttributeType;
    let wanted = match curve_oid(kind) {
        Some(_) => vec![AttributeType::EcPoint],
        None => vec![AttributeType::Modulus, AttributeType::PublicExponent],
    };
    let attrs = session
        .get_attributes(handle, &wanted)
        .map_err(p11("C_GetAttributeValue"))?;
    let mut modulus = None;
    let mut exponent = None;
    let mut point = None;
    for a in attrs {
        match a {
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let missing = || ProvisionError::Unexpected("public key attributes missing".into());
    let (algorithm, key_bits) = match curve_oid(kind) {
        Some(curve) => {
            // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
            let wrapped = point.ok_or_else(missing)?;
            let raw = yasna::parse_der(&wrapped, |r| r.read_bytes())
                .map_err(|e| ProvisionError::Unexpected(format!("CKA_EC_POINT: {e}")))?;
            let alg = yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_oid(&ObjectIdentifier::from_slice(OID_EC_PUBLIC_KEY));
                    w.next().write_oid(&ObjectIdentifier::from_slice(curve));
                })
            });
            (alg, raw)
        }
        None => {
            let (n, e) = (modulus.ok_or_else(missing)?, exponent.ok_or_else(missing)?);
            let alg = yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_oid(&ObjectIdentifier::from_slice(OID_RSA_ENCRYPTION));
                    w.next().write_null();
                })
            });
            let key = yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next().write_bigint_bytes(&n, true);
                    w.next().write_bigint_bytes(&e, true);
                })
            });
            (alg, key)
        }
    };
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&algorithm);
            w.next().write_bitvec_bytes(&key_bits, key_bits.len() * 8);
        })
    }))
}

/// Stores an X.509 certificate object beside the key with the same `CKA_ID`.
pub fn store_certificate(
    session: &Session,
    cert_der: &[u8],
    id: &[u8],
    label: &str,
) -> Result<(), ProvisionError> {
    let subject = kyso_certs::der::subject_der(cert_der)?;
    session
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Subject(subject),
            Attribute::Value(cert_der.to_vec()),
        ])
        .map_err(p11("C_CreateObject(certificate)"))?;
    Ok(())
}
