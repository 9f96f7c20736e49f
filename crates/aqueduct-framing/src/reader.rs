//! A stream of frames that goes on after a bad one: [`FrameReader`].
//!
//! [`FramedRead`](tokio_util::codec::FramedRead) ends its stream (yields
//! `None`) after a decoding error, and when polled again it reads before it
//! decodes: frames that arrived in the same read as the bad one wait in its
//! buffer until the peer sends more (see the [crate docs](crate#in-framed-and-framedread)).
//! A peer that sent a bad request and a good one, and waits for both
//! replies, waits for good.
//!
//! [`FrameReader`] reads and decodes as `FramedRead` does, with any
//! [`Decoder`] whose error converts from [`io::Error`]: it decodes until
//! the buffered bytes hold no whole frame, then reads into the read
//! buffer's spare room. It differs after an error only:
//!
//! - A decoding error is one item of the stream, never its end. The next
//!   poll decodes the bytes already buffered before it reads: a good frame
//!   that came with a bad one is yielded at once. Every codec of this crate
//!   goes on after its errors with the next frame (after an over-long line,
//!   from the next newline; after an over-long length-prefixed frame, with
//!   the frame behind it).
//! - An error that consumed none of the buffered bytes (which a codec that
//!   cannot go on may return) is followed by a read before the next decode,
//!   so the same error is not returned over and over for the same bytes.
//! - At the end of the input, `decode_eof` drains the buffer, past errors
//!   that consumed bytes too (an error that consumed nothing is the last
//!   item). The stream then ends; with this crate's codecs, an input that
//!   ended inside a frame has
//!   [`FrameError::Truncated`](crate::FrameError::Truncated) as its last
//!   item.
//! - A failed read ends the stream: its error is the last item.
//!
//! It only reads. A connection that `Framed` would read and write is split
//! (`TcpStream::into_split`, or `tokio::io::split` for any stream) and its
//! write half framed with `FramedWrite` or [`FrameWriter`](crate::FrameWriter),
//! as the `framing` walkthrough's line server does.
//!
//! ```
//! use aqueduct_framing::{FrameError, FrameReader, LineCodec};
//! use futures::StreamExt;
//! use tokio::io::AsyncWriteExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), FrameError> {
//! let (mut peer, socket) = tokio::io::duplex(1024);
//! // A bad request and a good one, in one write; the peer waits for replies.
//! peer.write_all(b"far too long\nPING\n").await?;
//! let mut lines = FrameReader::new(socket, LineCodec::new().with_max_length(8));
//! let err = lines.next().await.unwrap().unwrap_err();
//! assert!(matches!(err, FrameError::TooLong { len: 12, max: 8 }));
//! // No read needed: PING came with the bad line.
//! assert_eq!(lines.next().await.unwrap()?, "PING");
//! peer.write_all(b"QUIT\n").await?;
//! assert_eq!(lines.next().await.unwrap()?, "QUIT");
//! drop(peer);
//! assert!(lines.next().await.is_none());
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures_core::Stream;
use pin_project_lite::pin_project;
use tokio::io::AsyncRead;
use tokio_util::codec::Decoder;

/// Room made in the read buffer before a read that finds it full, as
/// `FramedRead` makes (its initial capacity).
const READ_ROOM: usize = 8 * 1024;

/// Where a [`FrameReader`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Decodes what is buffered.
    Decoding,
    /// Reads before it decodes again: the last decode found no whole
    /// frame, or failed without consuming a byte.
    Reading,
    /// The input ended: `decode_eof` drains the buffer.
    Draining,
    /// The stream ended.
    Done,
}

pin_project! {
    /// A [`Stream`] of the frames `codec` decodes from `reader`, which goes
    /// on after a decoding error with the bytes already buffered (see the
    /// [module docs](self)).
    ///
    /// The accessors are `FramedRead`'s, so moving from one to the other
    /// is a change of name:
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LengthPrefixedCodec};
    /// use futures::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aqueduct_framing::FrameError> {
    /// let wire: &[u8] = b"\0\0\0\x05hello\0\0\0\x02hi";
    /// let mut frames = FrameReader::new(wire, LengthPrefixedCodec::new());
    /// assert_eq!(frames.next().await.unwrap()?, "hello");
    /// assert_eq!(frames.decoder().skipped_frames(), 0);
    /// assert_eq!(frames.next().await.unwrap()?, "hi");
    /// assert!(frames.next().await.is_none());
    /// assert!(frames.read_buffer().is_empty());
    /// # Ok(()) }
    /// ```
    pub struct FrameReader<R, D> {
        #[pin]
        reader: R,
        codec: D,
        buf: BytesMut,
        phase: Phase,
    }
}

impl<R, D> FrameReader<R, D> {
    /// Decodes the frames of `reader` with `codec`. The read buffer starts
    /// empty (`FramedRead`'s starts with 8 KiB) and is given 8 KiB of room
    /// whenever a read finds it full; each codec of this crate sizes it for
    /// its frames from there.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let lines = FrameReader::new(&b"a\nb\n"[..], LineCodec::new());
    /// assert_eq!(lines.read_buffer().capacity(), 0);
    /// ```
    pub fn new(reader: R, codec: D) -> Self {
        Self::with_capacity(reader, codec, 0)
    }

