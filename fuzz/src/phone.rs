//! Fuzzes the normalisation of the phone number a stranger types to start a signing-SIM
//! session (design §3).
//!
//! Fed: the input as UTF-8 → `phone::normalize_msisdn`.
//!
//! Must never happen: a panic (slicing a multi-byte character), or an accepted number
//! that is not `+84` and nine digits, or that normalises to something else a second time.

/// One input, as the fuzzer gives it.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(number) = kyso_proto::phone::normalize_msisdn(text) {
        let national = number.strip_prefix("+84").expect("E.164 with +84");
        assert!(
            national.len() == 9 && national.bytes().all(|b| b.is_ascii_digit()),
            "{number}"
        );
        assert_eq!(
            kyso_proto::phone::normalize_msisdn(&number).as_deref(),
            Ok(number.as_str())
        );
    }
}
