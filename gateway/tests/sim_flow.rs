//! The signing-SIM state machine (`gateway/src/sim/flow.rs`) against an operator that
//! answers as the test scripts it, moving the world's clock at every poll: the
//! gateway's own hard expiry, retries of an unreachable operator, an unusable answer,
//! a failure the operator reports, and a result the database will not take. The real operator protocol is tested end to end
//! against the simulator (`tests/tests/sim.rs`); this is the flow's decisions alone.

use crate::common::{World, world};
use async_trait::async_trait;
use kyso_gateway::domain::{Purpose, SimResult};
use kyso_gateway::sim::mssp::{MssError, MssRequest, MssStatus, Mssp};
use kyso_gateway::sim::{SimService, SimSettings};
use kyso_verify::error::ErrorCode;
use std::collections::VecDeque;
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

fn flow(
    w: &World,
    script: Vec<Result<MssStatus, MssError>>,
    step: time::Duration,
) -> (Arc<SimService>, Arc<Scripted>) {
    let operator = Arc::new(Scripted {
        answers: Mutex::new(script.into()),
        calls: Mutex::new(0),
        clock: w.clock.clone(),
        step,
    });
    let settings = SimSettings {
        display_prefix: "Cổng DVC thử nghiệm".into(),
        answer_timeout: time::Duration::seconds(30),
        hard_expiry: time::Duration::seconds(60),
        poll_wait: Duration::from_secs(2),
        starts_per_number: 100,
        per_number_window: time::Duration::hours(1),
    };
    (
        Arc::new(SimService::new(
            w.gateway.clone(),
            operator.clone(),
            settings,
        )),
        operator,
    )
}

/// Starts a registration and reads its end: the refusal's code.
async fn ends_with(sim: &Arc<SimService>) -> ErrorCode {
    let started = sim
        .start(Purpose::Register, "0912000001", None)
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
            Err(r) => return r.code,
            Ok(kyso_gateway::sim::SimView::Pending(_)) => continue,
            Ok(other) => panic!("a signature was never given: {other:?}"),
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
    let started = sim
        .start(Purpose::Register, "0912000001", None)
        .await
        .unwrap();
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
