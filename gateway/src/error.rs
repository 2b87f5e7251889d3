//! Every error the gateway can answer with, in one ranked enum (DESIGN §4, §6).
//!
//! One variant per stable machine code. The HTTP layer turns an [`ErrorCode`] into an RFC
//! 9457 problem document with [`ErrorCode::status`], and the web page shows
//! [`ErrorCode::message_vi`]; nothing else decides a status or a code, so a code always
//! points at this one place. Variants are ordered roughly from "the request is malformed"
//! to "the world is in a state that prevents it", which is also the order checks run in.

use serde::Serialize;

/// A stable, UPPER_SNAKE error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body is not the JSON the endpoint takes.
    MalformedRequest,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// Too many requests from this client; retry later.
    RateLimited,
    /// The auth token is not a well-formed Web eID 1.0 token (JSON, base64, DER).
    MalformedToken,
    /// The token names a signature algorithm we do not accept.
    UnsupportedAlgorithm,
    /// No such challenge, or it was already used.
    ChallengeNotFound,
    /// The challenge's lifetime has passed.
    ChallengeExpired,
    /// The signature does not verify for this certificate, origin and nonce.
    SignatureInvalid,
    /// The certificate's signature algorithm is too weak (SHA-1).
    WeakSignatureAlgorithm,
    /// The certificate's key is too weak or of an unaccepted type.
    WeakKey,
    /// keyUsage or extendedKeyUsage do not allow authentication or signing.
    CertWrongPurpose,
    /// The certificate has expired at the verification time.
    CertExpired,
    /// The certificate is not yet valid at the verification time.
    CertNotYetValid,
    /// The certificate does not chain to a trust anchor.
    CertUntrusted,
    /// The certificate is revoked.
    CertRevoked,
    /// Revocation status could not be established (fail closed).
    RevocationUnavailable,
    /// The certificate carries no usable identity.
    NoIdentity,
    /// An identifier in the certificate is malformed or contradictory.
    InvalidIdentifier,
    /// The requested subject type is not what the certificate proves.
    SubjectTypeMismatch,
    /// The identity already has an account.
    AccountExists,
    /// No account for this identity (login).
    AccountNotFound,
    /// No such registration ticket, or it was used or expired.
    TicketNotFound,
    /// Organizations must give an email address.
    EmailRequired,
    /// The email address is not valid.
    InvalidEmail,
    /// The phone number is not a Vietnamese mobile number.
    InvalidPhone,
    /// No valid session token.
    Unauthenticated,
    /// No such resource.
    NotFound,
    /// No such signing-SIM session.
    SimSessionNotFound,
    /// Another signing request is outstanding for this phone number (DESIGN §3).
    Busy,
    /// The person refused the request on the phone.
    UserRefused,
    /// The person did not answer in time.
    Expired,
    /// The number has no signing SIM (or does not exist: the same answer, on purpose).
    NotEnrolled,
    /// The SIM's signing PIN is blocked.
    PinBlocked,
    /// The operator could not deliver the request to the phone.
    DeliveryFailed,
    /// The SIM or phone failed to sign.
    DeviceError,
    /// Our checks on the returned signature or certificate failed.
    VerificationFailed,
    /// The operator's service answered something unusable, or not at all.
    ProviderError,
    /// The store failed; the request can be retried.
    StorageUnavailable,
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            MalformedRequest | MalformedToken | UnsupportedAlgorithm => 400,
            Unauthenticated => 401,
            ChallengeNotFound | TicketNotFound | AccountNotFound | NotFound
            | SimSessionNotFound => 404,
            AccountExists | Busy => 409,
            ChallengeExpired | Expired => 410,
            PayloadTooLarge => 413,
            SignatureInvalid
            | WeakSignatureAlgorithm
            | WeakKey
            | CertWrongPurpose
            | CertExpired
            | CertNotYetValid
            | CertUntrusted
            | CertRevoked
            | NoIdentity
            | InvalidIdentifier
            | SubjectTypeMismatch
            | EmailRequired
            | InvalidEmail
            | InvalidPhone
            | UserRefused
            | NotEnrolled
            | PinBlocked
            | VerificationFailed => 422,
            RateLimited => 429,
            DeliveryFailed | DeviceError | ProviderError => 502,
            RevocationUnavailable | StorageUnavailable => 503,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MalformedRequest => "MALFORMED_REQUEST",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            RateLimited => "RATE_LIMITED",
            MalformedToken => "MALFORMED_TOKEN",
            UnsupportedAlgorithm => "UNSUPPORTED_ALGORITHM",
            ChallengeNotFound => "CHALLENGE_NOT_FOUND",
            ChallengeExpired => "CHALLENGE_EXPIRED",
            SignatureInvalid => "SIGNATURE_INVALID",
            WeakSignatureAlgorithm => "WEAK_SIGNATURE_ALGORITHM",
            WeakKey => "WEAK_KEY",
            CertWrongPurpose => "CERT_WRONG_PURPOSE",
            CertExpired => "CERT_EXPIRED",
            CertNotYetValid => "CERT_NOT_YET_VALID",
            CertUntrusted => "CERT_UNTRUSTED",
            CertRevoked => "CERT_REVOKED",
            RevocationUnavailable => "REVOCATION_UNAVAILABLE",
            NoIdentity => "NO_IDENTITY",
            InvalidIdentifier => "INVALID_IDENTIFIER",
            SubjectTypeMismatch => "SUBJECT_TYPE_MISMATCH",
            AccountExists => "ACCOUNT_EXISTS",
            AccountNotFound => "ACCOUNT_NOT_FOUND",
            TicketNotFound => "TICKET_NOT_FOUND",
            EmailRequired => "EMAIL_REQUIRED",
            InvalidEmail => "INVALID_EMAIL",
            InvalidPhone => "INVALID_PHONE",
            Unauthenticated => "UNAUTHENTICATED",
            NotFound => "NOT_FOUND",
            SimSessionNotFound => "SIM_SESSION_NOT_FOUND",
            Busy => "BUSY",
            UserRefused => "USER_REFUSED",
            Expired => "EXPIRED",
            NotEnrolled => "NOT_ENROLLED",
            PinBlocked => "PIN_BLOCKED",
            DeliveryFailed => "DELIVERY_FAILED",
            DeviceError => "DEVICE_ERROR",
            VerificationFailed => "VERIFICATION_FAILED",
            ProviderError => "PROVIDER_ERROR",
            StorageUnavailable => "STORAGE_UNAVAILABLE",
        }
    }

    /// The Vietnamese text the web page shows for this code.
    pub fn message_vi(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MalformedRequest => "Yêu cầu không hợp lệ.",
            PayloadTooLarge => "Dữ liệu gửi lên quá lớn.",
            RateLimited => "Bạn thao tác quá nhanh. Vui lòng thử lại sau ít phút.",
            MalformedToken => "Dữ liệu chữ ký số không đúng định dạng.",
            UnsupportedAlgorithm => "Thuật toán chữ ký không được hỗ trợ.",
            ChallengeNotFound => {
                "Phiên xác thực không tồn tại hoặc đã được sử dụng. Vui lòng thử lại."
            }
            ChallengeExpired => "Phiên xác thực đã hết hạn. Vui lòng thử lại.",
            SignatureInvalid => "Chữ ký số không hợp lệ.",
            WeakSignatureAlgorithm => "Chứng thư số dùng thuật toán ký đã lỗi thời (SHA-1).",
            WeakKey => "Khóa của chứng thư số không đủ an toàn.",
            CertWrongPurpose => "Chứng thư số không được phép dùng để xác thực hoặc ký.",
            CertExpired => "Chứng thư số đã hết hạn.",
            CertNotYetValid => "Chứng thư số chưa có hiệu lực.",
            CertUntrusted => "Chứng thư số không do tổ chức chứng thực được tin cậy cấp.",
            CertRevoked => "Chứng thư số đã bị thu hồi.",
            RevocationUnavailable => {
                "Không kiểm tra được trạng thái thu hồi của chứng thư số. Vui lòng thử lại sau."
            }
            NoIdentity => "Chứng thư số không chứa số CCCD, CMND hoặc mã số thuế.",
            InvalidIdentifier => "Số định danh trong chứng thư số không hợp lệ.",
            SubjectTypeMismatch => "Loại tài khoản không khớp với chứng thư số (cá nhân/tổ chức).",
            AccountExists => "Danh tính này đã có tài khoản. Vui lòng đăng nhập.",
            AccountNotFound => "Chưa có tài khoản cho danh tính này. Vui lòng đăng ký.",
            TicketNotFound => "Phiên đăng ký không tồn tại hoặc đã hết hạn. Vui lòng bắt đầu lại.",
            EmailRequired => "Tổ chức cần cung cấp địa chỉ email.",
            InvalidEmail => "Địa chỉ email không hợp lệ.",
            InvalidPhone => "Số điện thoại không hợp lệ.",
            Unauthenticated => "Bạn chưa đăng nhập hoặc phiên đăng nhập đã hết hạn.",
            NotFound => "Không tìm thấy.",
            SimSessionNotFound => "Phiên ký số qua SIM không tồn tại. Vui lòng bắt đầu lại.",
            Busy => {
                "Số điện thoại này đang có một yêu cầu ký chờ xác nhận. Vui lòng xử lý yêu cầu đó trên điện thoại hoặc đợi nó hết hạn."
            }
            UserRefused => "Bạn đã từ chối yêu cầu ký trên điện thoại.",
            Expired => "Yêu cầu ký đã hết thời gian chờ xác nhận. Vui lòng thử lại.",
            NotEnrolled => {
                "Số điện thoại này chưa đăng ký dịch vụ ký số qua SIM, hoặc không đúng. Vui lòng kiểm tra lại số."
            }
            PinBlocked => "Mã PIN ký số trên SIM đã bị khóa. Vui lòng liên hệ nhà mạng để mở khóa.",
            DeliveryFailed => {
                "Không gửi được yêu cầu ký tới điện thoại. Vui lòng kiểm tra sóng và thử lại."
            }
            DeviceError => "SIM hoặc điện thoại gặp lỗi khi ký. Vui lòng thử lại.",
            VerificationFailed => "Chữ ký hoặc chứng thư số trả về không hợp lệ.",
            ProviderError => "Dịch vụ ký số của nhà mạng đang gặp sự cố. Vui lòng thử lại sau.",
            StorageUnavailable => "Hệ thống tạm thời gián đoạn. Vui lòng thử lại.",
        }
    }
}

