//! Oracles shared by the fuzz targets.
//!
//! Every target checks, for one decoder configuration taken from the input:
//! 1. decoding never panics, and every frame respects the maximum;
//! 2. feeding the input whole and in small reads gives the same frames and
//!    the same error kinds in the same order;
//! 3. the decoded frames, encoded again and decoded, come back unchanged.

#![allow(dead_code)]

use aqueduct_framing::FrameError;
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

/// A decoded frame, or the kind of error in its place.
pub type Outcome<T> = Result<T, &'static str>;

pub fn kind(error: &FrameError) -> &'static str {
    match error {
        FrameError::TooLong { .. } => "too long",
        FrameError::Truncated { .. } => "truncated",
        FrameError::PayloadOverMax { .. } => "payload over max",
        FrameError::PayloadTooLong { .. } => "payload too long",
        FrameError::PayloadTooShort { .. } => "payload too short",
        FrameError::NegativeLength { .. } => "negative length",
        FrameError::VarintOverflow { .. } => "varint overflow",
        FrameError::DelimiterInPayload { .. } => "delimiter in payload",
        FrameError::WrongSize { .. } => "wrong size",
        FrameError::InvalidUtf8 { .. } => "invalid utf-8",
        FrameError::PayloadNotUtf8 { .. } => "payload not utf-8",
        FrameError::Io(_) => "io",
        _ => "other",
    }
}

/// Most outcomes `input` may decode to: more means a decoder that loops,
/// which is a failure, not a hang.
fn limit(input: &[u8]) -> usize {
    input.len() * 2 + 16
}

/// Decodes `input` fed in reads of `chunk` bytes (0 = all at once), going
/// on after errors, with no end of stream: the outcomes, and the bytes left
/// buffered.
pub fn decode_reads<D>(
    codec: &mut D,
    input: &[u8],
    chunk: usize,
) -> (Vec<Outcome<D::Item>>, BytesMut)
where
    D: Decoder<Error = FrameError>,
{
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let chunk = if chunk == 0 { input.len().max(1) } else { chunk };
    let limit = limit(input);
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            assert!(out.len() <= limit, "decoder does not make progress");
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(e) => out.push(Err(kind(&e))),
            }
        }
    }
    (out, buf)
}

/// Decodes `input` as [`decode_reads`] does, then at end of stream.
/// Bounded so a decoder that loops is a failure, not a hang.
pub fn decode_all<D>(codec: &mut D, input: &[u8], chunk: usize) -> Vec<Outcome<D::Item>>
where
    D: Decoder<Error = FrameError>,
{
    let (mut out, mut buf) = decode_reads(codec, input, chunk);
    let limit = limit(input);
    loop {
        assert!(out.len() <= limit, "decoder does not make progress at eof");
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => break,
            Err(e) => out.push(Err(kind(&e))),
        }
    }
    assert!(buf.is_empty(), "bytes left after eof: {}", buf.len());
    out
}

/// Whole and chunked feeding agree; returns the whole-fed outcomes.
pub fn whole_equals_chunked<D, F>(make: F, input: &[u8], chunk: usize) -> Vec<Outcome<D::Item>>
where
    D: Decoder<Error = FrameError>,
    D::Item: PartialEq + std::fmt::Debug,
    F: Fn() -> D,
{
    let whole = decode_all(&mut make(), input, 0);
    let chunked = decode_all(&mut make(), input, chunk.max(1));
    assert_eq!(whole, chunked, "chunk size {chunk}");
    whole
}

/// Encodes `frames` with `encoder`, decodes them with `decoder`, and checks
/// they come back unchanged.
pub fn round_trip<E, D, T>(encoder: &mut E, decoder: &mut D, frames: &[T])
where
    E: Encoder<T, Error = FrameError>,
    D: Decoder<Item = T, Error = FrameError>,
    T: Clone + PartialEq + std::fmt::Debug,
{
    let mut wire = BytesMut::new();
    for frame in frames {
        encoder
            .encode(frame.clone(), &mut wire)
            .expect("a decoded frame must encode");
    }
    let back: Vec<T> = decode_all(decoder, &wire, 7)
        .into_iter()
        .map(|r| r.expect("an encoded frame must decode"))
        .collect();
    assert_eq!(&back, frames);
}
