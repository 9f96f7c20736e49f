//! Line streams, `head` and `count_lines`.

use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::FsError;

/// Bytes read from the file per blocking call by [`read_lines`]: 256 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;

/// The longest line [`read_lines`] and [`head`] accept by default: 1 MiB
/// (without the terminator). A longer line ends the stream with
/// [`FsError::LineTooLong`], so one bad file cannot exhaust memory.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 1024 * 1024;

/// Bytes [`head`] reads per call: it never reads more than one block past
/// the end of the last line it returns.
const HEAD_BLOCK: usize = 8 * 1024;

/// How [`read_lines_with`] and [`read_byte_lines`] read a file.
///
/// ```
/// use aqueduct_io::fs::LineOptions;
/// let opts = LineOptions::new().chunk_size(1 << 20).max_line_length(4096).read_ahead(2);
/// assert_eq!(opts.get_chunk_size(), 1 << 20);
/// assert_eq!(opts.get_max_line_length(), 4096);
/// assert_eq!(opts.get_read_ahead(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineOptions {
    chunk_size: usize,
    max_line_length: usize,
    read_ahead: usize,
}

impl Default for LineOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl LineOptions {
    /// The defaults: 256 KiB chunks, lines up to 1 MiB, 4 chunks read ahead.
    ///
    /// ```
    /// use aqueduct_io::fs::{LineOptions, DEFAULT_CHUNK_SIZE};
    /// assert_eq!(LineOptions::new().get_chunk_size(), DEFAULT_CHUNK_SIZE);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            read_ahead: 4,
        }
    }

    /// Bytes read per blocking call (at least 4 KiB; values below are raised).
    ///
    /// ```
    /// use aqueduct_io::fs::LineOptions;
    /// assert_eq!(LineOptions::new().chunk_size(10).get_chunk_size(), 4096);
    /// ```
    #[must_use]
    pub const fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = if bytes < 4096 { 4096 } else { bytes };
        self
    }

    /// The longest accepted line, without its terminator (`usize::MAX`:
    /// no limit).
    ///
    /// ```
    /// use aqueduct_io::fs::LineOptions;
    /// assert_eq!(LineOptions::new().max_line_length(80).get_max_line_length(), 80);
    /// ```
    #[must_use]
    pub const fn max_line_length(mut self, bytes: usize) -> Self {
        self.max_line_length = bytes;
        self
    }

    /// How many chunks the reader thread may read ahead of the consumer
    /// (at least 1). Memory held is about `(read_ahead + 2) * chunk_size`.
    ///
    /// ```
    /// use aqueduct_io::fs::LineOptions;
    /// assert_eq!(LineOptions::new().read_ahead(0).get_read_ahead(), 1);
    /// ```
    #[must_use]
    pub const fn read_ahead(mut self, chunks: usize) -> Self {
        self.read_ahead = if chunks == 0 { 1 } else { chunks };
        self
    }

    /// The chunk size.
    ///
    /// ```
    /// # use aqueduct_io::fs::LineOptions;
    /// assert_eq!(LineOptions::default().get_chunk_size(), 256 * 1024);
    /// ```
    #[must_use]
    pub const fn get_chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The maximum line length.
    ///
    /// ```
    /// # use aqueduct_io::fs::LineOptions;
    /// assert_eq!(LineOptions::default().get_max_line_length(), 1024 * 1024);
    /// ```
    #[must_use]
    pub const fn get_max_line_length(&self) -> usize {
        self.max_line_length
    }

    /// The read-ahead depth, in chunks.
    ///
    /// ```
    /// # use aqueduct_io::fs::LineOptions;
    /// assert_eq!(LineOptions::default().get_read_ahead(), 4);
    /// ```
    #[must_use]
    pub const fn get_read_ahead(&self) -> usize {
        self.read_ahead
    }
}

enum Source {
    NotStarted,
    Running(mpsc::Receiver<Result<Bytes, FsError>>, JoinHandle<()>),
    Done,
}

