#![no_main]

//! `FrameReader` over a reader that hands the input over in reads of any
//! size, returns `Pending` between some of them, and may fail at any byte.
//!
//! Checked, for each codec: the stream yields what the codec yields when
//! the input is decoded whole and the decoding goes on after errors
//! (`common::decode_all`); a failed read is the last item, after the
//! frames of the bytes read before it and with no end-of-input decoding;
//! the stream ends and stays ended.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use aqueduct_framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, FrameReader, LengthPrefixedCodec, LineCodec,
    Oversize, Utf8LineCodec,
};
use futures_core::Stream;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder;

#[path = "common.rs"]
mod common;

use common::Outcome;

/// Hands `input` over in reads whose sizes cycle through `sizes` (0: as
/// much as the reader offers room for), returning `Pending` (and waking
/// itself) before the reads whose size is odd and above 200, and failing
/// when it reaches `fail_at`.
struct Scripted<'a> {
    input: &'a [u8],
    pos: usize,
    sizes: &'a [u8],
    step: usize,
    fail_at: Option<usize>,
    pending: bool,
}

impl AsyncRead for Scripted<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let size = self
            .sizes
            .get(self.step % self.sizes.len().max(1))
            .copied()
            .unwrap_or(0);
        if size > 200 && size % 2 == 1 && !self.pending {
            self.pending = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending = false;
        self.step += 1;
        if self.fail_at == Some(self.pos) {
            return Poll::Ready(Err(io::Error::other("scripted failure")));
        }
        let end = self.fail_at.unwrap_or(self.input.len());
        let want = if size == 0 {
            usize::MAX
        } else {
            usize::from(size)
        };
        let n = want.min(buf.remaining()).min(end - self.pos);
        buf.put_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

fn check<D>(make: impl Fn() -> D, input: &[u8], sizes: &[u8], fail_at: Option<usize>)
where
    D: Decoder<Error = FrameError>,
    D::Item: PartialEq + std::fmt::Debug,
{
    let expected = match fail_at {
        None => common::decode_all(&mut make(), input, 0),
        Some(at) => {
            // The frames of the bytes read before the failure, with no end
            // of input.
            let (mut out, _) = common::decode_reads(&mut make(), &input[..at], 0);
            out.push(Err("io"));
            out
        }
    };
    let reader = Scripted {
        input,
        pos: 0,
        sizes,
        step: 0,
        fail_at,
        pending: false,
    };
    // A small first buffer (0 to 7 bytes), so that reads fill it and it grows.
    let mut stream = FrameReader::with_capacity(reader, make(), sizes.len());
    let mut cx = Context::from_waker(Waker::noop());
    let mut got = Vec::new();
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls <= 4 * input.len() + 64, "the stream does not end");
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => got.push(Ok(frame)),
            Poll::Ready(Some(Err(e))) => got.push(Err(common::kind(&e))),
            Poll::Ready(None) => break,
        }
    }
    assert_eq!(got, expected, "reads {sizes:?}, failing at {fail_at:?}");
    assert!(
        matches!(Pin::new(&mut stream).poll_next(&mut cx), Poll::Ready(None)),
        "an ended stream stays ended"
    );
}

fuzz_target!(|data: &[u8]| {
    let [codec, max, fail, nsizes, rest @ ..] = data else {
        return;
    };
    let nsizes = usize::from(nsizes % 8);
    if rest.len() < nsizes {
        return;
    }
    let (sizes, input) = rest.split_at(nsizes);
    let fail_at = (fail & 1 == 1).then(|| usize::from(fail >> 1).min(input.len()));
    let max = usize::from(*max);
    match codec % 6 {
        0 => check(
            || LineCodec::new().with_max_length(max),
            input,
            sizes,
            fail_at,
        ),
        1 => check(
            || Utf8LineCodec::from(LineCodec::new().with_max_length(max).with_crlf(true)),
            input,
            sizes,
            fail_at,
        ),
        2 => check(
            || {
                LengthPrefixedCodec::builder()
                    .length_field(aqueduct_framing::LengthField::U8)
                    .max_frame_length(max / 2)
                    .oversize(if max & 1 == 1 {
                        Oversize::Skip
                    } else {
                        Oversize::Error
                    })
                    .build()
            },
            input,
            sizes,
            fail_at,
        ),
        3 => check(
            || DelimiterCodec::new(b"\r\n").with_max_length(max),
            input,
            sizes,
            fail_at,
        ),
        4 => check(
            || {
                DelimiterCodec::any_of(b",;")
                    .with_max_length(max)
                    .with_partial_at_eof(true)
            },
            input,
            sizes,
            fail_at,
        ),
        _ => check(
            || FixedSizeCodec::new(max.max(1) % 17 + 1),
            input,
            sizes,
            fail_at,
        ),
    }
});
