//! The signing-SIM state machine (`gateway/src/sim/flow.rs`) against an operator that
//! answers as the test scripts it, moving the world's clock at every poll: the
//! gateway's own hard expiry, retries of an unreachable operator, an unusable answer,
//! a failure the operator reports, a result the database will not take, and a login
//! session that counts from the phone's signature. The real operator protocol is tested end to end
//! against the simulator (`tests/tests/sim.rs`); this is the flow's decisions alone.

use crate::common::{World, world};
use async_trait::async_trait;
use kyso_gateway::domain::account::bearer_hash;
use kyso_gateway::domain::{Purpose, SimResult};
use kyso_gateway::sim::mssp::{MssError, MssRequest, MssSignature, MssStatus, Mssp};
use kyso_gateway::sim::{SimService, SimSettings, SimView};
use kyso_gateway::store::{AccountStore, SimStore};
use kyso_tests::signer::FileSigner;
use kyso_verify::error::ErrorCode;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An operator that accepts every request and answers status calls from a script (then
/// `Outstanding` forever), moving the world's clock on by `step` at every call.
struct Scripted {
    answers: Mutex<VecDeque<Result<MssStatus, MssError>>>,
    calls: Mutex<u32>,
    clock: Arc<kyso_gateway::clock::ManualClock>,
    step: time::Duration,
}

#[async_trait]
impl Mssp for Scripted {
    async fn request_signature(
        &self,
        _: &MssRequest,
    ) -> Result<Result<String, SimResult>, MssError> {
        Ok(Ok("mssp-1".into()))
    }

    async fn status(&self, _: &str, _: Duration) -> Result<MssStatus, MssError> {
        *self.calls.lock().unwrap() += 1;
        self.clock.advance(self.step);
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(MssStatus::Outstanding))
    }
}

fn settings() -> SimSettings {
    SimSettings {
        display_prefix: "Cổng DVC thử nghiệm".into(),
        answer_timeout: time::Duration::seconds(30),
        hard_expiry: time::Duration::seconds(60),
        poll_wait: Duration::from_secs(2),
        hold: kyso_gateway::sim::flow::hold_for(2, 5),
        starts_per_number: 100,
        starts_per_number_total: 100,
        per_number_window: time::Duration::hours(1),
    }
}

fn flow(
    w: &World,
    script: Vec<Result<MssStatus, MssError>>,
    step: time::Duration,
) -> (Arc<SimService>, Arc<Scripted>) {
    flow_with(w, script, step, settings())
}

/// [`flow`] with other settings.
fn flow_with(
    w: &World,
    script: Vec<Result<MssStatus, MssError>>,
    step: time::Duration,
    settings: SimSettings,
) -> (Arc<SimService>, Arc<Scripted>) {
    let operator = Arc::new(Scripted {
        answers: Mutex::new(script.into()),
        calls: Mutex::new(0),
        clock: w.clock.clone(),
        step,
    });
    (
        Arc::new(SimService::new(
            w.gateway.clone(),
            operator.clone(),
            settings,
        )),
        operator,
    )
}

/// A phone whose person signs whatever it is asked at once, with the SIM key of one
/// person of the world's PKI.
struct SigningPhone {
    signer: FileSigner,
    /// The certificate chain it answers with: the person's certificate first.
    chain: Vec<Vec<u8>>,
    asked: Mutex<Option<Vec<u8>>>,
}

impl SigningPhone {
    fn of(w: &World, person: &str) -> Arc<Self> {
        Self::with_copies(w, person, 0)
    }

    /// [`Self::of`], the certificate followed by `copies` more of itself as if they were
    /// intermediates.
    fn with_copies(w: &World, person: &str, copies: usize) -> Arc<Self> {
        let p = w.pki.manifest.person(person).unwrap();
        let certificate = std::fs::read(w.pki.path(&p.cert_der)).unwrap();
        Arc::new(Self {
            signer: FileSigner::of_person(&w.pki.path(""), p),
            chain: vec![certificate; 1 + copies],
            asked: Mutex::new(None),
        })
    }
}

#[async_trait]
impl Mssp for SigningPhone {
    async fn request_signature(
        &self,
        request: &MssRequest,
    ) -> Result<Result<String, SimResult>, MssError> {
        *self.asked.lock().unwrap() = Some(request.data_to_be_signed.clone());
        Ok(Ok("mssp-1".into()))
    }

