//! Behaviour of `Throttled` under paused time.

use std::time::Duration;

use aqueduct_flow::Throttled;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn reads_are_capped_at_the_byte_rate() {
    let data = vec![7u8; 10_000];
    let mut r = Throttled::new(&data[..], 2_000); // 2 kB/s, 200 B chunks
    let start = Instant::now();
    let mut out = vec![0u8; 10_000];
    r.read_exact(&mut out).await.unwrap();
    assert_eq!(out, data);
    // 200 B of burst, then 9,800 B at 2,000 B/s = 4.9 s.
    assert_eq!(start.elapsed(), Duration::from_millis(4900));
    // Seeing the end of the input is a read like any other: it waits for
    // the next chunk's budget.
    assert_eq!(r.read(&mut out).await.unwrap(), 0);
    assert_eq!(start.elapsed(), Duration::from_millis(5000));
}

#[tokio::test(start_paused = true)]
async fn writes_move_in_chunks_no_larger_than_the_burst() {
    let (client, mut server) = tokio::io::duplex(1 << 20);
    let mut w = Throttled::new(client, 1_000).with_burst(100);
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        w.write_all(&[1u8; 1_000]).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = 0;
    let mut buf = [0u8; 4096];
    let mut max_chunk = 0;
    loop {
        let n = server.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        max_chunk = max_chunk.max(n);
        got += n;
        // Never ahead of the rate: burst + elapsed * rate.
        let allowed = 100 + start.elapsed().as_millis() as usize;
        assert!(got <= allowed, "{got} bytes by {:?}", start.elapsed());
    }
    writer.await.unwrap();
    assert_eq!(got, 1_000);
    assert!(max_chunk <= 100);
    assert_eq!(start.elapsed(), Duration::from_millis(900));
}

#[tokio::test(start_paused = true)]
async fn an_idle_period_refills_only_up_to_the_burst() {
    let data = vec![0u8; 1_000];
    let mut r = Throttled::new(&data[..], 1_000).with_burst(100);
    let mut buf = [0u8; 1_000];
    let n = r.read(&mut buf).await.unwrap();
    assert_eq!(n, 100);
    tokio::time::advance(Duration::from_secs(10)).await;
    let start = Instant::now();
    let n = r.read(&mut buf).await.unwrap();
    assert_eq!((n, start.elapsed()), (100, Duration::ZERO));
    let n = r.read(&mut buf).await.unwrap();
    assert_eq!((n, start.elapsed()), (100, Duration::from_millis(100)));
}

