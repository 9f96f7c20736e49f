//! [`Throttled`]: a byte-rate cap on an `AsyncRead`/`AsyncWrite`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// One direction's budget: GCRA over bytes.
struct Bucket {
    bytes_per_sec: u64,
    burst: u64,
    /// When the budget is back to full (None: full since ever).
    tat: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Bucket {
    fn new(bytes_per_sec: u64, burst: u64) -> Self {
        Self {
            bytes_per_sec,
            burst,
            tat: None,
            sleep: None,
        }
    }

    fn cost(&self, bytes: u64) -> Duration {
        let nanos = (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(self.bytes_per_sec));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Bytes that `time` pays for.
    fn bytes_in(&self, time: Duration) -> u64 {
        u64::try_from(time.as_nanos() * u128::from(self.bytes_per_sec) / 1_000_000_000)
            .unwrap_or(u64::MAX)
    }

    /// Bytes that may move now (at most `want`), or `Pending` with a timer
    /// armed for when `min(want, burst)` bytes may move, so a large transfer
    /// moves in full chunks rather than byte by byte.
    ///
    /// The wake time is worked out afresh on every poll and the timer only
    /// moved when it differs, so a timer armed for a larger call that was
    /// given up never holds back a smaller one, and polling again with the
    /// same call registers nothing new.
    fn poll_allowance(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<usize> {
        // The time a full burst takes to pay for.
        let window = self.cost(self.burst);
        // A burst that takes longer than `Duration`'s nanoseconds hold is
        // cut to what a full window moves, else no wait could free it.
        let want = u64::try_from(want)
            .unwrap_or(u64::MAX)
            .min(self.burst)
            .min(self.bytes_in(window))
            .max(1);
        loop {
            let now = Instant::now();
            let ahead = self
                .tat
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
            let free = window.saturating_sub(ahead);
            let bytes = self.bytes_in(free).min(want);
            if bytes >= want {
                // A timer still armed was for a call that wanted more and
                // was given up: disarm it rather than let it wake the task
                // for nothing. One that has fired is kept for reuse.
                if self.sleep.as_ref().is_some_and(|s| !s.is_elapsed()) {
                    self.sleep = None;
                }
                return Poll::Ready(usize::try_from(bytes).unwrap_or(usize::MAX));
            }
            // Wait until `want` bytes' worth has drained. This is
            // `tat - (window - cost(want))`, later than `now`, so it stays
            // the same from poll to poll while the budget does.
            let wake = now + (ahead + self.cost(want)).saturating_sub(window);
            let sleep = match self.sleep.as_mut() {
                Some(s) => {
                    if s.deadline() != wake {
                        s.as_mut().reset(wake);
                    }
                    s
                }
                None => self.sleep.insert(Box::pin(tokio::time::sleep_until(wake))),
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Fired: `now` has reached `wake`, so the next pass is ready.
        }
    }

    fn spend(&mut self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let now = Instant::now();
        let base = self.tat.map_or(now, |t| t.max(now));
        self.tat = Some(base + self.cost(bytes as u64));
    }
}

/// A tenth of a second's worth, at least 1 byte.
fn default_burst(bytes_per_sec: u64) -> u64 {
    (bytes_per_sec / 10).max(1)
}

pin_project_lite::pin_project! {
    /// Wraps an `AsyncRead` and/or `AsyncWrite` so that each direction moves
    /// at most `bytes_per_sec` bytes per second, in chunks of at most the
    /// burst (default: a tenth of a second's worth, at least 1 byte).
    ///
    /// The pacing runs on tokio's clock (paused time works) with no task:
    /// a read or write that is over budget arms a timer and returns
    /// `Pending`. Reads and writes have separate budgets. A read or write
    /// that is given up while it waits (its future dropped, say by a
    /// timeout) leaves nothing behind: the next one waits only as long as
    /// its own bytes need. A read is paid for before it is made, so a read
    /// that finds the end of the input also waits for a chunk's budget. A
    /// read into a full buffer or a write of no bytes moves nothing, so it
    /// goes straight to the inner value, without waiting or spending budget
    /// (as zero cells of a [rate limiter](crate::rate#zero-cells) do).
    ///
    /// ```
    /// use aqueduct_flow::Throttled;
    /// use tokio::io::AsyncWriteExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut out = Throttled::new(Vec::new(), 1000); // 1000 B/s
    /// let t = tokio::time::Instant::now();
    /// out.write_all(&[0u8; 2000]).await.unwrap();
    /// // 100 B of burst at once, the other 1900 B at 1000 B/s.
    /// assert_eq!(t.elapsed().as_millis(), 1900);
    /// assert_eq!(out.get_ref().len(), 2000);
    /// # }
    /// ```
    pub struct Throttled<T> {
        #[pin]
        inner: T,
        read: Bucket,
        write: Bucket,
        // Set by `with_burst`; otherwise the burst follows the rate.
        fixed_burst: bool,
    }
}

impl<T: fmt::Debug> fmt::Debug for Throttled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttled")
            .field("inner", &self.inner)
            .field("bytes_per_sec", &self.read.bytes_per_sec)
            .field("burst", &self.read.burst)
            .finish()
    }
}

impl<T> Throttled<T> {
    /// Caps each direction of `inner` at `bytes_per_sec`.
    ///
    /// # Panics
    ///
    /// If `bytes_per_sec` is zero.
    ///
    /// ```
    /// let t = aqueduct_flow::Throttled::new(tokio::io::empty(), 64 * 1024);
    /// assert_eq!(t.bytes_per_sec(), 64 * 1024);
    /// ```
    #[must_use]
    pub fn new(inner: T, bytes_per_sec: u64) -> Self {
        assert!(
            bytes_per_sec > 0,
            "Throttled::new: the rate must be positive"
        );
        let burst = default_burst(bytes_per_sec);
        Self {
            inner,
            read: Bucket::new(bytes_per_sec, burst),
            write: Bucket::new(bytes_per_sec, burst),
            fixed_burst: false,
        }
    }

    /// Sets the largest chunk moved at once (at least 1 byte). A burst the
    /// rate would take over 584 years to pay for (`u64::MAX` nanoseconds)
    /// moves what those years pay for.
    ///
    /// ```
    /// let t = aqueduct_flow::Throttled::new(tokio::io::empty(), 1000).with_burst(10);
    /// assert_eq!(t.burst(), 10);
    /// ```
    #[must_use]
    pub fn with_burst(mut self, bytes: u64) -> Self {
        self.read.burst = bytes.max(1);
        self.write.burst = bytes.max(1);
        self.fixed_burst = true;
        self
    }

    /// The cap, in bytes per second per direction.
    ///
    /// ```
    /// assert_eq!(aqueduct_flow::Throttled::new(tokio::io::empty(), 5).bytes_per_sec(), 5);
    /// ```
    #[must_use]
    pub fn bytes_per_sec(&self) -> u64 {
        self.read.bytes_per_sec
    }

    /// The largest chunk moved at once.
    ///
    /// ```
    /// assert_eq!(aqueduct_flow::Throttled::new(tokio::io::empty(), 100).burst(), 10);
    /// ```
    #[must_use]
    pub fn burst(&self) -> u64 {
        self.read.burst
    }

    /// Changes the cap; bytes already moved stay accounted at the old rate.
    /// A default burst becomes a tenth of a second's worth at the new rate;
    /// one set with [`with_burst`](Self::with_burst) is kept.
    ///
    /// # Panics
    ///
    /// If `bytes_per_sec` is zero.
    ///
    /// ```
    /// let mut t = aqueduct_flow::Throttled::new(tokio::io::empty(), 5);
    /// t.set_bytes_per_sec(50);
    /// assert_eq!((t.bytes_per_sec(), t.burst()), (50, 5));
    /// ```
    pub fn set_bytes_per_sec(&mut self, bytes_per_sec: u64) {
        assert!(bytes_per_sec > 0, "Throttled: the rate must be positive");
        self.read.bytes_per_sec = bytes_per_sec;
        self.write.bytes_per_sec = bytes_per_sec;
        if !self.fixed_burst {
            self.read.burst = default_burst(bytes_per_sec);
            self.write.burst = default_burst(bytes_per_sec);
        }
    }

    /// The wrapped value.
    ///
    /// ```
    /// let t = aqueduct_flow::Throttled::new(vec![1u8], 5);
    /// assert_eq!(t.get_ref(), &[1]);
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped value, mutably.
    ///
    /// ```
    /// let mut t = aqueduct_flow::Throttled::new(vec![1u8], 5);
    /// t.get_mut().push(2);
    /// assert_eq!(t.get_ref().len(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps.
    ///
    /// ```
    /// let t = aqueduct_flow::Throttled::new(vec![7u8], 5);
    /// assert_eq!(t.into_inner(), [7]);
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead> AsyncRead for Throttled<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if buf.remaining() == 0 {
            return this.inner.poll_read(cx, buf);
        }
        let allowed = match this.read.poll_allowance(cx, buf.remaining()) {
            Poll::Ready(n) => n,
            Poll::Pending => return Poll::Pending,
        };
        let mut sub = ReadBuf::new(buf.initialize_unfilled_to(allowed));
        let r = this.inner.poll_read(cx, &mut sub);
        let n = sub.filled().len();
        buf.advance(n);
        this.read.spend(n);
        r
    }
}

impl<T: AsyncBufRead> AsyncBufRead for Throttled<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.project();
        let allowed = match this.read.poll_allowance(cx, usize::MAX) {
            Poll::Ready(n) => n,
            Poll::Pending => return Poll::Pending,
        };
        match this.inner.poll_fill_buf(cx) {
            Poll::Ready(Ok(b)) => Poll::Ready(Ok(&b[..b.len().min(allowed)])),
            other => other,
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.project();
        this.read.spend(amt);
        this.inner.consume(amt);
    }
}

impl<T: AsyncWrite> AsyncWrite for Throttled<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        if buf.is_empty() {
            return this.inner.poll_write(cx, buf);
        }
        let allowed = match this.write.poll_allowance(cx, buf.len()) {
            Poll::Ready(n) => n,
            Poll::Pending => return Poll::Pending,
        };
        let r = this.inner.poll_write(cx, &buf[..allowed]);
        if let Poll::Ready(Ok(n)) = &r {
            this.write.spend(*n);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
