//! Every refusal kyso can answer with, in one ranked table (design §4, §6, §7).
//!
//! One row per stable machine code: the variant, its wire name and its HTTP status, so a
//! code, its name and its status can never drift apart. Rows are ordered roughly from
//! "the request is malformed" to "the world is in a state that prevents it", which is
//! also the order the checks run in. What a person reads for a code (Vietnamese and
//! English, with guidance) is not here: it is the page's message catalogue, beside the
//! HTTP layer.
//!
//! [`ErrorCode`] is what the gateway answers; [`AgentCode`] what the local signing agent
//! answers (design §7). Both serialise as their wire names.

/// Declares a code enum from its table: variant, wire name, HTTP status, doc.
macro_rules! code_table {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[doc = $doc:literal])+ $variant:ident = ($wire:literal, $status:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl $name {
            /// Every code, in rank order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The code as it appears on the wire (UPPER_SNAKE).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> u16 {
                match self { $($name::$variant => $status,)+ }
            }

            /// The code with this wire name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_name(&name).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown code {name:?}"))
                })
            }
        }
    };
}

code_table! {
    /// A stable, UPPER_SNAKE error code the gateway answers with.
    pub enum ErrorCode {
        /// The body or query is not what the endpoint takes.
        MalformedRequest = ("MALFORMED_REQUEST", 400),
        /// The request body is larger than the configured limit.
        PayloadTooLarge = ("PAYLOAD_TOO_LARGE", 413),
        /// The client took too long to send its request.
        RequestTimeout = ("REQUEST_TIMEOUT", 408),
        /// The endpoint exists but not with this method (`Allow` lists the methods).
        MethodNotAllowed = ("METHOD_NOT_ALLOWED", 405),
        /// Too many requests from this client; retry later.
        RateLimited = ("RATE_LIMITED", 429),
        /// The auth token is not a well-formed Web eID 1.0 token (JSON, base64, DER).
        MalformedToken = ("MALFORMED_TOKEN", 400),
        /// The token names a signature algorithm we do not accept.
        UnsupportedAlgorithm = ("UNSUPPORTED_ALGORITHM", 400),
        /// No such challenge, or it was already used.
        ChallengeNotFound = ("CHALLENGE_NOT_FOUND", 404),
        /// The challenge's lifetime has passed.
        ChallengeExpired = ("CHALLENGE_EXPIRED", 410),
        /// The signature does not verify for this certificate, origin and nonce.
        SignatureInvalid = ("SIGNATURE_INVALID", 422),
        /// The certificate's signature algorithm is too weak (SHA-1).
        WeakSignatureAlgorithm = ("WEAK_SIGNATURE_ALGORITHM", 422),
        /// The certificate's key is too weak or of an unaccepted type.
        WeakKey = ("WEAK_KEY", 422),
        /// keyUsage, extendedKeyUsage or basicConstraints do not allow authentication.
        CertWrongPurpose = ("CERT_WRONG_PURPOSE", 422),
        /// The certificate has expired at the verification time.
        CertExpired = ("CERT_EXPIRED", 422),
        /// The certificate is not yet valid at the verification time.
        CertNotYetValid = ("CERT_NOT_YET_VALID", 422),
        /// The certificate does not chain to a trust anchor under every constraint.
        CertUntrusted = ("CERT_UNTRUSTED", 422),
        /// The certificate is revoked.
        CertRevoked = ("CERT_REVOKED", 422),
        /// Revocation status could not be established (fail closed).
        RevocationUnavailable = ("REVOCATION_UNAVAILABLE", 503),
        /// The certificate carries no usable identity.
        NoIdentity = ("NO_IDENTITY", 422),
        /// An identifier in the certificate is malformed or contradictory.
        InvalidIdentifier = ("INVALID_IDENTIFIER", 422),
        /// The requested subject type is not what the certificate proves.
        SubjectTypeMismatch = ("SUBJECT_TYPE_MISMATCH", 422),
        /// The identity already has an account.
        AccountExists = ("ACCOUNT_EXISTS", 409),
        /// No account for this identity (login).
        AccountNotFound = ("ACCOUNT_NOT_FOUND", 404),
        /// No such registration ticket, or it was used or expired.
        TicketNotFound = ("TICKET_NOT_FOUND", 404),
        /// Organizations must give an email address.
        EmailRequired = ("EMAIL_REQUIRED", 422),
        /// The email address is not valid.
        InvalidEmail = ("INVALID_EMAIL", 422),
        /// The phone number is not a Vietnamese mobile number.
        InvalidPhone = ("INVALID_PHONE", 422),
        /// No valid session token.
        Unauthenticated = ("UNAUTHENTICATED", 401),
        /// No such resource.
        NotFound = ("NOT_FOUND", 404),
        /// No such signing-SIM session.
        SimSessionNotFound = ("SIM_SESSION_NOT_FOUND", 404),
        /// Another signing request is outstanding for this phone number (design §3).
        Busy = ("BUSY", 409),
        /// The person refused the request on the phone.
        UserRefused = ("USER_REFUSED", 422),
        /// The person did not answer in time.
        Expired = ("EXPIRED", 410),
        /// The number has no signing SIM (or does not exist: the same answer, on purpose).
        NotEnrolled = ("NOT_ENROLLED", 422),
        /// The SIM's signing PIN is blocked.
        PinBlocked = ("PIN_BLOCKED", 422),
        /// The operator could not deliver the request to the phone.
        DeliveryFailed = ("DELIVERY_FAILED", 502),
        /// The SIM or phone failed to sign.
        DeviceError = ("DEVICE_ERROR", 502),
        /// Our checks on the returned signature or certificate failed.
        VerificationFailed = ("VERIFICATION_FAILED", 422),
        /// The operator's service answered something unusable, or not at all.
        ProviderError = ("PROVIDER_ERROR", 502),
        /// The store failed; the request can be retried.
        StorageUnavailable = ("STORAGE_UNAVAILABLE", 503),
        /// No configured trust anchor is valid now: the gateway cannot verify any
        /// certificate until its trust configuration is renewed (`/readyz`).
        TrustUnavailable = ("TRUST_UNAVAILABLE", 503),
        /// Too many requests are being handled; retry shortly.
        Overloaded = ("OVERLOADED", 503),
        /// The gateway itself failed (e.g. the system's randomness); never bad input.
        InternalError = ("INTERNAL_ERROR", 500),
    }
}

