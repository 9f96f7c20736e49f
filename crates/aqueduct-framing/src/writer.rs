//! Zero-copy write path for length-prefixed frames: [`FrameWriter`].
//!
//! [`FramedWrite`](tokio_util::codec::FramedWrite) copies every payload into
//! its write buffer before the socket sees it. [`FrameWriter`] instead keeps
//! the payload as the [`Bytes`] it was given and hands the kernel the length
//! prefix and the payload together in one vectored write (`writev`), so a
//! 64 KiB frame costs no 64 KiB copy.
//!
//! The bytes on the wire are exactly those of
//! [`LengthPrefixedCodec`]'s encoder with the same configuration, so the
//! peer decodes them with a [`LengthPrefixedCodec`] as usual (see the
//! [`length`](crate::length) module for the wire format):
//!
//! ```
//! use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
//! use bytes::{Bytes, BytesMut};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), aqueduct_framing::FrameError> {
//! let mut builder = LengthPrefixedCodec::builder();
//! builder.length_field_offset(1).varint().strip_header(false);
//! let payload = Bytes::from(vec![b'x'; 300]);
//!
//! let mut writer = FrameWriter::new(Vec::new(), builder.build());
//! writer.write_frame(payload.clone()).await?;
//! let mut encoded = BytesMut::new();
//! builder.build().encode(payload, &mut encoded)?;
//! assert_eq!(writer.get_ref()[..], encoded[..]);
//! assert_eq!(writer.get_ref()[..3], [0x00, 0xAC, 0x02]); // offset, varint 300
//!
//! let mut wire = BytesMut::from(&writer.get_ref()[..]);
//! let frame = builder.build().decode(&mut wire)?.unwrap();
//! assert_eq!(frame.len(), 3 + 300);
//! # Ok(()) }
//! ```
//!
//! [`FrameWriter`] is also a [`Sink`] of [`Bytes`], so a stream of payloads
//! can be forwarded into it (`StreamExt::forward`) and the `SinkExt`
//! methods of `futures` work on it, as on
//! [`FramedWrite`](tokio_util::codec::FramedWrite).

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_sink::Sink;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{FrameError, LengthPrefixedCodec};

/// Payloads up to this size are copied next to their header when the writer
/// has no vectored write, so a small frame still takes one write call.
const COALESCE_LIMIT: usize = 1024;

