//! The client: pooled connections (`aqueduct::pool::Pool`), each request
//! under a deadline that travels in the frame header, retried with backoff
//! (`Retry`) through a circuit breaker (`CircuitBreaker`).
//!
//! ```text
//! Deadline::run( Retry::run( CircuitBreaker::call( pool.get → send → receive ) ) )
//! ```
//!
//! The breaker sits inside the retry so that each attempt is one call to
//! the breaker, and a breaker that is open stops the retries at once.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use aqueduct::framing::{FrameError, LengthPrefixedCodec};
use aqueduct::io::net::{NetError, tcp};
use aqueduct::pool::{Manager, Meta, Pool, PoolError};
use aqueduct::resilience::breaker::{BreakerError, Rejected};
use aqueduct::resilience::retry::Action;
use aqueduct::resilience::{Backoff, CircuitBreaker, Deadline, Jitter, Retry, RetryError};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::protocol::{MAX_KEY, Op, ProtocolError, Request, Response, Status, codec};

/// A pooled connection.
#[derive(Debug)]
pub(crate) struct Conn {
    framed: Framed<TcpStream, LengthPrefixedCodec>,
    /// A request went out and its answer has not been read: the connection
    /// is out of step and must not be reused.
    in_flight: bool,
}

/// Opens connections to the server, and checks them.
#[derive(Debug)]
pub(crate) struct ConnManager {
    addr: SocketAddr,
    connects: AtomicU64,
}

/// Whether the peer closed `stream` or sent bytes nobody asked for. Does
/// not wait.
fn is_stale(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    // Pending: nothing to read, the connection is idle and open. Ready:
    // end of stream, an error, or stray bytes; none is fit for a request.
    stream.poll_peek(&mut cx, &mut buf).is_ready()
}

impl Manager for ConnManager {
    type Object = Conn;
    type Error = NetError;

    async fn create(&self) -> Result<Conn, NetError> {
        let stream = tcp::connect(self.addr, Duration::from_secs(1)).await?;
        self.connects.fetch_add(1, Ordering::Relaxed);
        Ok(Conn {
            framed: Framed::new(stream, codec()),
            in_flight: false,
        })
    }

    /// At checkout: a connection the server closed while it sat idle (its
    /// idle timeout, a restart) is replaced before anyone writes to it.
    async fn recycle(&self, conn: &mut Conn, _meta: &Meta) -> Result<(), NetError> {
        if is_stale(conn.framed.get_ref()) {
            return Err(NetError::Io {
                addr: self.addr.to_string(),
                source: io::Error::from(io::ErrorKind::ConnectionReset),
            });
        }
        Ok(())
    }

    fn is_broken(&self, conn: &Conn) -> bool {
        conn.in_flight || !conn.framed.read_buffer().is_empty()
    }
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// No connection from the pool (connect refused, pool wait timeout).
    Pool(PoolError<NetError>),
    /// The connection failed or closed mid-request.
    Frame(FrameError),
    /// The server closed the connection before answering.
    Closed,
    /// The answer did not parse, or answered another request.
    Protocol(ProtocolError),
    /// The server answered with an error status.
    Server { status: Status, message: String },
    /// The circuit breaker is open: the request was not sent.
    BreakerOpen(Rejected),
    /// The request's deadline passed.
    DeadlineExceeded,
    /// Every attempt failed; the last error.
    GaveUp {
        attempts: u32,
        last: Box<ClientError>,
    },
    /// The key is longer than the protocol allows.
    KeyTooLong { len: usize, max: usize },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pool(e) => match std::error::Error::source(e) {
                Some(inner) => write!(f, "no connection: {e}: {inner}"),
                None => write!(f, "no connection: {e}"),
            },
            Self::Frame(e) => write!(f, "connection failed: {e}"),
            Self::Closed => write!(f, "the server closed the connection"),
            Self::Protocol(e) => write!(f, "bad answer: {e}"),
            Self::Server { status, message } => write!(f, "server said {status:?}: {message}"),
            Self::BreakerOpen(r) => write!(f, "not sent: {r}"),
            Self::DeadlineExceeded => write!(f, "deadline exceeded"),
            Self::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts: {last}")
            }
            Self::KeyTooLong { len, max } => write!(f, "key of {len} bytes, at most {max}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// Whether another attempt may succeed.
    fn is_transient(&self) -> bool {
        match self {
            Self::Pool(_) | Self::Frame(_) | Self::Closed => true,
            Self::Server { status, .. } => *status == Status::Unavailable,
            _ => false,
        }
    }

    /// Whether the breaker counts it against the server. A bad request is
    /// the caller's fault, not the server's.
    fn is_failure(&self) -> bool {
        !matches!(
            self,
            Self::Server {
                status: Status::BadRequest,
                ..
            } | Self::KeyTooLong { .. }
        )
    }
}

fn classify(e: &BreakerError<ClientError>) -> Action {
    match e {
        BreakerError::Inner(e) if e.is_transient() => Action::Retry,
        _ => Action::Stop,
    }
}

fn counts_as_failure(e: &ClientError) -> bool {
    e.is_failure()
}

type Breaker = CircuitBreaker<fn(&ClientError) -> bool>;
type Policy = Retry<fn(&BreakerError<ClientError>) -> Action>;

