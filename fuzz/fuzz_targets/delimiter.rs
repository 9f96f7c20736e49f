#![no_main]

use aqueduct_framing::DelimiterCodec;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let [kind, dlen, max, chunk, rest @ ..] = data else {
        return;
    };
    let dlen = usize::from(dlen % 4) + 1;
    if rest.len() < dlen {
        return;
    }
    let (delimiter, input) = rest.split_at(dlen);
    let max = usize::from(*max);
    let keep = kind & 2 == 2;
    let partial = kind & 4 == 4;
    let set = kind & 1 == 1;
    let make = || {
        let codec = if set {
            DelimiterCodec::any_of(delimiter)
        } else {
            DelimiterCodec::new(delimiter)
        };
        codec
            .with_max_length(max)
            .with_keep_delimiter(keep)
            .with_partial_at_eof(partial)
    };
    let out = common::whole_equals_chunked(make, input, usize::from(*chunk));
    let frames: Vec<_> = out.into_iter().filter_map(Result::ok).collect();
    let wire_len = if set { 1 } else { dlen };
    for frame in &frames {
        assert!(frame.len() <= max + wire_len);
    }
    if !keep {
        // Strip mode: frames hold no delimiter, so they encode and come back.
        let encodable: Vec<_> = frames
            .iter()
            .filter(|f| make().encode_check(f))
            .cloned()
            .collect();
        common::round_trip(&mut make(), &mut make(), &encodable);
    }
});

trait EncodeCheck {
    fn encode_check(&mut self, frame: &bytes::Bytes) -> bool;
}

impl EncodeCheck for DelimiterCodec {
    /// A frame cut before a multi-byte delimiter may end with a prefix of
    /// it (the encoder refuses those, as they would re-frame differently).
    fn encode_check(&mut self, frame: &bytes::Bytes) -> bool {
        use tokio_util::codec::Encoder;
        self.encode(frame.clone(), &mut bytes::BytesMut::new()).is_ok()
    }
}
