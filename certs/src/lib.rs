//! kyso's test PKI: a Vietnam-shaped certificate hierarchy for tests, fixtures and demos.
//!
//! Layout of the crate:
//! - [`hierarchy`]: the CAs (national root, provider CAs, an untrusted CA), their OCSP
//!   responders, and [`Pki`], which issues certificates and keeps CA databases and CRLs.
//! - [`profiles`]: the catalogue of test persons of design §9 and the verdict for each.
//! - [`generate()`]: writes everything plus `manifest.json` ([`manifest`]).
//! - [`cadb`]: the OpenSSL `index.txt` that `openssl ocsp` serves from.
//! - [`der`] and [`keys`]: the DER and key handling rcgen does not do for us;
//!   [`certificate_with_subject`] for parser tests.
//!
//! Nothing here is for production: CA private keys are written in clear beside the
//! certificates so that tests can issue more and run an OCSP responder.

pub mod cadb;
pub mod der;
mod error;
mod generate;
pub mod hierarchy;
pub mod keys;
pub mod manifest;
pub mod profiles;
mod subject_cert;

pub use error::{Error, Result};
pub use generate::{DEFAULT_BASE_URL, GenerateOptions, generate};
pub use hierarchy::Pki;
pub use manifest::{Manifest, Verdict};
pub use subject_cert::certificate_with_subject;
