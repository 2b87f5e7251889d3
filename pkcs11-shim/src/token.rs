//! PKCS#11 access: tokens, their certificates, and signing.
//!
//! All calls here block; async callers run them on a blocking thread. Tokens are chosen by
//! label or serial because slot numbers are not stable (SoftHSM renumbers slots, and USB
//! tokens move between ports).

use crate::ShimError;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::Serialize;

fn token_error(e: CkError) -> ShimError {
    match e {
        // A PIN of the wrong length or with characters the token refuses is, like a wrong
        // PIN, something the user fixes by typing it again.
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange | RvError::PinInvalid, _) => {
            ShimError::PinIncorrect { retries_left: None }
        }
        CkError::Pkcs11(RvError::PinLocked, _) => ShimError::PinLocked,
        CkError::Pkcs11(RvError::TokenNotPresent | RvError::DeviceRemoved, _) => {
            ShimError::TokenNotPresent
        }
        other => ShimError::Token(other.to_string()),
    }
}

/// How a token is known: its label, which people read, and its serial, which tells two
/// tokens with the same label apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName {
    /// Token label.
    pub label: String,
    /// Token serial.
    pub serial: String,
}

/// Which token to use: by label, by serial, or the only one present.
#[derive(Debug, Clone, Default)]
pub struct TokenSelector {
    /// Token label (`CKA_LABEL` of the token, trailing blanks ignored).
    pub label: Option<String>,
    /// Token serial.
    pub serial: Option<String>,
}

/// A token as `kyso-shim list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSummary {
    /// Token label.
    pub label: String,
    /// Token serial.
    pub serial: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Every certificate on the token, its CA's included.
    pub certificates: Vec<TokenCertificate>,
}

/// A certificate on a token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenCertificate {
    /// `CKA_ID`, lowercase hex: the certificate id the agent's API takes.
    pub id: String,
    /// `CKA_LABEL`.
    pub label: String,
    /// The certificate, DER.
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl TokenCertificate {
    /// Whether it is a CA's certificate (basicConstraints cA), which tokens carry beside
    /// their holder's and which proves no one's identity.
    pub fn is_ca(&self) -> bool {
        kyso_verify::inspect::inspect(&self.der, time::OffsetDateTime::now_utc())
            .is_ok_and(|r| r.certificate.is_ca)
    }
}

/// The signing key's type, which decides the algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA: signed with PKCS#1 v1.5.
    Rsa,
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
}

/// DER of the named-curve OIDs as they appear in `CKA_EC_PARAMS`.
const EC_PARAMS_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const EC_PARAMS_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A loaded, initialised PKCS#11 module.
pub struct TokenModule {
    ctx: Pkcs11,
}

impl TokenModule {
    /// Loads the module at `path` and initialises it for use from several threads.
    pub fn load(path: &str) -> Result<Self, ShimError> {
        let ctx =
            Pkcs11::new(path).map_err(|e| ShimError::Token(format!("loading {path}: {e}")))?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(token_error)?;
        Ok(Self { ctx })
    }

    fn slots(&self) -> Result<Vec<Slot>, ShimError> {
        self.ctx
            .get_slots_with_initialized_token()
            .map_err(token_error)
    }

    /// Finds the token the selector names; with no selector, the only token present.
    pub fn find(&self, selector: &TokenSelector) -> Result<Slot, ShimError> {
        let mut matching = Vec::new();
        for slot in self.slots()? {
            let info = self.ctx.get_token_info(slot).map_err(token_error)?;
            let label_ok = selector
                .label
                .as_deref()
                .is_none_or(|l| info.label().trim_end() == l);
            let serial_ok = selector
                .serial
                .as_deref()
                .is_none_or(|s| info.serial_number().trim() == s);
            if label_ok && serial_ok {
                matching.push(slot);
            }
        }
        match matching[..] {
            [slot] => Ok(slot),
            [] => Err(ShimError::TokenNotPresent),
            _ => Err(ShimError::BadRequest(
                "several tokens are present: name one by label or serial".into(),
            )),
        }
    }

    /// The label (for the PIN prompt) and serial of the token a selector names.
    pub fn name_of(&self, selector: &TokenSelector) -> Result<TokenName, ShimError> {
        let slot = self.find(selector)?;
        let info = self.ctx.get_token_info(slot).map_err(token_error)?;
        Ok(TokenName {
            label: info.label().trim_end().to_owned(),
            serial: info.serial_number().trim().to_owned(),
        })
    }

    /// Whether the token a selector names shows, before any login, a certificate that
    /// could sign: not a CA's, and under `id` if one is asked for (`NO_CERTIFICATE`
    /// otherwise). Certificates are public objects, which `/v1/certificates` lists
    /// without a PIN too; checking them first means no PIN is asked, and none of the
    /// token's tries used, for a signature that could never be made.
    pub fn check_signer_shown(
        &self,
        selector: &TokenSelector,
        id: Option<&str>,
    ) -> Result<(), ShimError> {
        let slot = self.find(selector)?;
        let session = self.ctx.open_ro_session(slot).map_err(token_error)?;
        let shown = certificates(&session)?
            .iter()
            .any(|c| !c.is_ca() && id.is_none_or(|id| c.id == id));
        if shown {
            Ok(())
        } else {
            Err(ShimError::NoCertificate)
        }
    }

    /// Every token with its certificates.
    pub fn list(&self) -> Result<Vec<TokenSummary>, ShimError> {
        let mut out = Vec::new();
        for slot in self.slots()? {
            let info = self.ctx.get_token_info(slot).map_err(token_error)?;
            let session = self.ctx.open_ro_session(slot).map_err(token_error)?;
            out.push(TokenSummary {
                label: info.label().trim_end().to_owned(),
                serial: info.serial_number().trim().to_owned(),
                manufacturer: info.manufacturer_id().trim_end().to_owned(),
                model: info.model().trim_end().to_owned(),
                certificates: certificates(&session)?,
            });
        }
        Ok(out)
    }

