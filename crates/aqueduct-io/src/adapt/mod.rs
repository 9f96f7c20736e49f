//! `AsyncRead`/`AsyncWrite` adapters: transform bytes as they pass
//! ([`MapRead`], [`MapWrite`]) and count them ([`CountingRead`],
//! [`CountingWrite`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use aqueduct_io::adapt::{CountingRead, MapRead};
//! use tokio::io::AsyncReadExt;
//!
//! let input: &[u8] = b"shout this";
//! let mut reader = CountingRead::new(MapRead::new(input, |b: &mut [u8]| b.make_ascii_uppercase()));
//! let counter = reader.counter();
//! let mut out = String::new();
//! reader.read_to_string(&mut out).await.unwrap();
//! assert_eq!(out, "SHOUT THIS");
//! assert_eq!(counter.get(), 10);
//! # }
//! ```

mod count;
mod map;

pub use count::{ByteCounter, CountingRead, CountingWrite};
pub use map::{MapRead, MapWrite};