    async fn status(&self, _: &str, _: Duration) -> Result<MssStatus, MssError> {
        let asked = self.asked.lock().unwrap().clone().expect("a request first");
        let (algorithm, signature) = self.signer.sign(&asked);
        Ok(MssStatus::Signed(MssSignature {
            signature,
            algorithm: algorithm.name().into(),
            certificate_chain: self.chain.clone(),
        }))
    }
}

/// Log lines written while it is the thread's subscriber's writer, for tests that
/// search them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The browser's address in these tests.
const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Starts a registration and reads its end: the refusal's code.
async fn ends_with(sim: &Arc<SimService>) -> ErrorCode {
    ends_with_from(sim, HERE).await
}

/// [`ends_with`] for a browser at `requester`.
async fn ends_with_from(sim: &Arc<SimService>, requester: IpAddr) -> ErrorCode {
    match registration_ends(sim, "0912000001", requester).await {
        Err(r) => r.code,
        Ok(other) => panic!("a signature was never given: {other:?}"),
    }
}

/// Starts a registration for the test's number from here.
async fn start_registration(sim: &Arc<SimService>) -> kyso_gateway::sim::SimStarted {
    sim.start(Purpose::Register, "0912000001", None, HERE)
        .await
        .unwrap()
}

/// Starts a registration for `phone` from `requester` and reads it until it ends: the
/// view it ends with, or its refusal.
async fn registration_ends(
    sim: &Arc<SimService>,
    phone: &str,
    requester: IpAddr,
) -> Result<SimView, kyso_verify::error::Rejection> {
    let started = sim
        .start(Purpose::Register, phone, None, requester)
        .await
        .unwrap();
    for _ in 0..20 {
        match sim
            .view(
                &started.session_id,
                Purpose::Register,
                Duration::from_secs(30),
            )
            .await
        {
            Ok(SimView::Pending(_)) => continue,
            other => return other,
        }
    }
    panic!("the session never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_never_answers_meets_the_gateways_own_hard_expiry() {
    let w = world().await;
    // The operator never gives a final answer; every poll costs 20 s of the clock.
    let (sim, operator) = flow(&w, vec![], time::Duration::seconds(20));
    assert_eq!(ends_with(&sim).await, ErrorCode::Expired);
    // 60 s of hard expiry at 20 s a poll: three polls, then the gateway stops asking.
    assert_eq!(*operator.calls.lock().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_operator_is_asked_three_times_in_a_row_then_it_is_a_provider_error() {
    let w = world().await;
    let down = || Err(MssError::Unreachable("connection refused".into()));
    // Two failures, an answer (the count starts again), then three failures.
    let script = vec![
        down(),
        down(),
        Ok(MssStatus::Outstanding),
        down(),
        down(),
        down(),
    ];
    let (sim, operator) = flow(&w, script, time::Duration::seconds(1));
    assert_eq!(ends_with(&sim).await, ErrorCode::ProviderError);
    assert_eq!(*operator.calls.lock().unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_answer_ends_the_session_at_once() {
    let w = world().await;
    let script = vec![Err(MssError::Garbled("not JSON".into()))];
    let (sim, operator) = flow(&w, script, time::Duration::seconds(1));
    assert_eq!(ends_with(&sim).await, ErrorCode::ProviderError);
    assert_eq!(*operator.calls.lock().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_the_operator_reports_is_the_sessions_result() {
    for (reported, code) in [
        (SimResult::UserRefused, ErrorCode::UserRefused),
        (SimResult::PinBlocked, ErrorCode::PinBlocked),
        (SimResult::Expired, ErrorCode::Expired),
    ] {
        let w = world().await;
        let script = vec![Ok(MssStatus::Outstanding), Ok(MssStatus::Failed(reported))];
        let (sim, _) = flow(&w, script, time::Duration::seconds(1));
        assert_eq!(ends_with(&sim).await, code, "{reported:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_cannot_be_written_is_storage_unavailable_not_an_endless_read() {
    let w = world().await;
    // The operator never answers and time stands still until the test moves it.
    let (sim, _) = flow(&w, vec![], time::Duration::ZERO);
    let started = start_registration(&sim).await;
    // From now on the database refuses to end a SIM session (as a full disk would);
    // reads still work.
    let conn = rusqlite::Connection::open(w.db_file()).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_results BEFORE UPDATE ON sim_sessions \
         BEGIN SELECT RAISE(ABORT, 'injected: no space left'); END;",
    )
    .unwrap();
    // Past the hard expiry, the reader must end the session itself, and cannot.
    w.clock.advance(time::Duration::seconds(61));
    let read = sim.view(&started.session_id, Purpose::Register, Duration::ZERO);
    let answer = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the read answers instead of trying again for ever");
    assert_eq!(answer.unwrap_err().code, ErrorCode::StorageUnavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_login_counts_from_its_signature_not_from_when_the_page_takes_it() {
    let w = world().await;
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        SigningPhone::of(&w, "sim-citizen-ec"),
        settings(),
    ));
    let phone = "0912000001";
    let started = sim
        .start(Purpose::Register, phone, None, HERE)
        .await
        .unwrap();
    let wait = Duration::from_secs(30);
    let ticket = match sim.view(&started.session_id, Purpose::Register, wait).await {
        Ok(SimView::Registered { preview, .. }) => preview.ticket,
        other => panic!("not registered: {other:?}"),
    };
    w.gateway.confirm(&ticket, None, None).await.unwrap();

    // The phone signs at once; the page comes for the session half a minute later.
    let started = sim.start(Purpose::Login, phone, None, HERE).await.unwrap();
    // Stored to the second.
    let signed_at = kyso_gateway::clock::Clock::now(w.clock.as_ref())
        .replace_nanosecond(0)
        .unwrap();
    let mut judged = None;
    for _ in 0..3000 {
        let session = w
            .store
            .sim_session(&bearer_hash(&started.session_id))
            .await
            .unwrap();
        judged = session.and_then(|s| s.completed_at);
        if judged.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(judged, Some(signed_at), "the poller judged the signature");
    w.clock.advance(time::Duration::seconds(30));
    let issued = match sim
        .view(&started.session_id, Purpose::Login, Duration::ZERO)
        .await
    {
        Ok(SimView::LoggedIn { session, .. }) => session,
        other => panic!("not logged in: {other:?}"),
    };
    let now = kyso_gateway::clock::Clock::now(w.clock.as_ref());
    let login = w
        .store
        .session_login(&bearer_hash(&issued.session_token), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        login.auth_time, signed_at,
        "auth_time is the signature's time"
    );
    assert_eq!(issued.expires_at, signed_at + time::Duration::hours(1));
}

/// The per-number limit counts per requesting network: a stranger who uses up a number's
/// starts from one network does not lock its owner out from another, and all networks
/// together are bounded by the total, which is what the phone may receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_starts_do_not_use_up_the_owners_and_all_together_are_bounded() {
    let w = world().await;
    let refusals = (0..10)
        .map(|_| Ok(MssStatus::Failed(SimResult::UserRefused)))
        .collect();
    let limits = SimSettings {
        starts_per_number: 2,
        starts_per_number_total: 3,
        ..settings()
    };
    let (sim, _) = flow_with(&w, refusals, time::Duration::seconds(1), limits);
    let stranger: IpAddr = [203, 0, 113, 9].into();
    let strangers_neighbour: IpAddr = [203, 0, 113, 200].into();
    let owner: IpAddr = "2001:db8:66::1".parse().unwrap();
    let elsewhere: IpAddr = [198, 51, 100, 1].into();
    let refused = |from: IpAddr| {
        let sim = sim.clone();
        async move {
            sim.start(Purpose::Register, "0912000001", None, from)
                .await
                .map(|_| ())
                .map_err(|r| r.code)
        }
    };
    for _ in 0..2 {
        assert_eq!(ends_with_from(&sim, stranger).await, ErrorCode::UserRefused);
    }
    // The stranger's network has used its share, neighbours included.
    assert_eq!(
        refused(strangers_neighbour).await,
        Err(ErrorCode::RateLimited)
    );
    // The owner, elsewhere, still gets through.
    assert_eq!(ends_with_from(&sim, owner).await, ErrorCode::UserRefused);
    // Three pushes in all: now every network waits.
    assert_eq!(refused(elsewhere).await, Err(ErrorCode::RateLimited));
    assert_eq!(refused(owner).await, Err(ErrorCode::RateLimited));
}

/// A refusal's detail can name the person (the CCCD their certificate carries, which
/// the person is shown): the log line of a refused SIM signature carries its code only.
/// One thread runs the test and the flow's tasks, so the subscriber set here hears them.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_sim_signature_is_logged_by_its_code_without_the_persons_identifier() {
    let logs = Captured::default();
    let writer = logs.clone();
    let _heard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let w = world().await;
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        SigningPhone::of(&w, "bad-cccd-province"),
        settings(),
    ));
    let refusal = registration_ends(&sim, "0912000001", HERE)
        .await
        .expect_err("a certificate with a made-up province registered");
    assert_eq!(refusal.code, ErrorCode::VerificationFailed);
    assert!(refusal.detail.contains("003090012345"), "{refusal:?}");
    let logs = logs.text();
    assert!(
        logs.contains("SIM signature refused") && logs.contains("INVALID_IDENTIFIER"),
        "{logs}"
    );
    assert!(
        !logs.contains("003090012345"),
        "the CCCD reached the log: {logs}"
    );
}

/// An operator's answer is bounded like a token's: the certificate and at most four
/// intermediates, else MALFORMED_TOKEN before any path is built. Four pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_certificates_than_a_path_needs_from_the_operator_are_refused() {
    let w = world().await;
    for (copies, registered) in [(4, true), (5, false)] {
        let sim = Arc::new(SimService::new(
            w.gateway.clone(),
            SigningPhone::with_copies(&w, "sim-citizen-ec", copies),
            settings(),
        ));
        let answer = registration_ends(&sim, &format!("091200000{copies}"), HERE).await;
        match answer {
            Ok(SimView::Registered { .. }) if registered => {}
            Err(r) if !registered => {
                assert_eq!(r.code, ErrorCode::VerificationFailed);
                assert!(r.detail.starts_with("MALFORMED_TOKEN"), "{r:?}");
            }
            other => panic!("{copies} copies: {other:?}"),
        }
    }
}

/// A session no operator took when the gateway stopped (the push was cut short): a
/// restarted instance's claims leave it alone for the minute another instance might
/// still be pushing it, then one takes it and ends it PROVIDER_ERROR — the person
/// polling learns, and the number is not BUSY until the hard expiry for a request the
/// phone never received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_no_operator_took_before_a_restart_ends_a_minute_after_its_start() {
    let w = world().await;
    let now = kyso_gateway::clock::Clock::now(w.clock.as_ref());
    let bearer = "cut-short-before-the-push";
    let mut unpushed = crate::store::sim_session(&bearer_hash(bearer), "+84912000001", now);
    unpushed.purpose = Purpose::Register;
    w.store.start_sim_session(&unpushed, now).await.unwrap();
    let (sim, operator) = flow(&w, vec![], time::Duration::ZERO);
    assert_eq!(
        sim.claim().await.unwrap(),
        0,
        "it may still be being pushed"
    );
    let short = Duration::from_secs(1);
    assert!(matches!(
        sim.view(bearer, Purpose::Register, short).await,
        Ok(SimView::Pending(_))
    ));
    w.clock.advance(time::Duration::seconds(61));
    assert_eq!(sim.claim().await.unwrap(), 1);
    let ended = sim
        .view(bearer, Purpose::Register, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(ended.code, ErrorCode::ProviderError, "{ended:?}");
    assert_eq!(*operator.calls.lock().unwrap(), 0, "never asked about");
}

/// A browser that hangs up while its session waits to be stored (another process holds
/// SQLite's write lock) does not leave it stored but never pushed: storing and pushing
/// run in a task of their own, so the phone is still asked once the lock is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_hangs_up_while_its_session_is_stored_still_gets_it_pushed() {
    let w = world().await;
    let phone = SigningPhone::of(&w, "sim-citizen-ec");
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        phone.clone(),
        settings(),
    ));
    let holder = rusqlite::Connection::open(w.db_file()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let start = tokio::spawn({
        let sim = sim.clone();
        async move { sim.start(Purpose::Register, "0912000001", None, HERE).await }
    });
    // The start reads its limits (no lock needed) and queues its insert, which waits
    // (up to the writer's 10 s busy timeout: the lock is given back well before).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!start.is_finished());
    start.abort();
    let _ = start.await;
    holder.execute_batch("COMMIT").unwrap();
    for _ in 0..200 {
        if phone.asked.lock().unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the session was stored but the phone was never asked");
}

/// At most two reads of one session wait for its result at once; a third is answered at
/// once with what the session holds, so one person's session cannot fill the pool of
/// long polls with its own parallel reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_two_reads_of_one_session_wait_at_once() {
    let w = world().await;
    let (sim, _) = flow(&w, vec![], time::Duration::ZERO);
    let started = start_registration(&sim).await;
    let reads: Vec<_> = (0..3)
        .map(|_| {
            let (sim, id) = (sim.clone(), started.session_id.clone());
            tokio::spawn(async move {
                sim.view(&id, Purpose::Register, Duration::from_secs(30))
                    .await
            })
        })
        .collect();
    // The third read is answered at once; the two waiting ones wait half a minute.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    while !reads.iter().any(|r| r.is_finished()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no read was answered at once"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answered = reads.iter().filter(|r| r.is_finished()).count();
    assert_eq!(answered, 1, "one read answered at once, two waiting");
    for read in reads {
        if read.is_finished() {
            assert!(matches!(read.await.unwrap(), Ok(SimView::Pending(_))));
        } else {
            read.abort();
        }
    }
}

/// Waits until `phone` has been asked to sign, then a little: its signature has been
/// returned to the poller and judged (or written) at least once.
async fn signed_and_judged(phone: &SigningPhone) {
    for _ in 0..600 {
        if phone.asked.lock().unwrap().is_some() {
            tokio::time::sleep(Duration::from_secs(2)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the phone was never asked");
}

/// A registration whose store fails (`break_sql`) while the phone's signature comes
/// back, and is mended (`mend_sql`) `later`, still ends registered.
async fn registers_through_a_moments_failure(break_sql: &str, mend_sql: &str, later: Duration) {
    let w = world().await;
    let phone = SigningPhone::of(&w, "sim-citizen-ec");
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        phone.clone(),
        settings(),
    ));
    let conn = rusqlite::Connection::open(w.db_file()).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute_batch(break_sql).unwrap();
    let started = start_registration(&sim).await;
    signed_and_judged(&phone).await;
    tokio::time::sleep(later).await;
    conn.execute_batch(mend_sql).unwrap();
    let view = sim
        .view(
            &started.session_id,
            Purpose::Register,
            Duration::from_secs(20),
        )
        .await;
    assert!(matches!(view, Ok(SimView::Registered { .. })), "{view:?}");
}

/// A moment's store failure while a good signature is judged is not the session's
/// result: the signature is judged again until it can be, and the person registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_met_by_a_store_failure_is_judged_again_not_refused_for_good() {
    // The identity's lookup fails while the table is away — longer than a revocation
    // responder's outage is waited for: the store's is waited for to the session's end.
    registers_through_a_moments_failure(
        "ALTER TABLE identifiers RENAME TO identifiers_away",
        "ALTER TABLE identifiers_away RENAME TO identifiers",
        Duration::from_secs(11),
    )
    .await;
}

/// A store that does not come back in the session's time ends it as run out (EXPIRED),
/// not as a STORAGE_UNAVAILABLE the page would poll for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_the_store_never_lets_be_judged_ends_the_session_expired() {
    let w = world().await;
    let phone = SigningPhone::of(&w, "sim-citizen-ec");
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        phone.clone(),
        settings(),
    ));
    let conn = rusqlite::Connection::open(w.db_file()).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute_batch("ALTER TABLE identifiers RENAME TO identifiers_away")
        .unwrap();
    let started = start_registration(&sim).await;
    signed_and_judged(&phone).await;
    // Within 15 s of the hard expiry (60 s): no more judging.
    w.clock.advance(time::Duration::seconds(50));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let read = sim
        .view(&started.session_id, Purpose::Register, Duration::ZERO)
        .await;
    assert_eq!(read.unwrap_err().code, ErrorCode::Expired);
}

