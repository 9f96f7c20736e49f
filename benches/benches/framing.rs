//! Benchmarks of `aqueduct-framing` beside the crates it replaces.
//!
//! Run with `cargo xtask bench framing`, which prints the ratios.
//!
//! Decode groups measure the whole path a server takes per read: the input
//! bytes are copied into a `BytesMut` read buffer (as a socket read would)
//! and decoded to the last frame, either all at once (`whole`) or in 4 KiB
//! reads (`chunked`). Each function has its own codec and read buffer, both
//! kept across iterations as a connection keeps its own: the measurement is
//! the codec and how it manages that buffer in a connection's steady state,
//! not the allocator, and no function inherits a buffer shaped by another.
//! The `memcpy` function does only the copy: the ceiling.
//!
//! The cells each goal compares are measured next to each other in time:
//! for each frame size, the `whole` functions run with ours last, then the
//! `chunked` ones with ours first. On a shared machine whose speed drifts
//! over minutes, ours fed whole and ours fed in chunks (and ours and the
//! anchor in each mode) then meet the same drift.

use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aqueduct_benches::framing::{
    CHUNK, DELIMITED_SIZES, MAX, Run, SIZES, TEXT_SIZES, chunked, delimited_input, label,
    length_input, line_input, memcpy_whole, ours_delimiter, ours_length, text_input,
    theirs_delimiter, theirs_length, whole,
};
use aqueduct_framing::{FrameReader, FrameWriter, LineCodec, Utf8LineCodec};
use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use tokio::io::AsyncWrite;
use tokio_util::codec::{Decoder, FramedRead, FramedWrite, LinesCodec};

fn memcpy_chunked(buf: &mut BytesMut, input: &[u8]) -> usize {
    buf.clear();
    let mut n = 0;
    for chunk in input.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        black_box(&buf);
        n += buf.len();
        buf.clear();
    }
    n
}

/// Makes a function under test, in its fresh state.
type MakeRun = fn() -> Run;

/// The copy alone, whole and in 4 KiB pieces.
const MEMCPY: (&str, MakeRun, MakeRun) = (
    "memcpy",
    || {
        let mut buf = BytesMut::new();
        Box::new(move |input| memcpy_whole(&mut buf, input))
    },
    || {
        let mut buf = BytesMut::new();
        Box::new(move |input| memcpy_chunked(&mut buf, input))
    },
);

/// Our text lines, whole and in 4 KiB pieces.
const UTF8_LINES: (&str, MakeRun, MakeRun) = (
    "aqueduct",
    || whole(Utf8LineCodec::new().with_max_length(MAX)),
    || chunked(Utf8LineCodec::new().with_max_length(MAX)),
);

/// tokio-util's text lines, whole and in 4 KiB pieces.
const LINES_CODEC: (&str, MakeRun, MakeRun) = (
    "tokio-util",
    || whole(LinesCodec::new_with_max_length(MAX)),
    || chunked(LinesCodec::new_with_max_length(MAX)),
);

/// A group named `name` whose functions each handle `bytes` bytes per
/// iteration, with the timing every framing group uses.
fn group(c: &mut Criterion, name: String, bytes: usize) -> BenchmarkGroup<'_, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2000))
        .sample_size(20)
        .throughput(Throughput::Bytes(bytes as u64));
    group
}

fn decode_group(
    c: &mut Criterion,
    name: &str,
    sizes: &[usize],
    input: fn(usize) -> Vec<u8>,
    functions: &[(&str, MakeRun, MakeRun)],
) {
    for &size in sizes {
        let data = input(size);
        for (mode, whole) in [("whole", true), ("chunked", false)] {
            // The same group is opened once per size: its cells stay
            // together in the reports, and the order of measurement is ours.
            let mut group = group(c, format!("framing/{name}/{mode}"), data.len());
            let order: Vec<_> = if whole {
                functions.iter().rev().collect()
            } else {
                functions.iter().collect()
            };
            for (id, make_whole, make_chunked) in order {
                let mut run = if whole { make_whole() } else { make_chunked() };
                group.bench_with_input(BenchmarkId::new(*id, label(size)), &data, |b, data| {
                    b.iter(|| run(data));
                });
            }
            group.finish();
        }
    }
}

fn lines(c: &mut Criterion) {
    decode_group(
        c,
        "lines",
        SIZES,
        line_input,
        &[
            UTF8_LINES,
            (
                "aqueduct-bytes",
                || whole(LineCodec::new().with_max_length(MAX)),
                || chunked(LineCodec::new().with_max_length(MAX)),
            ),
            LINES_CODEC,
            MEMCPY,
        ],
    );
}

