//! Behaviour of `LengthPrefixedCodec`.

use aqueduct_framing::{Endian, FrameError, LengthField, LengthPrefixedCodec, Oversize};
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio_util::codec::{Decoder, Encoder, Framed};

// Not every helper is for length-prefixed frames.
#[allow(dead_code)]
mod common;

#[test]
fn four_gib_prefix_errors_after_the_header_without_reserving() {
    let max = 1 << 20;
    let mut codec = LengthPrefixedCodec::builder().max_frame_length(max).build();
    let mut buf = BytesMut::new();
    // The header arrives one byte at a time: nothing to decide until the
    // fourth byte.
    for &b in &[0xFF, 0xFF, 0xFF] {
        buf.extend_from_slice(&[b]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() <= max);
    }
    buf.extend_from_slice(&[0xFF]);
    match codec.decode(&mut buf) {
        Err(FrameError::TooLong { len, max: m }) => {
            assert_eq!(len, 0xFFFF_FFFF);
            assert_eq!(m, max);
        }
        other => panic!("expected TooLong, got {other:?}"),
    }
    assert!(buf.capacity() <= max, "capacity {}", buf.capacity());
    // A peer that keeps sending the announced payload does not grow the
    // buffer either: the bytes are discarded as they come.
    for _ in 0..64 {
        buf.extend_from_slice(&[0u8; 16 * 1024]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() <= max, "capacity {}", buf.capacity());
    }
}

#[test]
fn frames_near_the_maximum_never_take_twice_its_room() {
    // Each frame a little longer than the last: the room left by one is a
    // few bytes short of the next, which must not double the buffer.
    let max = 64 * 1024;
    let mut codec = LengthPrefixedCodec::builder().max_frame_length(max).build();
    let lengths = [max - 40, max - 30, max - 20, max - 10, max];
    let mut wire = BytesMut::new();
    for &len in &lengths {
        codec.encode(vec![7u8; len], &mut wire).unwrap();
    }
    for read in [4096, 8192, 12_401, 65_536] {
        let seen = common::read_as_framed_read(&mut codec, &wire, read);
        assert_eq!(seen.frames, lengths, "reads of {read}");
        assert!(
            seen.most_room <= max + 16 * 1024,
            "reads of {read}: capacity {} for a maximum of {max}",
            seen.most_room
        );
    }
}

#[test]
fn eight_byte_prefix_near_u64_max() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_width(8)
        .length_adjustment(5)
        .max_frame_length(1024)
        .build();
    let mut buf = BytesMut::from(&u64::MAX.to_be_bytes()[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong {
            len: u64::MAX,
            max: 1024
        })
    ));
}

#[test]
fn exactly_max_is_accepted_and_max_plus_one_rejected() {
    let mut codec = LengthPrefixedCodec::builder().max_frame_length(100).build();
    let mut wire = BytesMut::new();
    codec.encode(&[1u8; 100][..], &mut wire).unwrap();
    assert_eq!(codec.decode(&mut wire).unwrap().unwrap().len(), 100);

    let mut wire = BytesMut::from(&101u32.to_be_bytes()[..]);
    assert!(matches!(
        codec.decode(&mut wire),
        Err(FrameError::TooLong { len: 101, max: 100 })
    ));
    let mut out = BytesMut::new();
    assert!(matches!(
        codec.encode(&[1u8; 101][..], &mut out),
        Err(FrameError::PayloadOverMax { len: 101, max: 100 })
    ));
}

#[test]
fn max_applies_to_the_adjusted_length() {
    // The field counts itself (4 bytes): a value of 104 is 100 payload bytes.
    let mut codec = LengthPrefixedCodec::builder()
        .length_adjustment(-4)
        .max_frame_length(100)
        .build();
    let mut buf = BytesMut::from(&104u32.to_be_bytes()[..]);
    buf.extend_from_slice(&[9u8; 100]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 100);
    let mut buf = BytesMut::from(&105u32.to_be_bytes()[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong { len: 101, max: 100 })
    ));
}