/// A result the store refuses for a moment is written again: the phone's answer is not
/// lost, to end as EXPIRED at the hard expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_the_store_refuses_for_a_moment_is_written_again() {
    registers_through_a_moments_failure(
        "CREATE TRIGGER refuse_results BEFORE UPDATE OF state ON sim_sessions \
         BEGIN SELECT RAISE(ABORT, 'injected: no space left'); END;",
        "DROP TRIGGER refuse_results",
        Duration::ZERO,
    )
    .await;
}

/// A registration's preview promises a confirmation: once its ticket is used, reading
/// the session again says the ticket is gone instead of showing the preview again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_registration_whose_ticket_is_gone_says_so() {
    let w = world().await;
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        SigningPhone::of(&w, "sim-citizen-ec"),
        settings(),
    ));
    let started = start_registration(&sim).await;
    let wait = Duration::from_secs(30);
    let ticket = match sim.view(&started.session_id, Purpose::Register, wait).await {
        Ok(SimView::Registered { preview, .. }) => preview.ticket,
        other => panic!("not registered: {other:?}"),
    };
    w.gateway.confirm(&ticket, None, None).await.unwrap();
    let again = sim
        .view(&started.session_id, Purpose::Register, Duration::ZERO)
        .await;
    assert_eq!(again.unwrap_err().code, ErrorCode::TicketNotFound);
}

