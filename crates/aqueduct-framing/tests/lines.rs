//! Behaviour of `LineCodec` and `Utf8LineCodec`.

mod common;

use aqueduct_framing::{FrameError, LineCodec, Utf8Bytes, Utf8LineCodec};
use bytes::{Bytes, BytesMut};
use common::{
    feed_until_error, read_as_framed_read, room_for_next_read, too_long_at_the_fifth_byte,
};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Decoder, Encoder, Framed, FramedRead};

fn decode_all<D: Decoder<Error = FrameError>>(codec: &mut D, input: &[u8]) -> Vec<D::Item> {
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
        out.push(item);
    }
    out
}

#[test]
fn crlf_lf_and_empty_lines() {
    let lines = decode_all(&mut LineCodec::new(), b"a\r\n\nb\n\r\n\r\r\n");
    assert_eq!(lines, ["a", "", "b", "", "\r"]);
}

#[test]
fn empty_input_yields_nothing() {
    assert!(decode_all(&mut LineCodec::new(), b"").is_empty());
    let mut codec = LineCodec::new();
    assert_eq!(codec.decode(&mut BytesMut::new()).unwrap(), None);
}

#[test]
fn lines_are_split_from_the_read_buffer_not_copied() {
    let mut buf = BytesMut::from("first line\nsecond\n");
    let base = buf.as_ptr() as usize;
    let mut codec = LineCodec::new();
    let first = codec.decode(&mut buf).unwrap().unwrap();
    let second = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(first.as_ptr() as usize, base);
    assert_eq!(second.as_ptr() as usize, base + 11);
    let mut text = Utf8LineCodec::new();
    let mut buf = BytesMut::from("text\n");
    let base = buf.as_ptr() as usize;
    assert_eq!(
        text.decode(&mut buf).unwrap().unwrap().as_ptr() as usize,
        base
    );
}

#[test]
fn exactly_max_is_accepted_and_max_plus_one_rejected() {
    for ending in ["\n", "\r\n"] {
        let mut codec = LineCodec::new().with_max_length(8);
        let input = format!(
            "{}{ending}{}{ending}ok{ending}",
            "x".repeat(8),
            "y".repeat(9)
        );
        let mut buf = BytesMut::from(input.as_str());
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "x".repeat(8));
        match codec.decode(&mut buf) {
            Err(FrameError::TooLong { len: 9, max: 8 }) => {}
            other => panic!("expected TooLong {{ len: 9, max: 8 }}, got {other:?}"),
        }
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "ok");
    }
}

#[test]
fn over_long_line_is_reported_before_it_is_fully_buffered() {
    let mut codec = LineCodec::new().with_max_length(16);
    let mut buf = BytesMut::new();
    let (err, fed) = feed_until_error(&mut codec, &mut buf, b'z', 4);
    assert!(matches!(err, FrameError::TooLong { max: 16, .. }));
    assert!(fed <= 20, "error after {fed} bytes");
    // The rest of the line is discarded as it arrives, then decoding resumes.
    for _ in 0..1000 {
        buf.extend_from_slice(&[b'z'; 64]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.len() <= 64);
    }
    buf.extend_from_slice(b"zzz\nnext\n");
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "next");
}

#[test]
fn the_read_buffer_never_takes_twice_the_maximum() {
    // Lines at the maximum, and a peer that never ends one: left to the
    // read buffer's own growth, the room would double past 2 * max.
    let max = 64 * 1024;
    let mut at_max = Vec::new();
    for _ in 0..4 {
        at_max.extend(std::iter::repeat_n(b'a', max));
        at_max.push(b'\n');
    }
    let endless = vec![b'a'; 4 * max];
    for read in [4096, 8192, 12_401, 65_536] {
        let seen = read_as_framed_read(&mut LineCodec::new(), &at_max, read);
        assert_eq!(seen.frames, [max; 4], "reads of {read}");
        assert!(
            seen.most_room <= max + 16 * 1024,
            "reads of {read}: capacity {}",
            seen.most_room
        );
        let seen = read_as_framed_read(&mut LineCodec::new(), &endless, read);
        assert_eq!((seen.frames.len(), seen.errors), (0, 1), "reads of {read}");
        assert!(
            seen.most_room <= max + 16 * 1024,
            "endless line, reads of {read}: capacity {}",
            seen.most_room
        );
    }
}