/// Once the reader's channel is closed: `Ok` if the reader thread returned
/// (at the end of the file, or after sending its error), `TaskFailed` if it
/// panicked, so a failed reader never looks like the end of the file.
fn poll_reader_end(
    reader: &mut JoinHandle<()>,
    cx: &mut Context<'_>,
    path: &Path,
) -> Poll<Result<(), FsError>> {
    Poll::Ready(
        ready!(Pin::new(reader).poll(cx)).map_err(|_| FsError::TaskFailed {
            path: path.to_path_buf(),
        }),
    )
}

/// The engine shared by [`Lines`] and [`ByteLines`]: a reader on the
/// blocking pool sends chunks through a bounded channel; lines are cut out of
/// the current chunk without copying, except a line that spans two chunks.
struct Splitter {
    path: PathBuf,
    opts: LineOptions,
    source: Source,
    chunk: Bytes,
    partial: BytesMut,
    line: u64,
}

impl Splitter {
    fn new(path: PathBuf, opts: LineOptions) -> Self {
        Self {
            path,
            opts,
            source: Source::NotStarted,
            chunk: Bytes::new(),
            partial: BytesMut::new(),
            line: 0,
        }
    }

    fn start(&mut self) -> Source {
        let (tx, rx) = mpsc::channel(self.opts.read_ahead);
        let path = self.path.clone();
        let chunk = self.opts.chunk_size;
        // The reader stops as soon as the stream is dropped: `blocking_send`
        // fails once the receiver is gone.
        let reader = tokio::task::spawn_blocking(move || {
            read_chunks(&path, chunk, &tx);
        });
        Source::Running(rx, reader)
    }

    fn too_long(&mut self) -> FsError {
        self.source = Source::Done;
        self.chunk = Bytes::new();
        self.partial = BytesMut::new();
        FsError::LineTooLong {
            path: self.path.clone(),
            line: self.line + 1,
            max: self.opts.max_line_length,
        }
    }

    /// Ends the line gathered in `partial` (across chunks, or the last one
    /// before EOF) and checks the maximum. A final `\r` is dropped only if a
    /// `\n` followed it (`newline`): a lone `\r` at the end of the file is
    /// part of the line, as for std's `BufRead::lines`.
    fn take_partial(&mut self, newline: bool) -> Result<Bytes, FsError> {
        let mut line = self.partial.split().freeze();
        if newline && line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.opts.max_line_length {
            return Err(self.too_long());
        }
        self.line += 1;
        Ok(line)
    }

    /// Finds the next line. A line inside the current chunk is handed to
    /// `in_chunk` as the chunk and the line's length, without a copy or a
    /// reference-count update; a line that spanned chunks is handed to
    /// `joined`.
    fn poll_line<T>(
        &mut self,
        cx: &mut Context<'_>,
        in_chunk: impl FnOnce(&Bytes, usize) -> T,
        joined: impl FnOnce(Bytes) -> T,
    ) -> Poll<Option<Result<T, FsError>>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.chunk) {
                if self.partial.is_empty() {
                    let len = if i > 0 && self.chunk[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    if len > self.opts.max_line_length {
                        return Poll::Ready(Some(Err(self.too_long())));
                    }
                    let out = in_chunk(&self.chunk, len);
                    bytes::Buf::advance(&mut self.chunk, i + 1);
                    self.line += 1;
                    return Poll::Ready(Some(Ok(out)));
                }
                if self.partial.len() + i > self.opts.max_line_length.saturating_add(1) {
                    return Poll::Ready(Some(Err(self.too_long())));
                }
                self.partial.extend_from_slice(&self.chunk[..i]);
                bytes::Buf::advance(&mut self.chunk, i + 1);
                return Poll::Ready(Some(self.take_partial(true).map(joined)));
            }
            if !self.chunk.is_empty() {
                // `+ 1` leaves room for a `\r` that the next chunk's `\n` ends.
                if self.partial.len() + self.chunk.len()
                    > self.opts.max_line_length.saturating_add(1)
                {
                    return Poll::Ready(Some(Err(self.too_long())));
                }
                self.partial.extend_from_slice(&self.chunk);
                self.chunk = Bytes::new();
            }
            let (rx, reader) = match &mut self.source {
                Source::NotStarted => {
                    self.source = self.start();
                    continue;
                }
                Source::Running(rx, reader) => (rx, reader),
                Source::Done => return Poll::Ready(None),
            };
            match ready!(rx.poll_recv(cx)) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    self.source = Source::Done;
                    self.partial = BytesMut::new();
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let end = ready!(poll_reader_end(reader, cx, &self.path));
                    self.source = Source::Done;
                    if let Err(e) = end {
                        self.partial = BytesMut::new();
                        return Poll::Ready(Some(Err(e)));
                    }
                    if self.partial.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(self.take_partial(false).map(joined)));
                }
            }
        }
    }
}

