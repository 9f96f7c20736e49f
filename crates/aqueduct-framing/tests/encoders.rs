//! Every codec's encoders take the same payload types and agree on the bytes.

use aqueduct_framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, LengthPrefixedCodec, LineCodec, Utf8Bytes,
    Utf8LineCodec,
};
use bytes::{Bytes, BytesMut};
use tokio_util::codec::Encoder;

/// Encodes `text` as each payload type `codec` takes; every one must give
/// the same bytes, which are returned.
fn encode_every_way<C>(codec: &mut C, text: &'static str) -> BytesMut
where
    C: for<'a> Encoder<&'a str, Error = FrameError>
        + Encoder<String, Error = FrameError>
        + for<'a> Encoder<&'a [u8], Error = FrameError>
        + Encoder<Vec<u8>, Error = FrameError>
        + Encoder<Bytes, Error = FrameError>
        + Encoder<Utf8Bytes, Error = FrameError>,
{
    let mut ways = vec![BytesMut::new(); 6];
    codec.encode(text, &mut ways[0]).unwrap();
    codec.encode(text.to_owned(), &mut ways[1]).unwrap();
    codec.encode(text.as_bytes(), &mut ways[2]).unwrap();
    codec
        .encode(text.as_bytes().to_vec(), &mut ways[3])
        .unwrap();
    codec
        .encode(Bytes::from_static(text.as_bytes()), &mut ways[4])
        .unwrap();
    codec
        .encode(Utf8Bytes::from_static(text), &mut ways[5])
        .unwrap();
    assert!(ways.windows(2).all(|w| w[0] == w[1]), "{ways:?}");
    ways.swap_remove(0)
}

#[test]
fn every_codec_takes_text_bytes_and_owned_payloads_alike() {
    assert_eq!(
        &encode_every_way(&mut LineCodec::new(), "hé")[..],
        "hé\n".as_bytes()
    );
    assert_eq!(
        &encode_every_way(&mut Utf8LineCodec::new(), "hé")[..],
        "hé\n".as_bytes()
    );
    assert_eq!(
        &encode_every_way(&mut DelimiterCodec::new(b"\r\n\r\n"), "ab")[..],
        b"ab\r\n\r\n"
    );
    assert_eq!(
        &encode_every_way(&mut LengthPrefixedCodec::new(), "ab")[..],
        b"\0\0\0\x02ab"
    );
    assert_eq!(
        &encode_every_way(&mut FixedSizeCodec::new(2), "ab")[..],
        b"ab"
    );
}
