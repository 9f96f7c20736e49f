//! The quiet paths allocate nothing: a closed breaker's successful call in
//! every window mode, and a retry whose first attempt succeeds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aqueduct_resilience::{CircuitBreaker, Retry};

struct Counting;

thread_local! {
    // Per thread, so the test harness's other threads do not count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged and only
// counts allocations on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn poll_once<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("expected an immediately ready future"),
    }
}

fn closed_success_path(b: &CircuitBreaker) -> usize {
    // Warm up (a first call may touch lazily initialised statics).
    b.try_acquire().unwrap().success();
    allocations(|| {
        for _ in 0..10_000 {
            b.try_acquire().unwrap().success();
            let r = poll_once(b.call(|| async { Ok::<_, ()>(1) }));
            assert_eq!(r.unwrap(), 1);
        }
    })
}

#[test]
fn closed_breaker_success_allocates_nothing_in_consecutive_mode() {
    let b = CircuitBreaker::builder().consecutive_failures(5).build();
    // A failure first, so the success path also has a run to reset.
    b.try_acquire().unwrap().failure();
    assert_eq!(closed_success_path(&b), 0);
}

#[test]
fn closed_breaker_success_allocates_nothing_in_count_window_mode() {
    let b = CircuitBreaker::builder().count_window(100).build();
    assert_eq!(closed_success_path(&b), 0);
}

#[test]
fn closed_breaker_success_allocates_nothing_in_time_window_mode() {
    let b = CircuitBreaker::builder()
        .time_window(Duration::from_secs(10), 10)
        .slow_calls(Duration::from_secs(1), 0.5)
        .build();
    assert_eq!(closed_success_path(&b), 0);
}

#[test]
fn retry_first_time_success_allocates_nothing() {
    let r = Retry::new().max_attempts(5);
    let _ = poll_once(r.run(|| async { Ok::<_, ()>(0) }));
    let n = allocations(|| {
        for i in 0..10_000 {
            let v = poll_once(r.run(|| async move { Ok::<_, ()>(i) }));
            assert_eq!(v.unwrap(), i);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn the_counter_does_see_allocations() {
    // Guards against a counter that cannot fail.
    let n = allocations(|| drop(std::hint::black_box(Box::new(5u64))));
    assert_eq!(n, 1);
}
