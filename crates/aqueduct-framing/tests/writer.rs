//! Behaviour of `FrameWriter`.

use std::pin::Pin;
use std::task::{Context, Poll};

use aqueduct_framing::{FrameError, FrameWriter, LengthPrefixedCodec};
use bytes::Bytes;
use futures::{FutureExt, Sink, SinkExt, StreamExt};
use tokio::io::AsyncWrite;
use tokio_util::codec::FramedRead;

#[tokio::test]
async fn peer_decodes_frames_written_over_loopback_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let codec = LengthPrefixedCodec::builder().varint().build();
    let reader_codec = codec.clone();
    let reader = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let frames = FramedRead::new(socket, reader_codec);
        frames.map(|f| f.unwrap()).collect::<Vec<_>>().await
    });
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut writer = FrameWriter::new(socket, codec);
    let sent: Vec<Bytes> = [0usize, 1, 127, 128, 65_536, 300_000]
        .iter()
        .map(|&n| Bytes::from((0..n).map(|i| i as u8).collect::<Vec<_>>()))
        .collect();
    for frame in &sent {
        writer.write_frame(frame.clone()).await.unwrap();
    }
    drop(writer);
    assert_eq!(reader.await.unwrap(), sent);
}

/// A writer that accepts `step` bytes, then is not ready once, in turn.
#[derive(Debug, Default)]
struct Stuttering {
    out: Vec<u8>,
    step: usize,
    pending_next: bool,
    flushes: usize,
    shut_down: bool,
}

impl AsyncWrite for Stuttering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.pending_next {
            self.pending_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending_next = true;
        let n = buf.len().min(self.step);
        self.out.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.shut_down = true;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_cancelled_write_is_completed_by_the_next_call() {
    let io = Stuttering {
        step: 2,
        ..Stuttering::default()
    };
    let mut writer = FrameWriter::new(io, LengthPrefixedCodec::new());
    let payload = Bytes::from_static(&[9u8; 2000]);
    {
        // Poll the write once: it queues the frame, writes two bytes, then
        // the writer is not ready and the future is dropped.
        let fut = writer.write_frame(payload.clone());
        futures::pin_mut!(fut);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert!(writer.has_pending());
    writer
        .write_frame(Bytes::from_static(b"next"))
        .await
        .unwrap();
    assert!(!writer.has_pending());
    let out = &writer.get_ref().out;
    let mut expected = Vec::new();
    expected.extend_from_slice(&2000u32.to_be_bytes());
    expected.extend_from_slice(&payload);
    expected.extend_from_slice(b"\0\0\0\x04next");
    assert_eq!(out, &expected);
}

/// A payload owner that records when it is dropped.
struct Owned {
    data: Vec<u8>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.dropped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_written_payload_is_not_kept_alive() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dropped = std::sync::Arc::new(AtomicBool::new(false));
    let payload = Bytes::from_owner(Owned {
        data: vec![1; 1 << 20],
        dropped: dropped.clone(),
    });
    let mut writer = FrameWriter::new(Vec::new(), LengthPrefixedCodec::new());
    writer.write_frame(payload).await.unwrap();
    assert_eq!(writer.get_ref().len(), 4 + (1 << 20));
    // An idle writer must not pin the last frame's memory.
    assert!(
        dropped.load(Ordering::SeqCst),
        "the writer still holds the payload it has written"
    );
}

fn one_byte_at_a_time() -> FrameWriter<Stuttering> {
    let io = Stuttering {
        step: 1,
        ..Stuttering::default()
    };
    FrameWriter::new(
        io,
        LengthPrefixedCodec::builder().length_field_width(1).build(),
    )
}

#[tokio::test]
async fn sink_writes_whole_frames_one_byte_at_a_time() {
    let mut writer = one_byte_at_a_time();
    writer.feed(Bytes::from_static(b"ab")).await.unwrap();
    writer.feed(Bytes::new()).await.unwrap();
    assert_eq!(writer.get_ref().flushes, 0);
    writer.send(Bytes::from_static(b"xyz")).await.unwrap();
    assert_eq!(writer.get_ref().flushes, 1);
    assert!(!writer.has_pending());
    assert_eq!(writer.get_ref().out, b"\x02ab\x00\x03xyz");
}

#[tokio::test]
async fn forward_writes_every_frame_and_shuts_the_writer_down() {
    let mut writer = one_byte_at_a_time();
    let payloads = futures::stream::iter(["a", "", "bcd"]).map(|s| Ok(Bytes::from(s)));
    payloads.forward(&mut writer).await.unwrap();
    assert_eq!(writer.get_ref().out, b"\x01a\x00\x03bcd");
    assert!(writer.get_ref().shut_down);
}

#[tokio::test]
async fn close_finishes_the_frame_in_flight_then_shuts_down() {
    let mut writer = one_byte_at_a_time();
    // Queued, one byte written, then the writer is not ready: cut short.
    assert!(
        writer
            .send(Bytes::from_static(b"abc"))
            .now_or_never()
            .is_none()
    );
    assert!(writer.has_pending());
    assert!(!writer.get_ref().shut_down);
    writer.close().await.unwrap();
    assert!(!writer.has_pending());
    assert_eq!(writer.get_ref().out, b"\x03abc");
    assert!(writer.get_ref().shut_down);
}

#[tokio::test]
async fn sink_refuses_an_unframeable_payload_and_goes_on() {
    let mut writer = one_byte_at_a_time();
    let err = writer.send(Bytes::from(vec![0; 256])).await.unwrap_err();
    assert!(matches!(
        err,
        FrameError::PayloadTooLong { len: 256, max: 255 }
    ));
    assert!(!writer.has_pending());
    writer.send(Bytes::from_static(b"ok")).await.unwrap();
    assert_eq!(writer.get_ref().out, b"\x02ok");
}

#[test]
#[should_panic(expected = "poll_ready first")]
fn start_send_with_a_frame_in_flight_panics() {
    let mut writer = one_byte_at_a_time();
    let mut writer = Pin::new(&mut writer);
    writer
        .as_mut()
        .start_send(Bytes::from_static(b"ab"))
        .unwrap();
    let _ = writer.as_mut().start_send(Bytes::from_static(b"cd"));
}

#[tokio::test]
async fn a_codec_change_applies_to_the_frames_queued_after_it() {
    let mut writer = one_byte_at_a_time();
    assert_eq!(writer.codec().max_frame_length(), 8 * 1024 * 1024);
    // A frame cut short in flight keeps the header it was framed with.
    assert!(
        writer
            .send(Bytes::from_static(b"abc"))
            .now_or_never()
            .is_none()
    );
    *writer.codec_mut() = LengthPrefixedCodec::builder().length_field_width(2).build();
    writer.send(Bytes::from_static(b"de")).await.unwrap();
    assert_eq!(writer.get_ref().out, b"\x03abc\0\x02de");
}
