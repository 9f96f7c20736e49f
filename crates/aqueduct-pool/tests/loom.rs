//! loom models of the lock-free idle set ([`Homes`]) that a pool in local
//! order parks its idle objects in. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p aqueduct-pool --test loom`
//! (`cargo xtask test` does).
#![cfg(loom)]

use aqueduct_pool::homes::Homes;
use loom::sync::{Arc, Mutex};
use loom::thread;

/// What the pool keeps under its lock, cut down to what the race needs.
#[derive(Default)]
struct Locked {
    /// A caller found nothing and queued.
    waiting: bool,
    /// What the queued caller was handed.
    served: Option<Box<u32>>,
    /// Objects idle under the lock.
    idle: Vec<Box<u32>>,
}

impl Locked {
    /// An object brought under the lock goes to the waiter, if any.
    fn put(&mut self, value: Box<u32>) {
        if self.waiting {
            self.waiting = false;
            self.served = Some(value);
        } else {
            self.idle.push(value);
        }
    }
}

/// A give-back races a caller who, under the lock, finds the homes empty and
/// queues. Whatever the interleaving, the caller ends up with the object:
/// it is never left parked while the caller waits.
#[test]
fn a_given_back_object_reaches_a_caller_who_queues_meanwhile() {
    loom::model(|| {
        let homes = Arc::new(Homes::new(2));
        let lock = Arc::new(Mutex::new(Locked::default()));

        let giver = {
            let (homes, lock) = (Arc::clone(&homes), Arc::clone(&lock));
            thread::spawn(move || match homes.put(Box::new(7), 0) {
                Ok(parked) if !parked.rescue => {}
                Ok(_) => {
                    let mut st = lock.lock().unwrap();
                    homes.drain(|v| st.put(v));
                    homes.set_gate(usize::from(st.waiting));
                }
                Err(value) => {
                    let mut st = lock.lock().unwrap();
                    st.put(value);
                    homes.set_gate(usize::from(st.waiting));
                }
            })
        };
        let caller = {
            let (homes, lock) = (Arc::clone(&homes), Arc::clone(&lock));
            thread::spawn(move || {
                // The fast path first, as `get` does.
                if let Some((value, _)) = homes.take(1) {
                    return Some(value);
                }
                let mut st = lock.lock().unwrap();
                let mut found = st.idle.pop();
                homes.drain(|v| found = Some(v));
                if found.is_none() {
                    st.waiting = true;
                }
                homes.set_gate(usize::from(st.waiting));
                found
            })
        };
        giver.join().unwrap();
        let took = caller.join().unwrap();
        let st = lock.lock().unwrap();
        let got = took.or_else(|| st.served.as_ref().map(|v| Box::new(**v)));
        assert_eq!(got.as_deref(), Some(&7), "the caller got the object");
        assert!(!st.waiting, "nobody is left waiting");
        assert!(homes.take(0).is_none() && st.idle.is_empty());
    });
}

/// Two threads take and give back two objects through two homes: no object
/// is lost or handed to two takers at once.
#[test]
fn takers_and_givers_never_lose_or_share_an_object() {
    loom::model(|| {
        let homes = Arc::new(Homes::new(2));
        homes.put(Box::new(1_u32), 0).unwrap();
        homes.put(Box::new(2_u32), 0).unwrap();
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let homes = Arc::clone(&homes);
                thread::spawn(move || {
                    let Some((mut value, home)) = homes.take(t) else {
                        return;
                    };
                    *value += 10;
                    homes.put(value, home).expect("a home is free");
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut left = Vec::new();
        homes.drain(|v| left.push(*v));
        left.sort_unstable();
        assert_eq!(left, [11, 12]);
    });
}

/// Two callers race for one parked object: exactly one gets it.
#[test]
fn one_object_goes_to_one_taker() {
    loom::model(|| {
        let homes = Arc::new(Homes::new(2));
        homes.put(Box::new(5_u32), 1).unwrap();
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let homes = Arc::clone(&homes);
                thread::spawn(move || homes.take(t).map(|(v, _)| *v))
            })
            .collect();
        let got: Vec<_> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(got, [5]);
    });
}
