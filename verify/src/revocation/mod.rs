//! Revocation codecs (design §6): what the gateway sends an OCSP responder and how it
//! judges the answer ([`ocsp`], RFC 6960), and what a CRL says about a certificate
//! ([`crl`], RFC 5280 §5). Pure code; fetching and caching live in the gateway.

pub mod crl;
pub mod ocsp;