code_table! {
    /// A stable code the local signing agent answers with (design §7).
    pub enum AgentCode {
        /// The request is not what the agent takes (body, Host, missing Origin).
        BadRequest = ("BAD_REQUEST", 400),
        /// The Origin may not use the agent; nothing was signed.
        OriginNotAllowed = ("ORIGIN_NOT_ALLOWED", 403),
        /// A program of another user of the computer may not use the agent.
        CallerNotAllowed = ("CALLER_NOT_ALLOWED", 403),
        /// No such endpoint.
        NotFound = ("NOT_FOUND", 404),
        /// The endpoint exists but not with this method.
        MethodNotAllowed = ("METHOD_NOT_ALLOWED", 405),
        /// The client took too long to send its request.
        RequestTimeout = ("REQUEST_TIMEOUT", 408),
        /// The request body is larger than the agent takes.
        PayloadTooLarge = ("PAYLOAD_TOO_LARGE", 413),
        /// No matching token is plugged in.
        TokenNotPresent = ("TOKEN_NOT_PRESENT", 404),
        /// The token holds no usable certificate (or none with that id).
        NoCertificate = ("NO_CERTIFICATE", 404),
        /// The PIN was wrong (`retries_left` when the token reports it).
        PinIncorrect = ("PIN_INCORRECT", 401),
        /// The PIN is locked.
        PinLocked = ("PIN_LOCKED", 401),
        /// The person did not give a PIN.
        UserCancelled = ("USER_CANCELLED", 409),
        /// The PKCS#11 module failed in a way the person cannot fix.
        TokenError = ("TOKEN_ERROR", 503),
    }
}

/// A refusal: a code and a detail for the person or operator reading it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Rejection {
    /// The stable code.
    pub code: ErrorCode,
    /// What exactly was wrong (English; never secrets).
    pub detail: String,
    /// When the same request may succeed, seconds from now (`Retry-After`), when the
    /// refusal knows.
    pub retry_after: Option<u64>,
}

impl Rejection {
    /// A rejection with this code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The same rejection, saying the request may be retried in `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}
