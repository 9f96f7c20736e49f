#![no_main]

use aqueduct_framing::FixedSizeCodec;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let [size, chunk, input @ ..] = data else {
        return;
    };
    let size = usize::from(*size).max(1);
    let make = || FixedSizeCodec::new(size);
    let out = common::whole_equals_chunked(make, input, usize::from(*chunk));
    let frames: Vec<_> = out.iter().filter_map(|r| r.clone().ok()).collect();
    assert_eq!(frames.len(), input.len() / size);
    assert!(frames.iter().all(|f| f.len() == size));
    let truncated = input.len() % size != 0;
    assert_eq!(out.last().map(Result::is_err).unwrap_or(false), truncated);
    common::round_trip(&mut make(), &mut make(), &frames);
});
