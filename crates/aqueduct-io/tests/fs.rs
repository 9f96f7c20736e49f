//! Behaviour of the `fs` module on real files in temp dirs.
// Under `--cfg loom` tokio has no sockets, files or signals to test.
#![cfg(not(loom))]

use std::io::Write;

use aqueduct_io::adapt::CountingRead;
use aqueduct_io::fs::{self, FsError, LineOptions, Progress};
use futures::{StreamExt, TryStreamExt};

fn big_file(dir: &std::path::Path, lines: usize) -> (std::path::PathBuf, Vec<String>) {
    let path = dir.join("big.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut expect = Vec::with_capacity(lines);
    for i in 0..lines {
        let line = format!("{i:08} {}", "x".repeat(i % 97));
        writeln!(f, "{line}").unwrap();
        expect.push(line);
    }
    f.flush().unwrap();
    (path, expect)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_lines_matches_std_on_a_multi_chunk_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expect) = big_file(dir.path(), 50_000); // ~3 MiB, a dozen chunks
    let got: Vec<String> = fs::read_lines(&path).try_collect().await.unwrap();
    assert_eq!(got, expect);
    // Small chunks: many lines straddle chunk boundaries.
    let got: Vec<String> = fs::read_lines_with(&path, LineOptions::new().chunk_size(4096))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got, expect);
    assert_eq!(fs::count_lines(&path).await.unwrap(), 50_000);
}

#[tokio::test]
async fn every_line_reader_cuts_lines_as_std_lines_does() {
    use std::io::BufRead;
    // Terminators in every place, a final lone `\r` among them, and `\r\n`s
    // split between two chunks (4 KiB here) or two of `head`'s 8 KiB reads.
    let mut inputs: Vec<String> = [
        "",
        "\n",
        "\r",
        "\r\n",
        "a",
        "a\n",
        "a\r",
        "a\r\n",
        "a\nb\r",
        "a\r\nb\r",
        "a\rb",
        "a\rb\n",
        "a\r\r",
        "a\r\r\n",
        "\n\r",
        "\r\r\n\r",
        "a\n\nb\r\n\r\n",
    ]
    .map(String::from)
    .to_vec();
    for before in [4095, 8191] {
        inputs.push(format!("{}\r\nnext\r", "x".repeat(before)));
        inputs.push(format!("{}\r\r\nnext", "x".repeat(before - 1)));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.txt");
    for input in &inputs {
        std::fs::write(&path, input).unwrap();
        let expect: Vec<String> = input.as_bytes().lines().map(Result::unwrap).collect();
        let shown = input.escape_debug().to_string();
        let shown = if shown.len() > 40 {
            &shown[shown.len() - 40..]
        } else {
            &shown[..]
        };
        for opts in [LineOptions::new(), LineOptions::new().chunk_size(4096)] {
            let text: Vec<String> = fs::read_lines_with(&path, opts)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(text, expect, "read_lines of \"...{shown}\"");
            let bytes: Vec<bytes::Bytes> = fs::read_byte_lines(&path, opts)
                .try_collect()
                .await
                .unwrap();
            let bytes: Vec<&[u8]> = bytes.iter().map(|l| &l[..]).collect();
            let expect_bytes: Vec<&[u8]> = expect.iter().map(String::as_bytes).collect();
            assert_eq!(bytes, expect_bytes, "read_byte_lines of \"...{shown}\"");
        }
        assert_eq!(
            fs::head(&path, usize::MAX).await.unwrap(),
            expect,
            "head of \"...{shown}\""
        );
        assert_eq!(
            fs::head_from(input.as_bytes(), usize::MAX).await.unwrap(),
            expect,
            "head_from of \"...{shown}\""
        );
    }
}

#[tokio::test]
async fn dropping_the_stream_early_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expect) = big_file(dir.path(), 20_000);
    let mut lines = fs::read_lines_with(&path, LineOptions::new().chunk_size(4096).read_ahead(1));
    let first: Vec<String> = (&mut lines).take(3).try_collect().await.unwrap();
    assert_eq!(first, expect[..3]);
    drop(lines); // the reader thread notices the closed channel and stops
}

