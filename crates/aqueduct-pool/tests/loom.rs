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

/// The pool's lock over [`Locked`] and its homes, with the steps of the
/// pool that move objects between them, cut down as in the models above.
struct Model {
    homes: Homes<u32>,
    lock: Mutex<Closing>,
}

/// [`Locked`], plus what `close` adds: a closed pool drops what comes back.
#[derive(Default)]
struct Closing {
    st: Locked,
    closed: bool,
    dropped: usize,
}

impl Closing {
    fn put(&mut self, value: Box<u32>) {
        if self.closed {
            self.dropped += 1;
        } else {
            self.st.put(value);
        }
    }

    /// The gate the lock's release sets.
    fn gate(&self) -> usize {
        usize::from(self.st.waiting || self.closed)
    }
}

impl Model {
    fn new(homes: usize) -> Self {
        Self {
            homes: Homes::new(homes),
            lock: Mutex::new(Closing::default()),
        }
    }

    /// A give-back: to a home, else (or if the gate closed meanwhile)
    /// under the lock, as `Shared::park` does.
    fn park(&self, value: Box<u32>, start: usize) {
        match self.homes.put(value, start) {
            Ok(parked) if !parked.rescue => {}
            Ok(_) => {
                let mut st = self.lock.lock().unwrap();
                self.homes.drain(|v| st.put(v));
                self.homes.set_gate(st.gate());
            }
            Err(value) => {
                let mut st = self.lock.lock().unwrap();
                st.put(value);
                self.homes.set_gate(st.gate());
            }
        }
    }

    /// A caller under the lock: what the lock and the homes hold, else it
    /// queues (as `Shared::begin` does).
    fn begin(&self) -> Option<Box<u32>> {
        let mut st = self.lock.lock().unwrap();
        if st.st.idle.is_empty() && !st.st.waiting {
            self.homes.drain(|v| st.put(v));
        }
        let found = st.st.idle.pop();
        if found.is_none() {
            st.st.waiting = true;
        }
        self.homes.set_gate(st.gate());
        found
    }

    /// `Pool::close`: closed, and what is idle or parked dropped.
    fn close(&self) {
        let mut st = self.lock.lock().unwrap();
        st.closed = true;
        st.dropped += st.st.idle.drain(..).count();
        self.homes.drain(|v| st.put(v));
        self.homes.set_gate(st.gate());
    }

    /// Every object still parked, whatever the gate says.
    fn parked(&self) -> Vec<u32> {
        (0..self.homes.len())
            .filter_map(|i| self.homes.take_at(i).map(|v| *v))
            .collect()
    }
}

/// A give-back races `close`: the object is dropped exactly once, by one
/// of the two, and never left parked in the closed pool.
#[test]
fn an_object_given_back_during_close_is_dropped_not_parked() {
    loom::model(|| {
        let model = Arc::new(Model::new(2));
        let giver = {
            let model = Arc::clone(&model);
            thread::spawn(move || model.park(Box::new(7), 0))
        };
        let closer = {
            let model = Arc::clone(&model);
            thread::spawn(move || model.close())
        };
        giver.join().unwrap();
        closer.join().unwrap();
        assert_eq!(model.parked(), [], "nothing left parked");
        let st = model.lock.lock().unwrap();
        assert_eq!(st.dropped, 1, "dropped once");
        assert!(st.st.idle.is_empty());
    });
}

/// A checkout that found an object in its home looks at another home and
/// parks what it finds there again (`Shared::take_fast` does, to expire
/// idle objects nobody comes back to), racing a caller who, under the
/// lock, drains the homes and queues if they are empty. That caller still
/// gets the other object; no object is lost, doubled or left parked while
/// it waits.
#[test]
fn an_object_a_checkout_looks_at_reaches_a_caller_who_queues_meanwhile() {
    loom::model(|| {
        let model = Arc::new(Model::new(2));
        model.homes.put(Box::new(1), 0).unwrap();
        model.homes.put(Box::new(2), 1).unwrap();
        let looker = {
            let model = Arc::clone(&model);
            thread::spawn(move || {
                let (mine, home) = model.homes.take(0)?;
                let other = 1 - home;
                if let Some(seen) = model.homes.take_at(other) {
                    model.park(seen, other);
                }
                Some(*mine)
            })
        };
        let caller = {
            let model = Arc::clone(&model);
            thread::spawn(move || model.begin().map(|v| *v))
        };
        let looked = looker.join().unwrap();
        let found = caller.join().unwrap();
        let parked = model.parked();
        let mut st = model.lock.lock().unwrap();
        let served = st.st.served.take().map(|v| *v);
        assert!(found.is_some() || served.is_some(), "the caller got one");
        assert!(!st.st.waiting, "nobody is left waiting");
        let mut all: Vec<u32> = [looked, found, served].into_iter().flatten().collect();
        all.extend(st.st.idle.drain(..).map(|v| *v));
        all.extend(parked);
        all.sort_unstable();
        assert_eq!(all, [1, 2], "each object once");
    });
}
