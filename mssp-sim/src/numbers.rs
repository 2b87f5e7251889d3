//! The documented automatic test numbers: each one produces one outcome by itself, like
//! SK ID Solutions' demo numbers, so the gateway's tests need no person at a phone.
//!
//! The SIM persons of the test PKI (`+84912000001` … `+84912000003`) are interactive
//! instead: they wait for someone to answer on the phone page, the device API or the
//! `phone` CLI. The table here is the single source of truth; `docs/mssp-simulator.md`
//! repeats it for people.

/// The test-PKI person signing for most automatic numbers: RSA-2048 citizen.
pub const SIM_CITIZEN: &str = "sim-citizen";
/// The EC P-256 citizen.
pub const SIM_CITIZEN_EC: &str = "sim-citizen-ec";
/// The enterprise (MST) holder, RSA-2048.
pub const SIM_ENTERPRISE: &str = "sim-enterprise";

/// Confirms after `auto_answer_ms` → `500 SIGNATURE` as sim-citizen (RSA).
pub const AUTO_OK: &str = "+84913000001";
/// Refuses after `auto_answer_ms` → `401 USER_CANCEL`.
pub const AUTO_REFUSE: &str = "+84913000002";
/// Never answers → `208 EXPIRED_TRANSACTION` at the request's timeout.
pub const AUTO_NO_ANSWER: &str = "+84913000003";
/// A subscriber without a signing SIM → `404 NO_KEY_FOUND`, like an unknown number.
pub const AUTO_NOT_ENROLLED: &str = "+84913000004";
/// PIN blocked → accepted, then `402 PIN_BLOCKED` after `auto_answer_ms`.
pub const AUTO_PIN_BLOCKED: &str = "+84913000005";
/// Delivery fails → `209 OTA_ERROR` after `auto_answer_ms`.
pub const AUTO_OTA_ERROR: &str = "+84913000006";
/// The SIM applet fails → `900 INTERNAL_ERROR` after `auto_answer_ms`.
pub const AUTO_DEVICE_ERROR: &str = "+84913000007";
/// `500 SIGNATURE` with sim-citizen's chain but random signature bytes.
pub const AUTO_BAD_SIGNATURE: &str = "+84913000008";
/// Signs with sim-citizen's key, returns sim-citizen-ec's chain (`RS256`).
pub const AUTO_WRONG_CERTIFICATE: &str = "+84913000009";
/// Confirms after `slow_answer_ms` as sim-citizen-ec (`ES256`).
pub const AUTO_SLOW_OK: &str = "+84913000010";
/// Signs the data with its last 32 bytes replaced by the hash of another display text.
pub const AUTO_OTHER_TEXT: &str = "+84913000011";
/// Confirms after `auto_answer_ms` as sim-enterprise (RSA, an organization's MST).
pub const AUTO_ENTERPRISE_OK: &str = "+84913000012";

/// The display text number [`AUTO_OTHER_TEXT`] pretends it showed; the hash of this text
/// replaces the last 32 bytes of the data before signing.
pub const OTHER_DISPLAY_TEXT: &str = "Ủy quyền toàn bộ tài khoản cho bên thứ ba";

/// How long an automatic number takes to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// `auto_answer_ms`.
    Auto,
    /// `slow_answer_ms`.
    Slow,
}

/// What goes wrong in an automatic signature, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// Nothing: a correct signature and chain.
    None,
    /// Random bytes of the right length instead of a signature.
    RandomSignature,
    /// The chain of another person (by id) instead of the signer's.
    CertificateOf(&'static str),
    /// Signs the data with its last 32 bytes replaced by SHA-256 of [`OTHER_DISPLAY_TEXT`].
    OtherDisplayText,
}

/// What an automatic number does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers with a signature (possibly forged, see [`Forgery`]) after a delay.
    Sign {
        /// When it answers.
        after: Delay,
        /// What is wrong with the answer, if anything.
        forgery: Forgery,
    },
    /// Answers with this ETSI fault after `auto_answer_ms`.
    Fault(kyso_proto::mss::StatusCode),
    /// Never answers: the request expires at its `timeout_s`.
    NeverAnswer,
    /// The subscriber has no signing SIM: requests are refused with `404 NO_KEY_FOUND`.
    NotEnrolled,
}

/// One automatic test number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestNumber {
    /// E.164 number.
    pub msisdn: &'static str,
    /// The person whose key the SIM holds (and whose certificate it presents, unless the
    /// behaviour forges another); `None` for a subscriber without a signing SIM.
    pub holder: Option<&'static str>,
    /// What it does.
    pub behaviour: Behaviour,
    /// One line for people (docs, logs).
    pub summary: &'static str,
}

impl TestNumber {
    /// The person whose certificate chain this SIM presents.
    pub fn presented_holder(&self) -> Option<&'static str> {
        match self.behaviour {
            Behaviour::Sign {
                forgery: Forgery::CertificateOf(other),
                ..
            } => Some(other),
            _ => self.holder,
        }
    }
}

