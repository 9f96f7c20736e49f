//! The framing goals measured in pairs: each goal's two sides alternate in
//! short batches, and every round gives one ratio.
//!
//! criterion measures each function alone, in a window of a few seconds,
//! and the bench's table divides one function's median by another's. On a
//! machine whose speed changes from one second to the next (a virtual
//! machine whose cores are shared with other guests), two functions
//! measured seconds apart can meet different speeds, and the ratio of their
//! medians then measures the machine as much as the code. Here both sides
//! of a goal run within a few milliseconds of each other, in A-B-B-A order
//! so drift within a round cancels, and the report is the median of the
//! rounds' ratios with its quartiles. The work per side is the criterion
//! bench's own (the same inputs, codecs and decode loops, from
//! `aqueduct_benches::framing`), each side with its own codec and read
//! buffer kept across rounds.
//!
//! `cargo run --release -p aqueduct-benches --bin framing_paired`
//! (run by `cargo xtask bench framing`, after the criterion bench).

use std::time::{Duration, Instant};

use aqueduct_benches::Spread;
use aqueduct_benches::framing::{
    BareLength, CHUNK, DELIMITED_SIZES, MAX, Run, SIZES, chunked, delimited_input, label,
    length_input, line_input, memcpy_whole, ours_delimiter, ours_length, theirs_length, whole,
};
use aqueduct_framing::{LineCodec, Utf8LineCodec};
use bytes::BytesMut;
use tokio_util::codec::{Decoder, LinesCodec};

/// Rounds per pair; each gives one ratio.
const ROUNDS: usize = 41;
/// Time each side runs per round (a whole number of calls, at least one).
const BATCH: Duration = Duration::from_millis(8);
/// Time each side runs before the first round.
const WARM_UP: Duration = Duration::from_millis(100);

/// One goal's comparison in one cell: `ours` time over `other` time.
struct Pair {
    goal: &'static str,
    cell: String,
    /// The ratio at or below which the goal holds; none for a reference
    /// figure.
    limit: Option<f64>,
    ours: Run,
    other: Run,
    input: Vec<u8>,
}

fn main() {
    let mut pairs = Vec::new();
    for mode in ["whole", "chunked"] {
        let feed = |utf8: bool| -> Run {
            match (mode, utf8) {
                ("whole", true) => whole(Utf8LineCodec::new().with_max_length(MAX)),
                ("whole", false) => whole(LinesCodec::new_with_max_length(MAX)),
                (_, true) => chunked(Utf8LineCodec::new().with_max_length(MAX)),
                (_, false) => chunked(LinesCodec::new_with_max_length(MAX)),
            }
        };
        pairs.push(Pair {
            goal: "Utf8LineCodec >= 2x LinesCodec, 64 B",
            cell: format!("{mode} 64B"),
            limit: Some(0.5),
            ours: feed(true),
            other: feed(false),
            input: line_input(64),
        });
    }
    for &size in SIZES {
        for mode in ["whole", "chunked"] {
            let (ours, other) = if mode == "whole" {
                (whole(ours_length()), whole(theirs_length()))
            } else {
                (chunked(ours_length()), chunked(theirs_length()))
            };
            let (goal, limit) = if size == 64 {
                (
                    "LengthPrefixedCodec >= 1.2x LengthDelimitedCodec, 64 B",
                    1.0 / 1.2,
                )
            } else {
                ("LengthPrefixedCodec >= 1.0x LengthDelimitedCodec", 1.0)
            };
            pairs.push(Pair {
                goal,
                cell: format!("{mode} {}", label(size)),
                limit: Some(limit),
                ours,
                other,
                input: length_input(size),
            });
        }
    }
    for &size in SIZES {
        pairs.push(chunked_against_whole(
            "Utf8LineCodec",
            size,
            Utf8LineCodec::new().with_max_length(MAX),
            line_input,
        ));
        pairs.push(chunked_against_whole(
            "LineCodec",
            size,
            LineCodec::new().with_max_length(MAX),
            line_input,
        ));
        pairs.push(chunked_against_whole(
            "LengthPrefixedCodec",
            size,
            ours_length(),
            length_input,
        ));
    }
    for &size in DELIMITED_SIZES {
        pairs.push(chunked_against_whole(
            "DelimiterCodec",
            size,
            ours_delimiter(),
            delimited_input,
        ));
    }

    // What feeding in reads costs before any decoding: the bench's 4 KiB
    // copies into one frame's room (a length-prefixed decoder's read
    // buffer holds one large frame and is reused from its start) against
    // one copy of the whole input.
    for &size in &SIZES[3..] {
        let room = size + 4 + 8 * 1024;
        let mut region = BytesMut::with_capacity(room);
        let mut all = BytesMut::new();
        pairs.push(Pair {
            goal: "reference: the 4 KiB copies alone, against one copy",
            cell: label(size),
            limit: None,
            ours: Box::new(move |input| {
                region.clear();
                for chunk in input.chunks(CHUNK) {
                    if region.len() + chunk.len() > room {
                        region.clear();
                    }
                    region.extend_from_slice(chunk);
                    std::hint::black_box(&region);
                }
                region.len()
            }),
            other: Box::new(move |input| memcpy_whole(&mut all, input)),
            input: length_input(size),
        });
    }

    // The floors under the length-prefixed goals at the sizes where the
    // copies are nearly all the work. A decoder that does the least
    // (`BareLength`) fed in reads, against ours fed whole, and ours against
    // it, both fed in reads: what feeding in reads costs any decoder, and
    // what ours adds. The same two fed whole, against `LengthDelimitedCodec`
    // and against each other: how far below parity any decoder can go.
    for &size in &SIZES[3..] {
        pairs.extend([
            length_reference(
                "reference: a bare length decoder in reads, against ours whole",
                size,
                chunked(BareLength::default()),
                whole(ours_length()),
            ),
            length_reference(
                "reference: ours in reads, against a bare length decoder in reads",
                size,
                chunked(ours_length()),
                chunked(BareLength::default()),
            ),
            length_reference(
                "reference: a bare length decoder whole, against LengthDelimitedCodec whole",
                size,
                whole(BareLength::default()),
                whole(theirs_length()),
            ),
            length_reference(
                "reference: ours whole, against a bare length decoder whole",
                size,
                whole(ours_length()),
                whole(BareLength::default()),
            ),
        ]);
    }

    println!("| goal | cell | ratio, median of {ROUNDS} rounds | quartiles | goal | met |");
    println!("|---|---|---:|---:|---:|---|");
    let mut met = 0;
    let mut total = 0;
    for mut pair in pairs {
        let outcome = measure(&mut pair);
        let (limit, holds) = match pair.limit {
            Some(limit) => {
                let holds = outcome.median <= limit;
                met += usize::from(holds);
                total += 1;
                (
                    format!("≤ {limit:.2}"),
                    if holds { "yes" } else { "**no**" },
                )
            }
            None => ("—".to_owned(), "—"),
        };
        println!(
            "| {} | {} | {:.2} | {:.2}–{:.2} | {limit} | {holds} |",
            pair.goal, pair.cell, outcome.median, outcome.low, outcome.high,
        );
    }
    println!(
        "\nratio = time ours / time of the other side, both measured in the same round: \
         below 1.00 is faster. {met} of {total} cells meet their goal."
    );
}

