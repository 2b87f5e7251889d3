//! The signing-SIM use cases, with no HTTP in them.
//!
//! 1. [`SimService::start`]: normalise the number, apply the per-number limits (per
//!    requesting network, and in all), make the nonce, the display text (configured
//!    prefix, the action, the verification code) and the signed data `SHA256(origin) || SHA256(nonce) || SHA256(display_text)`; store the
//!    session (the database refuses a second pending one for the number: `BUSY`); push
//!    the request to the operator; poll in the background.
//! 2. The poller long-polls the operator until a signature or a fault, or until the hard
//!    expiry; a signature is judged ([`SimService::judge`]): the signature over the data
//!    *the gateway* computed, with the key of the certificate that came back, then that
//!    certificate through the token policy (leaf, path, revocation) and the identity rules.
//!    Only then is the identity trusted; anything else is `VERIFICATION_FAILED`.
//! 3. [`SimService::view`]: the browser reads the result, waiting up to `wait` seconds.
//!    A registration yields the same preview and ticket as a token; a login's session
//!    token is made at the first read and never stored.
//!
//! Sessions live in the store, so a restart loses no pending session, and each is polled
//! by one instance: the one that holds it in the store, renewing its hold as it polls
//! ([`SimSettings::hold`]). Every instance claims, at start and every quarter of a hold
//! ([`SimService::claim`]), the sessions nobody holds — those of an instance that
//! stopped (it releases its holds) or died (its holds lapse) — and polls them.
//! (On SQLite a completed registration's ticket lives in memory: after a restart its read is
//! `TICKET_NOT_FOUND`, start again.) A signature that cannot be judged for now is
//! judged again every second: for ten seconds when a revocation responder is down,
//! until 15 s before the hard expiry when the store is; a result that cannot be
//! written is written again until the hard expiry.
//!
//! "Not enrolled" and "no such number" are the same
//! result with the same message, so the API does not tell which numbers exist. It does
//! show, at the first read, whether a number has a signing SIM (the operator refuses one
//! without at once; one with it stays pending and the phone rings): the operator's push
//! tells the same to anyone who tries. Whether a number has an account is never shown.

use super::mssp::{MssError, MssRequest, MssSignature, MssStatus, Mssp};
use super::waiters::Waiters;
use crate::domain::account::bearer_hash;
use crate::domain::network::network_of;
use crate::domain::registration::Method;
use crate::domain::{
    CertificateRecord, Evidence, Login, Preview, Purpose, Registration, SessionIssued, SimOutcome,
    SimResult, SimSession, Ticket,
};
use crate::service::{Gateway, MAX_EXTRA_INTERMEDIATES, store_failed};
use crate::store::{StartSimError, StoreError};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kyso_proto::mss::{sim_signed_data, verification_code};
use kyso_proto::webeid::SignatureAlgorithm;
use kyso_verify::certificate::CertificateFacts;
use kyso_verify::error::{ErrorCode, Rejection};
use kyso_verify::identity::{Subject, SubjectType, extract_subject};
use kyso_verify::webeid::check_signature;
use std::net::IpAddr;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::Instrument;

/// The longest a browser's read waits for a result.
pub const MAX_VIEW_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A session without the operator's transaction id younger than this may still be
/// being pushed by another instance.
const PUSH_GRACE: time::Duration = time::Duration::minutes(1);

/// Consecutive unreachable-operator polls before a session ends `PROVIDER_ERROR`.
const UNREACHABLE_TRIES: u32 = 3;

/// The pause before a signature that could not be judged for now (the store or a
/// revocation responder briefly unavailable) is judged again, and before a result that
/// could not be written is written again.
const AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a signature is judged again while its verdict is that a revocation
/// responder is unavailable: long enough for a blip, short enough that the person
/// learns of an outage (`REVOCATION_UNAVAILABLE`, start again shortly) while the page
/// still waits. A verdict the gateway's own store stood in the way of is judged again
/// until [`LAST_JUDGEMENT_BEFORE_EXPIRY`]: the result could not be written before it
/// recovers anyway, and a written `STORAGE_UNAVAILABLE` would be polled for ever.
const JUDGE_AGAIN_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// No judgement is made again this close to the hard expiry, where a reader would end
/// the session `EXPIRED` first.
const LAST_JUDGEMENT_BEFORE_EXPIRY: time::Duration = time::Duration::seconds(15);

