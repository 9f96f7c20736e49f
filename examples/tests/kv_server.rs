//! The `kv_server` example's demo and a small load run, called directly:
//! its modules are compiled into this test.

#[path = "../examples/kv_server/client.rs"]
mod client;
#[path = "../examples/kv_server/demo.rs"]
mod demo;
#[path = "../examples/kv_server/load.rs"]
mod load;
#[path = "../examples/kv_server/protocol.rs"]
mod protocol;
#[path = "../examples/kv_server/server.rs"]
mod server;
#[path = "../examples/kv_server/store.rs"]
mod store;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_does_what_it_narrates() {
    demo::run().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_load_run_stopped_midway_loses_no_acknowledged_write() {
    let report = load::run(load::LoadConfig {
        requests: 2_000,
        concurrency: 8,
        stop_at: 0.5,
        max_time: Duration::from_secs(20),
    })
    .await
    .unwrap();
    assert_eq!(report.lost, 0);
    assert!(report.acked > 0);
    assert_eq!(report.verified, report.acked);
    // The server answered until the midpoint, and requests failed after it.
    assert!(report.answered >= 900, "answered {}", report.answered);
    assert!(report.failed > 0, "nothing failed after the server stopped");
    assert!(report.per_second > 0.0 && report.p50 <= report.p99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_cuts_a_torn_record_and_appends_after_the_last_whole_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kv.log");
    let (store, replay) = store::Store::open(&log).await.unwrap();
    assert_eq!(replay.records, 0);
    for k in ["a", "b", "c"] {
        let value = bytes::Bytes::from(format!("value of {k}"));
        store.write(k.into(), Some(value), None).await.unwrap();
    }
    store.write("b".into(), None, None).await.unwrap();
    store.close().await;
    assert!(matches!(
        store.write("d".into(), None, None).await,
        Err(store::StoreError::Closed)
    ));

    let torn = load::append_torn_record(&log).unwrap();
    let (store, replay) = store::Store::open(&log).await.unwrap();
    assert_eq!(replay.records, 4);
    assert_eq!(replay.torn_bytes, torn);
    assert_eq!(store.get(b"a").as_deref(), Some(b"value of a".as_slice()));
    assert_eq!(store.get(b"b"), None, "the delete was replayed");
    // A write after the cut lands after the last whole record, not after
    // the torn bytes, so the next replay reads it.
    store
        .write("e".into(), Some("after".into()), None)
        .await
        .unwrap();
    store.close().await;
    let (store, replay) = store::Store::open(&log).await.unwrap();
    assert_eq!((replay.records, replay.torn_bytes), (5, 0));
    assert_eq!(store.get(b"e").as_deref(), Some(b"after".as_slice()));
    assert_eq!(store.len(), 3);
    store.close().await;
}

#[tokio::test]
async fn a_write_whose_deadline_has_passed_when_the_disk_is_free_is_dropped() {
    use aqueduct::resilience::Deadline;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store::Store::open(&dir.path().join("kv.log"))
        .await
        .unwrap();
    let passed = Deadline::after(Duration::ZERO);
    let late = store
        .write("k".into(), Some("v".into()), Some(passed))
        .await;
    assert!(matches!(late, Err(store::StoreError::DeadlineExceeded)));
    let ahead = Deadline::after(Duration::from_secs(60));
    store
        .write("k2".into(), Some("v".into()), Some(ahead))
        .await
        .unwrap();
    assert_eq!(store.get(b"k"), None);
    assert!(store.get(b"k2").is_some());
    let stats = store.stats();
    assert_eq!((stats.received, stats.expired, stats.writes), (2, 1, 1));
    store.close().await;
}

#[test]
fn requests_and_responses_round_trip_and_short_frames_are_refused() {
    use bytes::Bytes;
    use protocol::{Op, ProtocolError, Request, Response, Status};
    let req = Request {
        op: Op::Put,
        id: 7,
        timeout: "250m".into(),
        key: Bytes::from_static(b"key"),
        value: Bytes::from_static(b"value"),
    };
    assert_eq!(Request::decode(req.encode()), Ok(req.clone()));
    let resp = Response::new(Status::NotFound, 7, Bytes::new());
    assert_eq!(Response::decode(resp.encode()), Ok(resp));

    let whole = req.encode();
    for cut in 0..whole.len() - req.value.len() {
        assert!(
            matches!(
                Request::decode(whole.slice(..cut)),
                Err(ProtocolError::Short { .. })
            ),
            "a frame cut at {cut} bytes"
        );
    }
    let mut bad = whole.to_vec();
    bad[0] = 9;
    assert_eq!(
        Request::decode(bad.into()),
        Err(ProtocolError::UnknownCode {
            field: "op",
            code: 9
        })
    );
}