/// Our `codec` fed in chunks against a copy of it fed whole, on
/// `input(size)`.
fn chunked_against_whole<D>(name: &str, size: usize, codec: D, input: fn(usize) -> Vec<u8>) -> Pair
where
    D: Decoder + Clone + 'static,
    D::Error: std::fmt::Debug,
{
    Pair {
        goal: "ours chunked within 10% of ours whole",
        cell: format!("{name} {}", label(size)),
        limit: Some(1.1),
        ours: chunked(codec.clone()),
        other: whole(codec),
        input: input(size),
    }
}

/// A reference figure (no goal) on `size`-byte length-prefixed frames:
/// `ours` time over `other` time.
fn length_reference(what: &'static str, size: usize, ours: Run, other: Run) -> Pair {
    Pair {
        goal: what,
        cell: label(size),
        limit: None,
        ours,
        other,
        input: length_input(size),
    }
}

/// Runs both sides of `pair` in alternating batches; the rounds' ratios.
fn measure(pair: &mut Pair) -> Spread {
    let ours_calls = calls_per_batch(&mut pair.ours, &pair.input);
    let other_calls = calls_per_batch(&mut pair.other, &pair.input);
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (ours, other) = if round % 2 == 0 {
            let ours = per_call(&mut pair.ours, &pair.input, ours_calls);
            (ours, per_call(&mut pair.other, &pair.input, other_calls))
        } else {
            let other = per_call(&mut pair.other, &pair.input, other_calls);
            (per_call(&mut pair.ours, &pair.input, ours_calls), other)
        };
        ratios.push(ours / other);
    }
    Spread::of(ratios)
}

/// Warms `run` up; how many calls take about [`BATCH`].
fn calls_per_batch(run: &mut Run, input: &[u8]) -> u32 {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < WARM_UP {
        std::hint::black_box(run(input));
        calls += 1;
    }
    let each = start.elapsed() / calls;
    (BATCH.as_nanos() / each.as_nanos().max(1)).clamp(1, u32::MAX.into()) as u32
}

/// Seconds per call over `calls` calls.
fn per_call(run: &mut Run, input: &[u8], calls: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(run(input));
    }
    start.elapsed().as_secs_f64() / f64::from(calls)
}
