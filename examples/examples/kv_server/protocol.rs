//! The wire protocol: one request or response per length-prefixed frame
//! (`aqueduct::framing::LengthPrefixedCodec`, 4-byte big-endian length).
//!
//! ```text
//! request:  op u8 | id u32 | n u8 | timeout (n ASCII bytes, grpc-timeout) | key len u16 | key | value
//! response: status u8 | id u32 | body (the value of a GET, or an error text)
//! ```
//!
//! The timeout field carries the time the client has left, encoded with
//! `Deadline::to_header_value` and decoded by the server with
//! `Deadline::from_header_value` (an empty field means no deadline).

use std::fmt;

use aqueduct::framing::LengthPrefixedCodec;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The largest frame either side accepts.
pub(crate) const MAX_FRAME: usize = 64 * 1024;
/// The longest key.
pub(crate) const MAX_KEY: usize = 1024;

/// The codec both sides use: a 4-byte length, frames of at most 64 KiB.
pub(crate) fn codec() -> LengthPrefixedCodec {
    LengthPrefixedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .build()
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Get = 1,
    Put = 2,
    Delete = 3,
}

/// A decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) id: u32,
    /// The `grpc-timeout` value, empty if the client set no deadline.
    pub(crate) timeout: String,
    pub(crate) key: Bytes,
    pub(crate) value: Bytes,
}

/// How the server answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Ok = 0,
    NotFound = 1,
    DeadlineExceeded = 2,
    BadRequest = 3,
    Unavailable = 4,
}

/// A decoded response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: Status,
    pub(crate) id: u32,
    pub(crate) body: Bytes,
}

/// A frame that is not a valid request or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    /// The frame ends before the field named.
    Short { field: &'static str, len: usize },
    /// An unknown op or status byte.
    UnknownCode { field: &'static str, code: u8 },
    /// The timeout field is not ASCII.
    BadTimeout,
    /// The key is longer than [`MAX_KEY`].
    KeyTooLong { len: usize, max: usize },
    /// A response to another request than the one sent.
    WrongId { expected: u32, got: u32 },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short { field, len } => write!(f, "frame of {len} bytes ends before the {field}"),
            Self::UnknownCode { field, code } => write!(f, "unknown {field} {code}"),
            Self::BadTimeout => write!(f, "timeout field is not ASCII"),
            Self::KeyTooLong { len, max } => write!(f, "key of {len} bytes, at most {max}"),
            Self::WrongId { expected, got } => {
                write!(f, "answer to request {got}, expected {expected}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

fn need(buf: &Bytes, n: usize, field: &'static str, len: usize) -> Result<(), ProtocolError> {
    if buf.remaining() < n {
        Err(ProtocolError::Short { field, len })
    } else {
        Ok(())
    }
}

impl Request {
    /// Encodes the request into one frame payload.
    pub(crate) fn encode(&self) -> Bytes {
        let timeout = self.timeout.as_bytes();
        let mut out =
            BytesMut::with_capacity(8 + timeout.len() + self.key.len() + self.value.len());
        out.put_u8(self.op as u8);
        out.put_u32(self.id);
        let n = timeout.len().min(usize::from(u8::MAX));
        out.put_u8(u8::try_from(n).unwrap_or(u8::MAX));
        out.put_slice(&timeout[..n]);
        out.put_u16(u16::try_from(self.key.len()).unwrap_or(u16::MAX));
        out.put_slice(&self.key);
        out.put_slice(&self.value);
        out.freeze()
    }

    /// Decodes one frame payload (keys and values are slices of it, no copy).
    pub(crate) fn decode(mut buf: Bytes) -> Result<Self, ProtocolError> {
        let len = buf.len();
        need(&buf, 6, "header", len)?;
        let op = match buf.get_u8() {
            1 => Op::Get,
            2 => Op::Put,
            3 => Op::Delete,
            code => return Err(ProtocolError::UnknownCode { field: "op", code }),
        };
        let id = buf.get_u32();
        let n = usize::from(buf.get_u8());
        need(&buf, n + 2, "timeout", len)?;
        let timeout = std::str::from_utf8(&buf.split_to(n))
            .ok()
            .filter(|s| s.is_ascii())
            .ok_or(ProtocolError::BadTimeout)?
            .to_owned();
        let klen = usize::from(buf.get_u16());
        if klen > MAX_KEY {
            return Err(ProtocolError::KeyTooLong {
                len: klen,
                max: MAX_KEY,
            });
        }
        need(&buf, klen, "key", len)?;
        let key = buf.split_to(klen);
        Ok(Self {
            op,
            id,
            timeout,
            key,
            value: buf,
        })
    }
}

impl Response {
    /// A response with a body.
    pub(crate) fn new(status: Status, id: u32, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            id,
            body: body.into(),
        }
    }

    /// Encodes the response into one frame payload.
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(5 + self.body.len());
        out.put_u8(self.status as u8);
        out.put_u32(self.id);
        out.put_slice(&self.body);
        out.freeze()
    }

    /// Decodes one frame payload.
    pub(crate) fn decode(mut buf: Bytes) -> Result<Self, ProtocolError> {
        let len = buf.len();
        need(&buf, 5, "header", len)?;
        let status = match buf.get_u8() {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::DeadlineExceeded,
            3 => Status::BadRequest,
            4 => Status::Unavailable,
            code => {
                return Err(ProtocolError::UnknownCode {
                    field: "status",
                    code,
                });
            }
        };
        let id = buf.get_u32();
        Ok(Self {
            status,
            id,
            body: buf,
        })
    }
}
