//! With feature `tracing`, a checkout held past `leak_threshold` is reported
//! once, naming the caller's source line.
#![cfg(feature = "tracing")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aqueduct_pool::Pool;
use common::Steered;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Keeps the warnings' `location` fields.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Location(Option<String>);

impl Visit for Location {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "location" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Warnings {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() == Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut loc = Location(None);
        event.record(&mut loc);
        self.0.lock().unwrap().push(loc.0.unwrap_or_default());
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn a_leak_is_warned_about_once_with_its_location() {
    let warnings = Warnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    let pool = Pool::builder(Steered::default())
        .max_size(2)
        .leak_threshold(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    let held = pool.get().await.unwrap();
    let line = line!() - 1;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pool.holders().iter().all(|h| !h.leaked));
    assert!(warnings.0.lock().unwrap().is_empty());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pool.holders()[0].leaked);
    let _ = pool.holders(); // reported once only
    let seen = warnings.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains(&format!("tracing.rs:{line}:")), "{seen:?}");
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_leak_ended_by_discard_or_detach_is_warned_about_once() {
    let warnings = Warnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    let pool = Pool::builder(Steered::default())
        .max_size(3)
        .leak_threshold(Duration::from_secs(1))
        .build_lazy()
        .unwrap();
    let discarded = pool.get().await.unwrap();
    let discarded_line = line!() - 1;
    let detached = pool.get().await.unwrap();
    let detached_line = line!() - 1;
    let listed = pool.get().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    discarded.discard();
    let _ = detached.detach();
    let ended = warnings.0.lock().unwrap().len();
    assert_eq!(
        ended, 2,
        "one warning each for the discarded and the detached"
    );
    let _ = pool.holders(); // warns about `listed`
    listed.discard(); // not again
    let seen = warnings.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[0].contains(&format!("tracing.rs:{discarded_line}:")),
        "{seen:?}"
    );
    assert!(
        seen[1].contains(&format!("tracing.rs:{detached_line}:")),
        "{seen:?}"
    );
}
