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

/// The signer: the first certificate that is not a CA's, carries the id asked for (if
/// one is), and has beside it a private key this agent can sign with. Tokens also carry
/// their CA's certificates, in no promised order and not always under an id of their own
/// (even under the holder's key id), and may hold keys of types the agent cannot use: all
/// are passed over. Nothing usable is `NO_CERTIFICATE` (naming an unusable key type, if
/// that was all there was).
fn signer<'a>(
    session: &Session,
    certs: &'a [TokenCertificate],
    id: Option<&str>,
) -> Result<(&'a TokenCertificate, (ObjectHandle, KeyAlgorithm)), ShimError> {
    let mut unusable = None;
    for cert in certs
        .iter()
        .filter(|c| !c.is_ca() && id.is_none_or(|id| c.id == id))
    {
        match private_key(session, &cert.id) {
            Err(ShimError::NoCertificate) => continue,
            Err(e @ ShimError::UnsupportedKey(_)) => {
                unusable.get_or_insert(e);
            }
            found => return found.map(|key| (cert, key)),
        }
    }
    Err(unusable.unwrap_or(ShimError::NoCertificate))
}

/// Signs `H(origin) || H(nonce)` with the chosen token's key and returns the auth token.
/// `certificate_id` picks a certificate when the token holds several signers; without
/// it, the first usable one signs ([`signer`]). Blocks.
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
    let (cert, (key, key_algorithm)) = signer(&session, &certs, certificate_id)?;
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
