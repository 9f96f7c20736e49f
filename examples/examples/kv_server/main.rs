//! A real service: a small key-value server over TCP, and its client.
//!
//! - Server: `aqueduct::io::net::Server` with a connection limit, an idle
//!   timeout and graceful shutdown; requests and answers are frames of
//!   `aqueduct::framing::LengthPrefixedCodec`; each request carries the
//!   client's remaining time as a `grpc-timeout` value in its header
//!   (`Deadline::to_header_value` / `Deadline::from_header_value`), and the
//!   server drops work whose deadline has passed.
//! - Store: a map in memory over an append-only log in a temp dir; each
//!   write is synced to the log before it is acknowledged (group commit).
//! - Client: pooled connections (`aqueduct::pool::Pool`), retries with
//!   backoff (`Retry`) through a circuit breaker (`CircuitBreaker`), all
//!   under one deadline per request.
//!
//! Modes:
//! - no argument: a narrated demo (puts and gets, the connection limit and
//!   idle timeout, a deadline expiring, graceful shutdown, the breaker
//!   opening and closing, a restart from the log); a few seconds.
//! - `load`: the load test (`cargo xtask bench kv`): requests per second
//!   and p50/p99 latency over loopback, the server stopped mid-load, and
//!   proof after a restart that no acknowledged write was lost.
//!
//! Run it with `cargo run --release -p aqueduct-examples --example kv_server [-- load]`.

mod client;
mod demo;
mod load;
mod protocol;
mod server;
mod store;

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1);
    let result = match mode.as_deref() {
        None => demo::run().await,
        Some("load") => load::run(load::LoadConfig::default()).await.map(|r| {
            println!(
                "\n   kv load: {:.0} requests/s, p50 {}, p99 {}; {} answered, {} failed after the stop; {} of {} acknowledged writes read back, {} lost",
                r.per_second,
                aqueduct_examples::ms(r.p50),
                aqueduct_examples::ms(r.p99),
                r.answered,
                r.failed,
                r.verified,
                r.acked,
                r.lost
            );
        }),
        Some(other) => Err(format!(
            "unknown mode `{other}`: expected no argument or `load`"
        )),
    };
    if let Err(e) = result {
        eprintln!("FAILED: {e}");
        std::process::exit(1);
    }
}
