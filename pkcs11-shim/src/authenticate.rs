//! Making the Web eID 1.0 authentication token (design §2) on a token.

use crate::ShimError;
use crate::token::{
    KeyAlgorithm, TokenCertificate, TokenModule, TokenSelector, certificates, private_key, sign,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use kyso_proto::webeid::{AuthToken, FORMAT, SignatureAlgorithm, signed_data};

/// `appVersion` of the tokens this agent makes.
pub const APP_VERSION: &str = concat!("https://kyso.vn/kyso-shim/", env!("CARGO_PKG_VERSION"));

/// The first certificate that is not a CA's and has a private key beside it: tokens also
/// carry their CA's certificates, in no promised order (and not always under an id of
/// their own).
fn signer<'a>(
    session: &Session,
    certs: &'a [TokenCertificate],
) -> Result<(&'a TokenCertificate, (ObjectHandle, KeyAlgorithm)), ShimError> {
    for cert in certs.iter().filter(|c| !c.is_ca()) {
        match private_key(session, &cert.id) {
            Err(ShimError::NoCertificate) => continue,
            found => return found.map(|key| (cert, key)),
        }
    }
    Err(ShimError::NoCertificate)
}

/// Signs `H(origin) || H(nonce)` with the chosen token's key and returns the auth token.
/// `certificate_id` picks a certificate when the token holds several signers; without
/// it, the first certificate with a key signs. Blocks.
pub fn authenticate(
    module: &TokenModule,
    selector: &TokenSelector,
    certificate_id: Option<&str>,
    pin: &str,
    origin: &str,
    nonce: &str,
) -> Result<AuthToken, ShimError> {
    let slot = module.find(selector)?;
    let session = module.login(slot, pin)?;
    let certs = certificates(&session)?;
    let (cert, (key, key_algorithm)) = match certificate_id {
        Some(id) => {
            let cert = certs
                .iter()
                .find(|c| c.id == id)
                .ok_or(ShimError::NoCertificate)?;
            (cert, private_key(&session, &cert.id)?)
        }
        None => signer(&session, &certs)?,
    };
    let algorithm = match key_algorithm {
        KeyAlgorithm::Rsa => SignatureAlgorithm::Rs256,
        KeyAlgorithm::EcP256 => SignatureAlgorithm::Es256,
        KeyAlgorithm::EcP384 => SignatureAlgorithm::Es384,
    };
    let data = signed_data(algorithm, origin, nonce);
    let signature = sign(&session, key, key_algorithm, algorithm.digest(), &data)?;
    // No login outlives the signature, even while another session keeps the token open.
    // Failing to log out changes nothing already signed; the next login checks its PIN.
    if let Err(e) = session.logout() {
        tracing::debug!(error = %e, "logging out after the signature failed");
    }
    Ok(AuthToken {
        format: FORMAT.to_owned(),
        unverified_certificate: STANDARD.encode(&cert.der),
        algorithm: algorithm.name().to_owned(),
        signature: STANDARD.encode(signature),
        app_version: APP_VERSION.to_owned(),
    })
}
