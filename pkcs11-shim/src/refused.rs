//! PINs a token refused, when no person types them.
//!
//! A PIN from `--pin-file` or `KYSO_SHIM_PIN` is the same at every request. Once the
//! token has refused it, offering it again can only use up the token's tries: a few
//! requests from any allowed page and a USB token locks until its issuer unblocks it.
//! So `serve` remembers an unattended PIN the token refused and answers `PIN_INCORRECT`
//! without logging in while the same PIN is offered for the same token. A changed PIN
//! file is tried again; a restart forgets. A person typing a PIN is never second-guessed.
//!
//! What is kept is an HMAC-SHA-256 of the token's serial and the PIN under a key made at
//! start-up and never written anywhere, not the PIN: the agent keeps no PIN after a
//! signature.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use std::sync::Mutex;

/// Refused PINs remembered at most (the oldest is forgotten first). An unattended agent
/// has one PIN source, so a handful covers its tokens.
const REMEMBERED: usize = 16;

/// The PINs tokens refused, as keyed digests.
pub struct RefusedPins {
    key: hmac::Key,
    tags: Mutex<Vec<hmac::Tag>>,
}

impl RefusedPins {
    /// An empty memory under a fresh key. Fails only when the system has no randomness.
    pub fn new() -> Result<Self, aws_lc_rs::error::Unspecified> {
        Ok(Self {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())?,
            tags: Mutex::new(Vec::new()),
        })
    }

    /// The message a tag is made over: the serial, a separator no serial holds (PKCS#11
    /// serials are printable), the PIN. Wiped when dropped: it holds the PIN.
    fn message(serial: &str, pin: &str) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new([serial.as_bytes(), &[0], pin.as_bytes()].concat())
    }

    /// Whether the token with `serial` refused `pin` before.
    pub fn refused_before(&self, serial: &str, pin: &str) -> bool {
        let message = Self::message(serial, pin);
        self.tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|tag| hmac::verify(&self.key, message.as_slice(), tag.as_ref()).is_ok())
    }

    /// Remembers that the token with `serial` refused `pin`.
    pub fn remember(&self, serial: &str, pin: &str) {
        let tag = hmac::sign(&self.key, Self::message(serial, pin).as_slice());
        let mut tags = self
            .tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tags.len() == REMEMBERED {
            tags.remove(0);
        }
        tags.push(tag);
    }
}

impl std::fmt::Debug for RefusedPins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefusedPins(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::{REMEMBERED, RefusedPins};

    #[test]
    fn a_refused_pin_is_known_for_its_token_only_and_the_oldest_is_forgotten() {
        let refused = RefusedPins::new().unwrap();
        assert!(!refused.refused_before("A1", "1234"));
        refused.remember("A1", "1234");
        assert!(refused.refused_before("A1", "1234"));
        assert!(
            !refused.refused_before("A1", "12345"),
            "another PIN is tried"
        );
        assert!(
            !refused.refused_before("B2", "1234"),
            "on another token too"
        );
        assert!(
            !refused.refused_before("A", "11234"),
            "the serial and the PIN are kept apart"
        );
        for n in 0..REMEMBERED {
            refused.remember("B2", &n.to_string());
        }
        assert!(
            !refused.refused_before("A1", "1234"),
            "the oldest went first"
        );
        assert!(refused.refused_before("B2", "0"));
    }
}
