//! MST (mã số thuế), the enterprise tax code.
//!
//! Ten digits `N1…N10` where N10 is a check digit over N1–N9 with weights
//! 31, 29, 23, 19, 17, 13, 7, 5, 3: `c = 10 − (S mod 11)`, valid iff `c ≤ 9` and
//! `c = N10`; N3–N9 are not all zero. A dependent unit (branch) has its parent's ten digits,
//! a hyphen and three more (`NNNNNNNNNN-NNN`, suffix not `000`); each branch code is its
//! own account key. Twelve digits is a personal tax code, which since 2025 is the CCCD and
//! is handled by the caller.

use super::IdentityError;
use super::cccd::all_digits;

const WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

fn check_ten(digits: &str) -> bool {
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    if d[2..9].iter().all(|x| *x == 0) {
        return false;
    }
    let s: u32 = WEIGHTS.iter().zip(&d).map(|(w, x)| w * x).sum();
    let c = 10 - (s % 11);
    c <= 9 && c == d[9]
}

/// Validates an enterprise MST and returns its canonical form (`NNNNNNNNNN` or
/// `NNNNNNNNNN-NNN`). Thirteen digits without the hyphen are accepted and given one.
pub fn canonical_mst(value: &str) -> Result<String, IdentityError> {
    let invalid = |why: &str| IdentityError::InvalidIdentifier(format!("MST {value:?}: {why}"));
    if !value.is_ascii() {
        return Err(invalid("must be digits"));
    }
    let (main, branch) = match value.len() {
        10 => (value, None),
        13 => (&value[..10], Some(&value[10..])),
        14 if value.as_bytes()[10] == b'-' => (&value[..10], Some(&value[11..])),
        _ => return Err(invalid("must be 10 digits or NNNNNNNNNN-NNN")),
    };
    if !all_digits(main) || !branch.is_none_or(all_digits) {
        return Err(invalid("must be digits"));
    }
    if !check_ten(main) {
        return Err(invalid("check digit does not match"));
    }
    match branch {
        None => Ok(main.to_owned()),
        Some("000") => Err(invalid("branch suffix 000 is not a branch")),
        Some(b) => Ok(format!("{main}-{b}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_tax_codes_are_valid() {
        assert_eq!(canonical_mst("0100112437").unwrap(), "0100112437");
        assert_eq!(canonical_mst("0301519977-029").unwrap(), "0301519977-029");
        assert_eq!(canonical_mst("0100109106").unwrap(), "0100109106");
    }

    #[test]
    fn thirteen_digits_get_their_hyphen() {
        assert_eq!(canonical_mst("0301519977029").unwrap(), "0301519977-029");
    }

    #[test]
    fn every_other_check_digit_is_refused() {
        for c in 0..10 {
            let v = format!("010011243{c}");
            assert_eq!(canonical_mst(&v).is_ok(), c == 7, "{v}");
        }
    }

    #[test]
    fn a_check_value_of_ten_is_never_valid() {
        // Find a nine-digit prefix whose S mod 11 is 0, so c would be 10.
        let prefix = (100_000_000u32..)
            .map(|n| format!("{n:09}"))
            .find(|p| {
                let s: u32 = WEIGHTS
                    .iter()
                    .zip(p.bytes())
                    .map(|(w, b)| w * u32::from(b - b'0'))
                    .sum();
                s.is_multiple_of(11) && p[2..].bytes().any(|b| b != b'0')
            })
            .unwrap();
        for c in 0..10 {
            assert!(canonical_mst(&format!("{prefix}{c}")).is_err());
        }
    }

    #[test]
    fn digits_three_to_nine_must_not_all_be_zero() {
        // 01 0000000 c: S = 31*0 + 29*1 = 29, c = 10 - 7 = 3, yet the code is refused.
        assert!(canonical_mst("0100000003").is_err());
    }

    #[test]
    fn malformed_values_are_refused() {
        for v in [
            "",
            "010011243",
            "01001124370",
            "0100112437-000",
            "0100112437-02",
            "0100112437-0a9",
            "0100112438-029",
            "01001124a7",
            "0100112437_029",
            "0100112437-0290",
        ] {
            assert!(canonical_mst(v).is_err(), "{v:?}");
        }
    }
}