/// Lines of text that is mostly not ASCII: validation beyond an ASCII scan.
fn text(c: &mut Criterion) {
    decode_group(
        c,
        "text",
        TEXT_SIZES,
        text_input,
        &[UTF8_LINES, LINES_CODEC, MEMCPY],
    );
}

fn length(c: &mut Criterion) {
    decode_group(
        c,
        "length",
        SIZES,
        length_input,
        &[
            (
                "aqueduct",
                || whole(ours_length()),
                || chunked(ours_length()),
            ),
            (
                "tokio-util",
                || whole(theirs_length()),
                || chunked(theirs_length()),
            ),
            MEMCPY,
        ],
    );
}

fn delimiter(c: &mut Criterion) {
    decode_group(
        c,
        "delimiter",
        DELIMITED_SIZES,
        delimited_input,
        &[
            (
                "aqueduct",
                || whole(ours_delimiter()),
                || chunked(ours_delimiter()),
            ),
            (
                "tokio-util",
                || whole(theirs_delimiter()),
                || chunked(theirs_delimiter()),
            ),
        ],
    );
}

/// A socket stand-in that accepts every byte, vectored or not, and keeps
/// only a count: the cost measured is the framing, not the kernel.
#[derive(Debug, Default)]
struct Discard(u64);

impl AsyncWrite for Discard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0 += black_box(buf).len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n: usize = black_box(bufs).iter().map(|b| b.len()).sum();
        self.0 += n as u64;
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn writer(c: &mut Criterion) {
    const FRAMES: usize = 16;
    let size = 64 * 1024;
    let payload = Bytes::from(vec![0x5a; size]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = group(c, "framing/write".to_owned(), FRAMES * (size + 4));
    let param = label(size);
    group.bench_function(BenchmarkId::new("aqueduct", &param), |b| {
        b.to_async(&rt).iter(|| async {
            let mut w = FrameWriter::new(Discard::default(), ours_length());
            for _ in 0..FRAMES {
                w.feed(payload.clone()).await.unwrap();
            }
            w.flush().await.unwrap();
            w.into_inner().0
        });
    });
    group.bench_function(BenchmarkId::new("tokio-util", &param), |b| {
        b.to_async(&rt).iter(|| async {
            let mut w = FramedWrite::new(Discard::default(), theirs_length());
            for _ in 0..FRAMES {
                w.feed(payload.clone()).await.unwrap();
            }
            SinkExt::<Bytes>::flush(&mut w).await.unwrap();
            w.into_inner().0
        });
    });
    group.finish();
}

/// Polls `frames` to its end; the input is in memory, so it is always
/// ready. Returns the bytes framed.
fn drain<S, T, E>(mut frames: S) -> usize
where
    S: Stream<Item = Result<T, E>> + Unpin,
    T: AsRef<[u8]>,
    E: std::fmt::Debug,
{
    let mut total = 0;
    while let Some(frame) = frames.next().now_or_never().expect("in memory: ready") {
        total += frame.unwrap().as_ref().len();
    }
    total
}

/// The streams that drive a codec: `FrameReader` beside `FramedRead`, both
/// with our codec, over an in-memory reader (each read copies into the
/// stream's buffer, as a socket read would). What differs is the driver.
fn reader(c: &mut Criterion) {
    read_group(c, "lines", 64, line_input, &LineCodec::new());
    read_group(c, "length", 64 * 1024, length_input, &ours_length());
}

/// `framing/read/{name}`: `input(size)` through each stream with `codec`.
fn read_group<D>(c: &mut Criterion, name: &str, size: usize, input: fn(usize) -> Vec<u8>, codec: &D)
where
    D: Decoder + Clone,
    D::Item: AsRef<[u8]>,
    D::Error: std::fmt::Debug + From<io::Error>,
{
    let input = input(size);
    let mut group = group(c, format!("framing/read/{name}"), input.len());
    let param = label(size);
    let wire = &input[..];
    group.bench_function(BenchmarkId::new("aqueduct", &param), |b| {
        b.iter(|| drain(FrameReader::new(wire, codec.clone())));
    });
    group.bench_function(BenchmarkId::new("tokio-util", &param), |b| {
        b.iter(|| drain(FramedRead::new(wire, codec.clone())));
    });
    group.finish();
}

criterion_group!(benches, lines, text, length, delimiter, writer, reader);
criterion_main!(benches);