/// How the client is set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientConfig {
    pub(crate) pool_size: usize,
    pub(crate) attempts: u32,
    pub(crate) backoff: Duration,
    pub(crate) breaker_failures: u32,
    pub(crate) breaker_open: Duration,
}

/// A key-value client; cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct KvClient {
    pool: Pool<ConnManager>,
    retry: Policy,
    breaker: Breaker,
    next_id: AtomicU32,
    attempts: AtomicU64,
}

impl KvClient {
    /// A client of the server at `addr`. Connections are opened lazily.
    pub(crate) fn new(addr: SocketAddr, config: ClientConfig) -> Self {
        let manager = ConnManager {
            addr,
            connects: AtomicU64::new(0),
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Duration::from_secs(2))
            .create_timeout(Duration::from_secs(1))
            .recycle_timeout(Duration::from_millis(100))
            .build_lazy()
            .unwrap_or_else(|e| panic!("pool configuration: {e}"));
        let retry = Retry::new()
            .max_attempts(config.attempts)
            .backoff(
                Backoff::exponential(config.backoff)
                    .jitter(Jitter::Full)
                    .max_delay(config.backoff * 8),
            )
            .classify(classify as fn(&BreakerError<ClientError>) -> Action);
        let breaker = CircuitBreaker::builder()
            .consecutive_failures(config.breaker_failures)
            .open_duration(config.breaker_open)
            .half_open_probes(1)
            .classify(counts_as_failure as fn(&ClientError) -> bool)
            .build();
        Self {
            pool,
            retry,
            breaker,
            next_id: AtomicU32::new(1),
            attempts: AtomicU64::new(0),
        }
    }

    /// The breaker, to show its state.
    pub(crate) fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Connections opened so far, and attempts sent (retries included).
    pub(crate) fn counters(&self) -> (u64, u64) {
        (
            self.pool.manager().connects.load(Ordering::Relaxed),
            self.attempts.load(Ordering::Relaxed),
        )
    }

    /// Closes the pool's connections.
    pub(crate) async fn close(&self) {
        let _ = self.pool.close().await;
    }

    /// The value of `key`, `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`ClientError`] saying why no answer came.
    pub(crate) async fn get(
        &self,
        key: &[u8],
        timeout: Duration,
    ) -> Result<Option<Bytes>, ClientError> {
        let r = self.request(Op::Get, key, Bytes::new(), timeout).await?;
        Ok((r.status == Status::Ok).then_some(r.body))
    }

    /// Sets `key` to `value`; `Ok` means the write is on the server's disk.
    ///
    /// # Errors
    ///
    /// [`ClientError`] saying why no acknowledgement came (the write may
    /// or may not have been applied).
    pub(crate) async fn put(
        &self,
        key: &[u8],
        value: Bytes,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        self.request(Op::Put, key, value, timeout).await.map(drop)
    }

    async fn request(
        &self,
        op: Op,
        key: &[u8],
        value: Bytes,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        if key.len() > MAX_KEY {
            return Err(ClientError::KeyTooLong {
                len: key.len(),
                max: MAX_KEY,
            });
        }
        let key = Bytes::copy_from_slice(key);
        let attempt = || {
            let (key, value) = (key.clone(), value.clone());
            self.breaker.call(move || self.once(op, key, value))
        };
        match Deadline::after(timeout).run(self.retry.run(attempt)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(flatten(e)),
            Err(_) => Err(ClientError::DeadlineExceeded),
        }
    }

    /// One attempt: a pooled connection, one request, one answer.
    async fn once(&self, op: Op, key: Bytes, value: Bytes) -> Result<Response, ClientError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get().await.map_err(ClientError::Pool)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // The time left, for the server: it drops work nobody waits for.
        let timeout = Deadline::current()
            .map(|d| d.to_header_value())
            .unwrap_or_default();
        let req = Request {
            op,
            id,
            timeout,
            key,
            value,
        };
        conn.in_flight = true;
        conn.framed
            .send(req.encode())
            .await
            .map_err(ClientError::Frame)?;
        let frame = conn
            .framed
            .next()
            .await
            .ok_or(ClientError::Closed)?
            .map_err(ClientError::Frame)?;
        conn.in_flight = false;
        let resp = Response::decode(frame).map_err(ClientError::Protocol)?;
        if resp.id != id {
            conn.in_flight = true; // out of step: drop this connection
            return Err(ClientError::Protocol(ProtocolError::WrongId {
                expected: id,
                got: resp.id,
            }));
        }
        match resp.status {
            Status::Ok | Status::NotFound => Ok(resp),
            status => Err(ClientError::Server {
                status,
                message: String::from_utf8_lossy(&resp.body).into_owned(),
            }),
        }
    }
}

fn flatten(e: RetryError<BreakerError<ClientError>>) -> ClientError {
    let attempts = e.attempts();
    let exhausted = matches!(
        e,
        RetryError::Exhausted { .. } | RetryError::BudgetExhausted { .. }
    );
    let deadline = matches!(e, RetryError::DeadlineExceeded { .. });
    let last = match e.into_last() {
        Some(BreakerError::Inner(e)) => e,
        Some(BreakerError::Rejected(r)) => ClientError::BreakerOpen(r),
        Some(_) | None => ClientError::DeadlineExceeded,
    };
    if deadline {
        ClientError::DeadlineExceeded
    } else if exhausted && attempts > 1 {
        ClientError::GaveUp {
            attempts,
            last: Box::new(last),
        }
    } else {
        last
    }
}
