//! CCCD (căn cước công dân, 12 digits) and CMND (chứng minh nhân dân, 9 digits).
//!
//! CCCD layout (Circular 07/2016/TT-BCA and its successors): `PPP G YY RRRRRR`: the
//! province of birth registration, a digit encoding century and sex, the last two digits of
//! the birth year, and a random part. There is no check digit, so the checks are the
//! province code, that the digits decode to a birth year, and that the year is not after
//! the verification time.

use super::IdentityError;

/// The 63 province codes a CCCD can start with (design §5).
pub const PROVINCE_CODES: [&str; 63] = [
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020",
    "022", "024", "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038",
    "040", "042", "044", "045", "046", "048", "049", "051", "052", "054", "056", "058", "060",
    "062", "064", "066", "067", "068", "070", "072", "074", "075", "077", "079", "080", "082",
    "083", "084", "086", "087", "089", "091", "092", "093", "094", "095", "096",
];

/// True when `s` is non-empty and all ASCII digits.
pub(crate) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a 12-digit CCCD against the rules above; `current_year` is the year of the
/// verification time, passed in so that tests can set it.
pub fn validate_cccd(value: &str, current_year: i32) -> Result<(), IdentityError> {
    let invalid = |why: &str| IdentityError::InvalidIdentifier(format!("CCCD {value:?}: {why}"));
    if value.len() != 12 || !all_digits(value) {
        return Err(invalid("must be 12 digits"));
    }
    let (province, rest) = value.split_at(3);
    if !PROVINCE_CODES.contains(&province) {
        return Err(invalid("unknown province code"));
    }
    let digit = |i: usize| i32::from(rest.as_bytes()[i] - b'0');
    // 0/1 → 1900s, 2/3 → 2000s, 4/5 → 2100s, 6/7 → 2200s, 8/9 → 2300s (even = male).
    let century = 1900 + 100 * (digit(0) / 2);
    let birth_year = century + 10 * digit(1) + digit(2);
    if birth_year > current_year {
        return Err(invalid("birth year is in the future"));
    }
    Ok(())
}

/// Checks a 9-digit CMND. It has no structure beyond its length.
pub fn validate_cmnd(value: &str) -> Result<(), IdentityError> {
    if value.len() == 9 && all_digits(value) {
        Ok(())
    } else {
        Err(IdentityError::InvalidIdentifier(format!(
            "CMND {value:?}: must be 9 digits"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_shaped_cccds() {
        for v in [
            "001090012345",
            "079195001234",
            "048201000123",
            "096099999999",
        ] {
            assert_eq!(validate_cccd(v, 2026), Ok(()), "{v}");
        }
    }

    #[test]
    fn every_listed_province_is_accepted_and_no_other() {
        for n in 0..1000 {
            let code = format!("{n:03}");
            let ok = validate_cccd(&format!("{code}090012345"), 2026).is_ok();
            assert_eq!(ok, PROVINCE_CODES.contains(&code.as_str()), "{code}");
        }
        assert_eq!(PROVINCE_CODES.iter().filter(|c| c.len() == 3).count(), 63);
    }

    #[test]
    fn century_digit_sets_the_birth_year() {
        // 2 → 2000s: born 2026 is fine in 2026, born 2027 is not.
        assert!(validate_cccd("001226000001", 2026).is_ok());
        assert!(validate_cccd("001227000001", 2026).is_err());
        assert!(validate_cccd("001327000001", 2027).is_ok());
        // 4 → 2100s: always in the future today.
        assert!(validate_cccd("001400000001", 2026).is_err());
        // 8 → 2300s, also future; 0/1 → 1900s, never future.
        assert!(validate_cccd("001800000001", 2026).is_err());
        assert!(validate_cccd("001099000001", 2026).is_ok());
        assert!(validate_cccd("001199000001", 2026).is_ok());
    }

    #[test]
    fn rejects_wrong_length_and_non_digits() {
        for v in [
            "",
            "00109001234",
            "0010900123456",
            "00109001234a",
            "001 90012345",
            "００1090012345",
        ] {
            assert!(validate_cccd(v, 2026).is_err(), "{v:?}");
        }
    }

    #[test]
    fn cmnd_is_exactly_nine_digits() {
        assert!(validate_cmnd("012345678").is_ok());
        for v in ["01234567", "0123456789", "01234567x", ""] {
            assert!(validate_cmnd(v).is_err(), "{v:?}");
        }
    }
}