/// Runs on the blocking pool: reads `chunk`-sized pieces until EOF, an error,
/// or until the receiving stream is dropped.
fn read_chunks(path: &Path, chunk: usize, tx: &mpsc::Sender<Result<Bytes, FsError>>) {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(source) => {
            let _ = tx.blocking_send(Err(FsError::Open {
                path: path.to_path_buf(),
                source,
            }));
            return;
        }
    };
    loop {
        let mut buf = Vec::with_capacity(chunk);
        // `read_to_end` fills the spare capacity without zeroing it first.
        match (&mut file).take(chunk as u64).read_to_end(&mut buf) {
            Ok(0) => return,
            Ok(_) => {
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            }
            Err(source) => {
                let _ = tx.blocking_send(Err(FsError::Read {
                    path: path.to_path_buf(),
                    source,
                }));
                return;
            }
        }
    }
}

/// A stream of the lines of a file as `String`s, without their `\n` or
/// `\r\n`. Made by [`read_lines`] and [`read_lines_with`].
///
/// Reading starts at the first poll. Dropping the stream stops the reader
/// thread after at most one more chunk.
pub struct Lines {
    path: PathBuf,
    opts: LineOptions,
    source: TextSource,
    /// Whole lines, validated as UTF-8 by the reader thread.
    chunk: String,
    pos: usize,
    line: u64,
}

enum TextSource {
    NotStarted,
    Running(mpsc::Receiver<Result<String, FsError>>, JoinHandle<()>),
    Done,
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines")
            .field("path", &self.path)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl Lines {
    /// The number of lines yielded so far.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures::StreamExt;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("a.txt");
    /// std::fs::write(&path, "x\ny\n").unwrap();
    /// let mut lines = aqueduct_io::fs::read_lines(&path);
    /// lines.next().await;
    /// assert_eq!(lines.line_number(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn line_number(&self) -> u64 {
        self.line
    }

    fn stop(&mut self) {
        self.source = TextSource::Done;
        self.chunk = String::new();
        self.pos = 0;
    }
}

impl Stream for Lines {
    type Item = Result<String, FsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.chunk.len() {
                let rest = &this.chunk.as_bytes()[this.pos..];
                let newline = memchr::memchr(b'\n', rest);
                let end = newline.unwrap_or(rest.len());
                // Cut next to a '\n' (or at the end): always a char boundary.
                let mut line = &this.chunk[this.pos..this.pos + end];
                this.pos += end + 1;
                // Only a `\r` before a `\n` is part of the terminator: the
                // last line of a file keeps a lone final `\r`, as std's does.
                if newline.is_some() {
                    line = line.strip_suffix('\r').unwrap_or(line);
                }
                if line.len() > this.opts.max_line_length {
                    let err = FsError::LineTooLong {
                        path: this.path.clone(),
                        line: this.line + 1,
                        max: this.opts.max_line_length,
                    };
                    this.stop();
                    return Poll::Ready(Some(Err(err)));
                }
                this.line += 1;
                return Poll::Ready(Some(Ok(line.to_owned())));
            }
            let (rx, reader) = match &mut this.source {
                TextSource::NotStarted => {
                    let (tx, rx) = mpsc::channel(this.opts.read_ahead);
                    let (path, opts) = (this.path.clone(), this.opts);
                    // The reader stops as soon as the stream is dropped.
                    let reader = tokio::task::spawn_blocking(move || {
                        read_text_chunks(&path, opts, &tx);
                    });
                    this.source = TextSource::Running(rx, reader);
                    continue;
                }
                TextSource::Running(rx, reader) => (rx, reader),
                TextSource::Done => return Poll::Ready(None),
            };
            match ready!(rx.poll_recv(cx)) {
                Some(Ok(chunk)) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
                Some(Err(e)) => {
                    this.stop();
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let end = ready!(poll_reader_end(reader, cx, &this.path));
                    this.stop();
                    return Poll::Ready(end.err().map(Err));
                }
            }
        }
    }
}