    /// Logs in with the user PIN and returns the session. A wrong PIN reports the retry
    /// count when the token flags it (final try). An empty PIN never reaches the token:
    /// on a token that counts tries it would use one up for nothing.
    ///
    /// PKCS#11 login state belongs to the application, not the session: while another of
    /// the agent's sessions on the token is open, `C_Login` answers "already logged in"
    /// whatever the PIN. That says nothing about this PIN, so the agent logs out and
    /// logs in again with it.
    pub fn login(&self, slot: Slot, pin: &str) -> Result<Session, ShimError> {
        if pin.is_empty() {
            return Err(ShimError::PinIncorrect { retries_left: None });
        }
        let session = self.ctx.open_ro_session(slot).map_err(token_error)?;
        let pin = AuthPin::from(pin.to_owned());
        let logged_in = match session.login(UserType::User, Some(&pin)) {
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => session
                .logout()
                .and_then(|()| session.login(UserType::User, Some(&pin))),
            other => other,
        };
        match logged_in {
            Ok(()) => Ok(session),
            Err(e) => Err(match token_error(e) {
                ShimError::PinIncorrect { .. } => {
                    // Reading the flags can fail (token pulled); the wrong PIN is still news.
                    match self.ctx.get_token_info(slot) {
                        Ok(info) if info.user_pin_locked() => ShimError::PinLocked,
                        Ok(info) => ShimError::PinIncorrect {
                            retries_left: info.user_pin_final_try().then_some(1),
                        },
                        Err(_) => ShimError::PinIncorrect { retries_left: None },
                    }
                }
                other => other,
            }),
        }
    }
}

/// The certificates on a token, with their `CKA_ID`s (the key's, for a signer's), whether
/// or not a key is beside them: keys may be private objects, seen only after a login.
pub fn certificates(session: &Session) -> Result<Vec<TokenCertificate>, ShimError> {
    let handles = session
        .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
        .map_err(token_error)?;
    let mut out = Vec::new();
    for h in handles {
        let attrs = session
            .get_attributes(
                h,
                &[
                    AttributeType::Id,
                    AttributeType::Label,
                    AttributeType::Value,
                ],
            )
            .map_err(token_error)?;
        let (mut id, mut label, mut der) = (Vec::new(), String::new(), Vec::new());
        for a in attrs {
            match a {
                Attribute::Id(v) => id = v,
                Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
                Attribute::Value(v) => der = v,
                _ => {}
            }
        }
        out.push(TokenCertificate {
            id: hex::encode(id),
            label,
            der,
        });
    }
    Ok(out)
}

/// The private key with this `CKA_ID` and its algorithm. Needs a logged-in session on
/// tokens that keep private objects private.
pub fn private_key(
    session: &Session,
    id_hex: &str,
) -> Result<(ObjectHandle, KeyAlgorithm), ShimError> {
    let id = hex::decode(id_hex)
        .map_err(|_| ShimError::BadRequest(format!("certificate id {id_hex:?} is not hex")))?;
    let key = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id),
        ])
        .map_err(token_error)?
        .into_iter()
        .next()
        .ok_or(ShimError::NoCertificate)?;
    let attrs = session
        .get_attributes(key, &[AttributeType::KeyType, AttributeType::EcParams])
        .map_err(token_error)?;
    let mut key_type = None;
    let mut params = None;
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            _ => {}
        }
    }
    let algorithm = match (key_type, params.as_deref()) {
        (Some(KeyType::RSA), _) => KeyAlgorithm::Rsa,
        (Some(KeyType::EC), Some(EC_PARAMS_P256)) => KeyAlgorithm::EcP256,
        (Some(KeyType::EC), Some(EC_PARAMS_P384)) => KeyAlgorithm::EcP384,
        (t, _) => return Err(ShimError::UnsupportedKey(format!("{t:?}"))),
    };
    Ok((key, algorithm))
}

/// DER prefix of a PKCS#1 v1.5 `DigestInfo` for each hash (RFC 8017 §9.2, note 1).
fn digest_info_prefix(hash: &'static aws_lc_rs::digest::Algorithm) -> &'static [u8] {
    use aws_lc_rs::digest::{SHA256, SHA384};
    if hash == &SHA256 {
        &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ]
    } else if hash == &SHA384 {
        &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ]
    } else {
        &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ]
    }
}

/// Signs `data` hashed with `hash`. RSA uses raw `CKM_RSA_PKCS` over a `DigestInfo` we
/// build, ECDSA uses raw `CKM_ECDSA` over the digest: these two mechanisms are the ones
/// every token has (SoftHSM has no hashing ECDSA mechanism), and both hash on the host.
/// ECDSA signatures come back from PKCS#11 as `r||s`, the form Web eID wants.
pub fn sign(
    session: &Session,
    key: ObjectHandle,
    algorithm: KeyAlgorithm,
    hash: &'static aws_lc_rs::digest::Algorithm,
    data: &[u8],
) -> Result<Vec<u8>, ShimError> {
    let digest = aws_lc_rs::digest::digest(hash, data);
    let (mechanism, input) = match algorithm {
        KeyAlgorithm::Rsa => {
            let mut info = digest_info_prefix(hash).to_vec();
            info.extend_from_slice(digest.as_ref());
            (Mechanism::RsaPkcs, info)
        }
        KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => (Mechanism::Ecdsa, digest.as_ref().to_vec()),
    };
    session.sign(&mechanism, key, &input).map_err(token_error)
}
