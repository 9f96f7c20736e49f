use std::io;
use std::path::PathBuf;

/// An error of the [`fs`](crate::fs) module. Every variant names the path.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_io::fs::{self, FsError};
///
/// let err = fs::count_lines("/definitely/not/here.txt").await.unwrap_err();
/// assert!(matches!(err, FsError::Open { ref path, .. } if path.ends_with("here.txt")));
/// assert!(err.to_string().contains("/definitely/not/here.txt"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// The file could not be opened or created.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading failed.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing (or syncing) failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The finished temporary file could not be renamed over the target.
    #[error("cannot rename {} to {}: {source}", from.display(), to.display())]
    Rename {
        /// The temporary file (already removed when this is returned).
        from: PathBuf,
        /// The target.
        to: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A copy failed.
    #[error("cannot copy {} to {}: {source}", from.display(), to.display())]
    Copy {
        /// The source file.
        from: PathBuf,
        /// The destination file.
        to: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A line is longer than the configured maximum.
    #[error("line {line} of {} is longer than {max} bytes", path.display())]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
        /// The limit, in bytes, without the line terminator.
        max: usize,
    },
    /// A line is not valid UTF-8.
    #[error("line {line} of {} is not valid UTF-8", path.display())]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
        /// The cause.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A line given to [`append_line`](crate::fs::append_line) contains a line
    /// break, so it would be written as more than one line.
    #[error("the line to append to {} contains a line break at byte {at}", path.display())]
    EmbeddedNewline {
        /// The file.
        path: PathBuf,
        /// Offset of the first `\n` or `\r`.
        at: usize,
    },
    /// The blocking task doing the work panicked or was cancelled.
    #[error("the blocking task working on {} did not finish", path.display())]
    TaskFailed {
        /// The file.
        path: PathBuf,
    },
}

impl FsError {
    /// The path the error concerns (for a rename or copy, the target).
    ///
    /// ```
    /// use aqueduct_io::fs::FsError;
    /// let e = FsError::TaskFailed { path: "a.txt".into() };
    /// assert_eq!(e.path(), std::path::Path::new("a.txt"));
    /// ```
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Open { path, .. }
            | Self::Read { path, .. }
            | Self::Write { path, .. }
            | Self::LineTooLong { path, .. }
            | Self::InvalidUtf8 { path, .. }
            | Self::EmbeddedNewline { path, .. }
            | Self::TaskFailed { path } => path,
            Self::Rename { to, .. } | Self::Copy { to, .. } => to,
        }
    }
}
