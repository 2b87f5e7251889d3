//! SoftHSM2 tokens for kyso's token persons (design §9).
//!
//! For every person of the test-PKI manifest whose medium is `token`, [`provision`] makes one
//! SoftHSM token labelled with the person id, generates the key pair **on the token**
//! (private key sensitive and non-extractable), asks the test CA (through
//! [`kyso_certs::Pki`]) to issue the person's certificate for the token's public key, and
//! stores that certificate on the token with the key's `CKA_ID`. The CA records the new
//! certificate in its `index.txt` and CRL, so OCSP and CRL answers cover token certificates.
//!
//! SoftHSM reads its configuration from `SOFTHSM2_CONF` when the library is initialised;
//! [`write_softhsm_conf`] writes one that keeps tokens inside the output folder, and the
//! process must have `SOFTHSM2_CONF` pointing at it before calling [`provision`].

mod pkcs11;
mod tokens;

pub use pkcs11::{ProvisionError, SOFTHSM_MODULE};
pub use tokens::{TOKENS_FILE, TokenEntry, TokensFile, provision, write_softhsm_conf};