#[tokio::test]
async fn head_reads_no_more_than_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expect) = big_file(dir.path(), 200_000); // ~10 MiB
    let needed: usize = expect[..5].iter().map(|l| l.len() + 1).sum();
    let file = tokio::fs::File::open(&path).await.unwrap();
    let reader = CountingRead::new(file);
    let counter = reader.counter();
    let lines = fs::head_from(reader, 5).await.unwrap();
    assert_eq!(lines, expect[..5]);
    let read = counter.get() as usize;
    assert!(
        read >= needed && read <= needed + 8 * 1024,
        "read {read} bytes for {needed}"
    );
    assert_eq!(fs::head(&path, 5).await.unwrap(), expect[..5]);
    assert!(fs::head(&path, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn write_atomic_leaves_the_old_file_intact_when_the_write_fails_midway() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write_atomic(&path, b"{\"version\": 1}").await.unwrap();
    let err = fs::write_atomic_with(&path, |f| {
        f.write_all(&vec![b'#'; 1 << 20])?; // a megabyte of the new content...
        Err(std::io::Error::other("disk full")) // ...then the write fails
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, FsError::Write { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"version\": 1}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["state.json"], "no temporary file left behind");
}

#[tokio::test]
async fn write_atomic_into_a_missing_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("f");
    let err = fs::write_atomic(&path, "x").await.unwrap_err();
    assert!(matches!(err, FsError::Open { .. }));
    assert!(err.to_string().contains("missing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_from_many_tasks_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let path = std::sync::Arc::new(dir.path().join("log"));
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let path = std::sync::Arc::clone(&path);
            tokio::spawn(async move {
                for i in 0..50 {
                    fs::append_line(
                        &*path,
                        format!("task {t:02} entry {i:03} {}", "=".repeat(200)),
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let content = std::fs::read_to_string(&*path).unwrap();
    let lines: Vec<_> = content.lines().collect();
    assert_eq!(lines.len(), 800);
    assert!(
        lines
            .iter()
            .all(|l| l.len() == 218 && l.starts_with("task "))
    );
    let err = fs::append_line(&*path, "a\rb").await.unwrap_err();
    assert!(matches!(err, FsError::EmbeddedNewline { at: 1, .. }));
}

#[tokio::test]
async fn copy_with_progress_reports_monotonically() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let data: Vec<u8> = (0..5_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = std::sync::Arc::clone(&reports);
    let n = fs::copy_with_progress(
        &src,
        &dst,
        Some(move |p: Progress| r.lock().unwrap().push(p)),
    )
    .await
    .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 6, "one report per MiB chunk");
    assert!(reports.windows(2).all(|w| w[0].copied < w[1].copied));
    assert_eq!(
        reports.last().unwrap().copied,
        reports.last().unwrap().total
    );
    let err = fs::copy(dir.path().join("nope"), &dst).await.unwrap_err();
    assert!(matches!(err, FsError::Copy { .. }));
}

#[tokio::test]
async fn an_unlimited_line_length_reads_lines_spanning_chunks() {
    // `usize::MAX` is how a caller says "no limit"; a line longer than a
    // chunk must still come through whole, from both line streams.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.txt");
    let long = "z".repeat(10_000);
    std::fs::write(&path, format!("{long}\r\nshort\n{long}")).unwrap();
    let opts = LineOptions::new()
        .chunk_size(4096)
        .max_line_length(usize::MAX);
    let text: Vec<String> = fs::read_lines_with(&path, opts)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(text, [long.as_str(), "short", long.as_str()]);
    let bytes: Vec<bytes::Bytes> = fs::read_byte_lines(&path, opts)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(bytes, [long.as_bytes(), b"short", long.as_bytes()]);
}

#[tokio::test]
async fn a_reader_that_fails_ends_the_stream_with_an_error_not_a_silent_end() {
    // A chunk too large to allocate makes the reader thread panic; the
    // stream must not look like a file that simply has no (more) lines.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "one\ntwo\n").unwrap();
    let opts = LineOptions::new().chunk_size(usize::MAX);
    let text: Vec<_> = fs::read_lines_with(&path, opts).collect().await;
    assert!(
        matches!(text[..], [Err(FsError::TaskFailed { .. })]),
        "{text:?}"
    );
    let bytes: Vec<_> = fs::read_byte_lines(&path, opts).collect().await;
    assert!(
        matches!(bytes[..], [Err(FsError::TaskFailed { .. })]),
        "{bytes:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn write_atomic_through_a_symlink_replaces_the_file_it_points_to() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.toml");
    let link = dir.path().join("link.toml");
    std::fs::write(&real, "old\n").unwrap();
    std::os::unix::fs::symlink("real.toml", &link).unwrap();
    fs::write_atomic(&link, "new\n").await.unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is kept"
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // A dangling link: its target is created, the link kept.
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("created"), &dangling).unwrap();
    fs::write_atomic(&dangling, "made").await.unwrap();
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("created")).unwrap(),
        "made"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn write_atomic_keeps_the_owner_and_group_of_the_file_it_replaces() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
    let dir = tempfile::tempdir().unwrap();
    // What a new file here gets: what the temporary file will have.
    let scratch = dir.path().join("scratch");
    std::fs::write(&scratch, "").unwrap();
    let created = std::fs::metadata(&scratch).unwrap();
    let root = created.uid() == 0;
    // Another group this user may give a file to: one of its supplementary
    // groups, or for root any group at all.
    let mut candidates: Vec<u32> = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("Groups:"))
        .flat_map(|groups| groups.split_whitespace().filter_map(|g| g.parse().ok()))
        .collect();
    if root {
        candidates.extend([1, 2, 60_000]);
    }
    let Some(gid) = candidates
        .into_iter()
        .find(|&g| g != created.gid() && chown(&scratch, None, Some(g)).is_ok())
    else {
        println!("skipped: this user belongs to no second group to test with");
        return;
    };
    let path = dir.path().join("shared.conf");
    std::fs::write(&path, "old").unwrap();
    chown(&path, None, Some(gid)).unwrap();
    fs::write_atomic(&path, "new").await.unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(meta.gid(), gid, "the group is kept");
    assert_eq!(meta.uid(), created.uid());
    if root {
        // Root may give the file to anyone: the owner is kept too, and so are
        // the set-user-ID and set-group-ID bits, which a change of owner
        // clears if it comes after the permissions are set.
        let uid = 60_001;
        chown(&path, Some(uid), None).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o6750)).unwrap();
        fs::write_atomic(&path, "newer").await.unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "newer");
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "owner and group kept");
        assert_eq!(meta.mode() & 0o7777, 0o6750);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn copying_a_file_onto_itself_is_refused_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    std::fs::write(&path, "precious").unwrap();
    let err = fs::copy_with_progress(&path, &path, Some(|_: Progress| {}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FsError::Copy { to, .. } if to == &path),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    let err = fs::copy(&path, &path).await.unwrap_err();
    assert!(matches!(err, FsError::Copy { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    // Another name for the same file.
    let other = dir.path().join("hard-link.bin");
    std::fs::hard_link(&path, &other).unwrap();
    assert!(fs::copy(&path, &other).await.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_the_stream_stops_a_reader_in_the_middle_of_a_long_line() {
    use std::os::fd::AsRawFd;
    use tokio::io::AsyncWriteExt;
    // A pipe, opened by path, that never ends and never sends a line break.
    let (mut tx, rx) = tokio::net::unix::pipe::pipe().unwrap();
    let path = format!("/proc/self/fd/{}", rx.as_raw_fd());
    let opts = LineOptions::new()
        .chunk_size(4096)
        .max_line_length(usize::MAX);
    let mut lines = fs::read_lines_with(&path, opts);
    let block = [b'x'; 4096];
    assert!(futures::FutureExt::now_or_never(lines.next()).is_none());
    // More than the pipe buffer holds: this returns once the reader thread
    // has opened the pipe and is reading the line.
    tx.write_all(&[b'x'; 256 << 10]).await.unwrap();
    drop(lines);
    drop(rx);
    // Once the reader thread stops, nothing reads the pipe: writing to it
    // fails. The pipe buffer holds 64 KiB, so that comes well before 4 MiB.
    let mut written = 0;
    let stopped = loop {
        if written >= 4 << 20 {
            break false;
        }
        match tx.write_all(&block).await {
            Ok(()) => written += block.len(),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break true,
            Err(e) => panic!("{e}"),
        }
    };
    drop(tx); // lets a reader that did not stop see the end of the pipe
    assert!(stopped, "the reader thread still read {written} bytes");
}

#[tokio::test]
async fn the_last_progress_report_is_complete_when_the_source_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::write(&src, vec![1u8; 3 << 20]).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let shrink = src.clone();
    let n = fs::copy_with_progress(
        &src,
        &dst,
        Some(move |p: Progress| {
            if p.copied == 1 << 20 {
                // Someone truncates the file while it is copied.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&shrink)
                    .unwrap()
                    .set_len(3 << 19)
                    .unwrap();
            }
            tx.send(p).unwrap();
        }),
    )
    .await
    .unwrap();
    assert_eq!(n, 3 << 19);
    let last = rx.try_iter().last().unwrap();
    assert_eq!(last.copied, n);
    assert_eq!(last.total, n, "{last:?}");
    assert_eq!(last.fraction(), 1.0);
}

#[tokio::test]
async fn write_atomic_takes_a_file_name_of_the_longest_length_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("é".repeat(127)); // 254 bytes, under NAME_MAX
    std::fs::write(&path, "old").unwrap();
    fs::write_atomic(&path, "new").await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