#[tokio::test(start_paused = true)]
async fn moving_no_bytes_neither_waits_nor_spends_budget() {
    let data = [7u8; 4];
    let mut r = Throttled::new(&data[..], 10).with_burst(1);
    let mut w = Throttled::new(Vec::new(), 10).with_burst(1);
    // Each direction's budget spent: the next byte is 100 ms away.
    r.read_exact(&mut [0u8; 1]).await.unwrap();
    w.write_all(b"x").await.unwrap();
    let start = Instant::now();
    assert_eq!(r.read(&mut []).await.unwrap(), 0);
    assert_eq!(w.write(&[]).await.unwrap(), 0);
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The next byte each way still comes when it would have.
    r.read_exact(&mut [0u8; 1]).await.unwrap();
    w.write_all(b"y").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_buffered_read_with_a_burst_past_the_clock_range_is_granted() {
    use tokio::io::AsyncBufReadExt;
    // A burst of u64::MAX bytes at 1,000 B/s would take longer than the
    // nanosecond time line holds: the budget is what that line can hold.
    let data = vec![5u8; 4_000];
    let mut r = Throttled::new(&data[..], 1_000).with_burst(u64::MAX);
    let start = Instant::now();
    let got = r.fill_buf().await.unwrap().len();
    assert_eq!((got, start.elapsed()), (4_000, Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_default_burst_follows_a_new_rate_and_a_chosen_one_stays() {
    let data = vec![1u8; 10_000];
    let mut buf = [0u8; 10_000];
    // Default burst: a tenth of a second's worth, at the rate in force.
    let mut r = Throttled::new(&data[..], 1_000_000);
    r.set_bytes_per_sec(1_000);
    assert_eq!(r.burst(), 100);
    assert_eq!(r.read(&mut buf).await.unwrap(), 100);
    // A burst set by hand is kept.
    let mut r = Throttled::new(&data[..], 1_000_000).with_burst(50);
    r.set_bytes_per_sec(1_000);
    assert_eq!(r.burst(), 50);
    assert_eq!(r.read(&mut buf).await.unwrap(), 50);
}

#[tokio::test(start_paused = true)]
async fn a_small_write_after_an_abandoned_large_one_waits_only_for_its_own_bytes() {
    // 100 B/s with a 100 B burst: a full burst takes 1 s to pay for, one
    // byte 10 ms.
    let mut w = Throttled::new(Vec::new(), 100).with_burst(100);
    let start = Instant::now();
    w.write_all(&[1u8; 100]).await.unwrap();
    // A whole burst is 1 s away; the caller gives up after 5 ms but keeps
    // the writer.
    let gave_up = tokio::time::timeout(Duration::from_millis(5), w.write_all(&[2u8; 100])).await;
    assert!(gave_up.is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    // One byte has been paid for 10 ms after the burst was spent.
    w.write_all(&[3u8]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    assert_eq!(w.get_ref().len(), 101);
    assert_eq!(w.get_ref()[100], 3);
    // The next byte comes 10 ms later, as it would have anyway.
    w.write_all(&[4u8]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(20));
}

#[tokio::test(start_paused = true)]
async fn a_small_read_after_an_abandoned_large_one_waits_only_for_its_own_bytes() {
    let data: Vec<u8> = (0..=255).collect();
    let mut r = Throttled::new(&data[..], 100).with_burst(100);
    let start = Instant::now();
    let mut buf = [0u8; 100];
    r.read_exact(&mut buf).await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(5), r.read(&mut buf)).await;
    assert!(gave_up.is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    let mut one = [0u8; 1];
    assert_eq!(r.read(&mut one).await.unwrap(), 1);
    assert_eq!((one[0], start.elapsed()), (100, Duration::from_millis(10)));
    assert_eq!(r.read(&mut one).await.unwrap(), 1);
    assert_eq!((one[0], start.elapsed()), (101, Duration::from_millis(20)));
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_wait_in_one_direction_leaves_the_other_alone() {
    // Each direction has its own budget and its own timer: a write left
    // waiting for a full burst does not hold up a read.
    let (client, mut server) = tokio::io::duplex(1 << 10);
    server.write_all(&[9u8; 200]).await.unwrap();
    let mut t = Throttled::new(client, 100).with_burst(100);
    let start = Instant::now();
    t.write_all(&[1u8; 100]).await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(5), t.write_all(&[2u8; 100])).await;
    assert!(gave_up.is_err());
    let mut buf = [0u8; 100];
    assert_eq!(t.read(&mut buf).await.unwrap(), 100);
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    // The write still waits for only one byte's worth.
    t.write_all(&[3u8]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn a_raised_rate_is_not_held_back_by_a_timer_armed_at_the_old_one() {
    // 100 B/s, default burst 10 B: after a burst, 10 B are 100 ms away.
    let mut w = Throttled::new(Vec::new(), 100);
    let start = Instant::now();
    w.write_all(&[1u8; 10]).await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(5), w.write_all(&[2u8; 10])).await;
    assert!(gave_up.is_err());
    // At 10 kB/s (burst 1,000 B) the 5 ms that passed pay for 50 B: the
    // bytes already moved stay accounted at the old rate, 95 ms ahead.
    w.set_bytes_per_sec(10_000);
    w.write_all(&[3u8; 50]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    w.write_all(&[4u8; 10]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(6));
}
