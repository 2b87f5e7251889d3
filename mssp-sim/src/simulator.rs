//! The simulated operator: subscribers, AP credentials and the transaction book, with
//! every protocol operation as a plain method (the HTTP layer only translates).
//!
//! Rules kept here (design §3 and the simulator's docs):
//! - at most one outstanding request per number, whichever AP sent it (`406`);
//! - a number without a signing SIM and a number the operator has never heard of get the
//!   same answer, so numbers cannot be enumerated (`404 NO_KEY_FOUND`);
//! - an AP sees only its own transactions, and reuses an `ap_trans_id` only after the
//!   simulator has forgotten it ([`crate::transactions::RETENTION`]);
//! - a SIM blocks for good after three wrong PINs ([`SimCard`]); a request to a blocked
//!   SIM is accepted and ends at once with `402 PIN_BLOCKED`.

use crate::config::{ApConfig, ConfigError, Settings, check_aps};
use crate::numbers::{Behaviour, Delay, Forgery, OTHER_DISPLAY_TEXT, TEST_NUMBERS, TestNumber};
use crate::signer::{SimHolder, load_holders};
use crate::sim_card::{PinError, SimCard};
use crate::transactions::{Outcome, Transaction, TxRequest, TxState, run_timers};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::mss::{
    CertificateAnswer, PendingRequest, SignatureAccepted, SignatureRequest, SignatureStatus,
    Status, StatusCode,
};
use kyso_proto::phone::normalize_msisdn;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Longest `ap_trans_id`, characters.
pub const MAX_AP_TRANS_ID_CHARS: usize = 64;
/// Longest display text, characters.
pub const MAX_DISPLAY_TEXT_CHARS: usize = 200;
/// Largest `data_to_be_signed`, bytes after base64 decoding.
pub const MAX_DATA_BYTES: usize = 1024;

/// A phone's answer to a confirm or reject (`DeviceAnswer.result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceResult {
    /// The SIM signed; the transaction ended with `500 SIGNATURE`.
    Signed,
    /// The person refused; the transaction ended with `401 USER_CANCEL`.
    Rejected,
    /// Wrong PIN; the transaction stays outstanding.
    PinIncorrect {
        /// Tries left before the PIN blocks.
        tries_left: u8,
    },
    /// The PIN is blocked; the transaction ended with `402 PIN_BLOCKED`.
    PinBlocked,
    /// No such outstanding request on this phone (or it cannot be answered from here).
    NotFound,
    /// The SIM applet failed to sign; the transaction ended with `900 INTERNAL_ERROR`.
    DeviceError,
}

impl DeviceResult {
    /// The wire name (`SIGNED`, `PIN_INCORRECT`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Signed => "SIGNED",
            Self::Rejected => "REJECTED",
            Self::PinIncorrect { .. } => "PIN_INCORRECT",
            Self::PinBlocked => "PIN_BLOCKED",
            Self::NotFound => "NOT_FOUND",
            Self::DeviceError => "DEVICE_ERROR",
        }
    }
}

/// Who answers for a number.
enum Subscriber {
    /// A test-PKI person: a person answers on the phone page, device API or CLI.
    Interactive(Arc<SimHolder>),
    /// An automatic test number.
    Automatic {
        number: &'static TestNumber,
        /// The key that signs (absent for a subscriber without a signing SIM).
        signer: Option<Arc<SimHolder>>,
        /// The chain the SIM presents (another person's for the wrong-certificate number).
        presented: Vec<String>,
    },
}

impl Subscriber {
    /// The chain the SIM presents, if it is a signing SIM.
    fn chain(&self) -> Option<&[String]> {
        match self {
            Self::Interactive(h) => Some(&h.chain),
            Self::Automatic { signer: None, .. } => None,
            Self::Automatic { presented, .. } => Some(presented),
        }
    }
}

/// How an automatic number makes its answer, given the transaction.
type AutoAnswer = Box<dyn FnOnce(&Transaction) -> Outcome + Send>;

/// Mutable state, behind one lock held only for short, non-async sections.
#[derive(Default)]
struct Book {
    transactions: HashMap<String, Arc<Transaction>>,
    /// `(ap_id, ap_trans_id)` of every remembered transaction.
    ap_trans_ids: HashSet<(String, String)>,
    /// The latest transaction per number: the only one that can be outstanding.
    latest: HashMap<String, Arc<Transaction>>,
    /// PIN counters of the interactive SIMs.
    cards: HashMap<String, SimCard>,
}

