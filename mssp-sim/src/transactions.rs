//! One signature transaction (ETSI `MSSP_TransID`) and its clock.
//!
//! A transaction is outstanding until exactly one of these happens: the person (or an
//! automatic test number) answers, or its deadline passes. Its state lives in a
//! [`tokio::sync::watch`] channel, so long polls wake the moment it changes, and it is
//! changed only through [`Transaction::complete`], which refuses to touch a terminal
//! state: terminal states never change.
//!
//! All deadline logic is here: the deadline is fixed when the transaction is made
//! ([`Transaction::new`]), [`Transaction::is_answerable`] is the only check answers go
//! through, and [`run_timers`] is the only place that expires transactions, fires automatic
//! answers and forgets old transactions.

use kyso_proto::mss::{PendingRequest, SignatureStatus, Status, StatusCode};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::Instant;

/// The longest a status poll waits (`wait_ms` is capped to this).
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// How long a finished transaction can still be polled (and its `ap_trans_id` stays
/// taken) before the simulator forgets it, so memory stays bounded.
pub const RETENTION: Duration = Duration::from_secs(3600);

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `500 SIGNATURE`.
    Signed {
        /// Standard base64 signature.
        signature: String,
        /// JOSE algorithm name.
        algorithm: &'static str,
        /// Standard base64 DER certificates, signer first.
        chain: Vec<String>,
    },
    /// A fault such as `401 USER_CANCEL` or `208 EXPIRED_TRANSACTION`.
    Fault(StatusCode),
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxState {
    /// Waiting for an answer (`504 OUTSTANDING_TRANSACTION`).
    Outstanding,
    /// Finished, for good.
    Done(Outcome),
}

/// What a transaction is about; fixed when the request is accepted.
#[derive(Debug, Clone)]
pub struct TxRequest {
    /// The MSSP's id.
    pub id: String,
    /// The AP that sent it.
    pub ap_id: String,
    /// The AP's own id for it.
    pub ap_trans_id: String,
    /// The phone number, E.164.
    pub msisdn: String,
    /// The bytes to sign.
    pub data: Vec<u8>,
    /// The text to show.
    pub display_text: String,
    /// How long the person has.
    pub timeout: Duration,
}

/// One signature transaction.
#[derive(Debug)]
pub struct Transaction {
    /// What was asked.
    pub request: TxRequest,
    /// The code the phone computes from the data ([`phone_verification_code`]).
    pub verification_code: String,
    /// Unix seconds of the deadline, as the phone shows it.
    pub expires_at: i64,
    deadline: Instant,
    state: watch::Sender<TxState>,
}

/// The verification code a phone shows for `data`: the Mobile-ID formula on the
/// origin-and-nonce part when `data` is the 96-byte SIM signed data, else the formula on
/// the whole data (a phone cannot know what other data means).
pub fn phone_verification_code(data: &[u8]) -> String {
    kyso_proto::mss::verification_code_of_signed_data(data)
        .unwrap_or_else(|| kyso_proto::mss::verification_code(data))
}

impl Transaction {
    /// A new outstanding transaction whose deadline is `request.timeout` from now.
    pub fn new(request: TxRequest) -> Self {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let expires_at = i64::try_from((unix_now + request.timeout).as_secs()).unwrap_or(i64::MAX);
        Self {
            verification_code: phone_verification_code(&request.data),
            deadline: Instant::now() + request.timeout,
            expires_at,
            request,
            state: watch::Sender::new(TxState::Outstanding),
        }
    }

    /// The current state.
    pub fn state(&self) -> TxState {
        self.state.borrow().clone()
    }

    /// Whether nobody has answered yet (the deadline may have passed a moment ago).
    pub fn is_outstanding(&self) -> bool {
        matches!(*self.state.borrow(), TxState::Outstanding)
    }

    /// Whether an answer may still be given: outstanding and before the deadline.
    pub fn is_answerable(&self) -> bool {
        self.is_outstanding() && Instant::now() < self.deadline
    }

    /// Ends the transaction with `outcome`, unless it has already ended. Returns whether
    /// this call ended it.
    pub fn complete(&self, outcome: Outcome) -> bool {
        self.state.send_if_modified(|state| {
            if matches!(state, TxState::Outstanding) {
                *state = TxState::Done(outcome);
                true
            } else {
                false
            }
        })
    }

    /// Waits up to `max` (capped at [`MAX_WAIT`]) for the transaction to end, or until
    /// `stop` resolves, then returns the state.
    pub async fn wait(&self, max: Duration, stop: impl Future<Output = ()>) -> TxState {
        let mut rx = self.state.subscribe();
        let ended = async {
            let _ = rx.wait_for(|s| !matches!(s, TxState::Outstanding)).await;
        };
        tokio::select! {
            _ = tokio::time::timeout(max.min(MAX_WAIT), ended) => {}
            () = stop => {}
        }
        self.state()
    }

