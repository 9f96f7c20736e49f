//! Walkthrough `buffered_io`: what `BufWriter` and `BufReader` buy.
//!
//! Every `write` on a `tokio::fs::File` is a hop to the blocking pool; with
//! small writes the hops dominate. A `BufWriter` gathers them into large
//! writes; its capacity sets how many hops remain. The same holds for
//! reading, and for sockets, where each unbuffered write is a system call
//! (and, with Nagle off, a packet). `CountingWrite` from `aqueduct::io::adapt`
//! shows how many bytes each layer passed on. Every figure is measured in
//! this run, in a temp dir.
//!
//! Run it with `cargo xtask demo buffered_io`.

use std::time::{Duration, Instant};

use aqueduct::io::adapt::CountingWrite;
use aqueduct_examples::{bar, check, ms, section};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};

const RECORDS: usize = 20_000;

/// Writes `RECORDS` small records through `w`, counting `write` calls that
/// reach the file.
async fn write_records<W: tokio::io::AsyncWrite + Unpin>(w: &mut W) -> std::io::Result<()> {
    for i in 0..RECORDS {
        w.write_all(format!("record {i:06}: status=ok\n").as_bytes())
            .await?;
    }
    w.flush().await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut results: Vec<(String, Duration)> = Vec::new();

    section("1. 20000 small writes to a file, unbuffered and through BufWriter");
    for capacity in [0usize, 1024, 8 * 1024, 64 * 1024] {
        let path = dir.path().join(format!("out-{capacity}.txt"));
        let file = CountingWrite::new(tokio::fs::File::create(&path).await?);
        let t = Instant::now();
        let label = if capacity == 0 {
            let mut file = file;
            write_records(&mut file).await?;
            "unbuffered".to_owned()
        } else {
            let mut w = BufWriter::with_capacity(capacity, file);
            write_records(&mut w).await?;
            format!("BufWriter {} KiB", capacity / 1024)
        };
        let took = t.elapsed();
        let size = tokio::fs::metadata(&path).await?.len();
        println!("   {label:<18} {:>9}  ({size} bytes)", ms(took));
        check(size == 20_000 * 25, "every record written")?;
        results.push((label, took));
    }
    let slowest = results.iter().map(|r| r.1).max().unwrap_or_default();
    for (label, took) in &results {
        println!(
            "   {label:<18} {}",
            bar(took.as_micros() as u64, slowest.as_micros() as u64, 40)
        );
    }
    let speedup = results[0].1.as_secs_f64() / results[3].1.as_secs_f64();
    println!("   a 64 KiB buffer made the same work {speedup:.0}x faster");
    check(speedup > 2.0, "buffering pays")?;

    section("2. reading it back line by line: BufReader capacity");
    let path = dir.path().join("out-65536.txt");
    for capacity in [256usize, 8 * 1024, 256 * 1024] {
        let t = Instant::now();
        let mut lines =
            BufReader::with_capacity(capacity, tokio::fs::File::open(&path).await?).lines();
        let mut n = 0;
        while lines.next_line().await?.is_some() {
            n += 1;
        }
        println!(
            "   BufReader {:>6} bytes: {n} lines in {}",
            capacity,
            ms(t.elapsed())
        );
        check(n == RECORDS, "every line read")?;
    }

    section("3. a buffered copy between files (tokio::io::copy_buf)");
    let t = Instant::now();
    let mut reader = BufReader::with_capacity(64 * 1024, tokio::fs::File::open(&path).await?);
    let mut writer =
        CountingWrite::new(tokio::fs::File::create(dir.path().join("copy.txt")).await?);
    let copied = tokio::io::copy_buf(&mut reader, &mut writer).await?;
    writer.flush().await?;
    let mut check_back = String::new();
    tokio::fs::File::open(dir.path().join("copy.txt"))
        .await?
        .read_to_string(&mut check_back)
        .await?;
    println!(
        "   {copied} bytes copied in {}; the writer counted {}",
        ms(t.elapsed()),
        writer.bytes()
    );
    check(
        copied == writer.bytes() && check_back.lines().count() == RECORDS,
        "a full copy",
    )?;
    println!("\nbuffered_io: done");
    Ok(())
}