/// Configuration of the SIM flow.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// The relying party's name, first on the phone's screen.
    pub display_prefix: String,
    /// How long the person has to answer (the operator's request timeout).
    pub answer_timeout: time::Duration,
    /// The gateway stops waiting for the operator after this long.
    pub hard_expiry: time::Duration,
    /// How long one status poll waits at the operator.
    pub poll_wait: std::time::Duration,
    /// How long an instance's hold on a session it polls lasts unless renewed: another
    /// instance takes the session over this long after the poller's last sign of life.
    /// More than one poll and its call's timeout, so a live poller renews in time.
    pub hold: time::Duration,
    /// Sessions a number may be sent per window from one network.
    pub starts_per_number: u32,
    /// Sessions a number may be sent per window from everywhere together.
    pub starts_per_number_total: u32,
    /// The window of that limit.
    pub per_number_window: time::Duration,
}

/// A started session: what the browser shows while the person answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimStarted {
    /// Id to read the result with.
    pub session_id: String,
    /// The code the phone shows too.
    pub verification_code: String,
    /// The person must answer by then.
    pub expires_at: OffsetDateTime,
}

/// What the browser reads of a session that has not failed.
#[derive(Debug, Clone)]
pub enum SimView {
    /// Waiting for the person.
    Pending(SimStarted),
    /// Registration proven: confirm with the preview's ticket.
    Registered {
        /// The session.
        session_id: String,
        /// The preview.
        preview: Box<Preview>,
    },
    /// Login proven: the session.
    LoggedIn {
        /// The session.
        session_id: String,
        /// The login.
        session: Box<SessionIssued>,
    },
}

/// The SIM flow over the gateway's core and an operator.
pub struct SimService {
    gateway: Arc<Gateway>,
    mssp: Arc<dyn Mssp>,
    settings: SimSettings,
    /// Bumped at every completion; readers waiting on a result wake up and look again.
    completions: watch::Sender<u64>,
    /// The reads waiting on each session.
    waiters: Waiters,
    /// Who this instance is to the store, as the holder of the sessions it polls: random
    /// per process, so a restarted one takes its old sessions over like anyone else's.
    poller: String,
    /// The sessions this instance polls, released when it stops.
    polling: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Set when the instance stops: it claims and renews nothing more, so the holds it
    /// releases stay released.
    stopping: std::sync::atomic::AtomicBool,
}

/// The hold of an instance on a session it polls ([`SimSettings::hold`]): three calls'
/// worth (a long poll and its timeout each) and five seconds (the store keeps whole
/// seconds; a retry pauses a second). A poller renews it after each third, i.e. about
/// once a call, so a call can run late or be spent judging a signature before another
/// instance takes the session over.
pub fn hold_for(poll_wait_seconds: u32, http_timeout_seconds: u32) -> time::Duration {
    let call = i64::from(poll_wait_seconds) + i64::from(http_timeout_seconds);
    time::Duration::seconds(3 * call + 5)
}

/// Sessions taken over by one claim at most; the next claim takes more.
const CLAIM_AT_ONCE: u32 = 100;

/// A session this instance polls, in [`SimService::polling`] while the guard lives.
struct Polling<'a> {
    service: &'a SimService,
    id: String,
}

impl<'a> Polling<'a> {
    fn start(service: &'a SimService, id: &str) -> Self {
        service.polled().insert(id.to_owned());
        Self {
            service,
            id: id.to_owned(),
        }
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.service.polled().remove(&self.id);
    }
}

/// How often an instance claims the sessions nobody holds: four times per hold.
fn claim_interval(hold: time::Duration) -> std::time::Duration {
    std::time::Duration::try_from(hold / 4)
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1))
}

/// A short, one-way tag of a session for logs, from the hash the store knows it by (the
/// id the browser holds is a bearer secret and never reaches the gateway's logs or
/// database); short, so log lines cannot be matched against database rows wholesale.
fn tag(id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes());
    hex::encode(&digest.as_ref()[..6])
}

