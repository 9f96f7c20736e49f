//! The codecs as values: what they implement, and what a clone carries.

use std::fmt::Debug;

use aqueduct_framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, FrameWriter, LengthPrefixedBuilder,
    LengthPrefixedCodec, LineCodec, Oversize, Utf8Bytes, Utf8LineCodec,
};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

fn value<T: Send + Sync + Clone + Debug + 'static>() {}

#[test]
fn codecs_and_their_parts_are_send_sync_clone_debug_and_default_where_they_can_be() {
    value::<LineCodec>();
    value::<Utf8LineCodec>();
    value::<LengthPrefixedCodec>();
    value::<LengthPrefixedBuilder>();
    value::<DelimiterCodec>();
    value::<FixedSizeCodec>();
    value::<Utf8Bytes>();
    fn default<T: Default + Debug>() -> String {
        format!("{:?}", T::default())
    }
    assert_eq!(default::<LineCodec>(), format!("{:?}", LineCodec::new()));
    assert_eq!(
        default::<Utf8LineCodec>(),
        format!("{:?}", Utf8LineCodec::new())
    );
    assert_eq!(
        default::<LengthPrefixedCodec>(),
        format!("{:?}", LengthPrefixedCodec::new())
    );
    assert_eq!(
        default::<LengthPrefixedBuilder>(),
        format!("{:?}", LengthPrefixedCodec::builder())
    );
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<FrameError>();
    fn writer<W: Send + Sync>() {}
    writer::<FrameWriter<tokio::net::TcpStream>>();
}

/// What `codec` makes of `buf`, then of `rest` read after it, then at the
/// end of the stream: each frame as text and each error as its message.
fn decode_all<D>(codec: &mut D, buf: &mut BytesMut, rest: &[u8]) -> Vec<String>
where
    D: Decoder<Error = FrameError>,
    D::Item: AsRef<[u8]>,
{
    let mut seen = Vec::new();
    let mut record = |got: Result<Option<D::Item>, FrameError>| match got {
        Ok(Some(frame)) => {
            seen.push(String::from_utf8_lossy(frame.as_ref()).into_owned());
            true
        }
        Ok(None) => false,
        Err(e) => {
            seen.push(e.to_string());
            true
        }
    };
    while record(codec.decode(buf)) {}
    buf.extend_from_slice(rest);
    while record(codec.decode(buf)) {}
    while record(codec.decode_eof(buf)) {}
    seen
}

/// `seen` with every over-long frame's message made the same.
fn without_lengths(seen: Vec<String>) -> Vec<String> {
    seen.into_iter()
        .map(|s| {
            if s.starts_with("frame of ") {
                "too long".to_owned()
            } else {
                s
            }
        })
        .collect()
}

/// Cuts `wire` at every point; at each, a clone of `codec` taken there
/// (with a copy of the read buffer) yields what the original yields
/// from there on.
fn a_clone_goes_on_where_the_original_is<D>(codec: &D, wire: &[u8])
where
    D: Decoder<Error = FrameError> + Clone + Debug,
    D::Item: AsRef<[u8]>,
{
    for cut in 0..=wire.len() {
        let mut original = codec.clone();
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut before = Vec::new();
        loop {
            match original.decode(&mut buf) {
                Ok(Some(frame)) => {
                    before.push(String::from_utf8_lossy(frame.as_ref()).into_owned());
                }
                Ok(None) => break,
                Err(e) => before.push(e.to_string()),
            }
        }
        let mut clone = original.clone();
        let mut clone_buf = buf.clone();
        let theirs = decode_all(&mut original, &mut buf, &wire[cut..]);
        let ours = decode_all(&mut clone, &mut clone_buf, &wire[cut..]);
        assert_eq!(ours, theirs, "cut at {cut}: {codec:?}");
        // And the two together are what one codec makes of the whole wire
        // (an unterminated over-long frame's length is what had come in
        // by then: the cut changes it).
        before.extend(theirs);
        let whole = decode_all(&mut codec.clone(), &mut BytesMut::new(), wire);
        assert_eq!(
            without_lengths(before),
            without_lengths(whole),
            "cut at {cut}: {codec:?}"
        );
    }
}

#[test]
fn a_clone_taken_mid_frame_carries_the_decoding_state() {
    // Cuts fall inside lines, inside an over-long one being discarded,
    // inside a length-prefixed header, payload and skipped frame, and
    // inside a delimiter.
    a_clone_goes_on_where_the_original_is(
        &LineCodec::new().with_max_length(4),
        b"one\r\nfar too long\ntwo\n\nend",
    );
    a_clone_goes_on_where_the_original_is(
        &Utf8LineCodec::new().with_max_length(6),
        "grüß\nfar too long\n\u{e9}t\u{e9}\n".as_bytes(),
    );
    for oversize in [Oversize::Error, Oversize::Skip] {
        let codec = LengthPrefixedCodec::builder()
            .length_field_width(2)
            .max_frame_length(4)
            .oversize(oversize)
            .build();
        a_clone_goes_on_where_the_original_is(&codec, b"\0\x03one\0\x08too long\0\x00\0\x04four\0");
    }
    a_clone_goes_on_where_the_original_is(
        &DelimiterCodec::new(b"\r\n\r\n").with_max_length(4),
        b"one\r\n\r\nfar too long\r\n\r\ntwo\r\n\r\n\r\n\r\nend\r\n",
    );
    a_clone_goes_on_where_the_original_is(
        &DelimiterCodec::any_of(b",;").with_max_length(3),
        b"one,toolong;two,,end",
    );
    a_clone_goes_on_where_the_original_is(&FixedSizeCodec::new(3), b"onetwothr");
}

#[test]
fn a_codec_cloned_before_it_decodes_serves_each_connection_alone() {
    // The documented way to give each connection its own codec: clone one
    // that has not decoded, here after a first connection stopped inside
    // a line.
    let template = LineCodec::new().with_max_length(8);
    let mut first = template.clone();
    let mut second = template.clone();
    let mut a = BytesMut::from("abcdef");
    assert_eq!(first.decode(&mut a).unwrap(), None);
    let mut b = BytesMut::from("x\nyz\n");
    assert_eq!(second.decode(&mut b).unwrap().unwrap(), "x");
    assert_eq!(second.decode(&mut b).unwrap().unwrap(), "yz");
    a.extend_from_slice(b"\n");
    assert_eq!(first.decode(&mut a).unwrap().unwrap(), "abcdef");
}
