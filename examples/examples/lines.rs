//! Walkthrough `lines`: streaming the lines of a large file.
//!
//! `read_lines` reads 256 KiB chunks on one blocking thread while the async
//! side splits the previous chunk, so it runs at the speed of std's
//! `BufRead::lines`, faster than `tokio::fs` with `BufReader::lines`, which
//! takes one blocking hop per small read (the gap grows with the file and
//! with the load on the blocking pool). Then
//! `head` reads only what it needs, and `count_lines` counts in one hop.
//! Every figure is measured in this run, in a temp dir.
//!
//! Run it with `cargo xtask demo lines`.

use std::io::Write;
use std::time::{Duration, Instant};

use aqueduct::io::fs;
use aqueduct_examples::{bar, check, ms, section};
use futures::StreamExt;
use tokio::io::AsyncBufReadExt;

#[allow(clippy::cast_precision_loss)]
fn per_second(n: u64, d: Duration) -> String {
    format!("{:.1} M lines/s", n as f64 / d.as_secs_f64() / 1e6)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("access.log");
    let lines_written = 1_000_000u64;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for i in 0..lines_written {
            writeln!(
                f,
                "10.0.{}.{} GET /item/{i} 200 {}",
                i % 256,
                i % 100,
                i % 9000
            )?;
        }
        f.flush()?;
    }
    let size = std::fs::metadata(&path)?.len();
    println!(
        "a log of {lines_written} lines, {:.1} MB",
        size as f64 / 1e6
    );

    section("1. read_lines with a progress bar");
    let t = Instant::now();
    let mut lines = fs::read_lines(&path);
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(line) = lines.next().await {
        bytes += line?.len() as u64 + 1;
        n += 1;
        if n % 100_000 == 0 {
            print!("\r   [{}] {:>3}%", bar(bytes, size, 40), bytes * 100 / size);
            std::io::stdout().flush()?;
        }
    }
    let ours = t.elapsed();
    println!("\n   {n} lines in {} = {}", ms(ours), per_second(n, ours));
    check(n == lines_written && bytes == size, "every line read")?;

    section("2. the same with tokio::fs + BufReader::lines");
    let t = Instant::now();
    let mut tokio_lines = tokio::io::BufReader::new(tokio::fs::File::open(&path).await?).lines();
    let (mut m, mut tokio_bytes) = (0u64, 0u64);
    while let Some(line) = tokio_lines.next_line().await? {
        tokio_bytes += line.len() as u64 + 1;
        m += 1;
    }
    let theirs = t.elapsed();
    println!("   {m} lines in {} = {}", ms(theirs), per_second(m, theirs));
    println!(
        "   read_lines was {:.1}x faster",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
    check(m == n && tokio_bytes == bytes, "same lines")?;

    section("3. head: the first 3 lines, reading only what it needs");
    let t = Instant::now();
    let first = fs::head(&path, 3).await?;
    println!("   {first:?} in {}", ms(t.elapsed()));
    check(
        first.len() == 3 && first[0].starts_with("10.0.0.0 GET /item/0 "),
        "the first three lines",
    )?;

    section("4. count_lines: one blocking hop for the whole file");
    let t = Instant::now();
    let counted = fs::count_lines(&path).await?;
    println!("   {counted} lines counted in {}", ms(t.elapsed()));
    check(counted == lines_written, "the count matches")?;
    println!("\nlines: done");
    Ok(())
}
