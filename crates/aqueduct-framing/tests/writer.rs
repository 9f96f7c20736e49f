//! Behaviour of `FrameWriter`.

use std::pin::Pin;
use std::task::{Context, Poll};

use aqueduct_framing::{FrameWriter, LengthPrefixedCodec};
use bytes::Bytes;
use futures::StreamExt;
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

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
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