impl Book {
    fn forget(&mut self, tx: &Transaction) {
        let r = &tx.request;
        self.transactions.remove(&r.id);
        self.ap_trans_ids
            .remove(&(r.ap_id.clone(), r.ap_trans_id.clone()));
        if self
            .latest
            .get(&r.msisdn)
            .is_some_and(|t| t.request.id == r.id)
        {
            self.latest.remove(&r.msisdn);
        }
    }
}

/// An AP's id and the SHA-256 of its secret.
struct ApKey {
    id: String,
    secret_hash: [u8; 32],
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// Compares two hashes without an early exit.
fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn fault(code: StatusCode) -> SignatureAccepted {
    SignatureAccepted {
        mssp_trans_id: None,
        status: Status::of(code),
    }
}

fn random_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The simulated MSSP with its SIMs.
pub struct Simulator {
    settings: Settings,
    aps: Vec<ApKey>,
    subscribers: HashMap<String, Subscriber>,
    book: Arc<Mutex<Book>>,
    stopping: watch::Sender<bool>,
}

impl Simulator {
    /// A simulator for these APs and SIM holders (the test PKI's SIM persons). The holders'
    /// own numbers are interactive; the automatic test numbers need the persons they name
    /// ([`crate::numbers::required_persons`]).
    pub fn new(
        settings: Settings,
        aps: &[ApConfig],
        holders: Vec<SimHolder>,
    ) -> Result<Self, ConfigError> {
        check_aps(aps)?;
        let holders: Vec<Arc<SimHolder>> = holders.into_iter().map(Arc::new).collect();
        let by_person = |id: &str, number: &str| {
            holders
                .iter()
                .find(|h| h.person_id == id)
                .cloned()
                .ok_or_else(|| {
                    ConfigError(format!(
                        "pki: the test PKI has no SIM person {id:?} (test number {number} needs it)"
                    ))
                })
        };
        let mut subscribers = HashMap::new();
        let mut cards = HashMap::new();
        for number in &TEST_NUMBERS {
            let signer = number
                .holder
                .map(|id| by_person(id, number.msisdn))
                .transpose()?;
            let presented = match number.presented_holder() {
                Some(id) => by_person(id, number.msisdn)?.chain.clone(),
                None => Vec::new(),
            };
            subscribers.insert(
                number.msisdn.to_owned(),
                Subscriber::Automatic {
                    number,
                    signer,
                    presented,
                },
            );
        }
        for holder in &holders {
            if subscribers.contains_key(&holder.msisdn) {
                return Err(ConfigError(format!(
                    "pki: SIM person {:?} has number {}, which is already taken",
                    holder.person_id, holder.msisdn
                )));
            }
            cards.insert(holder.msisdn.clone(), SimCard::new(settings.pin.clone()));
            subscribers.insert(
                holder.msisdn.clone(),
                Subscriber::Interactive(holder.clone()),
            );
        }
        Ok(Self {
            aps: aps
                .iter()
                .map(|ap| ApKey {
                    id: ap.id.clone(),
                    secret_hash: sha256(ap.secret.as_bytes()),
                })
                .collect(),
            settings,
            subscribers,
            book: Arc::new(Mutex::new(Book {
                cards,
                ..Book::default()
            })),
            stopping: watch::Sender::new(false),
        })
    }

