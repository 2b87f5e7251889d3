//! The agent's errors, each with its stable code from the shared table
//! ([`kyso_verify::error::AgentCode`], design §7).

use kyso_verify::error::AgentCode;

/// Why the agent could not produce a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShimError {
    /// No token matches (none inserted, or none with that label or serial).
    #[error("no matching token is present")]
    TokenNotPresent,
    /// The token holds no usable certificate (or none with that id).
    #[error("no certificate with a matching private key on the token")]
    NoCertificate,
    /// The PIN was wrong. `retries_left` is set when the token says so.
    #[error("the PIN is incorrect")]
    PinIncorrect {
        /// Tries left before the PIN locks, when the token reports it.
        retries_left: Option<u32>,
    },
    /// The unattended PIN (file, variable) is one the token refused before: not offered
    /// again, so that repeated requests cannot lock the token ([`crate::refused`]).
    #[error(
        "the PIN is incorrect: the token refused this PIN before, so the agent does not \
         try it again; correct the agent's PIN file or setting, or restart the agent"
    )]
    PinRefusedBefore,
    /// The PIN is locked.
    #[error("the PIN is locked")]
    PinLocked,
    /// The user did not give a PIN.
    #[error("the user cancelled")]
    UserCancelled,
    /// The request itself is wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The certificate's key is of a type this agent cannot sign with (P-521, Ed25519,
    /// …): as good as no certificate, for choosing a signer.
    #[error("the token's key is of a type this agent cannot sign with: {0}")]
    UnsupportedKey(String),
    /// The PKCS#11 module failed in a way the user cannot fix.
    #[error("token error: {0}")]
    Token(String),
}

impl ShimError {
    /// The stable code (design §7).
    pub fn code(&self) -> AgentCode {
        match self {
            Self::TokenNotPresent => AgentCode::TokenNotPresent,
            Self::NoCertificate | Self::UnsupportedKey(_) => AgentCode::NoCertificate,
            Self::PinIncorrect { .. } | Self::PinRefusedBefore => AgentCode::PinIncorrect,
            Self::PinLocked => AgentCode::PinLocked,
            Self::UserCancelled => AgentCode::UserCancelled,
            Self::BadRequest(_) => AgentCode::BadRequest,
            Self::Token(_) => AgentCode::TokenError,
        }
    }
}
