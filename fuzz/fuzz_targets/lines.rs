#![no_main]

use aqueduct_framing::LineCodec;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let [max, chunk, flags, input @ ..] = data else {
        return;
    };
    let max = usize::from(*max);
    let partial = flags & 1 == 1;
    let make = || LineCodec::new().with_max_length(max).with_partial_at_eof(partial);
    let out = common::whole_equals_chunked(make, input, usize::from(*chunk));
    let frames: Vec<_> = out.into_iter().filter_map(Result::ok).collect();
    for line in &frames {
        assert!(line.len() <= max);
        assert!(!line.contains(&b'\n'));
    }
    // CRLF endings keep a trailing `\r` inside the line.
    common::round_trip(&mut make().with_crlf(true), &mut make(), &frames);
});
