use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A shared byte count, readable while the stream it counts is owned
/// elsewhere (moved into a task, say). Clones share the count.
///
/// ```
/// let c = aqueduct_io::adapt::ByteCounter::default();
/// c.clone().add(5);
/// assert_eq!(c.get(), 5);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// The bytes counted so far.
    ///
    /// ```
    /// assert_eq!(aqueduct_io::adapt::ByteCounter::default().get(), 0);
    /// ```
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds `n` bytes.
    ///
    /// ```
    /// let c = aqueduct_io::adapt::ByteCounter::default();
    /// c.add(3);
    /// assert_eq!(c.get(), 3);
    /// ```
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// Counts the bytes read through it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio::io::AsyncReadExt;
    /// let mut r = aqueduct_io::adapt::CountingRead::new(&b"12345"[..]);
    /// let mut buf = [0; 3];
    /// r.read_exact(&mut buf).await.unwrap();
    /// assert_eq!(r.bytes(), 3);
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct CountingRead<R> {
        #[pin]
        inner: R,
        counter: ByteCounter,
    }
}

impl<R> CountingRead<R> {
    /// Wraps `inner` with a new counter.
    ///
    /// ```
    /// let r = aqueduct_io::adapt::CountingRead::new(tokio::io::empty());
    /// assert_eq!(r.bytes(), 0);
    /// ```
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            counter: ByteCounter::default(),
        }
    }

    /// Wraps `inner`, adding to an existing counter (to sum several streams).
    ///
    /// ```
    /// let total = aqueduct_io::adapt::ByteCounter::default();
    /// let r = aqueduct_io::adapt::CountingRead::with_counter(tokio::io::empty(), total.clone());
    /// # drop(r);
    /// ```
    pub fn with_counter(inner: R, counter: ByteCounter) -> Self {
        Self { inner, counter }
    }

    /// Bytes read so far.
    ///
    /// ```
    /// assert_eq!(aqueduct_io::adapt::CountingRead::new(tokio::io::empty()).bytes(), 0);
    /// ```
    pub fn bytes(&self) -> u64 {
        self.counter.get()
    }

    /// A handle on the count that outlives moves of the reader.
    ///
    /// ```
    /// let r = aqueduct_io::adapt::CountingRead::new(tokio::io::empty());
    /// let c = r.counter();
    /// assert_eq!(c.get(), 0);
    /// ```
    pub fn counter(&self) -> ByteCounter {
        self.counter.clone()
    }

    /// The wrapped reader.
    ///
    /// ```
    /// let r = aqueduct_io::adapt::CountingRead::new(&b"x"[..]);
    /// assert_eq!(r.into_inner(), b"x");
    /// ```
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead> AsyncRead for CountingRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let res = this.inner.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            this.counter.add((buf.filled().len() - before) as u64);
        }
        res
    }
}

impl<R: AsyncWrite> AsyncWrite for CountingRead<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

pin_project_lite::pin_project! {
    /// Counts the bytes written through it (accepted by the inner writer).
    /// Vectored writes go through as vectored writes when the inner writer
    /// supports them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio::io::AsyncWriteExt;
    /// let mut w = aqueduct_io::adapt::CountingWrite::new(Vec::new());
    /// w.write_all(b"hello").await.unwrap();
    /// assert_eq!(w.bytes(), 5);
    /// assert_eq!(w.into_inner(), b"hello");
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct CountingWrite<W> {
        #[pin]
        inner: W,
        counter: ByteCounter,
    }
}

impl<W> CountingWrite<W> {
    /// Wraps `inner` with a new counter.
    ///
    /// ```
    /// let w = aqueduct_io::adapt::CountingWrite::new(tokio::io::sink());
    /// assert_eq!(w.bytes(), 0);
    /// ```
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            counter: ByteCounter::default(),
        }
    }

    /// Wraps `inner`, adding to an existing counter.
    ///
    /// ```
    /// let total = aqueduct_io::adapt::ByteCounter::default();
    /// let w = aqueduct_io::adapt::CountingWrite::with_counter(tokio::io::sink(), total);
    /// # drop(w);
    /// ```
    pub fn with_counter(inner: W, counter: ByteCounter) -> Self {
        Self { inner, counter }
    }

    /// Bytes written so far.
    ///
    /// ```
    /// assert_eq!(aqueduct_io::adapt::CountingWrite::new(tokio::io::sink()).bytes(), 0);
    /// ```
    pub fn bytes(&self) -> u64 {
        self.counter.get()
    }

    /// A handle on the count that outlives moves of the writer.
    ///
    /// ```
    /// let w = aqueduct_io::adapt::CountingWrite::new(tokio::io::sink());
    /// assert_eq!(w.counter().get(), 0);
    /// ```
    pub fn counter(&self) -> ByteCounter {
        self.counter.clone()
    }

    /// The wrapped writer.
    ///
    /// ```
    /// let w = aqueduct_io::adapt::CountingWrite::new(Vec::<u8>::new());
    /// assert!(w.into_inner().is_empty());
    /// ```
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite> AsyncWrite for CountingWrite<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let res = this.inner.poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.counter.add(n as u64);
        }
        res
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let res = this.inner.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            this.counter.add(n as u64);
        }
        res
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

impl<W: AsyncRead> AsyncRead for CountingWrite<W> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}