/// Runs on the blocking pool for [`Lines`]: reads chunks, cuts each after
/// its last line break (the tail is carried into the next chunk), and
/// validates it as UTF-8 in one pass, so the async side only splits and
/// copies. Stops at EOF, on an error, or when the stream is dropped.
fn read_text_chunks(path: &Path, opts: LineOptions, tx: &mpsc::Sender<Result<String, FsError>>) {
    let send = |item| tx.blocking_send(item).is_ok();
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(source) => {
            send(Err(FsError::Open {
                path: path.to_path_buf(),
                source,
            }));
            return;
        }
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut lines_before = 0u64;
    loop {
        // The carried bytes follow the last line break sent, so they hold
        // none: the chunk is read onto their end, and only the new bytes are
        // searched. A line spanning many chunks grows one buffer (doubling,
        // as a `Vec` does), not a fresh copy of itself per chunk.
        let mut buf = std::mem::take(&mut carry);
        let carried = buf.len();
        buf.reserve(opts.chunk_size);
        let n = match (&mut file)
            .take(opts.chunk_size as u64)
            .read_to_end(&mut buf)
        {
            Ok(n) => n,
            Err(source) => {
                send(Err(FsError::Read {
                    path: path.to_path_buf(),
                    source,
                }));
                return;
            }
        };
        let eof = n == 0;
        let cut = if eof {
            buf.len()
        } else if let Some(i) = memchr::memrchr(b'\n', &buf[carried..]) {
            carried + i + 1
        } else {
            // No line break yet: the line goes on into the next chunk.
            if buf.len() > opts.max_line_length.saturating_add(1) {
                send(Err(FsError::LineTooLong {
                    path: path.to_path_buf(),
                    line: lines_before + 1,
                    max: opts.max_line_length,
                }));
                return;
            }
            // Nothing is sent while a line goes on, so a dropped stream
            // would not be noticed by a send: check for it here.
            if tx.is_closed() {
                return;
            }
            carry = buf;
            continue;
        };
        carry.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        if buf.is_empty() {
            return; // EOF with nothing left
        }
        match String::from_utf8(buf) {
            Ok(text) => {
                lines_before += memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
                if !send(Ok(text)) {
                    return;
                }
            }
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                // Everything before the bad line is still delivered.
                let good = memchr::memrchr(b'\n', &bytes[..valid]).map_or(0, |i| i + 1);
                let line =
                    lines_before + memchr::memchr_iter(b'\n', &bytes[..good]).count() as u64 + 1;
                let end = memchr::memchr(b'\n', &bytes[good..]).map_or(bytes.len(), |i| good + i);
                let Err(source) = std::str::from_utf8(&bytes[good..end]) else {
                    return;
                };
                bytes.truncate(good);
                if let Ok(text) = String::from_utf8(bytes) {
                    if !text.is_empty() && !send(Ok(text)) {
                        return;
                    }
                }
                send(Err(FsError::InvalidUtf8 {
                    path: path.to_path_buf(),
                    line,
                    source,
                }));
                return;
            }
        }
        if eof {
            return;
        }
    }
}

/// A stream of the lines of a file as [`Bytes`], without their `\n` or
/// `\r\n` and without a copy per line (each line is a slice of a shared
/// chunk). Made by [`read_byte_lines`].
pub struct ByteLines {
    inner: Splitter,
}

impl fmt::Debug for ByteLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteLines")
            .field("path", &self.inner.path)
            .field("line", &self.inner.line)
            .finish_non_exhaustive()
    }
}

