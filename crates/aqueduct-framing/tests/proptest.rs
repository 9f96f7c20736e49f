//! Properties: any frames, encoded, then fed to the decoder in any chunking,
//! decode to the same frames.

use aqueduct_framing::{
    DelimiterCodec, Endian, FixedSizeCodec, FrameError, LengthField, LengthPrefixedCodec,
    LineCodec, Utf8LineCodec,
};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Feeds `input` in reads of the given sizes (cycled), then ends the stream.
fn decode_chunked<D>(codec: &mut D, input: &[u8], chunks: &[usize]) -> Vec<D::Item>
where
    D: Decoder<Error = FrameError>,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = input;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
        out.push(item);
    }
    assert!(buf.is_empty());
    out
}

fn encode_all<E, T: Clone>(codec: &mut E, frames: &[T]) -> BytesMut
where
    E: Encoder<T, Error = FrameError>,
{
    let mut wire = BytesMut::new();
    for frame in frames {
        codec.encode(frame.clone(), &mut wire).unwrap();
    }
    wire
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..300, 1..8)
}

fn no_newline() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
        0..200,
    )
}

proptest! {
    #[test]
    fn lines_round_trip(lines in prop::collection::vec(no_newline(), 0..20), chunks in chunks()) {
        // CRLF endings, so a line may end with `\r` of its own.
        let frames: Vec<Bytes> = lines.into_iter().map(Bytes::from).collect();
        let wire = encode_all(&mut LineCodec::new().with_crlf(true), &frames);
        let back = decode_chunked(&mut LineCodec::new(), &wire, &chunks);
        prop_assert_eq!(back, frames);
    }

    #[test]
    fn lf_lines_round_trip(lines in prop::collection::vec("[^\n\r]{0,80}", 0..20), chunks in chunks()) {
        let wire = encode_all(&mut LineCodec::new(), &lines);
        let back = decode_chunked(&mut Utf8LineCodec::new(), &wire, &chunks);
        prop_assert_eq!(back, lines);
    }

    #[test]
    fn utf8_lines_round_trip(lines in prop::collection::vec("[^\n]{0,60}", 0..20), chunks in chunks()) {
        let wire = encode_all(&mut Utf8LineCodec::from(LineCodec::new().with_crlf(true)), &lines);
        let back = decode_chunked(&mut Utf8LineCodec::new(), &wire, &chunks);
        prop_assert_eq!(back, lines);
    }

    #[test]
    fn length_prefixed_round_trip(
        field in prop::sample::select(vec![
            LengthField::U8, LengthField::U16, LengthField::U24,
            LengthField::U32, LengthField::U64, LengthField::Varint,
        ]),
        little in any::<bool>(),
        adjustment in -8i64..8,
        // At most 247 bytes: with a 1-byte field (255) and an adjustment of
        // -8 the header must still express the payload's length.
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 8..248), 0..12),
        chunks in chunks(),
    ) {
        let codec = LengthPrefixedCodec::builder()
            .length_field(field)
            .endian(if little { Endian::Little } else { Endian::Big })
            .length_adjustment(adjustment)
            .max_frame_length(250)
            .build();
        let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
        let wire = encode_all(&mut codec.clone(), &frames);
        let back = decode_chunked(&mut codec.clone(), &wire, &chunks);
        prop_assert_eq!(back, frames);
    }

    #[test]
    fn length_prefixed_with_offset_keeps_or_strips(
        offset in 0usize..4,
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..10),
        chunks in chunks(),
    ) {
        let build = |strip| LengthPrefixedCodec::builder()
            .length_field_width(2)
            .length_field_offset(offset)
            .strip_header(strip)
            .build();
        let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
        let wire = encode_all(&mut build(true), &frames);
        let stripped = decode_chunked(&mut build(true), &wire, &chunks);
        prop_assert_eq!(&stripped, &frames);
        let kept = decode_chunked(&mut build(false), &wire, &chunks);
        prop_assert_eq!(kept.len(), frames.len());
        for (whole, payload) in kept.iter().zip(&frames) {
            prop_assert_eq!(&whole[offset + 2..], &payload[..]);
        }
    }

    #[test]
    fn delimiter_sequence_round_trip(
        delimiter in prop::collection::vec(any::<u8>(), 1..5),
        frames in prop::collection::vec(prop::collection::vec(0u8..4, 0..60), 0..12),
        keep in any::<bool>(),
        chunks in chunks(),
    ) {
        // Payloads over a small alphabet often collide with the delimiter;
        // keep those the encoder accepts.
        let mut encoder = DelimiterCodec::new(&delimiter);
        let frames: Vec<Bytes> = frames
            .into_iter()
            .map(Bytes::from)
            .filter(|f| encoder.encode(f.clone(), &mut BytesMut::new()).is_ok())
            .collect();
        let wire = encode_all(&mut encoder, &frames);
        let mut decoder = DelimiterCodec::new(&delimiter).with_keep_delimiter(keep);
        let back = decode_chunked(&mut decoder, &wire, &chunks);
        let expected: Vec<Bytes> = frames
            .iter()
            .map(|f| if keep { [&f[..], &delimiter[..]].concat().into() } else { f.clone() })
            .collect();
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn delimiter_set_round_trip(
        set in prop::collection::btree_set(any::<u8>(), 1..6),
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..12),
        chunks in chunks(),
    ) {
        let set: Vec<u8> = set.into_iter().collect();
        let frames: Vec<Bytes> = frames
            .into_iter()
            .map(|f| f.into_iter().filter(|b| !set.contains(b)).collect::<Vec<_>>().into())
            .collect();
        let wire = encode_all(&mut DelimiterCodec::any_of(&set), &frames);
        let back = decode_chunked(&mut DelimiterCodec::any_of(&set), &wire, &chunks);
        prop_assert_eq!(back, frames);
    }

    #[test]
    fn fixed_round_trip(size in 1usize..64, count in 0usize..20, seed in any::<u8>(), chunks in chunks()) {
        let frames: Vec<Bytes> = (0..count)
            .map(|i| (0..size).map(|j| seed.wrapping_add((i * 31 + j) as u8)).collect::<Vec<_>>().into())
            .collect();
        let wire = encode_all(&mut FixedSizeCodec::new(size), &frames);
        let back = decode_chunked(&mut FixedSizeCodec::new(size), &wire, &chunks);
        prop_assert_eq!(back, frames);
    }

    #[test]
    fn any_bytes_never_break_the_line_bound(input in prop::collection::vec(any::<u8>(), 0..2000), max in 0usize..64, chunks in chunks()) {
        // Garbage in: every frame respects the bound, errors are typed, and
        // the codec never buffers more than a read beyond the bound.
        let mut codec = LineCodec::new().with_max_length(max);
        let mut buf = BytesMut::new();
        let mut rest = &input[..];
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).clamp(1, rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(line)) => prop_assert!(line.len() <= max),
                    Ok(None) => break,
                    Err(FrameError::TooLong { len, max: m }) => {
                        prop_assert_eq!(m, max);
                        prop_assert!(len > max as u64);
                    }
                    Err(other) => prop_assert!(false, "unexpected {other:?}"),
                }
            }
            prop_assert!(buf.len() < max + 2 + 300);
        }
    }
}