/// An operator client that panics while the request is pushed.
struct PanickingOperator;

#[async_trait]
impl Mssp for PanickingOperator {
    async fn request_signature(
        &self,
        _: &MssRequest,
    ) -> Result<Result<String, SimResult>, MssError> {
        panic!("secret-x in a bug's message")
    }

    async fn status(&self, _: &str, _: Duration) -> Result<MssStatus, MssError> {
        Ok(MssStatus::Outstanding)
    }
}

/// A bug while the request is pushed answers without repeating the panic's message,
/// which is for the log, not for whoever asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_pushing_is_answered_without_its_message() {
    let w = world().await;
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        Arc::new(PanickingOperator),
        settings(),
    ));
    let refused = sim
        .start(Purpose::Register, "0912000001", None, HERE)
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::StorageUnavailable);
    assert!(!refused.detail.contains("secret-x"), "{}", refused.detail);
}

/// An operator that never answers a push (a slow or black-holed MSSP).
struct Unanswering;

#[async_trait]
impl Mssp for Unanswering {
    async fn request_signature(
        &self,
        _: &MssRequest,
    ) -> Result<Result<String, SimResult>, MssError> {
        std::future::pending().await
    }

    async fn status(&self, _: &str, _: Duration) -> Result<MssStatus, MssError> {
        std::future::pending().await
    }
}