impl Stream for ByteLines {
    type Item = Result<Bytes, FsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .inner
            .poll_line(cx, |chunk, len| chunk.slice(..len), |line| line)
    }
}

/// Streams the lines of the file at `path`, with the default [`LineOptions`].
///
/// The file is read in 256 KiB chunks on Tokio's blocking pool, where each
/// chunk is also cut at its last line break and validated as UTF-8 in one
/// pass, while the async side splits the previous chunk into lines: reading,
/// validating and splitting overlap, and there is one blocking hop per chunk
/// rather than one per small read. Lines are
/// returned without their `\n` or `\r\n`; a last line without a terminator is
/// returned too. As with std's `BufRead::lines`, a `\r` is dropped only
/// before a `\n`: a last line that ends in a lone `\r` keeps it.
///
/// Opening happens at the first poll: a missing file shows up as the first
/// item, [`FsError::Open`]. After any error the stream ends.
///
/// # Errors
///
/// Items are [`FsError::Open`], [`FsError::Read`], [`FsError::LineTooLong`]
/// (longer than 1 MiB), [`FsError::InvalidUtf8`] or [`FsError::TaskFailed`]
/// (the reader thread panicked).
///
/// # Panics
///
/// Polling the stream outside a Tokio runtime panics.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures::TryStreamExt;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.txt");
/// std::fs::write(&path, "one\r\ntwo\nthree").unwrap();
/// let lines: Vec<String> = aqueduct_io::fs::read_lines(&path).try_collect().await.unwrap();
/// assert_eq!(lines, ["one", "two", "three"]);
/// // A lone `\r` at the very end is not a terminator.
/// std::fs::write(&path, "one\r\ntwo\r").unwrap();
/// let lines: Vec<String> = aqueduct_io::fs::read_lines(&path).try_collect().await.unwrap();
/// assert_eq!(lines, ["one", "two\r"]);
/// # }
/// ```
pub fn read_lines(path: impl AsRef<Path>) -> Lines {
    read_lines_with(path, LineOptions::new())
}

/// Like [`read_lines`], with the given options.
///
/// # Errors
///
/// As [`read_lines`]; [`FsError::LineTooLong`] names `opts`' maximum.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_io::fs::{read_lines_with, FsError, LineOptions};
/// use futures::StreamExt;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.txt");
/// std::fs::write(&path, "short\nthis one is too long\n").unwrap();
/// let mut lines = read_lines_with(&path, LineOptions::new().max_line_length(8));
/// assert_eq!(lines.next().await.unwrap().unwrap(), "short");
/// assert!(matches!(lines.next().await, Some(Err(FsError::LineTooLong { line: 2, max: 8, .. }))));
/// assert!(lines.next().await.is_none());
/// # }
/// ```
pub fn read_lines_with(path: impl AsRef<Path>, opts: LineOptions) -> Lines {
    Lines {
        path: path.as_ref().to_path_buf(),
        opts,
        source: TextSource::NotStarted,
        chunk: String::new(),
        pos: 0,
        line: 0,
    }
}

/// Streams the lines of the file at `path` as [`Bytes`], without UTF-8
/// validation and without a copy per line. Lines are cut as by
/// [`read_lines`]: without their `\n` or `\r\n`, a lone `\r` at the end of
/// the file kept.
///
/// # Errors
///
/// Items are [`FsError::Open`], [`FsError::Read`], [`FsError::LineTooLong`]
/// or [`FsError::TaskFailed`] (the reader thread panicked).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_io::fs::{read_byte_lines, LineOptions};
/// use futures::TryStreamExt;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.bin");
/// std::fs::write(&path, b"\xff\xfe\nok\n").unwrap();
/// let lines: Vec<_> = read_byte_lines(&path, LineOptions::new()).try_collect().await.unwrap();
/// assert_eq!(lines, [&b"\xff\xfe"[..], b"ok"]);
/// # }
/// ```
pub fn read_byte_lines(path: impl AsRef<Path>, opts: LineOptions) -> ByteLines {
    ByteLines {
        inner: Splitter::new(path.as_ref().to_path_buf(), opts),
    }
}

