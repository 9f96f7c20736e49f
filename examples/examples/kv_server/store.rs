//! The store: a map in memory and an append-only log on disk. A write is
//! appended to the log and synced (`sync_data`) before it is applied and
//! acknowledged, so an acknowledged write survives any stop of the server.
//!
//! One writer task owns the log file and commits writes in groups: every
//! write waiting when the disk becomes free goes out in one `write` and one
//! sync, which is what makes durable writes fast under load.
//!
//! ```text
//! record: checksum u32 | key len u16 | value len u32 (u32::MAX = delete) | key | value
//! ```
//!
//! On open the log is replayed; a torn last record (the process stopped in
//! the middle of an append) fails its length or checksum test and is cut off.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aqueduct::resilience::Deadline;
use bytes::{BufMut, Bytes};
use tokio::sync::{mpsc, oneshot};

const HEADER: usize = 10;
const TOMBSTONE: u32 = u32::MAX;
/// Writes committed by one sync at most.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer at most (then `put` waits: backpressure).
const QUEUE: usize = 4096;

/// Why a write was not applied.
#[derive(Debug, Clone)]
pub(crate) enum StoreError {
    /// Its deadline passed before it reached the disk; it was dropped.
    DeadlineExceeded,
    /// The store is closed.
    Closed,
    /// The log could not be written; the store closed itself.
    Io(Arc<io::Error>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeadlineExceeded => {
                write!(f, "deadline passed before the write reached the disk")
            }
            Self::Closed => write!(f, "the store is closed"),
            Self::Io(e) => write!(f, "writing the log failed: {e}"),
        }
    }
}

/// What [`Store::open`] found in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replay {
    /// Records replayed.
    pub(crate) records: u64,
    /// Bytes of a torn last record, cut off.
    pub(crate) torn_bytes: u64,
}

/// Counters of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreStats {
    /// Writes handed to the writer task.
    pub(crate) received: u64,
    /// Writes applied.
    pub(crate) writes: u64,
    /// Syncs of the log (each commits a group of writes).
    pub(crate) syncs: u64,
    /// Writes dropped because their deadline passed first.
    pub(crate) expired: u64,
}