/// Writes length-prefixed frames with one vectored write per frame and no
/// payload copy.
///
/// That takes a writer with vectored writes
/// ([`is_write_vectored`](AsyncWrite::is_write_vectored)), as tokio's
/// `TcpStream`, `UnixStream` and `BufWriter` are. On one without, a
/// payload of up to 1 KiB is copied next to its header so the frame still
/// goes out in one write, and a larger one usually takes two, the
/// header's and the payload's, still without a copy. A writer that takes
/// fewer bytes than offered gets the rest in further writes either way.
///
/// ```
/// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
/// use bytes::{Bytes, BytesMut};
/// use tokio_util::codec::Decoder;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
/// let (client, mut server) = tokio::io::duplex(1 << 16);
/// let mut writer = FrameWriter::new(client, LengthPrefixedCodec::new());
/// writer.write_frame(Bytes::from_static(b"hello")).await?;
///
/// let mut buf = BytesMut::new();
/// tokio::io::AsyncReadExt::read_buf(&mut server, &mut buf).await?;
/// let frame = LengthPrefixedCodec::new().decode(&mut buf)?.unwrap();
/// assert_eq!(&frame[..], b"hello");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
    codec: LengthPrefixedCodec,
    /// Header of the frame in flight (and, for small frames on writers
    /// without vectored writes, its payload); consumed from the front.
    header: BytesMut,
    /// Payload of the frame in flight; consumed from the front.
    payload: Bytes,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Wraps `io`, framing payloads as `codec`'s encoder would. Nothing is
    /// written until a frame is.
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let codec = LengthPrefixedCodec::builder().varint().build();
    /// let mut writer = FrameWriter::new(Vec::new(), codec);
    /// assert!(writer.get_ref().is_empty());
    /// writer.write_frame(Bytes::from_static(b"hi")).await?;
    /// assert_eq!(writer.get_ref(), b"\x02hi");
    /// # Ok(()) }
    /// ```
    pub fn new(io: W, codec: LengthPrefixedCodec) -> Self {
        Self {
            io,
            codec,
            header: BytesMut::with_capacity(16),
            payload: Bytes::new(),
        }
    }

    /// Writes one frame and flushes the writer.
    ///
    /// # Errors
    ///
    /// [`FrameError::PayloadOverMax`], [`FrameError::PayloadTooLong`] or
    /// [`FrameError::PayloadTooShort`] if the codec cannot frame `payload`
    /// (nothing is written then), [`FrameError::Io`] if a write or the
    /// flush fails. A write interrupted by a signal
    /// ([`io::ErrorKind::Interrupted`]) is retried, as `std`'s `write_all`
    /// does, not reported.
    ///
    /// After an I/O error, do not send `payload` again without looking:
    /// if the error came while finishing an earlier frame, `payload` was not
    /// queued and is dropped; if it came while writing `payload`, its frame
    /// stays queued and the next call to any write method finishes it. A
    /// frame is pending before the call exactly when
    /// [`has_pending`](FrameWriter::has_pending) says so. On most writers an
    /// I/O error means the connection is gone anyway.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that the stream is never left with half a
    /// frame by this writer: if the future is dropped before `payload` was
    /// queued (while an earlier frame was still being finished), `payload`
    /// is not sent at all; once queued, a frame that was partly written
    /// stays in the writer and the next call to any write method completes
    /// it first.
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let codec = LengthPrefixedCodec::builder().length_field_width(2).build();
    /// let mut writer = FrameWriter::new(Vec::new(), codec);
    /// writer.write_frame(Bytes::from_static(b"ab")).await?;
    /// assert_eq!(writer.get_ref(), b"\0\x02ab");
    /// # Ok(()) }
    /// ```
    pub async fn write_frame(&mut self, payload: Bytes) -> Result<(), FrameError> {
        self.feed(payload).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Writes one frame without flushing.
    ///
    /// # Errors
    ///
    /// As [`FrameWriter::write_frame`].
    ///
    /// # Cancel safety
    ///
    /// As [`FrameWriter::write_frame`].
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let mut writer = FrameWriter::new(Vec::new(), LengthPrefixedCodec::new());
    /// for word in ["a", "bc"] {
    ///     writer.feed(Bytes::from(word)).await?;
    /// }
    /// writer.flush().await?;
    /// assert_eq!(writer.get_ref().len(), 4 + 1 + 4 + 2);
    /// # Ok(()) }
    /// ```
    pub async fn feed(&mut self, payload: Bytes) -> Result<(), FrameError> {
        self.drain().await?;
        self.queue(payload)?;
        self.drain().await?;
        Ok(())
    }

    /// Finishes any frame in flight and flushes the writer.
    ///
    /// # Errors
    ///
    /// [`FrameError::Io`] if a write or the flush fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a frame in flight stays queued.
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// use bytes::Bytes;
    /// use tokio::io::BufWriter;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let buffered = BufWriter::new(Vec::<u8>::new());
    /// let mut writer = FrameWriter::new(buffered, LengthPrefixedCodec::new());
    /// writer.feed(Bytes::from_static(b"hi")).await?;
    /// assert!(writer.get_ref().get_ref().is_empty()); // still in the BufWriter
    /// writer.flush().await?;
    /// assert_eq!(writer.get_ref().get_ref(), b"\0\0\0\x02hi");
    /// # Ok(()) }
    /// ```
    pub async fn flush(&mut self) -> Result<(), FrameError> {
        self.drain().await?;
        self.io.flush().await?;
        Ok(())
    }

    /// The wrapped writer.
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// let writer = FrameWriter::new(Vec::<u8>::new(), LengthPrefixedCodec::new());
    /// assert!(writer.get_ref().is_empty());
    /// ```
    pub fn get_ref(&self) -> &W {
        &self.io
    }

    /// The wrapped writer, mutably. Writing to it directly while a frame is
    /// in flight corrupts the stream.
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// let mut writer = FrameWriter::new(Vec::<u8>::new(), LengthPrefixedCodec::new());
    /// writer.get_mut().clear();
    /// ```
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.io
    }

    /// The codec that frames the payloads.
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    ///
    /// let codec = LengthPrefixedCodec::builder().max_frame_length(1024).build();
    /// let writer = FrameWriter::new(Vec::<u8>::new(), codec);
    /// assert_eq!(writer.codec().max_frame_length(), 1024);
    /// ```
    pub fn codec(&self) -> &LengthPrefixedCodec {
        &self.codec
    }

    /// The codec that frames the payloads, mutably: to raise its
    /// maximum with [`LengthPrefixedCodec::set_max_frame_length`] once the
    /// peer has agreed to larger frames, say. A change applies to the
    /// frames queued after it; a frame in flight was framed already.
    ///
    /// ```
    /// use aqueduct_framing::{FrameError, FrameWriter, LengthPrefixedCodec};
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), FrameError> {
    /// let codec = LengthPrefixedCodec::builder().max_frame_length(2).build();
    /// let mut writer = FrameWriter::new(Vec::new(), codec);
    /// let err = writer.write_frame(Bytes::from_static(b"abc")).await.unwrap_err();
    /// assert!(matches!(err, FrameError::PayloadOverMax { len: 3, max: 2 }));
    ///
    /// writer.codec_mut().set_max_frame_length(3);
    /// writer.write_frame(Bytes::from_static(b"abc")).await?;
    /// assert_eq!(writer.get_ref(), b"\0\0\0\x03abc");
    /// # Ok(()) }
    /// ```
    pub fn codec_mut(&mut self) -> &mut LengthPrefixedCodec {
        &mut self.codec
    }

    /// Whether a frame is partly written (after a cancelled write).
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// use bytes::Bytes;
    /// use futures::FutureExt;
    /// use tokio::io::AsyncReadExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// // A pipe that holds 8 bytes: a 4 + 6 byte frame does not fit.
    /// let (client, mut server) = tokio::io::duplex(8);
    /// let mut writer = FrameWriter::new(client, LengthPrefixedCodec::new());
    /// assert!(!writer.has_pending());
    ///
    /// // Give up on the write as soon as it would wait: the frame is cut.
    /// let sent = writer.write_frame(Bytes::from_static(b"abcdef")).now_or_never();
    /// assert!(sent.is_none());
    /// assert!(writer.has_pending());
    ///
    /// // The peer reads; the next call finishes the frame first.
    /// let reader = tokio::spawn(async move {
    ///     let mut frame = [0; 10];
    ///     server.read_exact(&mut frame).await.map(|_| frame)
    /// });
    /// writer.flush().await?;
    /// assert!(!writer.has_pending());
    /// assert_eq!(&reader.await.unwrap()?, b"\0\0\0\x06abcdef");
    /// # Ok(()) }
    /// ```
    pub fn has_pending(&self) -> bool {
        !self.header.is_empty() || !self.payload.is_empty()
    }

    /// Unwraps the writer. A frame still in flight is lost; call
    /// [`FrameWriter::flush`] first.
    ///
    /// ```
    /// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
    /// let writer = FrameWriter::new(Vec::<u8>::new(), LengthPrefixedCodec::new());
    /// let inner: Vec<u8> = writer.into_inner();
    /// assert!(inner.is_empty());
    /// ```
    pub fn into_inner(self) -> W {
        self.io
    }

    fn queue(&mut self, payload: Bytes) -> Result<(), FrameError> {
        debug_assert!(!self.has_pending());
        self.header.clear();
        self.codec.put_header(payload.len(), &mut self.header)?;
        if !self.io.is_write_vectored() && payload.len() <= COALESCE_LIMIT {
            self.header.extend_from_slice(&payload);
        } else {
            self.payload = payload;
        }
        Ok(())
    }

    async fn drain(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.has_pending() {
            let io = Pin::new(&mut self.io);
            let written = if self.header.is_empty() {
                ready!(io.poll_write(cx, &self.payload))
            } else if self.payload.is_empty() {
                ready!(io.poll_write(cx, &self.header))
            } else {
                let slices = [IoSlice::new(&self.header), IoSlice::new(&self.payload)];
                ready!(io.poll_write_vectored(cx, &slices))
            };
            let written = match written {
                Ok(n) => n,
                // Nothing was written: the call is simply made again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let from_header = written.min(self.header.len());
            self.header.advance(from_header);
            self.payload.advance(written - from_header);
        }
        // An advanced-to-empty `Bytes` still holds its allocation: let the
        // written payload go instead of pinning it until the next frame.
        self.payload = Bytes::new();
        Poll::Ready(Ok(()))
    }
}

/// Frames each payload as [`FrameWriter::feed`] does, one frame in flight at
/// a time and with no payload copy.
///
/// - `poll_ready` finishes the frame in flight (one that a cancelled
///   [`FrameWriter::feed`] left, too); it is ready once none is left.
/// - `start_send` queues the frame's header and payload without writing;
///   an unframeable payload is refused there with the codec's error
///   ([`FrameError::PayloadOverMax`], [`FrameError::PayloadTooLong`] or
///   [`FrameError::PayloadTooShort`]), nothing is queued and the sink stays
///   usable.
/// - `poll_flush` finishes the frame in flight and flushes the writer.
/// - `poll_close` finishes the frame in flight and shuts the writer down
///   ([`AsyncWrite::poll_shutdown`], which flushes it).
///
/// Each of them keeps its progress in the writer, so a call that returns
/// `Pending` (or a `SinkExt` future that is dropped) loses nothing: the
/// next call goes on where it stopped. Write errors are
/// [`FrameError::Io`]; an interrupted write is retried.
///
/// # Panics
///
/// `start_send` panics if a frame is still in flight, that is, if it was
/// not preceded by a `poll_ready` that returned `Ready(Ok(()))` (the
/// [`Sink`] contract; the `SinkExt` methods always do this).
///
/// ```
/// use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
/// use bytes::Bytes;
/// use futures::{SinkExt, StreamExt, stream};
/// use tokio_util::codec::FramedRead;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
/// let (client, server) = tokio::io::duplex(64);
/// let mut writer = FrameWriter::new(client, LengthPrefixedCodec::new());
/// let reader = tokio::spawn(async move {
///     let frames = FramedRead::new(server, LengthPrefixedCodec::new());
///     frames.map(|frame| frame.unwrap()).collect::<Vec<_>>().await
/// });
///
/// writer.send(Bytes::from_static(b"first")).await?;
/// let rest = stream::iter(["second", "third"]).map(|s| Ok(Bytes::from(s)));
/// rest.forward(&mut writer).await?; // flushes and shuts the writer down
///
/// assert_eq!(reader.await.unwrap(), ["first", "second", "third"]);
/// # Ok(()) }
/// ```
impl<W: AsyncWrite + Unpin> Sink<Bytes> for FrameWriter<W> {
    type Error = FrameError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut().poll_drain(cx).map_err(FrameError::from)
    }

    fn start_send(self: Pin<&mut Self>, payload: Bytes) -> Result<(), FrameError> {
        let this = self.get_mut();
        assert!(
            !this.has_pending(),
            "FrameWriter::start_send called while a frame is in flight: call poll_ready first"
        );
        this.queue(payload)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io)
            .poll_flush(cx)
            .map_err(FrameError::from)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io)
            .poll_shutdown(cx)
            .map_err(FrameError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer that accepts at most `step` bytes per call and records the
    /// number of calls and whether each was vectored.
    #[derive(Debug, Default, Clone)]
    struct Trickle {
        out: Arc<Mutex<Vec<u8>>>,
        calls: Arc<Mutex<Vec<usize>>>,
        step: usize,
        vectored: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.lock().unwrap().extend_from_slice(&buf[..n]);
            self.calls.lock().unwrap().push(1);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut left = self.step;
            let mut out = self.out.lock().unwrap();
            for b in bufs {
                let n = b.len().min(left);
                out.extend_from_slice(&b[..n]);
                left -= n;
            }
            self.calls.lock().unwrap().push(bufs.len());
            Poll::Ready(Ok(self.step - left))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A writer on a vectored `Trickle` that takes all it is given at once,
    /// and a 64 KiB payload.
    fn vectored_writer() -> (Trickle, FrameWriter<Trickle>, Bytes) {
        let io = Trickle {
            step: usize::MAX,
            vectored: true,
            ..Trickle::default()
        };
        let writer = FrameWriter::new(io.clone(), LengthPrefixedCodec::new());
        (io, writer, Bytes::from(vec![7u8; 65_536]))
    }

    #[tokio::test]
    async fn one_vectored_write_per_frame() {
        let (io, mut writer, payload) = vectored_writer();
        writer.write_frame(payload.clone()).await.unwrap();
        assert_eq!(*io.calls.lock().unwrap(), vec![2]);
        let out = io.out.lock().unwrap();
        assert_eq!(&out[..4], &65_536u32.to_be_bytes());
        assert_eq!(&out[4..], &payload[..]);
    }

    #[tokio::test]
    async fn sink_sends_one_vectored_write_per_frame() {
        use futures::SinkExt;
        let (io, mut writer, payload) = vectored_writer();
        writer.send(payload.clone()).await.unwrap();
        writer.send(payload.clone()).await.unwrap();
        assert_eq!(*io.calls.lock().unwrap(), vec![2, 2]);
        assert_eq!(io.out.lock().unwrap().len(), 2 * (4 + 65_536));
    }

    #[tokio::test]
    async fn partial_writes_complete_the_frame() {
        let io = Trickle {
            step: 3,
            vectored: true,
            ..Trickle::default()
        };
        let mut writer = FrameWriter::new(io.clone(), LengthPrefixedCodec::new());
        writer
            .write_frame(Bytes::from_static(b"hello"))
            .await
            .unwrap();
        writer.write_frame(Bytes::from_static(b"!")).await.unwrap();
        assert_eq!(&io.out.lock().unwrap()[..], b"\0\0\0\x05hello\0\0\0\x01!");
    }

    #[tokio::test]
    async fn small_frames_coalesce_without_vectored_writes() {
        let io = Trickle {
            step: usize::MAX,
            vectored: false,
            ..Trickle::default()
        };
        let mut writer = FrameWriter::new(io.clone(), LengthPrefixedCodec::new());
        writer.write_frame(Bytes::from_static(b"hi")).await.unwrap();
        assert_eq!(io.calls.lock().unwrap().len(), 1);
        assert_eq!(&io.out.lock().unwrap()[..], b"\0\0\0\x02hi");
    }

    /// A writer without vectored writes (the trait's default
    /// `poll_write_vectored`, which writes the first buffer given): records
    /// the bytes and the length of each write, and fails the first one
    /// with `Interrupted` if told.
    #[derive(Debug, Default)]
    struct Plain {
        writes: Vec<usize>,
        out: Vec<u8>,
        interrupt_first: bool,
        interrupted: bool,
    }

    impl AsyncWrite for Plain {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.interrupt_first && !self.interrupted {
                self.interrupted = true;
                return Poll::Ready(Err(io::ErrorKind::Interrupted.into()));
            }
            self.writes.push(buf.len());
            self.out.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn without_vectored_writes_up_to_1_kib_goes_in_one_write() {
        let mut writer = FrameWriter::new(Plain::default(), LengthPrefixedCodec::new());
        writer
            .write_frame(Bytes::from(vec![1u8; 1024]))
            .await
            .unwrap();
        assert_eq!(writer.get_ref().writes, [4 + 1024]);
        writer
            .write_frame(Bytes::from(vec![2u8; 1025]))
            .await
            .unwrap();
        assert_eq!(writer.get_ref().writes, [4 + 1024, 4, 1025]);
    }

    #[tokio::test]
    async fn an_interrupted_write_is_retried() {
        let plain = Plain {
            interrupt_first: true,
            ..Plain::default()
        };
        let mut writer = FrameWriter::new(plain, LengthPrefixedCodec::new());
        writer.write_frame(Bytes::from_static(b"hi")).await.unwrap();
        assert!(writer.get_ref().interrupted);
        assert_eq!(&writer.get_ref().out[..], b"\0\0\0\x02hi");
        assert!(!writer.has_pending());
    }

    #[tokio::test]
    async fn unframeable_payload_writes_nothing() {
        let codec = LengthPrefixedCodec::builder().length_field_width(1).build();
        let mut writer = FrameWriter::new(Vec::new(), codec);
        let err = writer
            .write_frame(Bytes::from(vec![0u8; 300]))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            FrameError::PayloadTooLong { len: 300, max: 255 }
        ));
        assert!(writer.get_ref().is_empty());
        assert!(!writer.has_pending());
    }
}