#[test]
fn over_long_line_is_reported_at_max_plus_one_bytes() {
    // Byte by byte: the fifth byte of a line with a maximum of 4 makes it
    // too long, unless it is a `\r` that may begin the line's CRLF.
    let mut codec = LineCodec::new().with_max_length(4);
    let mut buf = too_long_at_the_fifth_byte(&mut codec);
    buf.extend_from_slice(b"f\nok\n");
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "ok");

    let mut buf = BytesMut::from("abcd\r");
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\n");
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "abcd");
}

#[test]
fn eof_inside_a_line_is_truncated_unless_allowed() {
    let mut codec = LineCodec::new();
    let mut buf = BytesMut::from("done\npart");
    assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), "done");
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(FrameError::Truncated { buffered: 4 })
    ));
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);

    let mut lenient = LineCodec::new().with_partial_at_eof(true);
    assert_eq!(decode_all(&mut lenient, b"done\npart\r"), ["done", "part"]);

    // The maximum holds for the final unterminated line too.
    let mut lenient = LineCodec::new()
        .with_partial_at_eof(true)
        .with_max_length(3);
    let mut buf = BytesMut::from("abcd");
    assert!(matches!(
        lenient.decode_eof(&mut buf),
        Err(FrameError::TooLong { len: 4, max: 3 })
    ));
    assert_eq!(lenient.decode_eof(&mut buf).unwrap(), None);
    assert_eq!(decode_all(&mut lenient, b"abc\r"), ["abc"]);
}

#[test]
fn encoders_take_every_string_and_byte_type() {
    let mut codec = LineCodec::new();
    let mut out = BytesMut::new();
    codec.encode("a", &mut out).unwrap();
    codec.encode(String::from("b"), &mut out).unwrap();
    codec.encode(&b"c"[..], &mut out).unwrap();
    codec.encode(Bytes::from_static(b"d"), &mut out).unwrap();
    codec.encode(vec![b'e'], &mut out).unwrap();
    codec.encode(Utf8Bytes::from_static("f"), &mut out).unwrap();
    assert_eq!(&out[..], b"a\nb\nc\nd\ne\nf\n");

    let mut text = Utf8LineCodec::from(LineCodec::new().with_crlf(true));
    let mut out = BytesMut::new();
    text.encode("a", &mut out).unwrap();
    text.encode(String::from("b"), &mut out).unwrap();
    text.encode(&b"c"[..], &mut out).unwrap();
    text.encode(Bytes::from_static(b"d"), &mut out).unwrap();
    assert_eq!(&out[..], b"a\r\nb\r\nc\r\nd\r\n");
    // Bytes that are not UTF-8 are refused: its decoder would refuse them.
    assert!(matches!(
        text.encode(vec![b'e', 0xff], &mut out),
        Err(FrameError::PayloadNotUtf8 { source }) if source.valid_up_to() == 1
    ));
    assert_eq!(out.len(), 12, "nothing written");
}

#[test]
fn encoder_refuses_lines_longer_than_the_max() {
    let mut codec = LineCodec::new().with_max_length(3);
    let mut out = BytesMut::new();
    let err = codec.encode("abcd", &mut out).unwrap_err();
    assert!(matches!(err, FrameError::PayloadOverMax { len: 4, max: 3 }));
    assert!(!err.is_protocol(), "our own line, not the peer's");
    assert!(out.is_empty());
}

#[test]
fn utf8_errors_name_the_line_and_decoding_goes_on() {
    let mut codec = Utf8LineCodec::new();
    let mut buf = BytesMut::from(&b"ok\nbad \xc3\x28 here\nfine\xe2\x82\xac\n"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "ok");
    match codec.decode(&mut buf) {
        Err(FrameError::InvalidUtf8 { source }) => assert_eq!(source.valid_up_to(), 4),
        other => panic!("expected InvalidUtf8, got {other:?}"),
    }
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "fine€");
}