const fn sign(
    msisdn: &'static str,
    holder: &'static str,
    after: Delay,
    forgery: Forgery,
    summary: &'static str,
) -> TestNumber {
    TestNumber {
        msisdn,
        holder: Some(holder),
        behaviour: Behaviour::Sign { after, forgery },
        summary,
    }
}

const fn fault(
    msisdn: &'static str,
    code: kyso_proto::mss::StatusCode,
    summary: &'static str,
) -> TestNumber {
    TestNumber {
        msisdn,
        holder: Some(SIM_CITIZEN),
        behaviour: Behaviour::Fault(code),
        summary,
    }
}

/// The automatic test numbers, in order.
pub const TEST_NUMBERS: [TestNumber; 12] = {
    use kyso_proto::mss::StatusCode as S;
    [
        sign(
            AUTO_OK,
            SIM_CITIZEN,
            Delay::Auto,
            Forgery::None,
            "confirms after auto_answer_ms: 500 SIGNATURE as sim-citizen (RS256)",
        ),
        fault(
            AUTO_REFUSE,
            S::UserCancel,
            "refuses after auto_answer_ms: 401 USER_CANCEL",
        ),
        TestNumber {
            msisdn: AUTO_NO_ANSWER,
            holder: Some(SIM_CITIZEN),
            behaviour: Behaviour::NeverAnswer,
            summary: "never answers: 208 EXPIRED_TRANSACTION at the request's timeout",
        },
        TestNumber {
            msisdn: AUTO_NOT_ENROLLED,
            holder: None,
            behaviour: Behaviour::NotEnrolled,
            summary: "no signing SIM: 404 NO_KEY_FOUND, identical to an unknown number",
        },
        fault(
            AUTO_PIN_BLOCKED,
            S::PinBlocked,
            "PIN blocked: accepted, then 402 PIN_BLOCKED after auto_answer_ms",
        ),
        fault(
            AUTO_OTA_ERROR,
            S::OtaError,
            "delivery fails: 209 OTA_ERROR after auto_answer_ms",
        ),
        fault(
            AUTO_DEVICE_ERROR,
            S::InternalError,
            "SIM applet error: 900 INTERNAL_ERROR after auto_answer_ms",
        ),
        sign(
            AUTO_BAD_SIGNATURE,
            SIM_CITIZEN,
            Delay::Auto,
            Forgery::RandomSignature,
            "bad signature: sim-citizen's chain, random signature bytes",
        ),
        sign(
            AUTO_WRONG_CERTIFICATE,
            SIM_CITIZEN,
            Delay::Auto,
            Forgery::CertificateOf(SIM_CITIZEN_EC),
            "signs with sim-citizen's key (RS256), returns sim-citizen-ec's chain",
        ),
        sign(
            AUTO_SLOW_OK,
            SIM_CITIZEN_EC,
            Delay::Slow,
            Forgery::None,
            "confirms after slow_answer_ms: 500 SIGNATURE as sim-citizen-ec (ES256)",
        ),
        sign(
            AUTO_OTHER_TEXT,
            SIM_CITIZEN,
            Delay::Auto,
            Forgery::OtherDisplayText,
            "signs another display text's hash in the last 32 bytes, as sim-citizen",
        ),
        sign(
            AUTO_ENTERPRISE_OK,
            SIM_ENTERPRISE,
            Delay::Auto,
            Forgery::None,
            "confirms after auto_answer_ms: 500 SIGNATURE as sim-enterprise (RS256, MST)",
        ),
    ]
};

/// The automatic test number `msisdn` (E.164), if it is one.
pub fn test_number(msisdn: &str) -> Option<&'static TestNumber> {
    TEST_NUMBERS.iter().find(|n| n.msisdn == msisdn)
}

/// The person ids the test numbers need from the test PKI.
pub fn required_persons() -> impl Iterator<Item = &'static str> {
    TEST_NUMBERS
        .iter()
        .flat_map(|n| [n.holder, n.presented_holder()])
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_valid_distinct_and_in_order() {
        for (i, n) in TEST_NUMBERS.iter().enumerate() {
            assert_eq!(
                kyso_proto::phone::normalize_msisdn(n.msisdn).as_deref(),
                Ok(n.msisdn)
            );
            assert_eq!(n.msisdn, format!("+849130000{:02}", i + 1));
            assert_eq!(test_number(n.msisdn), Some(n));
        }
        assert_eq!(test_number("+84913000013"), None);
    }

    #[test]
    fn forged_certificates_name_another_person() {
        let n = test_number(AUTO_WRONG_CERTIFICATE).unwrap();
        assert_eq!(n.holder, Some(SIM_CITIZEN));
        assert_eq!(n.presented_holder(), Some(SIM_CITIZEN_EC));
        assert_eq!(
            test_number(AUTO_NOT_ENROLLED).unwrap().presented_holder(),
            None
        );
        let needed: std::collections::BTreeSet<_> = required_persons().collect();
        assert_eq!(
            needed.into_iter().collect::<Vec<_>>(),
            [SIM_CITIZEN, SIM_CITIZEN_EC, SIM_ENTERPRISE]
        );
    }
}