impl ErrorCode {
    /// Every code, in rank order.
    pub const ALL: [ErrorCode; 38] = {
        use ErrorCode::*;
        [
            MalformedRequest,
            PayloadTooLarge,
            RateLimited,
            MalformedToken,
            UnsupportedAlgorithm,
            ChallengeNotFound,
            ChallengeExpired,
            SignatureInvalid,
            WeakSignatureAlgorithm,
            WeakKey,
            CertWrongPurpose,
            CertExpired,
            CertNotYetValid,
            CertUntrusted,
            CertRevoked,
            RevocationUnavailable,
            NoIdentity,
            InvalidIdentifier,
            SubjectTypeMismatch,
            AccountExists,
            AccountNotFound,
            TicketNotFound,
            EmailRequired,
            InvalidEmail,
            InvalidPhone,
            Unauthenticated,
            NotFound,
            SimSessionNotFound,
            Busy,
            UserRefused,
            Expired,
            NotEnrolled,
            PinBlocked,
            DeliveryFailed,
            DeviceError,
            VerificationFailed,
            ProviderError,
            StorageUnavailable,
        ]
    };

    /// The code with this wire name (the store keeps codes as text).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
}

impl Rejection {
    /// A rejection with this code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl From<crate::identity::IdentityError> for Rejection {
    fn from(e: crate::identity::IdentityError) -> Self {
        let code = match e {
            crate::identity::IdentityError::NoIdentity(_) => ErrorCode::NoIdentity,
            crate::identity::IdentityError::InvalidIdentifier(_) => ErrorCode::InvalidIdentifier,
        };
        Rejection::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_and_statuses_are_client_or_service_errors() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(
                (400..600).contains(&code.status()) && code.status() != 500,
                "{code}"
            );
            assert!(!code.message_vi().is_empty());
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        }
        let names: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "no code twice");
        assert_eq!(ErrorCode::from_name("NOPE"), None);
    }
}