#[test]
fn multibyte_character_split_across_reads() {
    let mut codec = Utf8LineCodec::new();
    let mut buf = BytesMut::new();
    let input = "añb€c\n".as_bytes();
    let mut lines = Vec::new();
    for byte in input {
        buf.extend_from_slice(&[*byte]);
        if let Some(line) = codec.decode(&mut buf).unwrap() {
            lines.push(line);
        }
    }
    assert_eq!(lines, ["añb€c"]);
}

#[tokio::test]
async fn works_with_framed_over_loopback_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(socket, Utf8LineCodec::new());
        while let Some(line) = framed.next().await {
            let line = line.unwrap();
            framed.send(line.to_uppercase()).await.unwrap();
        }
    });
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut client = Framed::new(socket, Utf8LineCodec::new());
    for word in ["hello", "wörld", ""] {
        client.send(word).await.unwrap();
        let back = client.next().await.unwrap().unwrap();
        assert_eq!(back, word.to_uppercase());
    }
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn framed_read_reports_truncation_at_eof() {
    let (mut tx, rx) = tokio::io::duplex(64);
    tx.write_all(b"one\ntw").await.unwrap();
    drop(tx);
    let mut lines = FramedRead::new(rx, LineCodec::new());
    assert_eq!(lines.next().await.unwrap().unwrap(), "one");
    assert!(matches!(
        lines.next().await.unwrap(),
        Err(FrameError::Truncated { buffered: 2 })
    ));
    assert!(lines.next().await.is_none());
}

#[tokio::test]
async fn framed_read_yields_none_after_an_error() {
    // `ok` is buffered, but `FramedRead` yields `None` after the error
    // (`drivers.rs` shows how it goes on).
    let input: &[u8] = b"too long\nok\n";
    let mut lines = FramedRead::new(input, LineCodec::new().with_max_length(4));
    assert!(matches!(
        lines.next().await.unwrap(),
        Err(FrameError::TooLong { len: 8, max: 4 })
    ));
    assert!(lines.next().await.is_none());
}

#[test]
fn every_line_is_validated_even_if_the_buffer_changes_between_calls() {
    // The caller owns the buffer: it may swap or rewrite it between calls,
    // so no validation result is carried from one call to the next.
    let mut codec = Utf8LineCodec::new();
    let mut first = BytesMut::from("ok\nstill ok\n");
    assert_eq!(codec.decode(&mut first).unwrap().unwrap(), "ok");
    let mut other = BytesMut::from(&b"\xff\n"[..]);
    assert!(matches!(
        codec.decode(&mut other),
        Err(FrameError::InvalidUtf8 { .. })
    ));
    first[0] = 0xC3;
    assert!(matches!(
        codec.decode(&mut first),
        Err(FrameError::InvalidUtf8 { .. })
    ));
}

/// What the read buffer went through while one line arrived.
struct Arrival {
    len: usize,
    /// Times the buffer grew.
    grown: usize,
    /// Bytes of the partial line copied to a new place.
    moved: usize,
}

/// Feeds `input` in `chunk`-byte reads and reports, per line, what the
/// buffer went through while that line arrived.
fn feed_watching(codec: &mut LineCodec, input: &[u8], chunk: usize) -> Vec<Arrival> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let (mut grown, mut moved) = (0, 0);
    for piece in input.chunks(chunk) {
        let (at, held, room) = (buf.as_ptr(), buf.len(), buf.capacity() - buf.len());
        buf.extend_from_slice(piece);
        grown += usize::from(room < piece.len());
        if buf.as_ptr() != at {
            moved += held;
        }
        loop {
            let (at, held, capacity) = (buf.as_ptr(), buf.len(), buf.capacity());
            match codec.decode(&mut buf).unwrap() {
                Some(line) => {
                    out.push(Arrival {
                        len: line.len(),
                        grown,
                        moved,
                    });
                    (grown, moved) = (0, 0);
                }
                None => {
                    grown += usize::from(buf.capacity() > capacity);
                    if buf.as_ptr() != at {
                        moved += held;
                    }
                    break;
                }
            }
        }
    }
    out
}