#[test]
fn empty_frames_and_empty_input() {
    let mut codec = LengthPrefixedCodec::new();
    let mut wire = BytesMut::new();
    codec.encode(Bytes::new(), &mut wire).unwrap();
    codec.encode(Bytes::new(), &mut wire).unwrap();
    assert_eq!(&wire[..], &[0u8; 8]);
    assert!(codec.decode(&mut wire).unwrap().unwrap().is_empty());
    assert!(codec.decode(&mut wire).unwrap().unwrap().is_empty());
    assert_eq!(codec.decode(&mut wire).unwrap(), None);
    assert_eq!(codec.decode_eof(&mut wire).unwrap(), None);
}

#[test]
fn eof_in_the_header_and_in_the_payload() {
    let mut codec = LengthPrefixedCodec::new();
    let mut buf = BytesMut::from(&b"\0\0"[..]);
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(FrameError::Truncated { buffered: 2 })
    ));
    let mut codec = LengthPrefixedCodec::new();
    let mut buf = BytesMut::from(&b"\0\0\0\x05abc"[..]);
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(FrameError::Truncated { buffered: 7 })
    ));
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn every_width_and_endianness() {
    let cases: [(usize, Endian, &[u8]); 9] = [
        (1, Endian::Big, b"\x03"),
        (2, Endian::Big, b"\x00\x03"),
        (2, Endian::Little, b"\x03\x00"),
        (3, Endian::Big, b"\x00\x00\x03"),
        (3, Endian::Little, b"\x03\x00\x00"),
        (4, Endian::Big, b"\x00\x00\x00\x03"),
        (4, Endian::Little, b"\x03\x00\x00\x00"),
        (8, Endian::Big, b"\x00\x00\x00\x00\x00\x00\x00\x03"),
        (8, Endian::Little, b"\x03\x00\x00\x00\x00\x00\x00\x00"),
    ];
    for (width, endian, header) in cases {
        let mut codec = LengthPrefixedCodec::builder()
            .length_field_width(width)
            .endian(endian)
            .build();
        let mut wire = BytesMut::new();
        codec.encode(&b"abc"[..], &mut wire).unwrap();
        assert_eq!(&wire[..width], header, "width {width} {endian:?}");
        assert_eq!(&codec.decode(&mut wire).unwrap().unwrap()[..], b"abc");
    }
}

#[test]
fn native_endian_frames_as_the_machine_orders_integers() {
    for width in [2, 4, 8] {
        let mut codec = LengthPrefixedCodec::builder()
            .length_field_width(width)
            .native_endian()
            .build();
        let mut wire = BytesMut::new();
        codec.encode(vec![7u8; 0x0102], &mut wire).unwrap();
        let native = 0x0102u64.to_ne_bytes();
        let expected = if cfg!(target_endian = "big") {
            &native[8 - width..]
        } else {
            &native[..width]
        };
        assert_eq!(&wire[..width], expected, "width {width}");
        assert_eq!(codec.decode(&mut wire).unwrap().unwrap().len(), 0x0102);
    }
}

#[test]
fn varint_prefix_arriving_byte_by_byte() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field(LengthField::Varint)
        .build();
    let mut wire = BytesMut::new();
    codec.encode(&[7u8; 300][..], &mut wire).unwrap();
    assert_eq!(&wire[..2], &[0xAC, 0x02]);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for byte in &wire[..] {
        buf.extend_from_slice(&[*byte]);
        if let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].len(), 300);
}

#[test]
fn offset_and_kept_header() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_offset(2)
        .length_field_width(2)
        .endian(Endian::Little)
        .strip_header(false)
        .build();
    let mut buf = BytesMut::from(&b"\xAA\xBB\x02\x00hi\xCC"[..]);
    assert_eq!(
        &codec.decode(&mut buf).unwrap().unwrap()[..],
        b"\xAA\xBB\x02\x00hi"
    );
    assert_eq!(&buf[..], b"\xCC");
}

