//! Backoff and jitter properties.

use std::time::Duration;

use aqueduct_resilience::{Backoff, Jitter};
use proptest::prelude::*;

fn policy() -> impl Strategy<Value = Backoff> {
    let base = (1u64..5_000).prop_map(Duration::from_millis);
    let step = (0u64..5_000).prop_map(Duration::from_millis);
    (0..4u8, base, step, 1.0f64..4.0).prop_map(|(kind, base, step, factor)| match kind {
        0 => Backoff::constant(base),
        1 => Backoff::linear(base, step),
        2 => Backoff::exponential(base).factor(factor),
        _ => Backoff::fibonacci(base),
    })
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ]
}

proptest! {
    #[test]
    fn every_delay_is_within_zero_and_the_cap(
        b in policy(), j in jitter(), cap_ms in 1u64..60_000, seed in any::<u64>()
    ) {
        let cap = Duration::from_millis(cap_ms);
        let b = b.jitter(j).max_delay(cap).seed(seed);
        for (n, d) in b.iter().take(64).enumerate() {
            prop_assert!(d <= cap, "delay {n} = {d:?} > cap {cap:?}");
            let nominal = b.nominal(u32::try_from(n).unwrap());
            match j {
                Jitter::None => prop_assert_eq!(d, nominal),
                Jitter::Full => prop_assert!(d <= nominal),
                Jitter::Equal => prop_assert!(d >= nominal / 2 && d <= nominal),
                _ => prop_assert!(d >= b.base().min(cap)),
            }
        }
    }

    #[test]
    fn a_seed_gives_the_same_sequence(b in policy(), j in jitter(), seed in any::<u64>()) {
        let b = b.jitter(j).max_delay(Duration::from_secs(3600)).seed(seed);
        let x: Vec<_> = b.iter().take(32).collect();
        let y: Vec<_> = b.clone().iter().take(32).collect();
        prop_assert_eq!(x, y);
    }

    #[test]
    fn nominal_delays_never_shrink(b in policy(), cap_ms in 1u64..600_000) {
        let b = b.max_delay(Duration::from_millis(cap_ms));
        let d: Vec<_> = (0..80).map(|n| b.nominal(n)).collect();
        prop_assert!(d.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn different_seeds_differ() {
    let b = Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Full);
    let x: Vec<_> = b.clone().seed(1).iter().take(8).collect();
    let y: Vec<_> = b.seed(2).iter().take(8).collect();
    assert_ne!(x, y);
}

#[test]
fn full_jitter_spreads_over_the_whole_range() {
    let b = Backoff::constant(Duration::from_millis(1000))
        .jitter(Jitter::Full)
        .seed(5);
    let d: Vec<_> = b.iter().take(2000).collect();
    let low = d
        .iter()
        .filter(|d| **d < Duration::from_millis(250))
        .count();
    let high = d
        .iter()
        .filter(|d| **d > Duration::from_millis(750))
        .count();
    // Uniform: about a quarter in each tail.
    assert!((400..600).contains(&low), "{low}");
    assert!((400..600).contains(&high), "{high}");
}
