//! A manager whose behaviour the tests steer, shared by the test files.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aqueduct_pool::{Manager, Meta};

/// Lets every spawned task run until it blocks (paused time, one thread).
pub async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Test failure of the steered manager.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TestError(pub &'static str);

/// Objects are ids 0, 1, 2, ... in creation order.
#[derive(Debug, Default)]
pub struct Steered {
    pub next_id: AtomicU64,
    pub fail_create: AtomicBool,
    pub fail_recycle: AtomicBool,
    /// Each recycle panics while this is set.
    pub panic_recycle: AtomicBool,
    /// Nanoseconds each create sleeps (paused time in tests).
    pub create_delay_ns: AtomicU64,
    /// Each recycle sleeps between half this and this many nanoseconds.
    pub recycle_delay_ns: AtomicU64,
    pub recycle_calls: AtomicU64,
    pub dirty_seen: AtomicU64,
    pub broken: Mutex<HashSet<u64>>,
}

impl Steered {
    pub fn break_object(&self, id: u64) {
        self.broken.lock().unwrap().insert(id);
    }

    pub fn created(&self) -> u64 {
        self.next_id.load(Ordering::SeqCst)
    }
}

impl Manager for Steered {
    type Object = u64;
    type Error = TestError;

    async fn create(&self) -> Result<u64, TestError> {
        let delay = self.create_delay_ns.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_nanos(delay)).await;
        }
        if self.fail_create.load(Ordering::SeqCst) {
            return Err(TestError("create refused"));
        }
        Ok(self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    async fn recycle(&self, obj: &mut u64, meta: &Meta) -> Result<(), TestError> {
        let n = self.recycle_calls.fetch_add(1, Ordering::SeqCst);
        if meta.is_dirty() {
            self.dirty_seen.fetch_add(1, Ordering::SeqCst);
        }
        let max = self.recycle_delay_ns.load(Ordering::SeqCst);
        if max > 0 {
            // A spread of delays in [max/2, max] without a shared generator.
            let d = max - (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % (max / 2 + 1);
            tokio::time::sleep(Duration::from_nanos(d)).await;
        }
        assert!(!self.panic_recycle.load(Ordering::SeqCst), "recycle panics");
        if self.fail_recycle.load(Ordering::SeqCst) || self.broken.lock().unwrap().contains(obj) {
            return Err(TestError("recycle refused"));
        }
        Ok(())
    }

    fn is_broken(&self, obj: &u64) -> bool {
        self.broken.lock().unwrap().contains(obj)
    }
}

/// Runs the test `name` of this test binary alone, in a child process with
/// the variable `child` set, and checks that it passed. With `setup`, the
/// child runs under `sh -c` after that shell command (say, a `ulimit`).
/// `true` in the parent, once the child passed; `false` in the child, which
/// goes on with the test's body.
pub fn ran_in_child(child: &str, name: &str, setup: Option<&str>) -> bool {
    if std::env::var_os(child).is_some() {
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let mut command = match setup {
        Some(setup) => {
            let mut sh = std::process::Command::new("sh");
            sh.arg("-c")
                .arg(format!(
                    "{setup} && exec \"$0\" --exact \"$1\" --test-threads=1"
                ))
                .arg(exe)
                .arg(name);
            sh
        }
        None => {
            let mut test = std::process::Command::new(exe);
            test.args(["--exact", name, "--test-threads=1"]);
            test
        }
    };
    let out = command.env(child, "1").output().unwrap();
    assert!(
        out.status.success(),
        "the child ended with {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}
