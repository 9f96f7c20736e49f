//! The breaker's whole state in one atomic word.
//!
//! ```text
//!  63        43 42                 23 22                  3 2    0
//! +------------+---------------------+---------------------+------+
//! | generation |   B (20 bits)       |   A (20 bits)       | kind |
//! +------------+---------------------+---------------------+------+
//! ```
//!
//! * Closed: A = consecutive failures.
//! * Half-open: A = probes in flight, B = probe successes so far.
//! * Open: A and B together (40 bits) = the instant, in milliseconds since
//!   the breaker was built, at which it may move to half-open.
//!
//! The generation changes on every transition, so a permit taken in one
//! state never records its outcome into a later one.

/// Every state the breaker can be in.
///
/// ```
/// use aqueduct_resilience::{CircuitBreaker, breaker::State};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let b = CircuitBreaker::builder().build();
/// assert_eq!(b.state(), State::Closed);
/// b.force_open();
/// assert_eq!(b.state(), State::ForcedOpen);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls pass, outcomes are recorded.
    Closed,
    /// Calls are rejected until the open duration has passed.
    Open,
    /// A few probe calls pass; their outcomes decide between closed and open.
    HalfOpen,
    /// Every call is rejected until [`reset`](crate::CircuitBreaker::reset).
    ForcedOpen,
    /// Every call passes and is recorded, but the breaker never trips,
    /// until [`reset`](crate::CircuitBreaker::reset).
    ForcedClosed,
    /// Every call passes and nothing is recorded, until
    /// [`reset`](crate::CircuitBreaker::reset).
    Disabled,
}

/// A transition, as given to the `on_state_change` listener.
///
/// ```
/// use aqueduct_resilience::breaker::{State, StateChange};
/// let c = StateChange { from: State::Closed, to: State::Open };
/// assert_eq!(c.to_string(), "Closed -> Open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateChange {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
}

impl std::fmt::Display for StateChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} -> {:?}", self.from, self.to)
    }
}

pub(crate) const CLOSED: u64 = 0;
pub(crate) const OPEN: u64 = 1;
pub(crate) const HALF_OPEN: u64 = 2;
pub(crate) const FORCED_OPEN: u64 = 3;
pub(crate) const FORCED_CLOSED: u64 = 4;
pub(crate) const DISABLED: u64 = 5;

const KIND_MASK: u64 = 0b111;
const FIELD_BITS: u32 = 20;
pub(crate) const FIELD_MAX: u64 = (1 << FIELD_BITS) - 1;
const A_SHIFT: u32 = 3;
const B_SHIFT: u32 = A_SHIFT + FIELD_BITS;
const GEN_SHIFT: u32 = B_SHIFT + FIELD_BITS;
pub(crate) const UNTIL_MAX: u64 = (1 << (2 * FIELD_BITS)) - 1;

/// A decoded state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    #[inline]
    pub(crate) fn new(kind: u64, gen_: u64, a: u64, b: u64) -> Self {
        Self(kind | (a & FIELD_MAX) << A_SHIFT | (b & FIELD_MAX) << B_SHIFT | gen_ << GEN_SHIFT)
    }

    #[inline]
    pub(crate) fn open(gen_: u64, until_ms: u64) -> Self {
        Self(OPEN | (until_ms.min(UNTIL_MAX)) << A_SHIFT | gen_ << GEN_SHIFT)
    }

    #[inline]
    pub(crate) fn kind(self) -> u64 {
        self.0 & KIND_MASK
    }

    #[inline]
    pub(crate) fn generation(self) -> u64 {
        self.0 >> GEN_SHIFT
    }

    /// The generation after this one (wrapping within its 21 bits).
    #[inline]
    pub(crate) fn next_gen(self) -> u64 {
        (self.generation() + 1) & ((1 << (64 - GEN_SHIFT)) - 1)
    }

    #[inline]
    pub(crate) fn a(self) -> u64 {
        (self.0 >> A_SHIFT) & FIELD_MAX
    }

    #[inline]
    pub(crate) fn b(self) -> u64 {
        (self.0 >> B_SHIFT) & FIELD_MAX
    }

    #[inline]
    pub(crate) fn until_ms(self) -> u64 {
        (self.0 >> A_SHIFT) & UNTIL_MAX
    }

    pub(crate) fn state(self) -> State {
        match self.kind() {
            CLOSED => State::Closed,
            OPEN => State::Open,
            HALF_OPEN => State::HalfOpen,
            FORCED_OPEN => State::ForcedOpen,
            FORCED_CLOSED => State::ForcedClosed,
            _ => State::Disabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let w = Word::new(HALF_OPEN, 12345, FIELD_MAX, 7);
        assert_eq!(w.kind(), HALF_OPEN);
        assert_eq!(w.generation(), 12345);
        assert_eq!(w.a(), FIELD_MAX);
        assert_eq!(w.b(), 7);
        let o = Word::open(99, UNTIL_MAX);
        assert_eq!(
            (o.kind(), o.generation(), o.until_ms()),
            (OPEN, 99, UNTIL_MAX)
        );
        let top = Word::new(CLOSED, (1 << 21) - 1, 0, 0);
        assert_eq!(top.next_gen(), 0);
    }
}