#[test]
fn skip_policy_discards_across_reads_and_counts() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_width(2)
        .max_frame_length(8)
        .oversize(Oversize::Skip)
        .build();
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&1000u16.to_be_bytes());
    wire.extend_from_slice(&[0xEE; 1000]);
    wire.extend_from_slice(b"\x00\x02ok");
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in wire.chunks(100) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        assert!(buf.capacity() < 1000, "skipped bytes were buffered");
    }
    assert_eq!(frames, [Bytes::from_static(b"ok")]);
    assert_eq!(codec.skipped_frames(), 1);
}

#[test]
fn encoder_rejects_payloads_the_field_cannot_express() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field(LengthField::U16)
        .build();
    let mut out = BytesMut::new();
    assert!(matches!(
        codec.encode(vec![0u8; 65_536], &mut out),
        Err(FrameError::PayloadTooLong {
            len: 65_536,
            max: 65_535
        })
    ));
    assert!(out.is_empty());
    codec.encode(vec![0u8; 65_535], &mut out).unwrap();
}

#[test]
#[should_panic(expected = "adjustment -300")]
fn an_adjustment_below_every_field_value_is_refused_at_build() {
    // A 1-byte field holds at most 255: with -300 every header would be a
    // negative length, and the encoder could frame nothing.
    let _ = LengthPrefixedCodec::builder()
        .length_field_width(1)
        .length_adjustment(-300)
        .build();
}

#[test]
#[should_panic(expected = "length adjustment 9 is above the maximum frame length (8 bytes)")]
fn an_adjustment_above_the_maximum_is_refused_at_build() {
    // Even a field of 0 would announce 9 bytes: every frame too long, and
    // the encoder could frame nothing.
    let _ = LengthPrefixedCodec::builder()
        .max_frame_length(8)
        .length_adjustment(9)
        .build();
}

#[test]
#[should_panic(expected = "length adjustment 9 is above the maximum frame length (8 bytes)")]
fn a_maximum_set_below_the_adjustment_is_refused() {
    let mut codec = LengthPrefixedCodec::builder().length_adjustment(9).build();
    codec.set_max_frame_length(9);
    codec.set_max_frame_length(8);
}

#[tokio::test]
async fn a_maximum_raised_on_a_framed_codec_applies_to_both_directions() {
    let (a, b) = tokio::io::duplex(1024);
    let mut builder = LengthPrefixedCodec::builder();
    builder.length_field_width(1).max_frame_length(2);
    let (mut client, mut server) = (builder.new_framed(a), builder.new_framed(b));
    assert!(matches!(
        client.send("abc").await,
        Err(FrameError::PayloadOverMax { len: 3, max: 2 })
    ));
    client.codec_mut().set_max_frame_length(3);
    server.codec_mut().set_max_frame_length(3);
    client.send("abc").await.unwrap();
    assert_eq!(&server.next().await.unwrap().unwrap()[..], b"abc");
}

#[test]
fn a_maximum_changed_mid_frame_applies_from_the_next_header() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_width(1)
        .max_frame_length(4)
        .build();
    // A header read under a maximum of 4: the frame is held to it.
    let mut buf = BytesMut::from(&b"\x04ab"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    codec.set_max_frame_length(2);
    buf.extend_from_slice(b"cd\x03xyz\x02ok");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"abcd");
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong { len: 3, max: 2 })
    ));
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"ok");
    // A frame refused under a maximum of 2 is skipped whole, even if
    // the maximum is raised while it is.
    let mut buf = BytesMut::from(&b"\x03x"[..]);
    assert!(codec.decode(&mut buf).is_err());
    codec.set_max_frame_length(4);
    buf.extend_from_slice(b"yz\x03new");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"new");
}