/// SIM starts wait on the operator in the pool of requests that wait on it, not in the
/// one token registrations and logins work in: with the operator taking no push, starts
/// that fill their pool leave a challenge to be had at once, and the next start is the
/// one refused `OVERLOADED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_a_slow_operator_holds_up_cannot_starve_token_registrations() {
    let w = world().await;
    let sim = Arc::new(SimService::new(
        w.gateway.clone(),
        Arc::new(Unanswering),
        settings(),
    ));
    let mut limits = crate::common::generous_limits();
    limits.max_concurrent_requests = 2;
    limits.max_concurrent_polls = 2;
    limits.queue_wait = Duration::from_millis(300);
    let app = w.app_with_sim(sim, limits);
    let start = |phone: &'static str| {
        let app = app.clone();
        tokio::spawn(async move {
            crate::common::call(
                &app,
                "/v1/registrations/sim",
                serde_json::json!({ "phone": phone }),
            )
            .await
        })
    };
    let held = [start("0912000001"), start("0912000002")];
    // Both are waiting on the operator, each holding its place.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(held.iter().all(|h| !h.is_finished()));
    for _ in 0..2 {
        let (status, body) = crate::common::call(
            &app,
            "/v1/challenges",
            serde_json::json!({ "purpose": "register" }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = start("0912000003").await.unwrap();
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (503, Some("OVERLOADED"))
    );
}

/// An operator whose pushes wait until the test lets them through.
struct GatedPush {
    entered: tokio::sync::Notify,
    open: tokio::sync::Semaphore,
}

#[async_trait]
impl Mssp for GatedPush {
    async fn request_signature(
        &self,
        _: &MssRequest,
    ) -> Result<Result<String, SimResult>, MssError> {
        self.entered.notify_one();
        self.open.acquire().await.unwrap().forget();
        Ok(Ok("mssp-1".into()))
    }

    async fn status(&self, _: &str, wait: Duration) -> Result<MssStatus, MssError> {
        tokio::time::sleep(wait.min(Duration::from_millis(50))).await;
        Ok(MssStatus::Outstanding)
    }
}

/// A session started on an instance that is already stopping stays held by it while its
/// request is pushed — another instance that took it then would find nothing to poll —
/// and is handed on once the push is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_started_while_its_instance_stops_is_handed_on_after_its_push() {
    let w = world().await;
    let operator = Arc::new(GatedPush {
        entered: tokio::sync::Notify::new(),
        open: tokio::sync::Semaphore::new(0),
    });
    let stopping = Arc::new(SimService::new(
        w.gateway.clone(),
        operator.clone(),
        settings(),
    ));
    let other = Arc::new(SimService::new(
        w.gateway.clone(),
        operator.clone(),
        settings(),
    ));
    stopping.release().await;
    let started = tokio::spawn({
        let stopping = stopping.clone();
        async move {
            stopping
                .start(Purpose::Register, "0912000001", None, HERE)
                .await
        }
    });
    operator.entered.notified().await;
    assert_eq!(other.claim().await.unwrap(), 0, "taken while being pushed");
    operator.open.add_permits(1);
    started.await.unwrap().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if other.claim().await.unwrap() == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never handed on after its push"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
