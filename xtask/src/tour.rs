//! The walkthroughs, in tour order (the order of the pattern table).

#[cfg(test)]
use std::path::PathBuf;

/// One walkthrough: an example of `aqueduct-examples`.
#[derive(Debug)]
pub(crate) struct Walkthrough {
    /// Its file name in `examples/examples/` and the name `demo` takes.
    pub(crate) name: &'static str,
    /// One line: what it shows.
    pub(crate) purpose: &'static str,
}

impl Walkthrough {
    /// Whether its source file has been written.
    pub(crate) fn exists(&self) -> bool {
        let dir = crate::root().join("examples/examples");
        dir.join(format!("{}.rs", self.name)).is_file()
            || dir.join(self.name).join("main.rs").is_file()
    }

    #[cfg(test)]
    fn path(&self) -> PathBuf {
        crate::root()
            .join("examples/examples")
            .join(format!("{}.rs", self.name))
    }
}

macro_rules! tour {
    ($($name:literal => $purpose:literal,)*) => {
        /// Every walkthrough, in tour order.
        pub(crate) const TOUR: &[Walkthrough] = &[$(Walkthrough { name: $name, purpose: $purpose },)*];
    };
}

tour! {
    "files" => "read, write, append and copy files; atomic writes; a copy with a progress bar",
    "lines" => "stream the lines of a large file fast, read the first N, count them",
    "tcp_echo" => "a TCP echo server with limits and stats, and its client",
    "udp_echo" => "a UDP echo server and a client with timeouts",
    "unix_echo" => "a Unix domain socket server and client",
    "buffered_io" => "BufReader and BufWriter capacities, and what buffering buys",
    "adapters" => "AsyncRead/AsyncWrite adapters that transform and count bytes in flight",
    "chat" => "split sockets into read and write halves: a full-duplex chat with several clients",
    "framing" => "lines, length-prefixed, delimited and fixed frames over TCP; an oversized frame is refused",
    "backpressure" => "a bounded channel between a fast producer and a slow consumer, queue depth drawn over time",
    "streams" => "concurrent stream maps, batching, merging, generators and interval streams",
    "rate_limit" => "GCRA rate limiting: bursts, waits, deadlines, permits per 100 ms drawn",
    "concurrency" => "concurrency limits, fan-out/fan-in, adaptive limits and a bulkhead",
    "connection_limit" => "a TCP server that holds a connection limit under four times the load",
    "workers" => "a worker pool over a bounded queue and a supervisor that restarts failed tasks",
    "pool" => "20 tasks share 5 pooled objects: reuse counts, wait times, a leak report",
    "pool_tcp" => "pooled TCP connections to a server restarted mid-run, on our pool and on deadpool",
    "timeouts" => "timeouts with typed errors, fallbacks, collective vs individual timeouts",
    "deadlines" => "one deadline shared by many operations and carried across a wire",
    "retry" => "retries with capped exponential backoff, jitter, budgets and a classifier",
    "circuit_breaker" => "a circuit breaker over a failing then recovering dependency, drawn as a timeline",
    "hedging" => "hedged requests that cut tail latency, and a health check with a timeout",
    "cancellation" => "CancellationToken, select races, biased select, cancelling a request",
    "graceful_shutdown" => "graceful shutdown of a server and background tasks within a grace period",
    "tower_stack" => "a tower service behind deadline, rate-limit, bulkhead, breaker and retry layers",
    "composition" => "join!, try_join!, select! and FuturesUnordered with a limit, timed",
    "runtimes" => "current-thread vs multi-thread runtimes, spawn_blocking and LocalSet, timed",
    "kv_server" => "finale: a key-value service built from all five crates, its client, a clean shutdown",
}

/// How many walkthroughs are patterns of the table (the rest close the tour).
pub(crate) const PATTERN_COUNT: usize = 27;

/// The walkthrough of that name.
pub(crate) fn find(name: &str) -> Option<&'static Walkthrough> {
    TOUR.iter().find(|w| w.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_pattern_has_one() {
        let mut names: Vec<_> = TOUR.iter().map(|w| w.name).collect();
        assert_eq!(names[PATTERN_COUNT - 1], "runtimes");
        assert_eq!(names.len(), PATTERN_COUNT + 1);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PATTERN_COUNT + 1);
    }

    #[test]
    fn find_knows_every_name_and_no_other() {
        assert_eq!(find("composition").map(|w| w.name), Some("composition"));
        assert!(find("no_such_walkthrough").is_none());
    }

    #[test]
    fn composition_is_written() {
        let w = find("composition").unwrap();
        assert!(w.exists(), "{} should exist", w.path().display());
    }
}
