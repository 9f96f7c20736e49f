//! The framing benchmarks' inputs, codecs and decode loops, shared by the
//! criterion bench (`benches/framing.rs`) and the paired run
//! (`src/bin/framing_paired.rs`), so both measure the same work.

use std::hint::black_box;

use aqueduct_framing::{DelimiterCodec, LengthPrefixedCodec};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{AnyDelimiterCodec, Decoder, LengthDelimitedCodec};

/// The frame sizes every decode group measures.
pub const SIZES: &[usize] = &[16, 64, 1024, 64 * 1024, 1024 * 1024];

/// The line sizes the text group measures.
pub const TEXT_SIZES: &[usize] = &[64, 1024];

/// The frame sizes the delimiter groups measure.
pub const DELIMITED_SIZES: &[usize] = &[64, 1024];

/// The size of one read when the input is fed in chunks.
pub const CHUNK: usize = 4096;

/// The maximum frame length every codec is given: above every frame size,
/// so no frame is refused.
pub const MAX: usize = 2 * 1024 * 1024;

/// A frame size as the reports name it: `64B`, `1KiB`, `1MiB`.
///
/// ```
/// assert_eq!(aqueduct_benches::framing::label(64 * 1024), "64KiB");
/// ```
pub fn label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

/// Number of frames so each input is about 256 KiB (at least 4 frames).
fn frames_for(size: usize) -> usize {
    (256 * 1024 / size).max(4)
}

/// About 256 KiB of `size`-byte lowercase lines, each ended by `\n`.
///
/// ```
/// let input = aqueduct_benches::framing::line_input(64);
/// assert_eq!(input.len(), 4096 * 65);
/// assert_eq!(input[64], b'\n');
/// ```
pub fn line_input(size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..frames_for(size) {
        out.extend((0..size).map(|j| b'a' + ((i + j) % 26) as u8));
        out.push(b'\n');
    }
    out
}

/// Text in several scripts, cut into the lines of [`text_input`].
const TEXT: &str = "Grüße aus Köln, naïve café; Ελληνικά κείμενα; русский текст; \
                    日本語の文章と漢字; 한국어 문장; العربية; emoji 🦀🚰 ";

