//! With feature `tracing`, state changes, retries and rejections emit
//! events.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aqueduct_resilience::{Backoff, Bulkhead, CircuitBreaker, Retry};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps the message of every event.
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<String>>>);

struct MessageVisitor<'a>(&'a mut String);

impl Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Messages {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut msg = String::new();
        event.record(&mut MessageVisitor(&mut msg));
        self.0.lock().unwrap().push(msg);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Messages {
    fn count(&self, needle: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains(needle))
            .count()
    }
}

#[tokio::test(start_paused = true)]
async fn state_changes_retries_and_rejections_are_traced() {
    let messages = Messages::default();
    let _guard = tracing::subscriber::set_default(messages.clone());

    let breaker = CircuitBreaker::builder().consecutive_failures(1).build();
    breaker.try_acquire().unwrap().failure();
    assert!(breaker.try_acquire().is_err());
    assert_eq!(messages.count("circuit breaker state change"), 1);
    assert_eq!(messages.count("circuit breaker rejected a call"), 1);

    let _ = Retry::new()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .run(|| async { Err::<(), _>(()) })
        .await;
    assert_eq!(messages.count("retrying"), 2);

    let bulkhead = Bulkhead::builder().max_concurrent(1).max_queue(0).build();
    let _held = bulkhead.try_acquire().unwrap();
    assert!(bulkhead.acquire().await.is_err());
    assert_eq!(messages.count("bulkhead full"), 1);
}
