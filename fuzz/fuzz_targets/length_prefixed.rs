#![no_main]

use aqueduct_framing::{Endian, LengthField, LengthPrefixedCodec, Oversize};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let [field, flags, offset, adjustment, max, chunk, input @ ..] = data else {
        return;
    };
    let field = [
        LengthField::U8,
        LengthField::U16,
        LengthField::U24,
        LengthField::U32,
        LengthField::U64,
        LengthField::Varint,
    ][usize::from(*field % 6)];
    let endian = if flags & 1 == 0 { Endian::Big } else { Endian::Little };
    let strip = flags & 2 == 0;
    let oversize = if flags & 4 == 0 { Oversize::Error } else { Oversize::Skip };
    let offset = usize::from(offset % 4);
    let max = usize::from(*max) * 2;
    // An adjustment above the maximum is refused at build: every frame
    // would be too long.
    let adjustment = i64::from(*adjustment as i8 % 16).min(max as i64);
    let make = || {
        LengthPrefixedCodec::builder()
            .length_field(field)
            .endian(endian)
            .length_field_offset(offset)
            .length_adjustment(adjustment)
            .strip_header(strip)
            .max_frame_length(max)
            .oversize(oversize)
            .build()
    };
    let out = common::whole_equals_chunked(make, input, usize::from(*chunk));
    let frames: Vec<_> = out.into_iter().filter_map(Result::ok).collect();
    let header = offset + field.width().unwrap_or(0);
    for frame in &frames {
        let bound = if strip { max } else { max + header + 10 };
        assert!(frame.len() <= bound, "frame of {} > {bound}", frame.len());
    }
    if strip && offset == 0 {
        // Frames that fit the field re-encode to themselves.
        common::round_trip(&mut make(), &mut make(), &frames);
    }
});
