//! Walkthrough `circuit_breaker`: a breaker over a dependency that fails,
//! then recovers, drawn as a timeline.
//!
//! A client calls a dependency every 20 ms for 2.4 s. From 0.3 s to 1.3 s
//! the dependency is down. The breaker (failure rate of the last 10 calls,
//! open for 150 ms after the first trip and longer after each trip in a
//! row, 2 probes in half-open) trips, rejects calls at once instead of
//! letting them wait on a dead service, probes, and closes once the
//! dependency answers again. The timeline shows the dependency, the
//! breaker's state and each call's outcome, tick by tick; all of it
//! measured in this run.
//!
//! Run it with `cargo xtask demo circuit_breaker`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aqueduct::resilience::breaker::{BreakerError, State};
use aqueduct::resilience::{Backoff, CircuitBreaker};
use aqueduct_examples::{require, section};
use tokio::time::{MissedTickBehavior, interval, sleep};

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Ok,
    Failed,
    Rejected,
}

#[tokio::main]
async fn main() {
    let tick = Duration::from_millis(20);
    let ticks = 120;
    let down = Duration::from_millis(300)..Duration::from_millis(1300);

    let start = Instant::now();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let log = changes.clone();
    let breaker = CircuitBreaker::builder()
        .count_window(10)
        .minimum_calls(5)
        .failure_rate(0.5)
        .open_backoff(
            Backoff::exponential(Duration::from_millis(150)).max_delay(Duration::from_millis(600)),
        )
        .half_open_probes(2)
        .on_state_change(move |c| log.lock().unwrap().push((start.elapsed(), c)))
        .build();

    section("a dependency down from 0.3 s to 1.3 s, called every 20 ms");
    let mut timeline = Vec::with_capacity(ticks);
    let mut every = interval(tick);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for _ in 0..ticks {
        every.tick().await;
        let at = start.elapsed();
        let dep_down = down.contains(&at);
        let r = breaker
            .call(|| async move {
                sleep(Duration::from_millis(2)).await;
                if dep_down { Err("503") } else { Ok(()) }
            })
            .await;
        let outcome = match r {
            Ok(()) => Outcome::Ok,
            Err(BreakerError::Inner(_)) => Outcome::Failed,
            Err(_) => Outcome::Rejected,
        };
        // The state right after the call: what the next caller meets.
        timeline.push((dep_down, breaker.state(), outcome));
    }
    let total = start.elapsed();

    println!();
    let axis: String = (0..ticks)
        .map(|i| if i % 25 == 0 { '|' } else { ' ' })
        .collect();
    let labels: String = (0..ticks)
        .step_by(25)
        .map(|i| format!("{:<25}", format!("{:.1}s", (i as f64) * tick.as_secs_f64())))
        .collect();
    println!("   time       {labels}");
    println!("              {axis}");
    let row =
        |f: &dyn Fn(&(bool, State, Outcome)) -> char| timeline.iter().map(f).collect::<String>();
    println!("   dependency {}", row(&|t| if t.0 { 'x' } else { '·' }));
    println!(
        "   breaker    {}",
        row(&|t| match t.1 {
            State::Closed => '▁',
            State::HalfOpen => '▄',
            _ => '█',
        })
    );
    println!(
        "   calls      {}",
        row(&|t| match t.2 {
            Outcome::Ok => '.',
            Outcome::Failed => 'x',
            Outcome::Rejected => '-',
        })
    );
    println!(
        "   breaker: ▁ closed  ▄ half-open  █ open      calls: . ok  x failed  - rejected at once"
    );

    section("transitions (timestamps measured in this run)");
    let changes = changes.lock().unwrap();
    for (at, c) in changes.iter() {
        println!("   {:>6.0} ms  {c}", at.as_secs_f64() * 1e3);
    }

    let during: Vec<_> = timeline.iter().filter(|t| t.0).collect();
    let reached = during.iter().filter(|t| t.2 == Outcome::Failed).count();
    let rejected = timeline.iter().filter(|t| t.2 == Outcome::Rejected).count();
    let trips = changes.iter().filter(|(_, c)| c.to == State::Open).count();
    let first_ok_after = timeline
        .iter()
        .enumerate()
        .skip_while(|(_, t)| !t.0)
        .find(|(_, t)| !t.0 && t.1 == State::Closed && t.2 == Outcome::Ok)
        .map(|(i, _)| i);
    println!(
        "\n   {} calls in {:.2} s; during the outage {} of {} calls reached the dependency, {} were rejected at once",
        ticks,
        total.as_secs_f64(),
        reached,
        during.len(),
        rejected
    );
    println!(
        "   the breaker tripped {trips} times (open longer after each trip in a row) and ends {:?}",
        breaker.state()
    );
    require(
        trips >= 2,
        "the breaker tripped, and tripped again on a failed probe",
    );
    require(rejected > 0, "calls were rejected while open");
    require(
        reached * 2 < during.len(),
        "most outage calls never reached the dependency",
    );
    require(
        first_ok_after.is_some(),
        "traffic flowed again after the recovery",
    );
    require(
        breaker.state() == State::Closed,
        "the breaker closed after the recovery",
    );
    require(
        changes
            .iter()
            .any(|(_, c)| c.from == State::HalfOpen && c.to == State::Closed),
        "half-open probes closed the breaker",
    );
}
