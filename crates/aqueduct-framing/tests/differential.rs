//! Differential tests: the same inputs through tokio-util's codecs and ours
//! give the same frames where their semantics agree.
//!
//! - `LinesCodec` yields the unterminated last line at end of stream; ours
//!   does with `with_partial_at_eof(true)`. A lone `\r` left at end of
//!   stream is dropped by `LinesCodec`, so inputs avoid it.
//! - `LengthDelimitedCodec` with `num_skip` equal to the header length is
//!   our stripped header; with `num_skip(0)` and the header length added to
//!   the adjustment, our kept header. (Its maximum applies to the raw field
//!   value, ours to the adjusted length; the inputs stay below both.)
//! - `AnyDelimiterCodec` always strips and yields the tail at end of stream.

use aqueduct_framing::{
    DelimiterCodec, Endian, FrameError, LengthPrefixedCodec, LineCodec, Utf8LineCodec,
};
use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{AnyDelimiterCodec, Decoder, LengthDelimitedCodec, LinesCodec};

fn decode_chunked<D: Decoder>(codec: &mut D, input: &[u8], chunk: usize) -> Vec<D::Item>
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
        out.push(item);
    }
    out
}

proptest! {
    #[test]
    fn lines_match_lines_codec(text in "[a-zé\r\n]{0,300}", chunk in 1usize..64) {
        prop_assume!(!text.ends_with("\n\r") && text != "\r");
        let theirs = decode_chunked(&mut LinesCodec::new_with_max_length(1 << 16), text.as_bytes(), chunk);
        let ours = decode_chunked(
            &mut Utf8LineCodec::from(LineCodec::new().with_partial_at_eof(true)),
            text.as_bytes(),
            chunk,
        );
        let ours: Vec<String> = ours.iter().map(ToString::to_string).collect();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn length_prefix_matches_length_delimited_codec(
        width in prop::sample::select(vec![1usize, 2, 3, 4, 8]),
        little in any::<bool>(),
        offset in 0usize..3,
        adjustment in -3i64..4,
        strip in any::<bool>(),
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 3..90), 0..10),
        chunk in 1usize..50,
    ) {
        // Build the wire by hand: offset bytes, field (payload - adjustment), payload.
        let mut wire = BytesMut::new();
        for (i, p) in payloads.iter().enumerate() {
            wire.put_bytes(i as u8, offset);
            let value = u64::try_from(i64::try_from(p.len()).unwrap() - adjustment).unwrap();
            if little { wire.put_uint_le(value, width) } else { wire.put_uint(value, width) }
            wire.put_slice(p);
        }
        // tokio-util's adjusted length counts from the end of the skipped
        // bytes: keeping the header means adding its length.
        let header = offset + width;
        let mut theirs = LengthDelimitedCodec::builder();
        theirs
            .length_field_length(width)
            .length_field_offset(offset)
            .length_adjustment(
                isize::try_from(adjustment).unwrap()
                    + if strip { 0 } else { isize::try_from(header).unwrap() },
            )
            .num_skip(if strip { header } else { 0 })
            .max_frame_length(1024);
        if little {
            theirs.little_endian();
        }
        let theirs: Vec<Bytes> = decode_chunked(&mut theirs.new_codec(), &wire, chunk)
            .into_iter()
            .map(BytesMut::freeze)
            .collect();
        let mut ours = LengthPrefixedCodec::builder()
            .length_field_width(width)
            .endian(if little { Endian::Little } else { Endian::Big })
            .length_field_offset(offset)
            .length_adjustment(adjustment)
            .strip_header(strip)
            .max_frame_length(1024)
            .build();
        let ours = decode_chunked(&mut ours, &wire, chunk);
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn any_of_matches_any_delimiter_codec(input in "[abc,;]{0,300}", chunk in 1usize..64) {
        let theirs = decode_chunked(
            &mut AnyDelimiterCodec::new_with_max_length(b",;".to_vec(), b",".to_vec(), 1 << 16),
            input.as_bytes(),
            chunk,
        );
        let ours = decode_chunked(
            &mut DelimiterCodec::any_of(b",;").with_partial_at_eof(true),
            input.as_bytes(),
            chunk,
        );
        prop_assert_eq!(ours, theirs);
    }
}

#[test]
fn both_refuse_the_same_oversized_length() {
    let wire = [0u8, 0, 4, 1];
    let mut theirs = LengthDelimitedCodec::builder()
        .max_frame_length(1024)
        .new_codec();
    assert!(theirs.decode(&mut BytesMut::from(&wire[..])).is_err());
    let mut ours = LengthPrefixedCodec::builder()
        .max_frame_length(1024)
        .build();
    assert!(matches!(
        ours.decode(&mut BytesMut::from(&wire[..])),
        Err(FrameError::TooLong {
            len: 1025,
            max: 1024
        })
    ));
}
