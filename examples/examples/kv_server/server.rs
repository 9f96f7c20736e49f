//! The server: `aqueduct::io::net::Server` (connection limit, idle timeout,
//! graceful shutdown) running one handler per connection that reads
//! length-prefixed requests and answers each in turn.

use std::net::SocketAddr;
use std::time::Duration;

use aqueduct::framing::FrameError;
use aqueduct::io::net::{Connection, NetError, Server, ServerHandle};
use aqueduct::resilience::Deadline;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::protocol::{Op, Request, Response, Status, codec};
use crate::store::{Store, StoreError};

/// How the server is set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerConfig {
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) shutdown_grace: Duration,
}

/// Binds `addr` and serves `store` until the handle is shut down.
///
/// # Errors
///
/// The address cannot be bound.
pub(crate) async fn start(
    addr: SocketAddr,
    store: Store,
    config: ServerConfig,
) -> Result<ServerHandle<SocketAddr>, NetError> {
    let server = Server::builder()
        .max_connections(config.max_connections)
        .idle_timeout(config.idle_timeout)
        .shutdown_grace(config.shutdown_grace)
        .bind(addr)
        .await?;
    Ok(server.serve(move |conn| serve_connection(conn, store.clone())))
}

async fn serve_connection(conn: Connection<TcpStream>, store: Store) -> Result<(), FrameError> {
    let stop = conn.shutdown_token().clone();
    let mut framed = Framed::new(conn, codec());
    loop {
        // Shutdown first: a request being answered is finished, but no new
        // one is started once the server is shutting down.
        let frame = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(()),
            frame = framed.next() => frame,
        };
        let Some(frame) = frame else { return Ok(()) };
        let reply = answer(&store, frame?).await;
        framed.send(reply.encode()).await?;
    }
}

async fn answer(store: &Store, frame: bytes::Bytes) -> Response {
    let req = match Request::decode(frame) {
        Ok(r) => r,
        Err(e) => return Response::new(Status::BadRequest, 0, e.to_string()),
    };
    let id = req.id;
    let deadline = if req.timeout.is_empty() {
        None
    } else {
        match Deadline::from_header_value(&req.timeout) {
            Ok(d) => Some(d),
            Err(e) => return Response::new(Status::BadRequest, id, e.to_string()),
        }
    };
    if deadline.is_some_and(|d| d.is_expired()) {
        return Response::new(Status::DeadlineExceeded, id, "deadline passed on arrival");
    }
    let value = match req.op {
        Op::Get => {
            return match store.get(&req.key) {
                Some(v) => Response::new(Status::Ok, id, v),
                None => Response::new(Status::NotFound, id, bytes::Bytes::new()),
            };
        }
        Op::Put => Some(req.value),
        Op::Delete => None,
    };
    match store.write(req.key, value, deadline).await {
        Ok(()) => Response::new(Status::Ok, id, bytes::Bytes::new()),
        Err(StoreError::DeadlineExceeded) => Response::new(
            Status::DeadlineExceeded,
            id,
            StoreError::DeadlineExceeded.to_string(),
        ),
        Err(e) => Response::new(Status::Unavailable, id, e.to_string()),
    }
}
