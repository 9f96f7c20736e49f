//! Deadlines: shared by sequential operations, only tightened by nesting,
//! clamping every wrapper, carried across a wire.

use std::time::Duration;

use aqueduct_resilience::bulkhead::BulkheadError;
use aqueduct_resilience::hedge::HedgeError;
use aqueduct_resilience::{Bulkhead, Deadline, Hedge, timeout};
use tokio::time::{Instant, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn sequential_operations_share_one_deadline() {
    let start = Instant::now();
    let dl = Deadline::after(MS(250));
    let mut done = 0;
    let r = dl
        .run(async {
            for _ in 0..10 {
                sleep(MS(100)).await;
                done += 1;
            }
        })
        .await;
    assert!(r.is_err());
    assert_eq!(done, 2);
    assert_eq!(start.elapsed(), MS(250));
}

#[tokio::test(start_paused = true)]
async fn timeout_bulkhead_and_hedge_clamp_to_the_deadline() {
    let start = Instant::now();
    let dl = Deadline::after(MS(100));
    Deadline::scope(dl, async {
        let e = timeout(Duration::from_secs(5), std::future::pending::<()>())
            .await
            .unwrap_err();
        assert!(e.by_deadline());
    })
    .await;
    assert_eq!(start.elapsed(), MS(100));

    let start = Instant::now();
    let bulkhead = Bulkhead::builder().max_concurrent(1).max_queue(5).build();
    let _held = bulkhead.acquire().await.unwrap();
    let r = Deadline::scope(Deadline::after(MS(40)), bulkhead.acquire()).await;
    assert_eq!(r.unwrap_err(), BulkheadError::DeadlineExceeded);
    assert_eq!(start.elapsed(), MS(40));
    assert_eq!(bulkhead.queued(), 0);

    let start = Instant::now();
    let hedge = Hedge::fixed(MS(10)).max_extra(3);
    let r = Deadline::scope(
        Deadline::after(MS(25)),
        hedge.run(|| async {
            sleep(Duration::from_secs(1)).await;
            Ok::<(), ()>(())
        }),
    )
    .await;
    assert!(matches!(
        r,
        Err(HedgeError::DeadlineExceeded {
            attempts: 3,
            last: None
        })
    ));
    assert_eq!(start.elapsed(), MS(25));
}

#[tokio::test(start_paused = true)]
async fn remaining_time_crosses_the_wire() {
    let client = Deadline::after(MS(750));
    sleep(MS(250)).await;
    let header = client.to_header_value();
    assert_eq!(header, "500m");
    // The server decodes it into its own deadline: the same instant here.
    let server = Deadline::from_header_value(&header).unwrap();
    assert_eq!(server, client);
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_does_not_inherit_the_scope() {
    let dl = Deadline::after(MS(100));
    Deadline::scope(dl, async {
        let inner = tokio::spawn(async { Deadline::current() }).await.unwrap();
        assert_eq!(inner, None);
        // Pass it on explicitly instead.
        let inner = tokio::spawn(Deadline::scope(dl, async { Deadline::current() }))
            .await
            .unwrap();
        assert_eq!(inner, Some(dl));
    })
    .await;
}

mod header_props {
    use std::time::Duration;

    use aqueduct_resilience::deadline::{decode_timeout, encode_timeout};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encoding_fits_never_rounds_up_and_is_exact_when_it_can_be(nanos in any::<u64>()) {
            let d = Duration::from_nanos(nanos);
            let value = encode_timeout(d);
            prop_assert!(value.len() <= 9, "{value}");
            let back = decode_timeout(&value).unwrap();
            prop_assert!(back <= d, "{value} -> {back:?} > {d:?}");
            if nanos < 100_000_000 {
                prop_assert_eq!(back, d);
            }
        }

        #[test]
        fn decoding_never_panics(s in "\\PC{0,12}") {
            let _ = decode_timeout(&s);
        }
    }
}
