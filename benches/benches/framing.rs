//! Benchmarks of `aqueduct-framing` beside the crates it replaces.
//!
//! Run with `cargo xtask bench framing`, which prints the ratios.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("framing/placeholder", |b| {
        b.iter(|| std::hint::black_box(1) + 1);
    });
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
