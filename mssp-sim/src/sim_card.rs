//! The signing applet on a SIM: it signs only after the right PIN, and blocks for good
//! after [`MAX_PIN_TRIES`] wrong PINs in a row, as real signing SIMs do (unblocking needs
//! the operator's PUK procedure, which the simulator does not model).

/// Wrong PINs in a row that block the signing PIN.
pub const MAX_PIN_TRIES: u8 = 3;

/// The outcome of a PIN entry that did not unlock the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Wrong PIN; the applet still accepts this many more tries.
    #[error("wrong PIN, {tries_left} tries left")]
    Wrong {
        /// Tries left before the PIN blocks.
        tries_left: u8,
    },
    /// The PIN is blocked (now, or from before).
    #[error("the signing PIN is blocked")]
    Blocked,
}

/// A SIM's signing PIN state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCard {
    pin: String,
    tries_left: u8,
}

impl SimCard {
    /// A card with this PIN and a full retry counter.
    pub fn new(pin: impl Into<String>) -> Self {
        Self {
            pin: pin.into(),
            tries_left: MAX_PIN_TRIES,
        }
    }

    /// Whether the PIN is blocked.
    pub fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }

    /// Checks a PIN. The right PIN resets the counter; a wrong one uses up a try; a blocked
    /// card refuses even the right PIN.
    pub fn verify_pin(&mut self, pin: &str) -> Result<(), PinError> {
        if self.is_blocked() {
            return Err(PinError::Blocked);
        }
        // Compare without an early exit so timing does not tell how many digits matched.
        let same = self.pin.len() == pin.len()
            && self
                .pin
                .bytes()
                .zip(pin.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            self.tries_left = MAX_PIN_TRIES;
            return Ok(());
        }
        self.tries_left -= 1;
        if self.is_blocked() {
            Err(PinError::Blocked)
        } else {
            Err(PinError::Wrong {
                tries_left: self.tries_left,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_wrong_pins_block_for_good() {
        let mut card = SimCard::new("1234");
        assert_eq!(
            card.verify_pin("0000"),
            Err(PinError::Wrong { tries_left: 2 })
        );
        assert_eq!(
            card.verify_pin("123"),
            Err(PinError::Wrong { tries_left: 1 })
        );
        assert_eq!(card.verify_pin("12345"), Err(PinError::Blocked));
        assert!(card.is_blocked());
        assert_eq!(card.verify_pin("1234"), Err(PinError::Blocked));
    }

    #[test]
    fn the_right_pin_resets_the_counter() {
        let mut card = SimCard::new("1234");
        assert!(card.verify_pin("0000").is_err());
        assert!(card.verify_pin("0000").is_err());
        assert_eq!(card.verify_pin("1234"), Ok(()));
        assert_eq!(
            card.verify_pin("0000"),
            Err(PinError::Wrong { tries_left: 2 })
        );
        assert_eq!(card.verify_pin("1234"), Ok(()));
        assert!(!card.is_blocked());
    }
}
