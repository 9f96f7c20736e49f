//! Shared helpers of the aqueduct benchmarks.

pub mod framing;
pub mod pool;

use std::fmt;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The baseline the io benchmarks hold our server against: a bare tokio
/// echo server, one task and one 4 KiB buffer per connection for as long as
/// the connection lives. Serves `listener` on the current runtime until the
/// runtime stops; a failed accept is skipped.
///
/// ```no_run
/// # async fn doc() {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// aqueduct_benches::spawn_tokio_echo(listener);
/// # }
/// ```
pub fn spawn_tokio_echo(listener: TcpListener) {
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// The median of some paired measurements' ratios and their quartiles, as
/// the paired programs (`src/bin/*_paired.rs`) report them.
///
/// ```
/// let spread = aqueduct_benches::Spread::of(vec![0.9, 0.5, 0.7, 0.6, 0.8]);
/// assert_eq!((spread.low, spread.median, spread.high), (0.6, 0.7, 0.8));
/// assert_eq!(spread.to_string(), "0.70 (0.60–0.80)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The middle ratio.
    pub median: f64,
    /// The lower quartile.
    pub low: f64,
    /// The upper quartile.
    pub high: f64,
}

impl Spread {
    /// The median and quartiles of `ratios`.
    ///
    /// # Panics
    ///
    /// If `ratios` is empty.
    #[must_use]
    pub fn of(mut ratios: Vec<f64>) -> Self {
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        Self {
            median: ratios[n / 2],
            low: ratios[n / 4],
            high: ratios[n * 3 / 4],
        }
    }
}

/// `median (low–high)`, two decimals each.
impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} ({:.2}–{:.2})", self.median, self.low, self.high)
    }
}
