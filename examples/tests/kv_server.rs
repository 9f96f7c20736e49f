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
