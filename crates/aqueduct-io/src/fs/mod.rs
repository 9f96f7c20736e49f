//! Files: fast line streams, bounded reads of the first lines, atomic writes,
//! appends and copies with progress.
//!
//! Every function here runs its blocking file system calls on Tokio's
//! blocking pool, in as few hops as the job allows: [`read_lines`] reads
//! 256 KiB chunks on one blocking thread while the async side splits the
//! previous chunk into lines, [`count_lines`] and [`write_atomic`] take one
//! hop for the whole job.
//!
//! Errors are [`FsError`]; each variant names the path it concerns.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), aqueduct_io::fs::FsError> {
//! use aqueduct_io::fs;
//! use futures::StreamExt;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("log.txt");
//! fs::write_atomic(&path, "alpha\nbeta\n").await?;
//! fs::append_line(&path, "gamma").await?;
//!
//! assert_eq!(fs::count_lines(&path).await?, 3);
//! assert_eq!(fs::head(&path, 2).await?, ["alpha", "beta"]);
//! let lines: Vec<String> = fs::read_lines(&path).map(Result::unwrap).collect().await;
//! assert_eq!(lines, ["alpha", "beta", "gamma"]);
//! # Ok(()) }
//! ```

mod error;
mod files;
mod lines;

pub use error::FsError;
pub use files::{Progress, append_line, copy, copy_with_progress, write_atomic, write_atomic_with};
pub use lines::{
    ByteLines, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINE_LENGTH, LineOptions, Lines, count_lines, head,
    head_from, read_byte_lines, read_lines, read_lines_with,
};
