//! The agent's errors, each with the stable code of DESIGN §7.

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
    /// The PIN is locked.
    #[error("the PIN is locked")]
    PinLocked,
    /// The user did not give a PIN.
    #[error("the user cancelled")]
    UserCancelled,
    /// The request itself is wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The PKCS#11 module failed in a way the user cannot fix.
    #[error("token error: {0}")]
    Token(String),
}

impl ShimError {
    /// The stable code of DESIGN §7.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TokenNotPresent => "TOKEN_NOT_PRESENT",
            Self::NoCertificate => "NO_CERTIFICATE",
            Self::PinIncorrect { .. } => "PIN_INCORRECT",
            Self::PinLocked => "PIN_LOCKED",
            Self::UserCancelled => "USER_CANCELLED",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::Token(_) => "TOKEN_ERROR",
        }
    }
}