fn lines_of(lengths: &[usize]) -> Vec<u8> {
    let mut input = Vec::new();
    for &len in lengths {
        input.extend(std::iter::repeat_n(b'x', len));
        input.push(b'\n');
    }
    input
}

#[test]
fn a_run_of_large_lines_is_sized_in_one_step_after_the_first() {
    const LINE: usize = 1 << 20;
    let mut codec = LineCodec::new()
        .with_max_length(4 << 20)
        .with_release_threshold(64 * 1024);
    let lines = feed_watching(&mut codec, &lines_of(&[LINE, LINE, LINE]), 4096);
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|line| line.len == LINE));
    // The first grows by doubling, copying itself at each step; the others
    // get room for the last one's size as soon as they pass 8 KiB.
    assert!(
        lines[0].grown >= 8,
        "the first line grew {} times",
        lines[0].grown
    );
    for line in &lines[1..] {
        assert!(line.grown <= 3, "a later line grew {} times", line.grown);
    }
}

#[test]
fn a_small_line_after_a_large_one_gives_the_room_back_and_is_forgotten() {
    let mut codec = LineCodec::new()
        .with_max_length(4 << 20)
        .with_release_threshold(64 * 1024);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&lines_of(&[1 << 20]));
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 1 << 20);
    assert!(buf.capacity() < 64 * 1024, "capacity {}", buf.capacity());

    // 20 KiB of the next line: likely large again, sized for 1 MiB.
    buf.extend_from_slice(&[b'y'; 20 * 1024]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() >= 1 << 20, "capacity {}", buf.capacity());
    // It ends small: the room goes back.
    buf.extend_from_slice(b"\n");
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 20 * 1024);
    assert!(buf.capacity() < 64 * 1024, "capacity {}", buf.capacity());

    // The size is forgotten: the next 20 KiB line gets no 1 MiB room.
    buf.extend_from_slice(&[b'z'; 20 * 1024]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() < 1 << 20, "capacity {}", buf.capacity());
}

#[test]
fn lines_of_like_size_are_not_moved_once_read() {
    const LINE: usize = 64 * 1024;
    let mut codec = LineCodec::new().with_max_length(1 << 20);
    let lines = feed_watching(&mut codec, &lines_of(&[LINE; 16]), 4096);
    assert_eq!(lines.len(), 16);
    assert!(lines.iter().all(|line| line.len == LINE));
    // From the second line on, the buffer has room for a whole line before
    // the line has filled one read: at most that read's bytes move.
    for (i, line) in lines.iter().enumerate().skip(1) {
        assert!(line.moved <= 4096, "line {i}: {} bytes moved", line.moved);
    }
}

#[test]
fn a_dropped_large_line_gives_the_room_back_like_a_yielded_one() {
    const READ: usize = 64 * 1024;
    let codec = || {
        LineCodec::new()
            .with_max_length(1 << 20)
            .with_release_threshold(READ)
    };

    // Over-long: reported once past the maximum, discarded through its `\n`.
    let mut lines = codec();
    let mut buf = BytesMut::new();
    let (err, _) = feed_until_error(&mut lines, &mut buf, b'x', READ);
    assert!(matches!(err, FrameError::TooLong { .. }));
    buf.extend_from_slice(b"xx\nsmall\n");
    assert_eq!(lines.decode(&mut buf).unwrap().unwrap(), "small");
    let room = room_for_next_read(&mut buf);
    assert!(room < READ, "over-long line: room {room}");

    // Over-long by one byte, its `\n` already buffered.
    let mut lines = codec();
    let mut buf = BytesMut::from(&[b'x'; (1 << 20) + 1][..]);
    buf.extend_from_slice(b"\nsmall\n");
    assert!(matches!(
        lines.decode(&mut buf),
        Err(FrameError::TooLong { len, .. }) if len == (1 << 20) + 1
    ));
    assert_eq!(lines.decode(&mut buf).unwrap().unwrap(), "small");
    let room = room_for_next_read(&mut buf);
    assert!(room < READ, "terminated over-long line: room {room}");

    // Within the maximum but not UTF-8.
    let mut text = Utf8LineCodec::from(codec());
    let mut buf = BytesMut::from(&[b'x'; 1 << 19][..]);
    buf.extend_from_slice(b"\xff\nsmall\n");
    assert!(matches!(
        text.decode(&mut buf),
        Err(FrameError::InvalidUtf8 { .. })
    ));
    assert_eq!(text.decode(&mut buf).unwrap().unwrap(), "small");
    let room = room_for_next_read(&mut buf);
    assert!(room < READ, "invalid UTF-8 line: room {room}");
}