enum HeadError {
    Io(io::Error),
    Utf8 {
        line: u64,
        source: std::str::Utf8Error,
    },
    TooLong {
        line: u64,
    },
}

async fn head_inner<R: AsyncRead + Unpin>(
    mut reader: R,
    n: usize,
    max: usize,
) -> Result<Vec<String>, HeadError> {
    let mut out = Vec::with_capacity(n.min(1024));
    if n == 0 {
        return Ok(out);
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut start = 0; // start of the current line in `buf`
    let mut scanned = 0; // bytes of `buf` already searched for '\n'
    loop {
        while let Some(i) = memchr::memchr(b'\n', &buf[scanned..]) {
            let end = scanned + i;
            push_head_line(&mut out, &buf[start..end], true, max)?;
            if out.len() == n {
                return Ok(out);
            }
            start = end + 1;
            scanned = start;
        }
        scanned = buf.len();
        if buf.len() - start > max + 1 {
            return Err(HeadError::TooLong {
                line: out.len() as u64 + 1,
            });
        }
        // Drop consumed bytes so memory stays at one line plus one block.
        if start > 0 {
            buf.drain(..start);
            scanned -= start;
            start = 0;
        }
        let len = buf.len();
        buf.resize(len + HEAD_BLOCK, 0);
        let got = reader.read(&mut buf[len..]).await.map_err(HeadError::Io)?;
        buf.truncate(len + got);
        if got == 0 {
            if start < buf.len() {
                push_head_line(&mut out, &buf[start..], false, max)?;
            }
            return Ok(out);
        }
    }
}

/// Appends one line read by `head` (without its `\n`), numbered after the
/// lines already in `out`. A trailing `\r` is dropped if a `\n` ended the
/// line (`newline`); the last line of the input keeps a lone final `\r`.
fn push_head_line(
    out: &mut Vec<String>,
    line: &[u8],
    newline: bool,
    max: usize,
) -> Result<(), HeadError> {
    let line = if newline {
        line.strip_suffix(b"\r").unwrap_or(line)
    } else {
        line
    };
    let number = out.len() as u64 + 1;
    if line.len() > max {
        return Err(HeadError::TooLong { line: number });
    }
    let s = std::str::from_utf8(line).map_err(|source| HeadError::Utf8 {
        line: number,
        source,
    })?;
    out.push(s.to_owned());
    Ok(())
}

/// Returns the first `n` lines of the file at `path` (fewer if the file is
/// shorter), reading only what it needs: 8 KiB at a time, stopping at the
/// `n`th line break. Lines are cut as by [`read_lines`]: without their `\n`
/// or `\r\n`, a lone `\r` at the end of the file kept.
///
/// # Errors
///
/// [`FsError::Open`], [`FsError::Read`], [`FsError::InvalidUtf8`] or
/// [`FsError::LineTooLong`] (a line over 1 MiB).
///
/// # Cancel safety
///
/// Cancel safe: dropping the future closes the file; nothing is written.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.txt");
/// std::fs::write(&path, "1\n2\n3\n4\n").unwrap();
/// assert_eq!(aqueduct_io::fs::head(&path, 2).await.unwrap(), ["1", "2"]);
/// assert_eq!(aqueduct_io::fs::head(&path, 10).await.unwrap().len(), 4);
/// # }
/// ```
pub async fn head(path: impl AsRef<Path>, n: usize) -> Result<Vec<String>, FsError> {
    let path = path.as_ref();
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| FsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    head_inner(file, n, DEFAULT_MAX_LINE_LENGTH)
        .await
        .map_err(|e| match e {
            HeadError::Io(source) => FsError::Read {
                path: path.to_path_buf(),
                source,
            },
            HeadError::Utf8 { line, source } => FsError::InvalidUtf8 {
                path: path.to_path_buf(),
                line,
                source,
            },
            HeadError::TooLong { line } => FsError::LineTooLong {
                path: path.to_path_buf(),
                line,
                max: DEFAULT_MAX_LINE_LENGTH,
            },
        })
}

/// Like [`head`], from any reader: a socket, a pipe, a decompressor.
///
/// # Errors
///
/// The reader's errors; a line that is not UTF-8 or longer than 1 MiB is
/// [`io::ErrorKind::InvalidData`].
///
/// # Cancel safety
///
/// Not cancel safe: bytes already read from `reader` are lost if the future is
/// dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let input: &[u8] = b"a\nb\nc\n";
/// assert_eq!(aqueduct_io::fs::head_from(input, 2).await.unwrap(), ["a", "b"]);
/// # }
/// ```
pub async fn head_from<R: AsyncRead + Unpin>(reader: R, n: usize) -> io::Result<Vec<String>> {
    head_inner(reader, n, DEFAULT_MAX_LINE_LENGTH)
        .await
        .map_err(|e| match e {
            HeadError::Io(e) => e,
            HeadError::Utf8 { line, source } => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {line} is not valid UTF-8: {source}"),
            ),
            HeadError::TooLong { line } => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {line} is longer than {DEFAULT_MAX_LINE_LENGTH} bytes"),
            ),
        })
}

