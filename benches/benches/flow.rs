//! Benchmarks of `aqueduct-flow` beside the crates it replaces.
//!
//! Run with `cargo xtask bench flow`, which prints the ratios.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("flow/placeholder", |b| {
        b.iter(|| std::hint::black_box(1) + 1);
    });
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