/// The last three digits only, for logs.
fn masked(msisdn: &str) -> String {
    let tail: String = msisdn
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn refused(r: &Rejection) -> SimOutcome {
    SimOutcome::Refused {
        code: r.code,
        detail: r.detail.clone(),
    }
}

/// A judged signature: the result, what it produced, and the ticket to store with it.
type Judgement = (SimResult, Option<SimOutcome>, Option<Ticket>);

impl SimService {
    /// The flow over `gateway` (store, policy, clock, origin) and `mssp`.
    pub fn new(gateway: Arc<Gateway>, mssp: Arc<dyn Mssp>, settings: SimSettings) -> Self {
        Self {
            gateway,
            mssp,
            settings,
            completions: watch::Sender::new(0),
            waiters: Waiters::default(),
            poller: crate::entropy::unique_label(),
            polling: std::sync::Mutex::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.gateway.clock().now()
    }

    /// The sessions this instance polls (a set no code path leaves half-changed, so a
    /// poisoned lock is still sound).
    fn polled(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.polling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session for a client at `requester`: validates the number, applies the
    /// limits, stores the session, pushes the request and polls in the background.
    pub async fn start(
        self: &Arc<Self>,
        purpose: Purpose,
        phone: &str,
        subject_type: Option<SubjectType>,
        requester: IpAddr,
    ) -> Result<SimStarted, Rejection> {
        let msisdn = kyso_proto::phone::normalize_msisdn(phone)
            .map_err(|e| Rejection::new(ErrorCode::InvalidPhone, e.to_string()))?;
        let store = self.gateway.store();
        let now = self.now();
        let requester = network_of(requester);
        let started = store
            .sim_starts_since(&msisdn, &requester, now - self.settings.per_number_window)
            .await
            .map_err(store_failed)?;
        // Counted per network, so strangers on one network cannot use up the owner's starts;
        // and in all, so the phone is not flooded from many networks.
        if started.from_requester >= u64::from(self.settings.starts_per_number)
            || started.all >= u64::from(self.settings.starts_per_number_total)
        {
            return Err(Rejection::new(
                ErrorCode::RateLimited,
                "too many signing requests to this number; try again later",
            ));
        }
        let origin = self.gateway.settings().origin.clone();
        let nonce = self.gateway.random(32, &STANDARD)?;
        let prefix = sim_signed_data(&origin, &nonce, "");
        let code = verification_code(&prefix[..64]);
        let action = match purpose {
            Purpose::Register => "Đăng ký tài khoản",
            Purpose::Login => "Đăng nhập",
        };
        let display_text = format!(
            "{}: {action}. Mã xác nhận {code}",
            self.settings.display_prefix
        );
        let bearer = self.gateway.random(16, &URL_SAFE_NO_PAD)?;
        let session = SimSession {
            id: bearer_hash(&bearer),
            purpose,
            msisdn,
            requester,
            subject_type,
            origin,
            nonce,
            display_text,
            verification_code: code,
            ap_trans_id: self.gateway.random(16, &URL_SAFE_NO_PAD)?,
            mssp_trans_id: None,
            created_at: now,
            answer_by: now + self.settings.answer_timeout,
            expires_at: now + self.settings.hard_expiry,
            completed_at: None,
            result: None,
            outcome: None,
        };
        // Stored and pushed in a task of its own: if the browser hangs up, the request
        // still reaches the operator (or the session ends) instead of staying pending
        // with nobody polling — also when it hangs up just after the session is stored.
        let this = self.clone();
        let stored_and_pushed = tokio::spawn({
            let session = session.clone();
            async move {
                this.gateway
                    .store()
                    .start_sim_session(&session, now)
                    .await
                    .map_err(|e| match e {
                        StartSimError::Busy => Rejection::new(
                            ErrorCode::Busy,
                            "another signing request is waiting on this phone",
                        ),
                        StartSimError::Store(e) => store_failed(e),
                    })?;
                tracing::info!(session = %tag(&session.id), number = %masked(&session.msisdn), purpose = purpose.as_str(), "SIM session started");
                // Held from the start, so that no other instance takes it over while it is
                // pushed, nor before its poller's first renewal: a hold outlasts any push.
                // Taken even while this instance stops (unlike a renewal, see `hold`): a
                // session let go before its push would be claimed by an instance that
                // cannot poll it yet; its poller hands it on once the push is done.
                let held_until = now + this.settings.hold;
                if let Err(e) = this
                    .gateway
                    .store()
                    .hold_sim_session(&session.id, &this.poller, held_until)
                    .await
                {
                    // Then never held: left to this instance for the push grace.
                    tracing::warn!(session = %tag(&session.id), error = %e, "could not hold a new SIM session");
                }
                this.push(session, held_until).await;
                Ok::<_, Rejection>(())
            }
            // Its log lines keep the request's id.
            .in_current_span()
        });
        stored_and_pushed.await.map_err(|e| {
            // A panic's message stays in the log: it is no one else's business.
            tracing::error!(error = %e, "the signing request's task ended without an answer");
            Rejection::new(
                ErrorCode::StorageUnavailable,
                "the signing request ended without an answer",
            )
        })??;
        Ok(SimStarted {
            session_id: bearer,
            verification_code: session.verification_code,
            expires_at: session.answer_by,
        })
    }

    /// Sends the request to the operator; on acceptance, polls in the background.
    async fn push(self: &Arc<Self>, mut session: SimSession, held_until: OffsetDateTime) {
        let request = MssRequest {
            ap_trans_id: session.ap_trans_id.clone(),
            msisdn: session.msisdn.clone(),
            data_to_be_signed: session.signed_data(),
            display_text: session.display_text.clone(),
            timeout: std::time::Duration::try_from(self.settings.answer_timeout)
                .unwrap_or(std::time::Duration::from_secs(120)),
        };
        let asked = std::time::Instant::now();
        let pushed = self.mssp.request_signature(&request).await;
        crate::metrics::mssp_call(
            "request",
            match &pushed {
                Ok(Ok(_)) => "accepted",
                Ok(Err(_)) => "refused",
                Err(MssError::Unreachable(_)) => "unreachable",
                Err(MssError::Garbled(_)) => "garbled",
            },
            asked.elapsed(),
        );
        match pushed {
            Ok(Ok(trans_id)) => {
                if let Err(e) = self
                    .gateway
                    .store()
                    .set_mssp_trans_id(&session.id, &trans_id)
                    .await
                {
                    tracing::error!(session = %tag(&session.id), error = %e, "could not record the operator's transaction id");
                }
                session.mssp_trans_id = Some(trans_id.clone());
                let this = self.clone();
                tokio::spawn(async move { this.poll(session, trans_id, held_until).await });
            }
            Ok(Err(result)) => self.complete(&session.id, (result, None, None)).await,
            Err(e) => {
                tracing::warn!(session = %tag(&session.id), error = %e, "the operator did not take the request");
                let r = Rejection::new(ErrorCode::ProviderError, e.public_detail());
                self.complete(
                    &session.id,
                    (SimResult::ProviderError, Some(refused(&r)), None),
                )
                .await;
            }
        }
    }

    /// Takes over the sessions nobody holds and polls them, all of them however many
    /// batches it takes; how many it took. A session whose request never reached the
    /// operator ends `PROVIDER_ERROR`.
    pub async fn claim(self: &Arc<Self>) -> Result<usize, Rejection> {
        let mut taken = 0;
        loop {
            let batch = self.claim_batch().await?;
            taken += batch;
            if batch < CLAIM_AT_ONCE as usize {
                return Ok(taken);
            }
        }
    }

    /// One claim of at most [`CLAIM_AT_ONCE`] sessions; how many the store gave.
    async fn claim_batch(self: &Arc<Self>) -> Result<usize, Rejection> {
        if self.is_stopping() {
            return Ok(0);
        }
        let now = self.now();
        let claimed = self
            .gateway
            .store()
            .claim_sim_sessions(
                &self.poller,
                now,
                now + self.settings.hold,
                now - PUSH_GRACE,
                CLAIM_AT_ONCE,
            )
            .await
            .map_err(store_failed)?;
        let n = claimed.len();
        if self.is_stopping() {
            // Stopped while claiming: handed on at once, like the rest.
            let ids: Vec<String> = claimed.into_iter().map(|s| s.id).collect();
            self.let_go(&ids).await;
            return Ok(0);
        }
        let held_until = now + self.settings.hold;
        // A session whose hold lapsed while this instance judged its signature is this
        // instance's again; its poller goes on, and is not doubled.
        let already: Vec<bool> = {
            let polled = self.polled();
            claimed.iter().map(|s| polled.contains(&s.id)).collect()
        };
        for (session, already) in claimed.into_iter().zip(already) {
            if already {
                continue;
            }
            tracing::info!(session = %tag(&session.id), "SIM session taken over");
            match session.mssp_trans_id.clone() {
                Some(trans_id) => {
                    let this = self.clone();
                    tokio::spawn(async move { this.poll(session, trans_id, held_until).await });
                }
                // Claimed within the push grace (only after a clock step: a session never
                // held is claimable a grace after its start): ended once no instance can
                // still be pushing it.
                None if now - session.created_at < PUSH_GRACE => {
                    let this = self.clone();
                    tokio::spawn(async move { this.end_unpushed(&session).await });
                }
                None => self.end_unpushed(&session).await,
            }
        }
        Ok(n)
    }

    /// Claims the sessions nobody holds ([`Self::claim`]) every quarter of a hold, from
    /// a quarter hold on (the start-up claim comes first), for as long as the service runs.
    pub async fn keep_claiming(self: Arc<Self>) {
        let every = claim_interval(self.settings.hold);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.claim().await {
                tracing::warn!(
                    code = e.code.as_str(),
                    "claiming unpolled SIM sessions failed; trying again"
                );
            }
        }
    }

    /// Lets go of the sessions this instance polls (it is stopping), so that another
    /// instance's next claim takes them over without waiting for their holds to lapse.
    pub async fn release(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let ids: Vec<String> = self.polled().iter().cloned().collect();
        self.let_go(&ids).await;
    }

    /// Releases this instance's holds on `ids`, if any.
    async fn let_go(&self, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let store = self.gateway.store();
        match store
            .release_sim_sessions(ids, &self.poller, self.now())
            .await
        {
            Ok(()) => tracing::info!(
                released = ids.len(),
                "SIM sessions released to other instances"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "SIM sessions not released; their holds lapse instead")
            }
        }
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Renews this instance's hold on `session` once a third of it is gone; `false` when
    /// the session is no longer this instance's to poll (complete, taken over, or the
    /// instance is stopping).
    async fn hold(&self, session: &SimSession, held_until: &mut OffsetDateTime) -> bool {
        if self.is_stopping() {
            // A poller the stop's own release did not see yet (just claimed or pushed).
            self.let_go(std::slice::from_ref(&session.id)).await;
            return false;
        }
        let now = self.now();
        if *held_until - now > self.settings.hold - self.settings.hold / 3 {
            return true;
        }
        let until = now + self.settings.hold;
        match self
            .gateway
            .store()
            .hold_sim_session(&session.id, &self.poller, until)
            .await
        {
            // Renewed as the instance began to stop: handed on at once after all.
            Ok(true) if self.is_stopping() => {
                self.let_go(std::slice::from_ref(&session.id)).await;
                false
            }
            Ok(true) => {
                *held_until = until;
                true
            }
            Ok(false) => false,
            // Polling goes on: at worst the hold lapses and a second instance polls too,
            // and the first result written stays.
            Err(e) => {
                tracing::warn!(session = %tag(&session.id), error = %e, "could not renew the hold on a SIM session");
                true
            }
        }
    }

    /// Ends `session`, which no operator had taken when this instance claimed it,
    /// `PROVIDER_ERROR` once no instance can still be pushing it ([`PUSH_GRACE`] after
    /// its start; storing it takes at most the store's own timeouts, 5–10 s, and the push
    /// at most `http_timeout_seconds`, bounded at 30 s, so a push still under way then
    /// would be some 20 s past every bound) — unless by then it was pushed or has ended. Without this, the number would answer
    /// BUSY until the hard expiry for a request the phone never received.
    async fn end_unpushed(&self, session: &SimSession) {
        while self.now() < session.created_at + PUSH_GRACE {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        match self.gateway.store().sim_session(&session.id).await {
            Ok(Some(s)) if s.result.is_none() && s.mssp_trans_id.is_none() => {
                let r = Rejection::new(
                    ErrorCode::ProviderError,
                    "the gateway stopped before the operator took the request",
                );
                self.complete(
                    &session.id,
                    (SimResult::ProviderError, Some(refused(&r)), None),
                )
                .await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(session = %tag(&session.id), error = %e, "an unpushed SIM session could not be read; its hard expiry ends it");
            }
        }
    }

    /// Long-polls the operator until the session has a result or its hard expiry passes,
    /// or until it is no longer this instance's to poll; holds it meanwhile, from
    /// `held_until` on.
    async fn poll(
        self: Arc<Self>,
        session: SimSession,
        trans_id: String,
        mut held_until: OffsetDateTime,
    ) {
        let _polling = Polling::start(&self, &session.id);
        let mut unreachable = 0;
        loop {
            if !self.hold(&session, &mut held_until).await {
                tracing::info!(session = %tag(&session.id), "SIM session complete, taken over, or released as the instance stops; no longer polled here");
                return;
            }
            let now = self.now();
            if now >= session.expires_at {
                self.complete(&session.id, (SimResult::Expired, None, None))
                    .await;
                return;
            }
            let left = std::time::Duration::try_from(session.expires_at - now).unwrap_or_default();
            let wait = self.settings.poll_wait.min(left);
            let asked = tokio::time::Instant::now();
            let answer = self.mssp.status(&trans_id, wait).await;
            crate::metrics::mssp_call(
                "status",
                match &answer {
                    Ok(MssStatus::Outstanding) => "outstanding",
                    Ok(MssStatus::Signed(_)) => "signed",
                    Ok(MssStatus::Failed(_)) => "failed",
                    Err(MssError::Unreachable(_)) => "unreachable",
                    Err(MssError::Garbled(_)) => "garbled",
                },
                asked.elapsed(),
            );
            let judgement = match answer {
                Ok(MssStatus::Outstanding) => {
                    unreachable = 0;
                    // An operator that answers at once is not asked again at once.
                    tokio::time::sleep_until(asked + wait.min(std::time::Duration::from_secs(1)))
                        .await;
                    continue;
                }
                Ok(MssStatus::Signed(signature)) => {
                    self.judge_until_final(&session, &signature, &mut held_until)
                        .await
                }
                Ok(MssStatus::Failed(result)) => (result, None, None),
                Err(MssError::Unreachable(e)) if unreachable + 1 < UNREACHABLE_TRIES => {
                    unreachable += 1;
                    tracing::warn!(session = %tag(&session.id), error = %e, "the operator is unreachable; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(session = %tag(&session.id), error = %e, "unusable answer from the operator");
                    let r = Rejection::new(ErrorCode::ProviderError, e.public_detail());
                    (SimResult::ProviderError, Some(refused(&r)), None)
                }
            };
            self.complete_until_expiry(&session, judgement, &mut held_until)
                .await;
            return;
        }
    }

    /// Judges `signed` again, after a pause, while the verdict is only that something
    /// it needs is briefly unavailable (a 503): a revocation responder for
    /// [`JUDGE_AGAIN_FOR`], the store or anything else until
    /// [`LAST_JUDGEMENT_BEFORE_EXPIRY`]. A good signature is not thrown away for a
    /// moment's failure.
    async fn judge_until_final(
        &self,
        session: &SimSession,
        signed: &MssSignature,
        held_until: &mut OffsetDateTime,
    ) -> Judgement {
        let first = tokio::time::Instant::now();
        loop {
            // Still this instance's while it judges; should another have taken it over
            // meanwhile, the first result written stays.
            self.hold(session, held_until).await;
            let judgement = self.judge(session, signed).await;
            let unavailable = match &judgement.1 {
                Some(SimOutcome::Refused { code, .. }) if code.status() == 503 => Some(*code),
                _ => None,
            };
            let before_expiry = self.now() + LAST_JUDGEMENT_BEFORE_EXPIRY < session.expires_at;
            match unavailable {
                None => return judgement,
                Some(ErrorCode::RevocationUnavailable)
                    if !before_expiry || first.elapsed() + AGAIN_AFTER >= JUDGE_AGAIN_FOR =>
                {
                    return judgement;
                }
                // The store never came back in the session's time: it ran out, as a
                // reader would end it, not a lasting 503 the page would poll.
                Some(_) if !before_expiry => return (SimResult::Expired, None, None),
                Some(_) => {}
            }
            tracing::warn!(session = %tag(&session.id), "the signature cannot be judged for now; judging it again");
            tokio::time::sleep(AGAIN_AFTER).await;
        }
    }

    /// [`Self::complete`], written again after a pause until the hard expiry while the
    /// store refuses: the phone's answer is not lost to a moment's failure (after the
    /// expiry a reader ends the session).
    async fn complete_until_expiry(
        &self,
        session: &SimSession,
        judgement: Judgement,
        held_until: &mut OffsetDateTime,
    ) {
        loop {
            self.hold(session, held_until).await;
            match self.try_complete(&session.id, judgement.clone()).await {
                Ok(()) => return,
                Err(e) if self.now() < session.expires_at => {
                    tracing::warn!(session = %tag(&session.id), error = %e, "could not store a SIM result; trying again");
                    tokio::time::sleep(AGAIN_AFTER).await;
                }
                Err(e) => {
                    tracing::error!(session = %tag(&session.id), error = %e, "could not store a SIM result");
                    return;
                }
            }
        }
    }

    /// Writes the result (once) and wakes the readers. For the background tasks, which
    /// have nobody to tell: a failure is logged, and the session ends when a reader
    /// meets its hard expiry.
    async fn complete(&self, id: &str, judgement: Judgement) {
        if let Err(e) = self.try_complete(id, judgement).await {
            tracing::error!(session = %tag(id), error = %e, "could not store a SIM result");
        }
    }

    /// Writes the result (once) and wakes the readers; whether it could be written.
    async fn try_complete(
        &self,
        id: &str,
        (result, outcome, ticket): Judgement,
    ) -> Result<(), StoreError> {
        let stored = self
            .gateway
            .store()
            .complete_sim_session(id, result, outcome.as_ref(), ticket.as_ref(), self.now())
            .await;
        if let Ok(true) = stored {
            crate::metrics::sim_session(result.as_str());
            tracing::info!(session = %tag(id), result = result.as_str(), "SIM session complete");
        }
        self.completions.send_modify(|n| *n = n.wrapping_add(1));
        stored.map(|_| ())
    }

    /// Judges a returned signature; see the module docs.
    pub async fn judge(&self, session: &SimSession, signed: &MssSignature) -> Judgement {
        let (certificate, evidence, subject, der) = match self.verify(session, signed).await {
            Ok(v) => v,
            Err(r) => {
                // The code only: a detail can name the person (the CCCD or MST read).
                tracing::info!(session = %tag(&session.id), code = r.code.as_str(), "SIM signature refused");
                return (SimResult::VerificationFailed, Some(refused(&r)), None);
            }
        };
        let ok = |outcome: Result<(SimOutcome, Option<Ticket>), Rejection>| match outcome {
            Ok((outcome, ticket)) => (SimResult::Ok, Some(outcome), ticket),
            Err(r) => (SimResult::Ok, Some(refused(&r)), None),
        };
        match session.purpose {
            Purpose::Register => ok(async {
                self.gateway
                    .check_new_identity(&subject, session.subject_type)
                    .await?;
                // Under the session's own hash: the id the browser polls with is the
                // ticket it confirms with.
                let ticket = self.gateway.new_ticket(
                    session.id.clone(),
                    subject.clone(),
                    certificate,
                    evidence,
                );
                let outcome = SimOutcome::Registered(Box::new(Registration {
                    subject,
                    certificate: der,
                    ticket_expires_at: ticket.expires_at,
                }));
                Ok((outcome, Some(ticket)))
            }
            .await),
            Purpose::Login => ok(async {
                let account = self.gateway.account_of(&subject).await?;
                let outcome = SimOutcome::LoggedIn(Box::new(Login {
                    account_id: account.id,
                    certificate,
                    evidence,
                }));
                Ok((outcome, None))
            }
            .await),
        }
    }

    /// The signature over the data the gateway computed, under the returned certificate's
    /// key; that certificate through the policy; its identity.
    async fn verify(
        &self,
        session: &SimSession,
        signed: &MssSignature,
    ) -> Result<(CertificateRecord, Evidence, Subject, Vec<u8>), Rejection> {
        let malformed = |d: &str| Rejection::new(ErrorCode::MalformedToken, d);
        let (leaf_der, extra) = signed
            .certificate_chain
            .split_first()
            .ok_or_else(|| malformed("no certificate came back"))?;
        // The same bound as a token's travelling intermediates: path building is the
        // costly step, and the operator's answer is not to be trusted with its size.
        if extra.len() > MAX_EXTRA_INTERMEDIATES {
            return Err(malformed(&format!(
                "at most {MAX_EXTRA_INTERMEDIATES} intermediates may come back with the certificate"
            )));
        }
        let (rest, cert) = x509_parser::parse_x509_certificate(leaf_der)
            .map_err(|e| malformed(&format!("the returned certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(malformed("the returned certificate has trailing bytes"));
        }
        let policy = self.gateway.policy();
        let key = policy.check_leaf(&cert)?;
        let algorithm = SignatureAlgorithm::from_name(&signed.algorithm)
            .map_err(|e| Rejection::new(ErrorCode::UnsupportedAlgorithm, e.to_string()))?;
        let data = session.signed_data();
        check_signature(
            algorithm,
            key,
            &cert.public_key().subject_public_key.data,
            &data,
            &signed.signature,
        )?;
        let now = self.now();
        let path = policy.check_path(&cert, leaf_der, extra, now)?;
        policy.check_revocation(&path).await?;
        let subject = extract_subject(&cert, now.year())?;
        let record = CertificateRecord::of(&CertificateFacts::of(&cert, leaf_der));
        let evidence = Evidence {
            method: Method::Sim,
            challenge_id: session.id.clone(),
            signed_data: data,
            signature: signed.signature.clone(),
            algorithm: algorithm.name().into(),
            certificate: leaf_der.clone(),
        };
        Ok((record, evidence, subject, leaf_der.clone()))
    }

    /// The session the browser holds `bearer` of, waiting up to `wait` (at most
    /// [`MAX_VIEW_WAIT`]) for a result. A failed session is the refusal it ended with.
    pub async fn view(
        &self,
        bearer: &str,
        purpose: Purpose,
        wait: std::time::Duration,
    ) -> Result<SimView, Rejection> {
        let id = &bearer_hash(bearer);
        // Beyond the few reads allowed to wait on one session, a read answers at once.
        let waiting = self.waiters.enter(id);
        let wait = if waiting.is_some() {
            wait.min(MAX_VIEW_WAIT)
        } else {
            std::time::Duration::ZERO
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.completions.subscribe();
        loop {
            let session = self
                .gateway
                .store()
                .sim_session(id)
                .await
                .map_err(store_failed)?
                .filter(|s| s.purpose == purpose)
                .ok_or_else(|| {
                    Rejection::new(ErrorCode::SimSessionNotFound, "no such signing-SIM session")
                })?;
            if session.result.is_none() && self.now() >= session.expires_at {
                // Nobody is polling it any more (an instance died): end it here. If that
                // cannot be written, say so rather than read and try again for ever.
                self.try_complete(&session.id, (SimResult::Expired, None, None))
                    .await
                    .map_err(store_failed)?;
                continue;
            }
            if session.result.is_some() || tokio::time::Instant::now() >= deadline {
                return self.present(session, bearer).await;
            }
            let slice = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(std::time::Duration::from_secs(1));
            let _ = tokio::time::timeout(slice, changes.changed()).await;
        }
    }

    async fn present(&self, session: SimSession, bearer: &str) -> Result<SimView, Rejection> {
        let Some(result) = session.result else {
            return Ok(SimView::Pending(SimStarted {
                session_id: bearer.to_owned(),
                verification_code: session.verification_code,
                expires_at: session.answer_by,
            }));
        };
        match (result.error_code(), session.outcome) {
            // Not a verdict on the signature: the revocation service was down. Said as
            // such (503 with Retry-After), so the person knows to start again shortly.
            (
                Some(_),
                Some(SimOutcome::Refused {
                    code: ErrorCode::RevocationUnavailable,
                    detail,
                }),
            ) => Err(Rejection::new(
                ErrorCode::RevocationUnavailable,
                format!("the phone signed, but {detail}; start again shortly"),
            )),
            (
                Some(code),
                Some(SimOutcome::Refused {
                    code: reason,
                    detail,
                }),
            ) => Err(Rejection::new(code, format!("{reason}: {detail}"))),
            (Some(code), _) => Err(Rejection::new(
                code,
                format!("the signing request ended: {}", result.as_str()),
            )),
            (None, Some(SimOutcome::Refused { code, detail })) => Err(Rejection::new(code, detail)),
            (None, Some(SimOutcome::Registered(r))) => {
                // A preview promises a confirmation: not when its ticket is gone (used,
                // expired, or — SQLite keeps tickets in memory — lost in a restart).
                let ticket = self
                    .gateway
                    .store()
                    .get_ticket(&session.id)
                    .await
                    .map_err(store_failed)?;
                if ticket.is_none() || r.ticket_expires_at <= self.now() {
                    return Err(Rejection::new(
                        ErrorCode::TicketNotFound,
                        "the registration's ticket is gone (used, expired, or lost in a restart); start again",
                    ));
                }
                let (_, cert) =
                    x509_parser::parse_x509_certificate(&r.certificate).map_err(|e| {
                        Rejection::new(
                            ErrorCode::StorageUnavailable,
                            format!("stored certificate: {e}"),
                        )
                    })?;
                Ok(SimView::Registered {
                    session_id: bearer.to_owned(),
                    preview: Box::new(Preview {
                        ticket: bearer.to_owned(),
                        subject: r.subject,
                        certificate: CertificateFacts::of(&cert, &r.certificate),
                        expires_at: r.ticket_expires_at,
                    }),
                })
            }
            (None, Some(SimOutcome::LoggedIn(login))) => Ok(SimView::LoggedIn {
                session: Box::new(
                    self.hand_out_login(&session.id, *login, session.completed_at)
                        .await?,
                ),
                session_id: bearer.to_owned(),
            }),
            (None, None) => Err(Rejection::new(
                ErrorCode::StorageUnavailable,
                "the session's outcome is missing",
            )),
        }
    }

    /// Makes the login's session token, once: the login is marked handed out in the same
    /// transaction that stores the session, so a write that fails leaves it to be taken
    /// on the next read. The session counts from `proved_at`, when the signature was
    /// judged, not from now.
    async fn hand_out_login(
        &self,
        id: &str,
        login: Login,
        proved_at: Option<OffsetDateTime>,
    ) -> Result<SessionIssued, Rejection> {
        let store = self.gateway.store();
        let account = store
            .account(&login.account_id)
            .await
            .map_err(store_failed)?
            .ok_or_else(|| Rejection::new(ErrorCode::AccountNotFound, "the account is gone"))?;
        let proved_at = proved_at.unwrap_or_else(|| self.now());
        let (issued, session, audit) =
            self.gateway
                .new_session(account, &login.evidence, proved_at)?;
        if !store
            .hand_out_sim_login(id, self.now(), &session, &login.certificate, &audit)
            .await
            .map_err(store_failed)?
        {
            return Err(Rejection::new(
                ErrorCode::SimSessionNotFound,
                "this login was already handed out, or waited too long; start a new one",
            ));
        }
        crate::metrics::login("sim", "ok");
        Ok(issued)
    }
}
