//! The SQLite gateway killed (`kill -9`) under load: its account transactions are
//! committed in groups (one fsync for many confirmations), and every confirmation is
//! answered only after its group's commit — so no acknowledged account is lost, the
//! audit chain stays whole, and nobody ends up with two accounts or none.

use kyso_certs::keys::KeyKind;
use kyso_tests::citizens::{Citizens, Failure, cccd};
use kyso_tests::cluster::Cluster;
use kyso_tests::processes::GatewayOptions;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Account id by CCCD, from the gateway's audit export.
fn accounts_by_cccd(cluster: &Cluster) -> HashMap<String, String> {
    cluster
        .export_audit(0)
        .iter()
        .filter(|row| row["event"] == "account.created")
        .map(|row| {
            (
                row["details"]["identifier"]["value"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                row["account_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_account_of_a_group_commit() {
    const N: usize = 240;
    let citizens = Citizens::issue(N, KeyKind::EcP256);
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("kyso.db").display());
    let options = GatewayOptions {
        database_url: Some(url.clone()),
        ..GatewayOptions::default()
    };
    let mut cluster = Cluster::start_with(&citizens.pki, &citizens.manifest, &url, &options, 1);
    let gateway = cluster.url(0);
    let acked: Mutex<Vec<(usize, String)>> = Mutex::default();
    let next = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Eight clients at once, so confirmations share groups.
        for _ in 0..8 {
            s.spawn(|| {
                while !killed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= N {
                        break;
                    }
                    match citizens.register(&gateway, i) {
                        Ok(id) => acked.lock().unwrap().push((i, id)),
                        // Killed mid-request: not acknowledged, maybe committed.
                        Err(Failure::Transport(_)) => {}
                        Err(Failure::Refused(r)) => panic!("citizen {i} refused: {r:?}"),
                    }
                }
            });
        }
        while acked.lock().unwrap().len() < 100 && next.load(Ordering::SeqCst) < N {
            std::thread::yield_now();
        }
        cluster.kill(0);
        killed.store(true, Ordering::SeqCst);
    });
    let acked = acked.into_inner().unwrap();
    assert!(
        acked.len() >= 100 && acked.len() < N,
        "killed mid-load: {}",
        acked.len()
    );

    assert!(
        cluster
            .verify_audit(0)
            .unwrap()
            .starts_with("audit chain intact")
    );
    let stored = accounts_by_cccd(&cluster);
    for (i, id) in &acked {
        assert_eq!(
            stored.get(&cccd(*i)),
            Some(id),
            "acknowledged account of citizen {i} lost"
        );
    }
    // Restarted on the same file: everyone not acknowledged registers now, or finds the
    // account committed without an answer — never a second account, never an error.
    cluster.restart(0);
    let gateway = cluster.url(0);
    let done: HashSet<usize> = acked.iter().map(|(i, _)| *i).collect();
    for i in (0..N).filter(|i| !done.contains(i)) {
        match citizens.register(&gateway, i) {
            Ok(_) => {}
            Err(Failure::Refused(r)) if r.code() == "ACCOUNT_EXISTS" => {}
            Err(e) => panic!("citizen {i} after the restart: {e:?}"),
        }
    }
    let stored = accounts_by_cccd(&cluster);
    assert_eq!(stored.len(), N, "one account per identity");
    assert_eq!(
        stored.values().collect::<HashSet<_>>().len(),
        N,
        "and one identity per account"
    );
    assert!(
        cluster
            .verify_audit(0)
            .unwrap()
            .starts_with("audit chain intact")
    );
}