/// About 256 KiB of `size`-byte lines of text that is mostly not ASCII
/// (Latin with accents, Greek, Cyrillic, Japanese, Korean, Arabic, emoji),
/// each ended by `\n`: what validating text costs beyond an ASCII scan.
///
/// ```
/// let input = aqueduct_benches::framing::text_input(64);
/// assert_eq!(input.len(), 4096 * 65);
/// assert_eq!(input[64], b'\n');
/// assert!(std::str::from_utf8(&input).is_ok());
/// ```
pub fn text_input(size: usize) -> Vec<u8> {
    let chars: Vec<char> = TEXT.chars().collect();
    let mut out = Vec::new();
    for i in 0..frames_for(size) {
        let mut line = String::with_capacity(size);
        let mut at = i;
        loop {
            let c = chars[at % chars.len()];
            if line.len() + c.len_utf8() > size {
                break;
            }
            line.push(c);
            at += 1;
        }
        // Pads a cut character's place to exactly `size` bytes.
        while line.len() < size {
            line.push('.');
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// About 256 KiB of `size`-byte frames, each after a 4-byte big-endian
/// length.
///
/// ```
/// let input = aqueduct_benches::framing::length_input(16);
/// assert_eq!(&input[..4], &[0, 0, 0, 16]);
/// ```
pub fn length_input(size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..frames_for(size) {
        out.put_u32(size as u32);
        out.extend((0..size).map(|j| ((i + j) % 251) as u8));
    }
    out
}

/// About 256 KiB of `size`-byte frames, ended by `,` and `;` in turn.
///
/// ```
/// let input = aqueduct_benches::framing::delimited_input(64);
/// assert_eq!((input[64], input[129]), (b',', b';'));
/// ```
pub fn delimited_input(size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..frames_for(size) {
        out.extend((0..size).map(|j| b'a' + ((i + j) % 26) as u8));
        out.push(if i % 2 == 0 { b',' } else { b';' });
    }
    out
}

/// Our length-prefixed codec as measured: 4-byte big-endian length.
///
/// ```
/// assert_eq!(aqueduct_benches::framing::ours_length().max_frame_length(), 2 << 20);
/// ```
pub fn ours_length() -> LengthPrefixedCodec {
    LengthPrefixedCodec::builder().max_frame_length(MAX).build()
}

/// tokio-util's length-delimited codec with the same settings.
///
/// ```
/// assert_eq!(aqueduct_benches::framing::theirs_length().max_frame_length(), 2 << 20);
/// ```
pub fn theirs_length() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX)
        .new_codec()
}

/// The least a decoder of [`length_input`]'s frames can do, as a floor
/// for ours: it reads the 4-byte length, makes room for the frame and 8 KiB
/// past it, and splits the frame off, with no maximum, no options, no
/// release of the room and no error but a short stream. Only the bench
/// uses it: it trusts the peer with its memory.
///
/// ```
/// use aqueduct_benches::framing::{BareLength, decode_chunked, length_input};
/// use tokio_util::codec::Decoder;
///
/// let mut codec = BareLength::default();
/// let mut buf = bytes::BytesMut::from(&[0, 0, 0, 2, b'h', b'i', 0, 0][..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "hi");
/// // Half a header waits for the rest.
/// assert!(codec.decode(&mut buf).unwrap().is_none());
/// assert_eq!(buf.len(), 2);
///
/// let mut buf = bytes::BytesMut::new();
/// assert_eq!(decode_chunked(&mut codec, &mut buf, &length_input(1024)), 256);
/// ```
#[derive(Debug, Clone, Default)]
pub struct BareLength {
    /// The frame in progress' length with its header, once read.
    total: Option<usize>,
}

impl Decoder for BareLength {
    type Item = Bytes;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Self::Error> {
        let total = match self.total {
            Some(total) => total,
            None => {
                let Some(head) = buf.first_chunk::<4>() else {
                    return Ok(None);
                };
                let total = 4 + u32::from_be_bytes(*head) as usize;
                if buf.len() < total {
                    // Room for the rest and 8 KiB past it, in place if the
                    // allocation has it (moving the bytes to its front),
                    // else in one of exactly that size: ours does the same.
                    let room = total - buf.len() + 8 * 1024;
                    if !buf.try_reclaim(room) {
                        let mut fresh = BytesMut::with_capacity(buf.len() + room);
                        fresh.extend_from_slice(buf);
                        *buf = fresh;
                    }
                }
                total
            }
        };
        if buf.len() < total {
            self.total = Some(total);
            return Ok(None);
        }
        self.total = None;
        let mut frame = buf.split_to(total).freeze();
        frame.advance(4);
        Ok(Some(frame))
    }
}

/// Our delimiter codec as measured: frames end at `,` or `;`.
///
/// ```
/// assert_eq!(aqueduct_benches::framing::ours_delimiter().max_length(), 2 << 20);
/// ```
pub fn ours_delimiter() -> DelimiterCodec {
    DelimiterCodec::any_of(b",;").with_max_length(MAX)
}

/// tokio-util's any-delimiter codec with the same settings.
///
/// ```
/// assert_eq!(aqueduct_benches::framing::theirs_delimiter().max_length(), 2 << 20);
/// ```
pub fn theirs_delimiter() -> AnyDelimiterCodec {
    AnyDelimiterCodec::new_with_max_length(b",;".to_vec(), vec![b','], MAX)
}

/// Copies `input` into the read buffer, as one socket read would, and
/// decodes every frame; the number of frames.
///
/// # Panics
///
/// If the codec refuses the input or leaves a partial frame at its end:
/// the inputs here are well formed, so either is a bug.
///
/// ```
/// use aqueduct_benches::framing::{decode_whole, line_input};
///
/// let mut codec = aqueduct_framing::LineCodec::new();
/// let mut buf = bytes::BytesMut::new();
/// assert_eq!(decode_whole(&mut codec, &mut buf, &line_input(64)), 4096);
/// ```
pub fn decode_whole<D: Decoder>(codec: &mut D, buf: &mut BytesMut, input: &[u8]) -> usize
where
    D::Error: std::fmt::Debug,
{
    buf.clear();
    buf.extend_from_slice(input);
    let mut n = 0;
    while let Some(frame) = codec.decode(buf).unwrap() {
        black_box(&frame);
        n += 1;
    }
    assert!(codec.decode_eof(buf).unwrap().is_none());
    n
}

/// Feeds `input` in [`CHUNK`]-byte reads, decoding after each; the number
/// of frames.
///
/// # Panics
///
/// As [`decode_whole`].
///
/// ```
/// use aqueduct_benches::framing::{decode_chunked, line_input};
///
/// let mut codec = aqueduct_framing::LineCodec::new();
/// let mut buf = bytes::BytesMut::new();
/// assert_eq!(decode_chunked(&mut codec, &mut buf, &line_input(64)), 4096);
/// ```
pub fn decode_chunked<D: Decoder>(codec: &mut D, buf: &mut BytesMut, input: &[u8]) -> usize
where
    D::Error: std::fmt::Debug,
{
    buf.clear();
    let mut n = 0;
    for chunk in input.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(buf).unwrap() {
            black_box(&frame);
            n += 1;
        }
    }
    assert!(codec.decode_eof(buf).unwrap().is_none());
    n
}

/// Copies `input` into the read buffer in one go, as [`decode_whole`]
/// does, and decodes nothing: the ceiling of a decoder fed whole. The
/// number of bytes copied.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// assert_eq!(aqueduct_benches::framing::memcpy_whole(&mut buf, b"abc"), 3);
/// ```
pub fn memcpy_whole(buf: &mut BytesMut, input: &[u8]) -> usize {
    buf.clear();
    buf.extend_from_slice(input);
    black_box(&buf);
    buf.len()
}

/// One function under test, with its codec and read buffer kept across
/// calls as a connection keeps its own: decodes (or copies) the input
/// given.
pub type Run = Box<dyn FnMut(&[u8]) -> usize>;

/// `codec` with a read buffer of its own, fed whole.
///
/// ```
/// use aqueduct_benches::framing::{length_input, ours_length, whole};
///
/// let mut run = whole(ours_length());
/// assert_eq!(run(&length_input(1024)), 256);
/// ```
pub fn whole<D: Decoder + 'static>(mut codec: D) -> Run
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    Box::new(move |input| decode_whole(&mut codec, &mut buf, input))
}

/// `codec` with a read buffer of its own, fed in [`CHUNK`]-byte reads.
///
/// ```
/// use aqueduct_benches::framing::{chunked, length_input, theirs_length};
///
/// let mut run = chunked(theirs_length());
/// assert_eq!(run(&length_input(1024)), 256);
/// ```
pub fn chunked<D: Decoder + 'static>(mut codec: D) -> Run
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    Box::new(move |input| decode_chunked(&mut codec, &mut buf, input))
}
