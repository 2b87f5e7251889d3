//! The gateway's domain: what challenges, registrations, accounts, login sessions and
//! signing-SIM sessions are, independent of how they are stored (the store, with versioned
//! records of its own) or shown (the HTTP layer's API types). Nothing here depends on
//! either.
//!
//! - [`registration`]: challenges and their purpose, tickets, the evidence a proof
//!   leaves, the identity preview.
//! - [`account`]: accounts and login sessions.
//! - [`contact`]: the contact details a person gives at confirmation, validated.
//! - [`audit`]: audit events and the hash chain that links them.
//! - [`sim`]: signing-SIM sessions, their results and outcomes.
//! - [`oidc`]: the OpenID Provider's grants and consents.
//! - [`network`]: the address and the network limits count a client under.

pub mod account;
pub mod audit;
pub mod contact;
pub mod network;
pub mod oidc;
pub mod registration;
pub mod sim;

pub use account::{Account, NewSession, SessionIssued, SessionLogin};
pub use audit::{AuditEntry, audit_hash};
pub use contact::Contact;
pub use registration::{CertificateRecord, Challenge, Evidence, Method, Preview, Purpose, Ticket};
pub use sim::{Login, Registration, SimOutcome, SimResult, SimSession};

/// Identity assurance level of every certificate-proven account (design §4).
pub const IAL: u8 = 3;