#[test]
fn text_compares_with_strings_from_either_side() {
    let mut codec = Utf8LineCodec::new();
    let mut buf = BytesMut::from("QUIT\n");
    let line = codec.decode(&mut buf).unwrap().unwrap();
    // As a `String` would: the literal on the left works too.
    assert!("QUIT" == line);
    assert!(*"QUIT" == line);
    let (same, longer) = (String::from("QUIT"), String::from("QUIT "));
    assert!(same == line);
    assert!("quit" != line);
    assert!(longer != line);
    let commands = ["HELO", "QUIT"];
    assert_eq!(commands.iter().position(|c| *c == line), Some(1));
}

#[test]
fn slices_of_decoded_text_share_the_read_buffer() {
    let mut codec = Utf8LineCodec::new();
    let mut buf = BytesMut::from("PUT clé=välue\n");
    let base = buf.as_ptr() as usize;
    let line = codec.decode(&mut buf).unwrap().unwrap();
    let (key, value) = line[4..].split_once('=').unwrap();
    let (key, value) = (line.slice_ref(key), line.slice_ref(value));
    drop(line);
    assert_eq!((key.as_str(), value.as_str()), ("clé", "välue"));
    assert_eq!(key.as_ptr() as usize, base + 4);
    assert_eq!(value.as_ptr() as usize, base + 9);

    let value_again = value.slice(1..);
    assert_eq!(value_again, "älue");
    assert_eq!(value_again.as_ptr() as usize, base + 10);
    assert_eq!(value.slice(..), value);
    assert_eq!(value.slice(3..=4), "lu");
    assert_eq!(value.slice(6..6), "");
    assert_eq!(value.slice_ref(""), "");
}

#[test]
#[should_panic(expected = "not a char boundary")]
fn slicing_inside_a_character_panics() {
    let text = Utf8Bytes::from_static("välue");
    let _ = text.slice(2..);
}

#[test]
#[should_panic]
fn slicing_past_the_end_panics() {
    let text = Utf8Bytes::from_static("abc");
    let _ = text.slice(..4);
}

#[test]
#[should_panic]
fn slice_ref_of_other_text_panics() {
    let text = Utf8Bytes::from_static("abc");
    let other = String::from("abc");
    let _ = text.slice_ref(&other);
}

#[test]
fn text_converts_from_and_to_owned_strings_and_buffers() {
    let vec = "añb".as_bytes().to_vec();
    let vec_ptr = vec.as_ptr();
    let from_vec = Utf8Bytes::try_from(vec).unwrap();
    assert_eq!(from_vec, "añb");
    assert_eq!(from_vec.as_ptr(), vec_ptr, "a Vec is kept, not copied");
    assert!(matches!(
        Utf8Bytes::try_from(b"ok\xff".to_vec()),
        Err(FrameError::InvalidUtf8 { source }) if source.valid_up_to() == 2
    ));

    let buf = BytesMut::from("€uro");
    let buf_ptr = buf.as_ptr();
    let from_buf = Utf8Bytes::try_from(buf).unwrap();
    assert_eq!(from_buf, "€uro");
    assert_eq!(
        from_buf.as_ptr(),
        buf_ptr,
        "a BytesMut is frozen, not copied"
    );
    assert!(matches!(
        Utf8Bytes::try_from(BytesMut::from(&b"\xe2\x82"[..])),
        Err(FrameError::InvalidUtf8 { source }) if source.valid_up_to() == 0
    ));

    let boxed: Box<str> = "boxed".into();
    let boxed_ptr = boxed.as_ptr();
    let from_box = Utf8Bytes::from(boxed);
    assert_eq!(from_box.as_ptr(), boxed_ptr);

    let owned: String = from_buf.into();
    assert_eq!(owned, "€uro");
    assert_eq!(String::from(Utf8Bytes::default()), "");
}