enum Cmd {
    Write {
        key: Bytes,
        value: Option<Bytes>,
        deadline: Option<Deadline>,
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    Close(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
struct Shared {
    map: RwLock<HashMap<Bytes, Bytes>>,
    disk_delay_us: AtomicU64,
    received: AtomicU64,
    writes: AtomicU64,
    syncs: AtomicU64,
    expired: AtomicU64,
}

/// A handle on the store; clones share it.
#[derive(Clone)]
pub(crate) struct Store {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Cmd>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn checksum(parts: &[&[u8]]) -> u32 {
    // FNV-1a, enough to tell a torn record from a whole one.
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for b in *part {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

fn encode_record(out: &mut Vec<u8>, key: &[u8], value: Option<&[u8]>) {
    let klen = u16::try_from(key.len()).unwrap_or(u16::MAX).to_be_bytes();
    let vlen = value
        .map_or(TOMBSTONE, |v| {
            u32::try_from(v.len()).unwrap_or(TOMBSTONE - 1)
        })
        .to_be_bytes();
    let v = value.unwrap_or_default();
    out.put_u32(checksum(&[&klen, &vlen, key, v]));
    out.put_slice(&klen);
    out.put_slice(&vlen);
    out.put_slice(key);
    out.put_slice(v);
}

/// Replays `data`; returns the map, the length of the whole records and
/// their number.
fn replay(data: &[u8]) -> (HashMap<Bytes, Bytes>, usize, u64) {
    let mut map = HashMap::new();
    let mut at = 0;
    let mut records = 0;
    while data.len() - at >= HEADER {
        let h = &data[at..at + HEADER];
        let sum = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let klen = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let vraw = u32::from_be_bytes([h[6], h[7], h[8], h[9]]);
        let vlen = if vraw == TOMBSTONE { 0 } else { vraw as usize };
        let end = at + HEADER + klen + vlen;
        if end > data.len() {
            break;
        }
        let key = &data[at + HEADER..at + HEADER + klen];
        let value = &data[at + HEADER + klen..end];
        if checksum(&[&h[4..6], &h[6..10], key, value]) != sum {
            break;
        }
        let key = Bytes::copy_from_slice(key);
        if vraw == TOMBSTONE {
            map.remove(&key);
        } else {
            map.insert(key, Bytes::copy_from_slice(value));
        }
        records += 1;
        at = end;
    }
    (map, at, records)
}

impl Store {
    /// Opens (or creates) the log at `path`, replays it and starts the
    /// writer task.
    ///
    /// # Errors
    ///
    /// Reading, truncating or opening the log failed.
    pub(crate) async fn open(path: &Path) -> io::Result<(Self, Replay)> {
        let data = match tokio::fs::read(path).await {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let (map, good, records) = replay(&data);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if good < data.len() {
            file.set_len(good as u64)?;
            file.sync_data()?;
        }
        let shared = Arc::new(Shared {
            map: RwLock::new(map),
            ..Shared::default()
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(file, rx, Arc::clone(&shared)));
        let replay = Replay {
            records,
            torn_bytes: (data.len() - good) as u64,
        };
        Ok((Self { shared, tx }, replay))
    }

    /// The value of `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Bytes> {
        let map = self
            .shared
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).cloned()
    }

    /// Keys stored.
    pub(crate) fn len(&self) -> usize {
        let map = self
            .shared
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.len()
    }

    /// Sets `key` to `value` (or deletes it), durably. A write whose
    /// `deadline` has passed when its turn at the disk comes is dropped.
    ///
    /// Dropping the future does not take the write back: it may still be
    /// applied, unacknowledged.
    pub(crate) async fn write(
        &self,
        key: Bytes,
        value: Option<Bytes>,
        deadline: Option<Deadline>,
    ) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        let cmd = Cmd::Write {
            key,
            value,
            deadline,
            ack,
        };
        self.tx.send(cmd).await.map_err(|_| StoreError::Closed)?;
        self.shared.received.fetch_add(1, Ordering::Relaxed);
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Makes each commit wait `delay` first: a slow disk, for the demo.
    pub(crate) fn set_disk_delay(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.disk_delay_us.store(us, Ordering::Relaxed);
    }

    /// Counters now.
    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            received: self.shared.received.load(Ordering::Relaxed),
            writes: self.shared.writes.load(Ordering::Relaxed),
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            expired: self.shared.expired.load(Ordering::Relaxed),
        }
    }

    /// Commits what is queued, then stops the writer; later writes fail
    /// with [`StoreError::Closed`].
    pub(crate) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

type Pending = (
    Bytes,
    Option<Bytes>,
    oneshot::Sender<Result<(), StoreError>>,
);

async fn writer(file: std::fs::File, mut rx: mpsc::Receiver<Cmd>, shared: Arc<Shared>) {
    let mut file = Some(file);
    let mut buf = Vec::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut live: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let delay = shared.disk_delay_us.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_micros(delay)).await;
        }
        let mut closing = None;
        buf.clear();
        for cmd in batch.drain(..) {
            match cmd {
                Cmd::Close(done) => closing = Some(done),
                Cmd::Write { ack, .. } if closing.is_some() => {
                    let _ = ack.send(Err(StoreError::Closed));
                }
                Cmd::Write { deadline, ack, .. } if deadline.is_some_and(|d| d.is_expired()) => {
                    shared.expired.fetch_add(1, Ordering::Relaxed);
                    let _ = ack.send(Err(StoreError::DeadlineExceeded));
                }
                Cmd::Write {
                    key, value, ack, ..
                } => {
                    encode_record(&mut buf, &key, value.as_deref());
                    live.push((key, value, ack));
                }
            }
        }
        if !live.is_empty() {
            let Some(mut f) = file.take() else { return };
            let out = std::mem::take(&mut buf);
            let res = tokio::task::spawn_blocking(move || {
                let r = f.write_all(&out).and_then(|()| f.sync_data());
                (f, out, r)
            })
            .await;
            match res {
                Ok((f, out, Ok(()))) => {
                    file = Some(f);
                    buf = out;
                    shared.syncs.fetch_add(1, Ordering::Relaxed);
                    let n = live.len() as u64;
                    {
                        let mut map = shared
                            .map
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        for (key, value, _) in &live {
                            match value {
                                Some(v) => map.insert(key.clone(), v.clone()),
                                None => map.remove(key),
                            };
                        }
                    }
                    shared.writes.fetch_add(n, Ordering::Relaxed);
                    for (_, _, ack) in live.drain(..) {
                        let _ = ack.send(Ok(()));
                    }
                }
                Ok((_, _, Err(e))) => {
                    let e = Arc::new(e);
                    for (_, _, ack) in live.drain(..) {
                        let _ = ack.send(Err(StoreError::Io(Arc::clone(&e))));
                    }
                    return;
                }
                Err(_) => return,
            }
        }
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
    }
}
