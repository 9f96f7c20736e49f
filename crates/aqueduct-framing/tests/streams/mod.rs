//! Helpers shared by the tests of the streams that drive the codecs
//! (`FramedRead`, `FrameReader`): polling them step by step, naming what
//! they yield, and every codec under the same settings.

use std::fmt::{Debug, Display};

use aqueduct_framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, LengthPrefixedCodec, LineCodec, Oversize,
    Utf8LineCodec,
};
use futures::{FutureExt, Stream, StreamExt};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// One poll of `stream`: a frame (as text), an error (its message), `end`,
/// or `waiting` when it has nothing to give without more bytes.
pub(crate) fn step<S, T, E>(stream: &mut S) -> String
where
    S: Stream<Item = Result<T, E>> + Unpin,
    T: AsRef<[u8]>,
    E: Display,
{
    match stream.next().now_or_never() {
        Some(Some(Ok(frame))) => String::from_utf8_lossy(frame.as_ref()).into_owned(),
        Some(Some(Err(e))) => format!("error: {e}"),
        Some(None) => "end".to_owned(),
        None => "waiting".to_owned(),
    }
}

/// `n` polls of `stream`, as [`step`] names them.
pub(crate) fn steps<S, T, E>(stream: &mut S, n: usize) -> Vec<String>
where
    S: Stream<Item = Result<T, E>> + Unpin,
    T: AsRef<[u8]>,
    E: Display,
{
    (0..n).map(|_| step(stream)).collect()
}

/// A frame as its bytes, or an error by its `Debug` (with its lengths).
pub(crate) fn item<T: AsRef<[u8]>>(item: Result<T, FrameError>) -> String {
    match item {
        Ok(frame) => format!("{:?}", frame.as_ref()),
        Err(e) => format!("{e:?}"),
    }
}

/// Up to 8 reads of up to 11 bytes, from bytes that frame in every codec.
pub(crate) fn reads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let byte = prop::sample::select(vec![b'a', b'\n', b'\r', b'#', b',', 0, 1, 2, 3, 0xFF]);
    prop::collection::vec(prop::collection::vec(byte, 0..12), 1..8)
}

/// A check that [`every_codec`] runs on each codec.
pub(crate) trait Check {
    fn check<D>(&mut self, codec: &D) -> Result<(), TestCaseError>
    where
        D: Decoder<Error = FrameError> + Clone + Debug,
        D::Item: AsRef<[u8]>;
}

/// Runs `c` on every codec (two length-prefixed settings), with `max` as
/// the maximum frame length (a fixed frame is `max + 1` bytes), a final
/// unterminated frame allowed or not (`partial`), and over-long
/// length-prefixed frames skipped or refused (`skip`).
pub(crate) fn every_codec(
    max: usize,
    partial: bool,
    skip: bool,
    c: &mut impl Check,
) -> Result<(), TestCaseError> {
    let oversize = if skip {
        Oversize::Skip
    } else {
        Oversize::Error
    };
    c.check(
        &LineCodec::new()
            .with_max_length(max)
            .with_partial_at_eof(partial),
    )?;
    c.check(
        &Utf8LineCodec::new()
            .with_max_length(max)
            .with_partial_at_eof(partial),
    )?;
    c.check(
        &DelimiterCodec::new(b"##")
            .with_max_length(max)
            .with_partial_at_eof(partial),
    )?;
    c.check(&DelimiterCodec::any_of(b"#,").with_max_length(max))?;
    c.check(
        &LengthPrefixedCodec::builder()
            .length_field_width(1)
            .max_frame_length(max)
            .oversize(oversize)
            .build(),
    )?;
    c.check(
        &LengthPrefixedCodec::builder()
            .varint()
            .length_adjustment(-1)
            .max_frame_length(max)
            .oversize(oversize)
            .build(),
    )?;
    c.check(&FixedSizeCodec::new(max + 1))
}

/// A check that [`each_over_long`] runs with each codec.
pub(crate) trait OverLong {
    /// `bad_then_ok` is a frame too long for `codec` (8 bytes, the
    /// maximum is 4), then the frame `ok`; `more` is the frame `more`.
    /// `error` is the message of the over-long frame's error.
    async fn check<D>(&mut self, codec: D, bad_then_ok: &[u8], more: &[u8], error: &str)
    where
        D: Decoder<Error = FrameError> + Debug,
        D::Item: AsRef<[u8]>;
}

/// Runs `c` with every codec that has a maximum (the length-prefixed one
/// refusing over-long frames).
pub(crate) async fn each_over_long(c: &mut impl OverLong) {
    let error = "frame of 8 bytes exceeds the maximum of 4 bytes";
    let line = LineCodec::new().with_max_length(4);
    c.check(line, b"too long\nok\n", b"more\n", error).await;
    let text = Utf8LineCodec::new().with_max_length(4);
    c.check(text, b"too long\r\nok\n", b"more\n", error).await;
    let delimited = DelimiterCodec::new(b"##").with_max_length(4);
    c.check(delimited, b"too long##ok##", b"more##", error)
        .await;
    let length = LengthPrefixedCodec::builder()
        .length_field_width(1)
        .max_frame_length(4)
        .build();
    c.check(length, b"\x08too long\x02ok", b"\x04more", error)
        .await;
}
