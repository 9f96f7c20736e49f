//! Walkthrough `files`: reading, writing, appending and copying files.
//!
//! Plain `tokio::fs` for the simple jobs; `aqueduct::io::fs` for the ones
//! that are easy to get wrong: `append_line` (one write per line, so
//! concurrent writers never interleave), `write_atomic` (a crash or an error
//! never leaves a half-written file) and `copy_with_progress` (a progress
//! bar, or the kernel's own copy when nobody watches). Every figure is
//! measured in this run, in a temp dir.
//!
//! Run it with `cargo xtask demo files`.

use std::io::Write;
use std::time::Instant;

use aqueduct::io::fs::{self, Progress};
use aqueduct_examples::{bar, check, ms, section};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;

    section("1. write and read a whole file (tokio::fs)");
    let notes = dir.path().join("notes.txt");
    tokio::fs::write(&notes, "first line\nsecond line\n").await?;
    let text = tokio::fs::read_to_string(&notes).await?;
    println!(
        "   wrote and read back {} bytes: {:?}",
        text.len(),
        text.lines().collect::<Vec<_>>()
    );
    check(text.lines().count() == 2, "two lines read back")?;

    section("2. append_line: one write per line, from 8 tasks at once");
    let log = dir.path().join("audit.log");
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    fs::append_line(&log, format!("worker {t} event {i:02} {}", "-".repeat(60)))
                        .await?;
                }
                Ok::<_, fs::FsError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let content = tokio::fs::read_to_string(&log).await?;
    let whole = content
        .lines()
        .filter(|l| l.starts_with("worker ") && l.len() == 78)
        .count();
    println!("   200 appends from 8 concurrent tasks: {whole} whole lines, none interleaved");
    check(whole == 200, "200 intact lines")?;

    section("3. write_atomic: the old content survives a failed write");
    let config = dir.path().join("config.toml");
    fs::write_atomic(&config, "port = 8080\n").await?;
    let failed = fs::write_atomic_with(&config, |f| {
        f.write_all(b"port = ")?; // half of the new content...
        Err(std::io::Error::other("generator crashed")) // ...then a failure
    })
    .await;
    let after = tokio::fs::read_to_string(&config).await?;
    let leftovers = std::fs::read_dir(dir.path())?.filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
    });
    let leftovers = leftovers.count();
    println!(
        "   failed write: {}",
        failed
            .as_ref()
            .map_or_else(ToString::to_string, |()| "ok?!".into())
    );
    println!(
        "   config still reads {:?}; temporary files left: {leftovers}",
        after.trim()
    );
    check(
        failed.is_err() && after == "port = 8080\n" && leftovers == 0,
        "old content intact, no temp file",
    )?;

    section("4. copy_with_progress: a 96 MiB copy with a progress bar");
    let src = dir.path().join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&src)?);
        let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        for _ in 0..96 {
            f.write_all(&block)?;
        }
        f.flush()?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let t = Instant::now();
    let copy = tokio::spawn(fs::copy_with_progress(
        src.clone(),
        dir.path().join("copy1.bin"),
        Some(move |p: Progress| {
            let _ = tx.send(p);
        }),
    ));
    let mut reports = 0;
    while let Some(p) = rx.recv().await {
        reports += 1;
        print!(
            "\r   [{}] {:>3.0}%",
            bar(p.copied, p.total, 40),
            p.fraction() * 100.0
        );
        std::io::stdout().flush()?;
    }
    let copied = copy.await??;
    let with_bar = t.elapsed();
    println!();
    #[allow(clippy::cast_precision_loss)]
    let mbps = |d: std::time::Duration| copied as f64 / 1e6 / d.as_secs_f64();
    println!(
        "   {copied} bytes in {} ({:.0} MB/s), {reports} progress reports",
        ms(with_bar),
        mbps(with_bar)
    );
    check(
        copied == 96 << 20 && reports == 96,
        "96 MiB copied with one report per MiB",
    )?;

    let t = Instant::now();
    let copied = fs::copy(&src, dir.path().join("copy2.bin")).await?;
    let kernel = t.elapsed();
    println!(
        "   without a callback the kernel copies: {} ({:.0} MB/s)",
        ms(kernel),
        mbps(kernel)
    );
    let same = tokio::fs::read(dir.path().join("copy1.bin")).await?
        == tokio::fs::read(dir.path().join("copy2.bin")).await?;
    check(copied == 96 << 20 && same, "both copies identical")?;
    println!("\nfiles: done");
    Ok(())
}
