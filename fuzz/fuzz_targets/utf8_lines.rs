#![no_main]

use aqueduct_framing::{LineCodec, Utf8LineCodec};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let [max, chunk, flags, input @ ..] = data else {
        return;
    };
    let max = usize::from(*max) * 4;
    let partial = flags & 1 == 1;
    let make = || {
        Utf8LineCodec::from(LineCodec::new().with_max_length(max).with_partial_at_eof(partial))
    };
    let out = common::whole_equals_chunked(make, input, usize::from(*chunk));
    // The text decoder yields exactly the byte decoder's valid lines.
    let bytes = common::decode_all(
        &mut LineCodec::new().with_max_length(max).with_partial_at_eof(partial),
        input,
        0,
    );
    assert_eq!(out.len(), bytes.len());
    for (text, raw) in out.iter().zip(&bytes) {
        match (text, raw) {
            (Ok(t), Ok(r)) => {
                assert_eq!(t.as_bytes(), &r[..]);
                // Accepted text is text by std's check too.
                assert!(std::str::from_utf8(r).is_ok());
            }
            (Err("invalid utf-8"), Ok(r)) => assert!(std::str::from_utf8(r).is_err()),
            (Err(a), Err(b)) => assert_eq!(a, b),
            other => panic!("text and byte decoders disagree: {other:?}"),
        }
    }
    let frames: Vec<_> = out.into_iter().filter_map(Result::ok).collect();
    let crlf = || Utf8LineCodec::from(LineCodec::new().with_max_length(max).with_crlf(true));
    common::round_trip(&mut crlf(), &mut make(), &frames);
});