    /// Like [`new`](Self::new), with room for `capacity` bytes in the read
    /// buffer from the start.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let lines = FrameReader::with_capacity(&b"a\n"[..], LineCodec::new(), 64 * 1024);
    /// assert!(lines.read_buffer().capacity() >= 64 * 1024);
    /// ```
    pub fn with_capacity(reader: R, codec: D, capacity: usize) -> Self {
        Self {
            reader,
            codec,
            buf: BytesMut::with_capacity(capacity),
            phase: Phase::Decoding,
        }
    }

    /// The reader.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let lines = FrameReader::new(&b"a\n"[..], LineCodec::new());
    /// assert_eq!(*lines.get_ref(), b"a\n");
    /// ```
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The reader, to change. Bytes already read stay in the read buffer.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let mut lines = FrameReader::new(&b"a\n"[..], LineCodec::new());
    /// *lines.get_mut() = &b"b\n"[..];
    /// assert_eq!(*lines.get_ref(), b"b\n");
    /// ```
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The pinned reader, to change.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let mut lines = Box::pin(FrameReader::new(&b"a\n"[..], LineCodec::new()));
    /// *lines.as_mut().get_pin_mut() = &b"b\n"[..];
    /// assert_eq!(*lines.get_ref(), b"b\n");
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().reader
    }

    /// The reader; bytes read but not decoded are dropped with the codec.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let lines = FrameReader::new(&b"a\n"[..], LineCodec::new());
    /// assert_eq!(lines.into_inner(), b"a\n");
    /// ```
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// The codec, and the state it holds of the stream.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let lines = FrameReader::new(&b""[..], LineCodec::new().with_max_length(80));
    /// assert_eq!(lines.decoder().max_length(), 80);
    /// ```
    pub fn decoder(&self) -> &D {
        &self.codec
    }

    /// The codec, to change. A change applies from the next frame on.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let mut lines = FrameReader::new(&b""[..], LineCodec::new());
    /// *lines.decoder_mut() = LineCodec::new().with_max_length(80);
    /// assert_eq!(lines.decoder().max_length(), 80);
    /// ```
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.codec
    }

    /// The bytes read but not decoded yet.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    /// use futures::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut lines = FrameReader::new(&b"a\npart"[..], LineCodec::new());
    /// assert_eq!(lines.next().await.unwrap().unwrap(), "a");
    /// assert_eq!(lines.read_buffer()[..], b"part"[..]);
    /// # }
    /// ```
    pub fn read_buffer(&self) -> &BytesMut {
        &self.buf
    }

    /// The bytes read but not decoded yet, to change. The codec may hold
    /// state about them (where its last search stopped): bytes put in front
    /// of the buffer or taken from it would be misread.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    /// use futures::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut lines = FrameReader::new(&b"b\n"[..], LineCodec::new());
    /// // Bytes that came by another way, ahead of the reader's.
    /// lines.read_buffer_mut().extend_from_slice(b"a\n");
    /// assert_eq!(lines.next().await.unwrap().unwrap(), "a");
    /// assert_eq!(lines.next().await.unwrap().unwrap(), "b");
    /// # }
    /// ```
    pub fn read_buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

impl<R, D> fmt::Debug for FrameReader<R, D>
where
    R: fmt::Debug,
    D: fmt::Debug,
{
    /// The reader, the codec, how many bytes are buffered and where the
    /// stream is.
    ///
    /// ```
    /// use aqueduct_framing::{FrameReader, LineCodec};
    ///
    /// let lines = FrameReader::new(&b""[..], LineCodec::new());
    /// assert!(format!("{lines:?}").starts_with("FrameReader"));
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("reader", &self.reader)
            .field("codec", &self.codec)
            .field("buffered", &self.buf.len())
            .field("phase", &self.phase)
            .finish()
    }
}

impl<R, D> Stream for FrameReader<R, D>
where
    R: AsyncRead,
    D: Decoder,
    D::Error: From<io::Error>,
{
    type Item = Result<D::Item, D::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            let before = this.buf.len();
            match *this.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Draining => {
                    return Poll::Ready(match this.codec.decode_eof(this.buf) {
                        Ok(Some(frame)) => Some(Ok(frame)),
                        Ok(None) => {
                            *this.phase = Phase::Done;
                            None
                        }
                        Err(e) => {
                            if this.buf.len() >= before {
                                // Nothing consumed: it would be said again.
                                *this.phase = Phase::Done;
                            }
                            Some(Err(e))
                        }
                    });
                }
                Phase::Decoding => match this.codec.decode(this.buf) {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => *this.phase = Phase::Reading,
                    Err(e) => {
                        if this.buf.len() >= before {
                            *this.phase = Phase::Reading;
                        }
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                Phase::Reading => {}
            }
            if this.buf.len() == this.buf.capacity() {
                this.buf.reserve(READ_ROOM);
            }
            match ready!(tokio_util::io::poll_read_buf(
                this.reader.as_mut(),
                cx,
                this.buf
            )) {
                Ok(0) => *this.phase = Phase::Draining,
                Ok(_) => *this.phase = Phase::Decoding,
                Err(e) => {
                    *this.phase = Phase::Done;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }
}