#[test]
fn an_adjustment_equal_to_the_maximum_is_accepted() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_width(1)
        .max_frame_length(2)
        .length_adjustment(2)
        .build();
    let mut out = BytesMut::new();
    codec.encode(&b"hi"[..], &mut out).unwrap();
    assert_eq!(&out[..], b"\0hi");
    assert_eq!(&codec.decode(&mut out).unwrap().unwrap()[..], b"hi");
}

#[test]
#[should_panic(expected = "length field offset")]
fn an_offset_leaving_no_room_for_the_field_is_refused_at_build() {
    // The end of the header, offset + width, would overflow `usize`.
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_offset(usize::MAX - 2)
        .build();
    let _ = codec.decode(&mut BytesMut::from(&b"abcdef"[..]));
}

#[test]
fn an_adjustment_leaving_only_the_largest_field_value_is_accepted() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_width(1)
        .length_adjustment(-255)
        .build();
    let mut wire = BytesMut::new();
    codec.encode(&b""[..], &mut wire).unwrap();
    assert_eq!(&wire[..], b"\xff");
    assert_eq!(&codec.decode(&mut wire).unwrap().unwrap()[..], b"");
}

#[test]
fn encoder_errors_name_their_limits_in_bytes() {
    let mut codec = LengthPrefixedCodec::builder()
        .length_field_width(1)
        .length_adjustment(2)
        .build();
    let mut out = BytesMut::new();
    let err = codec.encode(&b"a"[..], &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "payload of 1 bytes is shorter than the minimum of 2 bytes"
    );
    let err = codec.encode(&[0u8; 258][..], &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "payload of 258 bytes does not fit the length field (at most 257 bytes)"
    );
}

#[test]
fn frames_are_split_from_the_read_buffer_not_copied() {
    let mut buf = BytesMut::from(&b"\0\0\0\x03abc\0\0\0\x01d"[..]);
    let base = buf.as_ptr() as usize;
    let mut codec = LengthPrefixedCodec::new();
    assert_eq!(
        codec.decode(&mut buf).unwrap().unwrap().as_ptr() as usize,
        base + 4
    );
    assert_eq!(
        codec.decode(&mut buf).unwrap().unwrap().as_ptr() as usize,
        base + 11
    );
}

#[test]
fn a_large_frame_gives_its_capacity_back() {
    let mut codec = LengthPrefixedCodec::builder()
        .max_frame_length(4 << 20)
        .release_threshold(64 * 1024)
        .build();
    let mut wire = BytesMut::new();
    codec.encode(vec![1u8; 2 << 20], &mut wire).unwrap();
    codec.encode(&b"small"[..], &mut wire).unwrap();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in wire.chunks(64 * 1024) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
            if frames.len() == 1 {
                assert!(buf.capacity() < 128 * 1024, "capacity {}", buf.capacity());
            }
        }
    }
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].len(), 2 << 20);
}

#[test]
fn a_read_ending_with_a_large_frame_does_not_keep_its_allocation() {
    let mut codec = LengthPrefixedCodec::builder()
        .max_frame_length(4 << 20)
        .release_threshold(64 * 1024)
        .build();
    let mut wire = BytesMut::new();
    codec.encode(vec![1u8; 1 << 20], &mut wire).unwrap();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&wire);
    let frame = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.len(), 1 << 20);
    drop(frame);
    // The next read: the buffer must not take the 1 MiB back.
    buf.extend_from_slice(&[0, 0, 0, 2, b'h', b'i']);
    assert!(buf.capacity() < 64 * 1024, "capacity {}", buf.capacity());
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"hi");
}