#[test]
fn utf8_codec_takes_every_line_option_directly() {
    let mut codec = Utf8LineCodec::new()
        .with_max_length(200)
        .with_crlf(true)
        .with_partial_at_eof(true)
        .with_release_threshold(64);
    assert_eq!(codec.max_length(), 200);
    let mut out = BytesMut::new();
    codec.encode("ça va", &mut out).unwrap();
    assert_eq!(&out[..], "ça va\r\n".as_bytes());

    let mut buf = BytesMut::from("ça va\r\nfin");
    assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), "ça va");
    assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), "fin");
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);

    // A 100-byte line passes the 64-byte release threshold.
    let mut buf = BytesMut::with_capacity(4096);
    buf.extend_from_slice("é".repeat(50).as_bytes());
    buf.extend_from_slice(b"\nnext");
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 100);
    assert!(buf.capacity() <= 64, "capacity {}", buf.capacity());
}

#[test]
fn a_kept_line_holds_the_read_buffer_and_a_copy_does_not() {
    // Whether the read buffer can take back its own memory after a line,
    // with `keep` holding on to that line (or to nothing) meanwhile.
    fn buffer_reused(keep: impl FnOnce(Utf8Bytes) -> Option<Utf8Bytes>) -> bool {
        let mut codec = Utf8LineCodec::new();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.extend_from_slice("NICK zoë\n".as_bytes());
        let start = buf.as_ptr() as usize;
        let line = codec.decode(&mut buf).unwrap().unwrap();
        let kept = keep(line);
        buf.reserve(64 * 1024);
        let reused = buf.as_ptr() as usize == start;
        drop(kept);
        reused
    }
    assert!(!buffer_reused(|line| Some(line.slice(5..))));
    assert!(buffer_reused(|line| Some(Utf8Bytes::copy_from_str(
        &line[5..]
    ))));
    assert!(buffer_reused(|_| None));
}

#[test]
fn text_keys_are_found_by_str_in_hash_and_ordered_maps() {
    use std::collections::{BTreeMap, HashMap};
    use std::hash::BuildHasher;
    use std::ops::Bound;

    let words = ["zoë", "", "a", "ab", "b", "é", "\u{10FFFF}"];
    let state = std::hash::RandomState::new();
    for word in words {
        let text = Utf8Bytes::from(word.to_string());
        // `Borrow<str>` requires the same hash as the `str`.
        assert_eq!(state.hash_one(&text), state.hash_one(word), "{word:?}");
        for other in words {
            let other_text = Utf8Bytes::from(other.to_string());
            // The same order and equality as the strings.
            assert_eq!(text.cmp(&other_text), word.cmp(other));
            assert_eq!(text == other_text, word == other);
        }
    }

    let mut counts = HashMap::new();
    let mut sorted = BTreeMap::new();
    let mut codec = Utf8LineCodec::new();
    let mut buf = BytesMut::from("b\né\na\nb\n");
    while let Some(line) = codec.decode(&mut buf).unwrap() {
        *counts.entry(line.clone()).or_insert(0) += 1;
        sorted.insert(line, ());
    }
    assert_eq!(counts.get("b"), Some(&2));
    assert_eq!(counts.get("é"), Some(&1));
    assert_eq!(counts.get("c"), None);
    assert!(sorted.contains_key("é"));
    let between = (Bound::Included("a"), Bound::Excluded("c"));
    let keys: Vec<&str> = sorted
        .range::<str, _>(between)
        .map(|(k, ())| k.as_str())
        .collect();
    assert_eq!(keys, ["a", "b"]);
}
