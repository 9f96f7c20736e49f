//! Bounded channels with backpressure stats, generators and a worker pool.
//!
//! [`bounded`] wraps tokio's mpsc channel (its fairness, its wakers, its
//! memory) and adds what it does not tell: how full the queue got, how many
//! sends had to wait and for how long. The stats are relaxed atomics, and
//! the clock is read only when a send actually has to wait, so the fast
//! path costs almost nothing over the raw channel.

mod bounded;
mod generator;
mod worker;

pub use bounded::{
    ChannelStats, Receiver, SendError, SendTimeoutError, Sender, TrySendError, bounded,
};
pub use generator::{Generator, GeneratorSender, TryGenerator, generator, try_generator};
pub use worker::{CloseReport, JobError, JobHandle, SubmitError, WorkerPool, WorkerPoolStats};

/// A queue bound as tokio's mpsc takes it: capacities above its maximum
/// (`Semaphore::MAX_PERMITS`, `usize::MAX >> 3`) are capped at it, so that
/// `usize::MAX` means "no bound in practice" rather than a panic.
fn capped(capacity: usize) -> usize {
    capacity.min(tokio::sync::Semaphore::MAX_PERMITS)
}