    /// A simulator from a configuration: SIM holders from its `pki` folder.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, ConfigError> {
        let holders = load_holders(&config.pki).map_err(|e| ConfigError(format!("pki: {e}")))?;
        Self::new(config.settings(), &config.ap, holders)
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The interactive numbers (the test PKI's SIM persons), with their person ids, sorted.
    pub fn interactive_numbers(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .subscribers
            .iter()
            .filter_map(|(msisdn, s)| match s {
                Subscriber::Interactive(h) => Some((msisdn.clone(), h.person_id.clone())),
                Subscriber::Automatic { .. } => None,
            })
            .collect();
        v.sort();
        v
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The AP id of an `Authorization: Basic base64(id:secret)` header value, if the
    /// credentials are right. Secrets are compared as hashes, without an early exit.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<String> {
        let (scheme, encoded) = authorization?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let offered = sha256(secret.as_bytes());
        let mut matched = None;
        for ap in &self.aps {
            // Every AP's hash is compared, so timing does not depend on which id matched.
            let same = same_hash(&ap.secret_hash, &offered);
            if same && ap.id == id {
                matched = Some(ap.id.clone());
            }
        }
        matched
    }

    /// `POST /mss/v1/signature` for AP `ap_id`. Must run inside a Tokio runtime (each
    /// transaction gets a timer task).
    pub fn submit(&self, ap_id: &str, req: &SignatureRequest) -> SignatureAccepted {
        let trans_id_ok = !req.ap_trans_id.is_empty()
            && req.ap_trans_id.chars().count() <= MAX_AP_TRANS_ID_CHARS
            && !req.ap_trans_id.chars().any(char::is_control);
        let Ok(msisdn) = normalize_msisdn(&req.msisdn) else {
            return fault(StatusCode::WrongParam);
        };
        let text_chars = req.data_to_be_displayed.chars().count();
        if !trans_id_ok
            || text_chars == 0
            || text_chars > MAX_DISPLAY_TEXT_CHARS
            || req.timeout_s == 0
            || req.timeout_s > self.settings.max_timeout_s
        {
            return fault(StatusCode::WrongParam);
        }
        let data = match STANDARD.decode(&req.data_to_be_signed) {
            Ok(d) if (1..=MAX_DATA_BYTES).contains(&d.len()) => d,
            _ => return fault(StatusCode::WrongDataLength),
        };
        let (Some(id), Ok(runtime)) = (random_id(), tokio::runtime::Handle::try_current()) else {
            return fault(StatusCode::InternalError);
        };
        let tx = {
            let mut book = self.book();
            let key = (ap_id.to_owned(), req.ap_trans_id.clone());
            // Checked before the number, so the answer says nothing about the number.
            if book.ap_trans_ids.contains(&key) {
                return fault(StatusCode::WrongParam);
            }
            let subscriber = match self.subscribers.get(&msisdn) {
                Some(s) if s.chain().is_some() => s,
                _ => return fault(StatusCode::NoKeyFound),
            };
            if book.latest.get(&msisdn).is_some_and(|t| t.is_outstanding()) {
                return fault(StatusCode::PbSignatureProcess);
            }
            let tx = Arc::new(Transaction::new(TxRequest {
                id: id.clone(),
                ap_id: ap_id.to_owned(),
                ap_trans_id: req.ap_trans_id.clone(),
                msisdn: msisdn.clone(),
                data,
                display_text: req.data_to_be_displayed.clone(),
                timeout: Duration::from_secs(req.timeout_s.into()),
            }));
            book.ap_trans_ids.insert(key);
            book.transactions.insert(id.clone(), tx.clone());
            book.latest.insert(msisdn.clone(), tx.clone());
            if matches!(subscriber, Subscriber::Interactive(_))
                && book.cards.get(&msisdn).is_some_and(SimCard::is_blocked)
            {
                tx.complete(Outcome::Fault(StatusCode::PinBlocked));
            }
            let auto = self.automatic_answer(subscriber);
            let book_ref = Arc::downgrade(&self.book);
            let for_retire = tx.clone();
            runtime.spawn(run_timers(tx.clone(), auto, move || {
                if let Some(book) = book_ref.upgrade() {
                    book.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .forget(&for_retire);
                }
            }));
            tx
        };
        tracing::info!(
            ap = %ap_id,
            ap_trans_id = %req.ap_trans_id,
            mssp_trans_id = %id,
            msisdn = %msisdn,
            timeout_s = req.timeout_s,
            outstanding = tx.is_outstanding(),
            "signature request accepted"
        );
        SignatureAccepted {
            mssp_trans_id: Some(id),
            status: Status::of(StatusCode::RequestOk),
        }
    }

    /// The automatic answer of a test number: when, and how it is made.
    fn automatic_answer(&self, subscriber: &Subscriber) -> Option<(Duration, AutoAnswer)> {
        let Subscriber::Automatic {
            number,
            signer,
            presented,
        } = subscriber
        else {
            return None;
        };
        let auto = self.settings.auto_answer;
        match number.behaviour {
            Behaviour::NeverAnswer | Behaviour::NotEnrolled => None,
            Behaviour::Fault(code) => Some((auto, Box::new(move |_| Outcome::Fault(code)))),
            Behaviour::Sign { after, forgery } => {
                let signer = signer.clone()?;
                let presented = presented.clone();
                let delay = match after {
                    Delay::Auto => auto,
                    Delay::Slow => self.settings.slow_answer,
                };
                Some((
                    delay,
                    Box::new(move |tx: &Transaction| {
                        forged_signature(&signer, presented, forgery, &tx.request.data)
                    }),
                ))
            }
        }
    }

    /// `GET /mss/v1/signature/{id}?wait_ms=N` for AP `ap_id`: `None` for an unknown id or
    /// another AP's transaction. Waits up to `wait` for the transaction to end.
    pub async fn status(&self, ap_id: &str, id: &str, wait: Duration) -> Option<SignatureStatus> {
        let tx = self
            .book()
            .transactions
            .get(id)
            .filter(|t| t.request.ap_id == ap_id)
            .cloned()?;
        if tx.is_outstanding() && !wait.is_zero() {
            let mut stopping = self.stopping.subscribe();
            tx.wait(wait, async move {
                let _ = stopping.wait_for(|s| *s).await;
            })
            .await;
        }
        Some(tx.status())
    }

    /// Makes every long poll answer now (at shutdown).
    pub fn stop_waiting(&self) {
        self.stopping.send_replace(true);
    }

    /// `GET /mss/v1/certificate?msisdn=…`. Numbers without a signing SIM and unknown
    /// numbers get the same answer.
    pub fn certificate(&self, msisdn: &str) -> CertificateAnswer {
        let Ok(normalized) = normalize_msisdn(msisdn) else {
            return CertificateAnswer {
                msisdn: msisdn.to_owned(),
                status: Status::of(StatusCode::WrongParam),
                certificate_chain: Vec::new(),
            };
        };
        match self
            .subscribers
            .get(&normalized)
            .and_then(Subscriber::chain)
        {
            Some(chain) => CertificateAnswer {
                msisdn: normalized,
                status: Status::of(StatusCode::RequestOk),
                certificate_chain: chain.to_vec(),
            },
            None => CertificateAnswer {
                msisdn: normalized,
                status: Status::of(StatusCode::NoKeyFound),
                certificate_chain: Vec::new(),
            },
        }
    }

    /// `GET /device/v1/{msisdn}/requests`: the outstanding request on this phone, if any;
    /// `None` when `msisdn` is not a mobile number.
    pub fn pending(&self, msisdn: &str) -> Option<Vec<PendingRequest>> {
        let msisdn = normalize_msisdn(msisdn).ok()?;
        let book = self.book();
        Some(
            book.latest
                .get(&msisdn)
                .filter(|t| t.is_answerable())
                .map(|t| t.pending())
                .into_iter()
                .collect(),
        )
    }

    /// The outstanding request `id` on interactive phone `msisdn`, with its holder.
    fn answerable(&self, msisdn: &str, id: &str) -> Option<(Arc<SimHolder>, Arc<Transaction>)> {
        let msisdn = normalize_msisdn(msisdn).ok()?;
        let Some(Subscriber::Interactive(holder)) = self.subscribers.get(&msisdn) else {
            return None;
        };
        let tx = self
            .book()
            .transactions
            .get(id)
            .filter(|t| t.request.msisdn == msisdn && t.is_answerable())
            .cloned()?;
        Some((holder.clone(), tx))
    }

    /// `POST /device/v1/{msisdn}/requests/{id}/confirm`: the person enters `pin`.
    /// Automatic test numbers answer by themselves and are not answered from here.
    pub fn confirm(&self, msisdn: &str, id: &str, pin: &str) -> DeviceResult {
        let Some((holder, tx)) = self.answerable(msisdn, id) else {
            return DeviceResult::NotFound;
        };
        let checked = {
            let mut book = self.book();
            let card = book
                .cards
                .entry(holder.msisdn.clone())
                .or_insert_with(|| SimCard::new(self.settings.pin.clone()));
            // Re-checked under the lock: a concurrent answer may have ended it.
            if !tx.is_answerable() {
                return DeviceResult::NotFound;
            }
            card.verify_pin(pin)
        };
        let result = match checked {
            Err(PinError::Wrong { tries_left }) => {
                tracing::info!(mssp_trans_id = %tx.request.id, tries_left, "wrong PIN");
                return DeviceResult::PinIncorrect { tries_left };
            }
            Err(PinError::Blocked) => {
                if !tx.complete(Outcome::Fault(StatusCode::PinBlocked)) {
                    return DeviceResult::NotFound;
                }
                DeviceResult::PinBlocked
            }
            Ok(()) => match holder.key.sign(&tx.request.data) {
                Ok(sig) => {
                    let outcome = Outcome::Signed {
                        signature: STANDARD.encode(sig),
                        algorithm: holder.key.algorithm(),
                        chain: holder.chain.clone(),
                    };
                    if !tx.complete(outcome) {
                        return DeviceResult::NotFound;
                    }
                    DeviceResult::Signed
                }
                Err(e) => {
                    tracing::error!(error = %e, "SIM signing failed");
                    tx.complete(Outcome::Fault(StatusCode::InternalError));
                    DeviceResult::DeviceError
                }
            },
        };
        tracing::info!(mssp_trans_id = %tx.request.id, result = result.name(), "phone answered");
        result
    }

    /// `POST /device/v1/{msisdn}/requests/{id}/reject`: the person refuses.
    pub fn reject(&self, msisdn: &str, id: &str) -> DeviceResult {
        let Some((_, tx)) = self.answerable(msisdn, id) else {
            return DeviceResult::NotFound;
        };
        if !tx.complete(Outcome::Fault(StatusCode::UserCancel)) {
            return DeviceResult::NotFound;
        }
        tracing::info!(mssp_trans_id = %tx.request.id, "phone refused");
        DeviceResult::Rejected
    }

    /// The transaction's state, for any AP (tests and diagnostics).
    pub fn transaction_state(&self, id: &str) -> Option<TxState> {
        self.book().transactions.get(id).map(|t| t.state())
    }
}

/// The signature an automatic number returns, forged as its [`Forgery`] says.
fn forged_signature(
    signer: &SimHolder,
    presented: Vec<String>,
    forgery: Forgery,
    data: &[u8],
) -> Outcome {
    let signed = match forgery {
        Forgery::None | Forgery::CertificateOf(_) => signer.key.sign(data),
        Forgery::RandomSignature => {
            let mut bytes = vec![0u8; signer.key.signature_len()];
            SystemRandom::new()
                .fill(&mut bytes)
                .map(|()| bytes)
                .map_err(|_| crate::signer::SignerError("no randomness".into()))
        }
        Forgery::OtherDisplayText => signer.key.sign(&with_other_text(data)),
    };
    match signed {
        Ok(sig) => Outcome::Signed {
            signature: STANDARD.encode(sig),
            algorithm: signer.key.algorithm(),
            chain: presented,
        },
        Err(e) => {
            tracing::error!(error = %e, "automatic signature failed");
            Outcome::Fault(StatusCode::InternalError)
        }
    }
}

/// `data` with its last 32 bytes (the display-text hash of SIM signed data) replaced by
/// SHA-256 of [`OTHER_DISPLAY_TEXT`]; data shorter than 32 bytes is replaced whole.
pub fn with_other_text(data: &[u8]) -> Vec<u8> {
    let keep = data.len().saturating_sub(32);
    let mut out = data[..keep].to_vec();
    out.extend_from_slice(&sha256(OTHER_DISPLAY_TEXT.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_text_replaces_the_display_hash() {
        let data = kyso_proto::mss::sim_signed_data("o", "n", "shown");
        let forged = with_other_text(&data);
        assert_eq!(
            forged,
            kyso_proto::mss::sim_signed_data("o", "n", OTHER_DISPLAY_TEXT)
        );
        assert_eq!(with_other_text(b"abc").len(), 32);
    }

    #[test]
    fn hashes_compare_equal_only_when_equal() {
        let a = sha256(b"a");
        assert!(same_hash(&a, &sha256(b"a")));
        assert!(!same_hash(&a, &sha256(b"b")));
    }
}