#[tokio::test]
async fn works_with_framed_over_loopback_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(socket, LengthPrefixedCodec::new());
        while let Some(frame) = framed.next().await {
            let frame = frame.unwrap();
            framed
                .send(Bytes::from(frame.len().to_string()))
                .await
                .unwrap();
        }
    });
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut client = Framed::new(socket, LengthPrefixedCodec::new());
    for len in [0usize, 1, 70_000] {
        client.send(Bytes::from(vec![3u8; len])).await.unwrap();
        let back = client.next().await.unwrap().unwrap();
        assert_eq!(back, len.to_string().as_bytes());
    }
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn works_with_udp_framed_on_loopback() {
    use tokio::net::UdpSocket;
    use tokio_util::udp::UdpFramed;

    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b.local_addr().unwrap();
    let codec = || LengthPrefixedCodec::builder().length_field_width(2).build();
    let mut sender = UdpFramed::new(a, codec());
    let mut receiver = UdpFramed::new(b, codec());
    sender
        .send((Bytes::from_static(b"datagram"), b_addr))
        .await
        .unwrap();
    let (frame, _) = receiver.next().await.unwrap().unwrap();
    assert_eq!(&frame[..], b"datagram");
}

#[tokio::test]
async fn udp_framed_drops_a_datagram_ending_inside_a_frame() {
    use tokio::net::UdpSocket;
    use tokio_util::udp::UdpFramed;

    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b.local_addr().unwrap();
    let codec = || {
        LengthPrefixedCodec::builder()
            .length_field_width(2)
            .max_frame_length(8)
            .build()
    };
    let mut receiver = UdpFramed::new(b, codec());
    // A frame, then one announcing 5 bytes of which 2 came; an over-long
    // frame, then a frame; a frame.
    for datagram in [
        &b"\0\x01a\0\x05bc"[..],
        b"\0\x09rstuvwxyz\0\x01d",
        b"\0\x01e",
    ] {
        a.send_to(datagram, b_addr).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(match receiver.next().await.unwrap() {
            Ok((frame, _)) => format!("{:?}", frame),
            Err(e) => e.to_string(),
        });
    }
    assert_eq!(
        got,
        [
            "b\"a\"",
            "stream ended inside a frame: 4 bytes buffered",
            "frame of 9 bytes exceeds the maximum of 8 bytes",
            "b\"d\"",
            "b\"e\"",
        ]
    );
}

#[test]
fn every_builder_option_round_trips() {
    // Field, byte order, offset, adjustment and stripping together: what
    // the encoder writes, the decoder gives back (the payload, or the whole
    // frame with the header kept), and a payload the encoder refuses is one
    // the field cannot announce.
    let fields = [
        LengthField::U8,
        LengthField::U16,
        LengthField::U24,
        LengthField::U32,
        LengthField::U64,
        LengthField::Varint,
    ];
    for field in fields {
        for endian in [Endian::Big, Endian::Little] {
            for offset in [0, 1, 3] {
                for adjustment in [-20i64, -3, 0, 2, 7] {
                    for strip in [true, false] {
                        let codec = LengthPrefixedCodec::builder()
                            .length_field(field)
                            .endian(endian)
                            .length_field_offset(offset)
                            .length_adjustment(adjustment)
                            .strip_header(strip)
                            .max_frame_length(300)
                            .build();
                        let case = format!("{field:?} {endian:?} {offset} {adjustment} {strip}");
                        for len in [0usize, 1, 7, 127, 128, 235, 300] {
                            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                            let mut wire = BytesMut::new();
                            let value = i64::try_from(len).unwrap() - adjustment;
                            let expressible =
                                u64::try_from(value).is_ok_and(|v| v <= field.max_value());
                            match codec.clone().encode(&payload[..], &mut wire) {
                                Ok(()) => assert!(expressible, "{case}: {len} encoded"),
                                Err(e) => {
                                    assert!(!expressible, "{case}: {len}: {e}");
                                    continue;
                                }
                            }
                            let whole = wire.clone().freeze();
                            let got = codec.clone().decode_eof(&mut wire);
                            let got = got.unwrap_or_else(|e| panic!("{case}: {len}: {e}"));
                            let want = if strip { &payload[..] } else { &whole[..] };
                            assert_eq!(&got.unwrap()[..], want, "{case}: {len}");
                            assert!(wire.is_empty(), "{case}: {len}");
                        }
                    }
                }
            }
        }
    }
}