/// Counts the lines of the file at `path` in one blocking hop, reading
/// 256 KiB at a time. A last line without a terminator counts.
///
/// # Errors
///
/// [`FsError::Open`], [`FsError::Read`], or [`FsError::TaskFailed`] if the
/// blocking task could not finish.
///
/// # Cancel safety
///
/// Cancel safe: the count is lost, nothing else. The blocking read runs to
/// completion in the background.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.txt");
/// std::fs::write(&path, "1\n2\n3").unwrap();
/// assert_eq!(aqueduct_io::fs::count_lines(&path).await.unwrap(), 3);
/// # }
/// ```
pub async fn count_lines(path: impl AsRef<Path>) -> Result<u64, FsError> {
    let path = path.as_ref().to_path_buf();
    let p = path.clone();
    tokio::task::spawn_blocking(move || count_lines_blocking(&p))
        .await
        .unwrap_or(Err(FsError::TaskFailed { path }))
}

fn count_lines_blocking(path: &Path) -> Result<u64, FsError> {
    let mut file = std::fs::File::open(path).map_err(|source| FsError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut buf = vec![0u8; DEFAULT_CHUNK_SIZE];
    let mut count = 0u64;
    let mut last = b'\n';
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(FsError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        last = buf[n - 1];
    }
    if last != b'\n' {
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{StreamExt, TryStreamExt};

    async fn collect(content: &[u8], opts: LineOptions) -> Result<Vec<Bytes>, FsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        read_byte_lines(&path, opts).try_collect().await
    }

    #[tokio::test]
    async fn lines_spanning_chunks_are_joined() {
        let mut content = Vec::new();
        for i in 0..5000 {
            content.extend_from_slice(format!("line number {i}\r\n").as_bytes());
        }
        let lines = collect(&content, LineOptions::new().chunk_size(4096))
            .await
            .unwrap();
        assert_eq!(lines.len(), 5000);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l, format!("line number {i}").as_bytes());
        }
    }

    #[tokio::test]
    async fn only_a_cr_before_a_newline_is_stripped() {
        let opts = LineOptions::new().chunk_size(4096);
        // A lone `\r` at the end of the file is part of the last line.
        let l = collect(b"a\nb\r", opts).await.unwrap();
        assert_eq!(l, [&b"a"[..], b"b\r"]);
        assert_eq!(collect(b"\r", opts).await.unwrap(), [&b"\r"[..]]);
        // A `\r` that ends one chunk, its `\n` starting the next, is a `\r\n`.
        let mut content = vec![b'x'; 4095];
        content.extend_from_slice(b"\r\nend\r");
        let l = collect(&content, opts).await.unwrap();
        assert_eq!(l, [&content[..4095], b"end\r"]);
        // The same for the text lines, and for `head`, whose reads are 8 KiB.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &content).unwrap();
        let text: Vec<String> = read_lines_with(&path, opts).try_collect().await.unwrap();
        assert_eq!(text, ["x".repeat(4095), "end\r".to_owned()]);
        let mut content = vec![b'x'; HEAD_BLOCK - 1];
        content.extend_from_slice(b"\r\nend\r");
        let l = head_from(&content[..], 10).await.unwrap();
        assert_eq!(l, ["x".repeat(HEAD_BLOCK - 1), "end\r".to_owned()]);
    }

    #[tokio::test]
    async fn empty_file_and_empty_lines() {
        assert!(collect(b"", LineOptions::new()).await.unwrap().is_empty());
        let l = collect(b"\n\nx", LineOptions::new()).await.unwrap();
        assert_eq!(l, [&b""[..], b"", b"x"]);
    }

    #[tokio::test]
    async fn long_line_across_chunks_is_refused() {
        let mut content = b"ok\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 10_000));
        content.push(b'\n');
        let err = collect(
            &content,
            LineOptions::new().chunk_size(4096).max_line_length(5000),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                FsError::LineTooLong {
                    line: 2,
                    max: 5000,
                    ..
                }
            ),
            "{err:?}"
        );
        // Exactly at the limit is fine, with or without `\r`.
        let mut content = vec![b'y'; 5000];
        content.extend_from_slice(b"\r\n");
        let l = collect(
            &content,
            LineOptions::new().chunk_size(4096).max_line_length(5000),
        )
        .await
        .unwrap();
        assert_eq!(l[0].len(), 5000);
    }

    #[tokio::test]
    async fn missing_file_is_first_item() {
        let err = collect_missing().await;
        assert!(matches!(err, FsError::Open { .. }));
    }

    async fn collect_missing() -> FsError {
        read_lines("/no/such/file/here")
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn invalid_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"a\nb\n\xff\n").unwrap();
        let err = read_lines(&path).try_collect::<Vec<_>>().await.unwrap_err();
        assert!(
            matches!(err, FsError::InvalidUtf8 { line: 3, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn count_matches_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "a\n\nb\nc").unwrap();
        assert_eq!(count_lines(&path).await.unwrap(), 4);
        std::fs::write(&path, "").unwrap();
        assert_eq!(count_lines(&path).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn text_lines_deliver_everything_before_bad_utf8_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut content = Vec::new();
        for i in 0..3000 {
            content.extend_from_slice(format!("héllo {i}\r\n").as_bytes());
        }
        content.extend_from_slice(b"bad \xc3\x28 line\nafter\n");
        std::fs::write(&path, &content).unwrap();
        let mut lines = read_lines_with(&path, LineOptions::new().chunk_size(4096));
        let mut n = 0;
        let err = loop {
            match futures::StreamExt::next(&mut lines).await {
                Some(Ok(l)) => {
                    assert_eq!(l, format!("héllo {n}"));
                    n += 1;
                }
                Some(Err(e)) => break e,
                None => panic!("no error"),
            }
        };
        assert_eq!(n, 3000);
        assert!(
            matches!(err, FsError::InvalidUtf8 { line: 3001, .. }),
            "{err:?}"
        );
        assert!(futures::StreamExt::next(&mut lines).await.is_none());
    }

    #[tokio::test]
    async fn text_lines_refuse_a_line_longer_than_the_limit_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut content = b"a\nb\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 20_000));
        std::fs::write(&path, &content).unwrap();
        let got: Vec<_> = read_lines_with(
            &path,
            LineOptions::new().chunk_size(4096).max_line_length(10_000),
        )
        .collect::<Vec<_>>()
        .await;
        assert_eq!(got.len(), 3);
        assert!(
            matches!(
                got[2],
                Err(FsError::LineTooLong {
                    line: 3,
                    max: 10_000,
                    ..
                })
            ),
            "{:?}",
            got[2]
        );
        // At the limit, without a final newline, is fine.
        std::fs::write(&path, vec![b'y'; 10_000]).unwrap();
        let got: Vec<String> = read_lines_with(
            &path,
            LineOptions::new().chunk_size(4096).max_line_length(10_000),
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(got[0].len(), 10_000);
    }
}
