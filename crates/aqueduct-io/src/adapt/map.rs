use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes [`MapWrite`] takes per `poll_write` (and holds while the
/// inner writer is busy).
const MAP_WRITE_CHUNK: usize = 16 * 1024;

pin_project_lite::pin_project! {
    /// Transforms bytes in place as they are read: `f` sees each freshly
    /// filled slice once. Length-preserving transforms only (case, XOR,
    /// byte substitution).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio::io::AsyncReadExt;
    /// let mut r = aqueduct_io::adapt::MapRead::new(&b"quiet"[..], |b: &mut [u8]| b.make_ascii_uppercase());
    /// let mut s = String::new();
    /// r.read_to_string(&mut s).await.unwrap();
    /// assert_eq!(s, "QUIET");
    /// # }
    /// ```
    pub struct MapRead<R, F> {
        #[pin]
        inner: R,
        f: F,
    }
}

impl<R: fmt::Debug, F> fmt::Debug for MapRead<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapRead")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<R, F: FnMut(&mut [u8])> MapRead<R, F> {
    /// Wraps `inner`, applying `f` to every chunk read.
    ///
    /// ```
    /// let r = aqueduct_io::adapt::MapRead::new(tokio::io::empty(), |_: &mut [u8]| {});
    /// # drop(r);
    /// ```
    pub fn new(inner: R, f: F) -> Self {
        Self { inner, f }
    }

    /// The wrapped reader.
    ///
    /// ```
    /// let r = aqueduct_io::adapt::MapRead::new(&b"x"[..], |_: &mut [u8]| {});
    /// assert_eq!(r.into_inner(), b"x");
    /// ```
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead, F: FnMut(&mut [u8])> AsyncRead for MapRead<R, F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        ready!(this.inner.poll_read(cx, buf))?;
        (this.f)(&mut buf.filled_mut()[before..]);
        Poll::Ready(Ok(()))
    }
}

pin_project_lite::pin_project! {
    /// Transforms bytes as they are written: each chunk is copied into an
    /// internal buffer (at most 16 KiB), transformed by `f`, and written.
    /// `poll_write` reports bytes as written once they are transformed and
    /// buffered; `flush` and `shutdown` write out what is buffered, so flush
    /// (as with any buffered writer) before relying on the bytes being sent.
    /// An error of the inner writer met while sending bytes already reported
    /// as written is returned by the next `write`, `flush` or `shutdown`,
    /// which try the rest of the buffer again: no byte is lost or sent twice.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio::io::AsyncWriteExt;
    /// let mut w = aqueduct_io::adapt::MapWrite::new(Vec::new(), |b: &mut [u8]| b.make_ascii_uppercase());
    /// w.write_all(b"hello, ").await.unwrap();
    /// w.write_all(b"world").await.unwrap();
    /// w.flush().await.unwrap();
    /// assert_eq!(w.into_inner(), b"HELLO, WORLD");
    /// # }
    /// ```
    pub struct MapWrite<W, F> {
        #[pin]
        inner: W,
        f: F,
        pending: Vec<u8>,
        written: usize,
    }
}

impl<W: fmt::Debug, F> fmt::Debug for MapWrite<W, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapWrite")
            .field("inner", &self.inner)
            .field("buffered", &(self.pending.len() - self.written))
            .finish_non_exhaustive()
    }
}

impl<W, F: FnMut(&mut [u8])> MapWrite<W, F> {
    /// Wraps `inner`, applying `f` to every chunk written.
    ///
    /// ```
    /// let w = aqueduct_io::adapt::MapWrite::new(tokio::io::sink(), |_: &mut [u8]| {});
    /// # drop(w);
    /// ```
    pub fn new(inner: W, f: F) -> Self {
        Self {
            inner,
            f,
            pending: Vec::new(),
            written: 0,
        }
    }

    /// The wrapped writer. Bytes still buffered (not flushed) are lost.
    ///
    /// ```
    /// let w = aqueduct_io::adapt::MapWrite::new(Vec::<u8>::new(), |_: &mut [u8]| {});
    /// assert!(w.into_inner().is_empty());
    /// ```
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite, F> MapWrite<W, F> {
    fn poll_drain(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        while *this.written < this.pending.len() {
            let n = ready!(
                this.inner
                    .as_mut()
                    .poll_write(cx, &this.pending[*this.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *this.written += n;
        }
        this.pending.clear();
        *this.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite, F: FnMut(&mut [u8])> AsyncWrite for MapWrite<W, F> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.as_mut().poll_drain(cx))?;
        let this = self.as_mut().project();
        let n = buf.len().min(MAP_WRITE_CHUNK);
        this.pending.extend_from_slice(&buf[..n]);
        (this.f)(&mut this.pending[..]);
        // Start writing now; what does not go out stays buffered for the
        // next write or flush. The `n` bytes are taken whatever happens: an
        // error here would have the caller write them again, so it is left
        // for the next write, flush or shutdown, which retries the drain.
        let _ = self.poll_drain(cx);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_drain(cx))?;
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_drain(cx))?;
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn map_write_survives_a_slow_writer() {
        // A duplex with a tiny buffer forces partial writes and Pending.
        let (mut a, b) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            let mut w = MapWrite::new(b, |x: &mut [u8]| x.make_ascii_uppercase());
            for _ in 0..100 {
                w.write_all(b"abcdefghij").await.unwrap();
            }
            w.shutdown().await.unwrap();
        });
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut a, &mut out)
            .await
            .unwrap();
        writer.await.unwrap();
        assert_eq!(out, b"ABCDEFGHIJ".repeat(100));
    }
}
