//! Framing: one loopback TCP server speaking four wire formats (lines,
//! length-prefixed, delimited, fixed), and clients exchanging frames with
//! it. A client that sends an oversized frame gets a clear error while the
//! server keeps serving the others.
//!
//! Run with `cargo xtask demo framing`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aqueduct::framing::{
    DelimiterCodec, FixedSizeCodec, FrameError, FrameReader, FrameWriter, LengthPrefixedCodec,
    LineCodec, Utf8LineCodec,
};
use aqueduct_examples::{ms, require, section};
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::codec::{Decoder, Encoder, Framed, FramedWrite};

const LINE_MAX: usize = 1024;
const FRAME_MAX: usize = 64 * 1024;

/// What the servers did, for the figures printed at the end.
#[derive(Debug, Default)]
struct Stats {
    served: AtomicU64,
    rejected: AtomicU64,
    /// Read-buffer capacity of the connection whose oversized
    /// length-prefixed frame was refused, at the moment of refusal.
    refused_buffer: AtomicUsize,
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Draws the bytes a codec puts on the wire for one frame.
fn wire<C, T>(mut codec: C, item: T) -> String
where
    C: Encoder<T, Error = FrameError>,
{
    let mut out = BytesMut::new();
    codec.encode(item, &mut out).expect("encodable");
    out.iter()
        .map(|b| match b {
            b' '..=b'~' => format!(" {}", *b as char),
            b'\n' => "\\n".to_string(),
            b'\r' => "\\r".to_string(),
            _ => format!("{b:02x}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lines: answers each line upper-cased. An over-long line gets an error
/// line, and the connection goes on with the next line: `FrameReader`
/// yields the lines that came with the bad one at once.
async fn serve_lines(socket: TcpStream, stats: Arc<Stats>) -> Result {
    let (read_half, write_half) = socket.into_split();
    let mut lines = FrameReader::new(read_half, Utf8LineCodec::new().with_max_length(LINE_MAX));
    let mut replies = FramedWrite::new(write_half, Utf8LineCodec::new());
    while let Some(item) = lines.next().await {
        match item {
            Ok(line) => {
                stats.served.fetch_add(1, Ordering::Relaxed);
                replies.send(line.to_uppercase()).await?;
            }
            Err(e @ FrameError::TooLong { .. }) => {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                replies.send(format!("ERR {e}")).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Length-prefixed: answers each frame with its length and byte sum. A
/// frame announced above the maximum is refused as soon as its header is
/// in: the server answers with an error frame and closes.
async fn serve_length(socket: TcpStream, stats: Arc<Stats>) -> Result {
    let codec = LengthPrefixedCodec::builder()
        .max_frame_length(FRAME_MAX)
        .build();
    let mut framed = Framed::new(socket, codec);
    loop {
        match framed.next().await {
            None => return Ok(()),
            Some(Ok(frame)) => {
                stats.served.fetch_add(1, Ordering::Relaxed);
                let sum: u64 = frame.iter().map(|&b| u64::from(b)).sum();
                let reply = format!("{} bytes, sum {sum}", frame.len());
                framed.send(Bytes::from(reply)).await?;
            }
            Some(Err(e @ FrameError::TooLong { .. })) => {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                stats
                    .refused_buffer
                    .store(framed.read_buffer().capacity(), Ordering::Relaxed);
                framed.send(Bytes::from(format!("ERR {e}"))).await?;
                return Ok(());
            }
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Delimited: header blocks ended by `\r\n\r\n`; answers with the number of
/// header lines in each block.
async fn serve_delimited(socket: TcpStream, stats: Arc<Stats>) -> Result {
    let mut framed = Framed::new(socket, DelimiterCodec::new(b"\r\n\r\n"));
    while let Some(block) = framed.next().await {
        let block = block?;
        stats.served.fetch_add(1, Ordering::Relaxed);
        let lines = block.split(|&b| b == b'\n').count();
        framed.send(format!("{lines} header lines")).await?;
    }
    Ok(())
}

/// Fixed: 8-byte big-endian numbers; answers each with the running sum.
async fn serve_fixed(socket: TcpStream, stats: Arc<Stats>) -> Result {
    let mut framed = Framed::new(socket, FixedSizeCodec::new(8));
    let mut total = 0u64;
    while let Some(frame) = framed.next().await {
        let frame = frame?;
        stats.served.fetch_add(1, Ordering::Relaxed);
        total += u64::from_be_bytes(frame[..].try_into()?);
        framed
            .send(Bytes::copy_from_slice(&total.to_be_bytes()))
            .await?;
    }
    Ok(())
}

/// One listener per wire format; each connection is its own task.
async fn start_servers(stats: &Arc<Stats>, tasks: &mut JoinSet<()>) -> Result<[SocketAddr; 4]> {
    let mut addrs = Vec::new();
    for kind in 0..4 {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        addrs.push(listener.local_addr()?);
        let stats = Arc::clone(stats);
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                let stats = Arc::clone(&stats);
                connections.spawn(async move {
                    let served = match kind {
                        0 => serve_lines(socket, stats).await,
                        1 => serve_length(socket, stats).await,
                        2 => serve_delimited(socket, stats).await,
                        _ => serve_fixed(socket, stats).await,
                    };
                    if let Err(e) = served {
                        eprintln!("  server: connection ended with {e}");
                    }
                });
            }
        });
    }
    Ok([addrs[0], addrs[1], addrs[2], addrs[3]])
}

/// The walkthrough takes a fraction of a second; a hang is a failure.
const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result {
    match tokio::time::timeout(DEADLINE, run()).await {
        Ok(shown) => shown,
        Err(_) => Err(format!("the walkthrough did not finish within {DEADLINE:?}").into()),
    }
}

async fn run() -> Result {
    let started = Instant::now();
    let stats = Arc::new(Stats::default());
    let mut servers = JoinSet::new();
    let [lines_addr, length_addr, delimited_addr, fixed_addr] =
        start_servers(&stats, &mut servers).await?;
    println!("four servers on loopback: lines {lines_addr}, length-prefixed {length_addr},");
    println!("delimited {delimited_addr}, fixed {fixed_addr}");

    section("lines: `\\n` or `\\r\\n` terminated, yielded without a copy");
    println!("  wire for \"hi\": {}", wire(LineCodec::new(), "hi"));
    let mut lines = Framed::new(TcpStream::connect(lines_addr).await?, Utf8LineCodec::new());
    for word in ["hello", "grüße", "tschüss"] {
        lines.send(word).await?;
        let back = lines.next().await.ok_or("server closed")??;
        println!("  sent {word:?}, got {back:?}");
        require(back == word.to_uppercase(), "lines come back upper-cased");
    }
    // CRLF works too: the codec strips the `\r`.
    lines.get_mut().write_all(b"crlf line\r\n").await?;
    let back = lines.next().await.ok_or("server closed")??;
    println!("  sent \"crlf line\\r\\n\", got {back:?}");
    require(
        back == "CRLF LINE",
        "a CRLF line is one line without its \\r",
    );

    section("length-prefixed: 4-byte big-endian length, payload written with one writev");
    println!(
        "  wire for \"hi\": {}",
        wire(LengthPrefixedCodec::new(), Bytes::from_static(b"hi"))
    );
    let (read_half, write_half) = TcpStream::connect(length_addr).await?.into_split();
    let mut writer = FrameWriter::new(write_half, LengthPrefixedCodec::new());
    let mut replies = tokio_util::codec::FramedRead::new(read_half, LengthPrefixedCodec::new());
    for size in [5usize, 1500, 48 * 1024] {
        let payload = Bytes::from(vec![1u8; size]);
        let t = Instant::now();
        writer.write_frame(payload).await?;
        let reply = replies.next().await.ok_or("server closed")??;
        let reply = String::from_utf8_lossy(&reply).into_owned();
        println!("  {size:>6}-byte frame -> {reply:?} in {}", ms(t.elapsed()));
        require(
            reply == format!("{size} bytes, sum {size}"),
            "length frames round trip",
        );
    }

    section("delimited: header blocks ended by \\r\\n\\r\\n (memmem search)");
    println!(
        "  wire for \"a:1\": {}",
        wire(DelimiterCodec::new(b"\r\n\r\n"), "a:1")
    );
    let mut blocks = Framed::new(
        TcpStream::connect(delimited_addr).await?,
        DelimiterCodec::new(b"\r\n\r\n"),
    );
    for block in [
        "GET / HTTP/1.1\r\nHost: a",
        "GET /x HTTP/1.1\r\nHost: b\r\nAccept: */*",
    ] {
        blocks.send(block).await?;
        let reply = blocks.next().await.ok_or("server closed")??;
        let reply = String::from_utf8_lossy(&reply).into_owned();
        println!(
            "  sent a {}-line block, got {reply:?}",
            block.lines().count()
        );
        require(
            reply == format!("{} header lines", block.lines().count()),
            "delimited blocks are framed whole",
        );
    }

    section("fixed: frames of exactly 8 bytes (u64 big endian)");
    println!(
        "  wire for 7: {}",
        wire(FixedSizeCodec::new(8), &7u64.to_be_bytes()[..])
    );
    let mut fixed = Framed::new(
        TcpStream::connect(fixed_addr).await?,
        FixedSizeCodec::new(8),
    );
    // All five numbers in one write: the server splits them into frames.
    let numbers: Vec<u8> = (1..=5u64).flat_map(u64::to_be_bytes).collect();
    fixed.get_mut().write_all(&numbers).await?;
    let mut last = 0;
    for _ in 1..=5 {
        let frame = fixed.next().await.ok_or("server closed")??;
        last = u64::from_be_bytes(frame[..].try_into()?);
    }
    println!("  sent 1..=5 in one 40-byte write, running sum ends at {last}");
    require(last == 15, "fixed frames are split from one write");

    section("hostile peers: oversized frames, while a well-behaved client goes on");
    // The well-behaved client sends a line every few milliseconds throughout.
    let steady = tokio::spawn(async move {
        let mut answered = 0;
        for i in 0..20 {
            lines.send(format!("steady {i}")).await?;
            let back = lines.next().await.ok_or("server closed")??;
            if back == format!("STEADY {i}") {
                answered += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(answered)
    });

    // 1. A line four times the server's 1 KiB maximum, and a good line in
    //    the same write; the client then waits for both answers.
    let mut big_line = Framed::new(TcpStream::connect(lines_addr).await?, Utf8LineCodec::new());
    let mut both = "x".repeat(4 * LINE_MAX);
    both.push_str("\nand then this\n");
    big_line.get_mut().write_all(both.as_bytes()).await?;
    let answer = big_line.next().await.ok_or("server closed")??;
    println!("  4 KiB line         -> {answer:?}");
    require(
        answer.starts_with("ERR frame of"),
        "an over-long line gets an error",
    );
    let answer = big_line.next().await.ok_or("server closed")??;
    println!("  and the line after -> {answer:?}, on the same connection");
    require(
        answer == "AND THEN THIS",
        "the line that came with the over-long one is served at once",
    );

    // 2. A length prefix announcing 1 GiB, then payload bytes trickling in.
    let t = Instant::now();
    let mut hostile = TcpStream::connect(length_addr).await?;
    hostile.write_all(&(1u32 << 30).to_be_bytes()).await?;
    let _ = hostile.write_all(&[0u8; 16 * 1024]).await;
    let mut hostile = tokio_util::codec::FramedRead::new(hostile, LengthPrefixedCodec::new());
    let answer = hostile.next().await.ok_or("server closed")??;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    println!(
        "  1 GiB length prefix -> {answer:?} after {}",
        ms(t.elapsed())
    );
    require(
        answer == "ERR frame of 1073741824 bytes exceeds the maximum of 65536 bytes",
        "a 1 GiB announcement gets a clear error naming the limit",
    );

    let answered = steady.await??;
    println!("  meanwhile the steady line client got {answered}/20 answers");
    require(answered == 20, "the line server keeps serving the others");

    // The length-prefixed client from before is still served, on the
    // listener that just refused the 1 GiB frame.
    writer
        .write_frame(Bytes::from_static(b"still there?"))
        .await?;
    let reply = replies.next().await.ok_or("server closed")??;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    println!("  and the earlier length-prefixed client -> {reply:?}");
    require(
        reply.starts_with("12 bytes,"),
        "the length-prefixed server keeps serving the others",
    );

    // Direct decoder view of the same protection: capacity never grows.
    let mut codec = LengthPrefixedCodec::builder()
        .max_frame_length(FRAME_MAX)
        .build();
    let mut buf = BytesMut::from(&(1u32 << 30).to_be_bytes()[..]);
    let refused = matches!(codec.decode(&mut buf), Err(FrameError::TooLong { .. }));
    require(refused, "the decoder refuses right after the header");

    let refused_buffer = stats.refused_buffer.load(Ordering::Relaxed);
    let served = stats.served.load(Ordering::Relaxed);
    section("figures");
    println!(
        "  frames served: {served}, oversized frames refused: {}",
        stats.rejected.load(Ordering::Relaxed)
    );
    // Lines 3 + 1 + 20 + 1, length-prefixed 3 + 1, delimited 2, fixed 5.
    require(served == 36, "every well-formed frame was served");
    println!(
        "  read buffer of the 1 GiB connection when refused: {} KiB of capacity (max frame {} KiB): nothing was reserved for the announced payload",
        refused_buffer / 1024,
        FRAME_MAX / 1024
    );
    require(
        refused_buffer > 0 && refused_buffer <= FRAME_MAX,
        "the refused connection's buffer stays below the frame maximum",
    );
    require(
        stats.rejected.load(Ordering::Relaxed) == 2,
        "both oversized frames were refused",
    );
    println!("  whole walkthrough: {}", ms(started.elapsed()));
    servers.abort_all();
    Ok(())
}
