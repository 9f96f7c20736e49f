//! The pool's contended goals measured side by side: in every round, our
//! pool, deadpool and bb8 each run the same burst of checkouts, one right
//! after another, and the round gives one ratio against each.
//!
//! criterion measures one pool at a time, for about a second each, and the
//! bench's table divides one pool's median by another's. On a machine whose
//! speed changes from one second to the next (a virtual machine whose cores
//! are shared with other guests), pools measured seconds apart can meet
//! different speeds. Here the three run within milliseconds of each other,
//! in an order that turns every round, and the report is the median of the
//! rounds' ratios with its quartiles. The work is the criterion bench's own
//! (the same prefilled no-op pools and barrier-released tasks, from
//! `aqueduct_benches::pool`), on one two-worker runtime. deadpool waits
//! without a bound (its default) and bb8 tests each connection on checkout
//! (its default), as in the bench's `deadpool` and `bb8` columns; the goals
//! are set against these. `deadpool-wait` is deadpool with the 30 s bound on
//! every wait that ours and bb8 keep by default, so that all three do the
//! same work. In the cells that hold each object across a `yield_now()`, a
//! column sets the same tasks with no pool at all against deadpool: the
//! scheduler's share, below which no pool can go. A last one sets the same
//! tasks taking a permit of a tokio `Semaphore` with one permit per object
//! against deadpool: the first-come, first-served handoff alone, which a
//! fair pool makes on every checkout where tasks outnumber objects.
//!
//! `cargo run --release -p aqueduct-benches --bin pool_paired`
//! (run by `cargo xtask bench pool`, after the criterion bench).

use std::time::Duration;

use aqueduct_benches::Spread;
use aqueduct_benches::pool::{
    Cycle, Floor, Handoff, bb8_pool, deadpool_pool, ours, run_contended, runtime,
};
use aqueduct_pool::Order;
use tokio::runtime::Runtime;

/// Rounds per cell; each gives one ratio per anchor.
const ROUNDS: usize = 21;
/// Time each pool runs per round (a whole number of checkouts).
const BATCH: Duration = Duration::from_millis(6);
/// Pool sizes and task counts: the criterion bench's cells.
const SIZES: [usize; 3] = [4, 8, 16];
const TASKS: [usize; 6] = [2, 4, 8, 16, 32, 64];
/// Our time over deadpool's at or below which the goal holds (2x).
const DEADPOOL_GOAL: f64 = 0.5;
/// Our time over bb8's at or below which the goal holds (1x).
const BB8_GOAL: f64 = 1.0;

fn main() {
    let rt = runtime(true);
    let mut met = [0, 0];
    let mut cells = 0;
    for hold in [false, true] {
        let name = if hold {
            "pool/contended-yield"
        } else {
            "pool/contended"
        };
        println!(
            "\n{name}: time per checkout, ours / theirs, median of {ROUNDS} rounds (quartiles)\n"
        );
        if hold {
            println!(
                "| cell | ours / deadpool | ≤ 0.50 | ours / bb8 | ≤ 1.00 | ours / deadpool-wait | no pool / deadpool | handoff / deadpool |"
            );
            println!("|---|---:|---|---:|---|---:|---:|---:|");
        } else {
            println!(
                "| cell | ours / deadpool | ≤ 0.50 | ours / bb8 | ≤ 1.00 | ours / deadpool-wait |"
            );
            println!("|---|---:|---|---:|---|---:|");
        }
        for size in SIZES {
            let aq = rt.block_on(ours(size, Order::Local));
            let dp = rt.block_on(deadpool_pool(size, None));
            let bb = rt.block_on(bb8_pool(size, true));
            let dp_wait = rt.block_on(deadpool_pool(size, Some(Duration::from_secs(30))));
            let handoff = Handoff::new(size);
            for tasks in TASKS {
                let cell = Cell {
                    rt: &rt,
                    tasks,
                    hold,
                };
                let aq_iters = cell.iters_per_batch(&aq);
                let dp_iters = cell.iters_per_batch(&dp);
                let bb_iters = cell.iters_per_batch(&bb);
                let dp_wait_iters = cell.iters_per_batch(&dp_wait);
                // The references run only where objects are held across a yield.
                let (floor_iters, handoff_iters) = if hold {
                    (cell.iters_per_batch(&Floor), cell.iters_per_batch(&handoff))
                } else {
                    (0, 0)
                };
                let (mut vs_dp, mut vs_bb) = (Vec::new(), Vec::new());
                let (mut vs_dp_wait, mut floor_dp) = (Vec::new(), Vec::new());
                let mut handoff_dp = Vec::new();
                for round in 0..ROUNDS {
                    // Each side goes first, second and last in turn.
                    let mut times = [0.0; 6];
                    for slot in 0..6 {
                        let side = (slot + round) % 6;
                        times[side] = match side {
                            0 => cell.per_checkout(&aq, aq_iters),
                            1 => cell.per_checkout(&dp, dp_iters),
                            2 => cell.per_checkout(&bb, bb_iters),
                            3 => cell.per_checkout(&dp_wait, dp_wait_iters),
                            4 if hold => cell.per_checkout(&Floor, floor_iters),
                            5 if hold => cell.per_checkout(&handoff, handoff_iters),
                            _ => 0.0,
                        };
                    }
                    vs_dp.push(times[0] / times[1]);
                    vs_bb.push(times[0] / times[2]);
                    vs_dp_wait.push(times[0] / times[3]);
                    floor_dp.push(times[4] / times[1]);
                    handoff_dp.push(times[5] / times[1]);
                }
                let (vs_dp, vs_bb) = (Spread::of(vs_dp), Spread::of(vs_bb));
                let dp_ok = vs_dp.median <= DEADPOOL_GOAL;
                let bb_ok = vs_bb.median <= BB8_GOAL;
                met[0] += usize::from(dp_ok);
                met[1] += usize::from(bb_ok);
                cells += 1;
                let mark = |ok: bool| if ok { "yes" } else { "**no**" };
                print!(
                    "| t{tasks}-p{size} | {vs_dp} | {} | {vs_bb} | {} |",
                    mark(dp_ok),
                    mark(bb_ok)
                );
                print!(" {} |", Spread::of(vs_dp_wait));
                if hold {
                    print!(" {} | {} |", Spread::of(floor_dp), Spread::of(handoff_dp));
                }
                println!();
            }
        }
    }
    println!(
        "\n{} of {cells} cells at least 2x deadpool, {} of {cells} at least 1x bb8.",
        met[0], met[1]
    );
}

/// One cell of the contended groups.
struct Cell<'a> {
    rt: &'a Runtime,
    tasks: usize,
    hold: bool,
}

impl Cell<'_> {
    /// Warms `pool` up; how many checkouts take about [`BATCH`].
    fn iters_per_batch<P: Cycle>(&self, pool: &P) -> u64 {
        let mut iters = 256;
        loop {
            let took = self.run(pool, iters);
            if took >= BATCH / 4 {
                let each = took.as_secs_f64() / iters as f64;
                return ((BATCH.as_secs_f64() / each) as u64).max(self.tasks as u64);
            }
            iters *= 2;
        }
    }

    /// Seconds per checkout over `iters` checkouts.
    fn per_checkout<P: Cycle>(&self, pool: &P, iters: u64) -> f64 {
        self.run(pool, iters).as_secs_f64() / iters as f64
    }

    fn run<P: Cycle>(&self, pool: &P, iters: u64) -> Duration {
        self.rt
            .block_on(run_contended(pool, self.tasks, iters, self.hold))
    }
}
