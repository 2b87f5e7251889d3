//! Vietnamese mobile numbers (design §3): `0912345678`, `84912345678` and `+84912345678`
//! all mean the same SIM and are stored as E.164 (`+84912345678`).

/// The input is not a Vietnamese mobile number in one of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Vietnamese mobile number: expected 0XXXXXXXXX, 84XXXXXXXXX or +84XXXXXXXXX")]
pub struct InvalidPhone;

/// Normalises a Vietnamese mobile number to E.164. Spaces, dots and hyphens between
/// digits are ignored, as people type them. Mobile subscriber numbers have nine digits
/// after the country code and start with 3, 5, 7, 8 or 9 (the 2018 renumbering).
pub fn normalize_msisdn(input: &str) -> Result<String, InvalidPhone> {
    let compact: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+84") {
        rest
    } else if let Some(rest) = compact.strip_prefix("84").filter(|r| r.len() == 9) {
        rest
    } else if let Some(rest) = compact.strip_prefix('0') {
        rest
    } else {
        return Err(InvalidPhone);
    };
    let valid = national.len() == 9
        && national.bytes().all(|b| b.is_ascii_digit())
        && matches!(national.as_bytes()[0], b'3' | b'5' | b'7' | b'8' | b'9');
    if valid {
        Ok(format!("+84{national}"))
    } else {
        Err(InvalidPhone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_are_one_number() {
        for input in [
            "0912345678",
            "84912345678",
            "+84912345678",
            " 091 234 5678 ",
            "091-234-5678",
        ] {
            assert_eq!(
                normalize_msisdn(input).as_deref(),
                Ok("+84912345678"),
                "{input:?}"
            );
        }
        assert_eq!(
            normalize_msisdn("0387654321").as_deref(),
            Ok("+84387654321")
        );
    }

    #[test]
    fn anything_else_is_invalid() {
        for input in [
            "",
            "912345678",
            "091234567",
            "09123456789",
            "+8491234567",
            "+849123456789",
            "+1912345678",
            "0212345678",
            "0112345678",
            "09123456a8",
            "+84 912345678x",
            "００912345678",
        ] {
            assert_eq!(normalize_msisdn(input), Err(InvalidPhone), "{input:?}");
        }
    }
}