    /// The AP's view.
    pub fn status(&self) -> SignatureStatus {
        let mut status = SignatureStatus {
            mssp_trans_id: self.request.id.clone(),
            ap_trans_id: self.request.ap_trans_id.clone(),
            status: Status::of(StatusCode::OutstandingTransaction),
            signature: None,
            algorithm: None,
            certificate_chain: Vec::new(),
        };
        match self.state() {
            TxState::Outstanding => {}
            TxState::Done(Outcome::Fault(code)) => status.status = Status::of(code),
            TxState::Done(Outcome::Signed {
                signature,
                algorithm,
                chain,
            }) => {
                status.status = Status::of(StatusCode::Signature);
                status.signature = Some(signature);
                status.algorithm = Some(algorithm.to_owned());
                status.certificate_chain = chain;
            }
        }
        status
    }

    /// The phone's view.
    pub fn pending(&self) -> PendingRequest {
        PendingRequest {
            id: self.request.id.clone(),
            display_text: self.request.display_text.clone(),
            verification_code: self.verification_code.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// The clock of one transaction, run as its own task: expires it at its deadline, or
/// first gives the automatic answer `auto` (after its delay), whichever comes first,
/// unless someone answers before; then keeps the finished transaction for [`RETENTION`]
/// and calls `retire` so the simulator forgets it.
pub async fn run_timers<A>(
    tx: Arc<Transaction>,
    auto: Option<(Duration, A)>,
    retire: impl FnOnce() + Send,
) where
    A: FnOnce(&Transaction) -> Outcome + Send,
{
    let mut rx = tx.state.subscribe();
    let answered = async {
        match auto {
            Some((after, answer)) => {
                tokio::time::sleep(after).await;
                answer(&tx)
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep_until(tx.deadline) => {
            tx.complete(Outcome::Fault(StatusCode::ExpiredTransaction));
        }
        outcome = answered => {
            tx.complete(outcome);
        }
        _ = rx.wait_for(|s| !matches!(s, TxState::Outstanding)) => {}
    }
    tokio::time::sleep(RETENTION).await;
    retire();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(timeout: Duration) -> Arc<Transaction> {
        Arc::new(Transaction::new(TxRequest {
            id: "t1".into(),
            ap_id: "ap".into(),
            ap_trans_id: "a1".into(),
            msisdn: "+84912000001".into(),
            data: kyso_proto::mss::sim_signed_data("o", "n", "t"),
            display_text: "t".into(),
            timeout,
        }))
    }

    #[test]
    fn terminal_states_never_change() {
        let t = tx(Duration::from_secs(60));
        assert!(t.is_answerable());
        assert_eq!(t.status().status.code, 504);
        assert!(t.complete(Outcome::Fault(StatusCode::UserCancel)));
        assert!(!t.complete(Outcome::Fault(StatusCode::ExpiredTransaction)));
        assert_eq!(
            t.state(),
            TxState::Done(Outcome::Fault(StatusCode::UserCancel))
        );
        assert_eq!(t.status().status.code, 401);
        assert!(!t.is_answerable());
    }

    #[test]
    fn the_phone_code_is_the_proto_code() {
        let data = kyso_proto::mss::sim_signed_data("o", "n", "another text");
        assert_eq!(
            tx(Duration::from_secs(1)).verification_code,
            kyso_proto::mss::verification_code_of_signed_data(&data).unwrap()
        );
        assert_eq!(
            phone_verification_code(b"short"),
            kyso_proto::mss::verification_code(b"short")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn expires_at_the_deadline_and_wakes_waiters() {
        let t = tx(Duration::from_secs(2));
        let retired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = retired.clone();
        tokio::spawn(run_timers(
            t.clone(),
            None::<(Duration, fn(&Transaction) -> Outcome)>,
            move || r.store(true, std::sync::atomic::Ordering::SeqCst),
        ));
        let state = t
            .wait(Duration::from_secs(30), std::future::pending())
            .await;
        assert_eq!(
            state,
            TxState::Done(Outcome::Fault(StatusCode::ExpiredTransaction))
        );
        assert!(!retired.load(std::sync::atomic::Ordering::SeqCst));
        tokio::time::sleep(RETENTION + Duration::from_secs(1)).await;
        assert!(retired.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn an_automatic_answer_before_the_deadline_wins() {
        let t = tx(Duration::from_secs(10));
        tokio::spawn(run_timers(
            t.clone(),
            Some((Duration::from_secs(1), |_: &Transaction| {
                Outcome::Fault(StatusCode::OtaError)
            })),
            || {},
        ));
        let state = t
            .wait(Duration::from_secs(30), std::future::pending())
            .await;
        assert_eq!(state, TxState::Done(Outcome::Fault(StatusCode::OtaError)));
        // A slower automatic answer loses to the deadline.
        let t = tx(Duration::from_secs(1));
        tokio::spawn(run_timers(
            t.clone(),
            Some((Duration::from_secs(5), |_: &Transaction| {
                Outcome::Fault(StatusCode::OtaError)
            })),
            || {},
        ));
        let state = t
            .wait(Duration::from_secs(30), std::future::pending())
            .await;
        assert_eq!(
            state,
            TxState::Done(Outcome::Fault(StatusCode::ExpiredTransaction))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_returns_outstanding_when_nothing_happens() {
        let t = tx(Duration::from_secs(100));
        let state = t
            .wait(Duration::from_millis(200), std::future::pending())
            .await;
        assert_eq!(state, TxState::Outstanding);
        let state = t.wait(Duration::from_secs(60), async {}).await;
        assert_eq!(state, TxState::Outstanding);
    }
}
