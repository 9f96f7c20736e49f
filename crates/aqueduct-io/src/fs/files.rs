//! Appends, atomic writes and copies.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::FsError;

async fn blocking<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, FsError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(FsError::TaskFailed {
            path: path.to_path_buf(),
        })
    })
}

/// Appends `line` and a `\n` to the file at `path` (created if missing) in a
/// single `write` on a file opened in append mode, so lines appended by
/// several writers, even several processes, never interleave within a line.
///
/// The file is not read. A file whose last line has no `\n` (one written by
/// another tool, say) gets the new line joined onto that last line: end it
/// first if that can happen. Looking at the last byte before each write
/// would not be safe with several writers: one could see another's line
/// half written and add a `\n`, which would then stand as an empty line.
///
/// # Errors
///
/// [`FsError::EmbeddedNewline`] if `line` contains `\n` or `\r` (nothing is
/// written), [`FsError::Open`] or [`FsError::Write`].
///
/// # Cancel safety
///
/// The write runs on the blocking pool; once started it completes even if
/// the future is dropped, so the line is written whole or not at all.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("audit.log");
/// aqueduct_io::fs::append_line(&path, "login alice").await.unwrap();
/// aqueduct_io::fs::append_line(&path, "logout alice").await.unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "login alice\nlogout alice\n");
/// assert!(aqueduct_io::fs::append_line(&path, "two\nlines").await.is_err());
/// # }
/// ```
pub async fn append_line(path: impl AsRef<Path>, line: impl AsRef<str>) -> Result<(), FsError> {
    let path = path.as_ref();
    let line = line.as_ref();
    if let Some(at) = memchr::memchr2(b'\n', b'\r', line.as_bytes()) {
        return Err(FsError::EmbeddedNewline {
            path: path.to_path_buf(),
            at,
        });
    }
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let p = path.to_path_buf();
    blocking(path, move || {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .map_err(|source| FsError::Open {
                path: p.clone(),
                source,
            })?;
        // One `write_all`: in append mode a regular file takes the whole
        // buffer in one `write` call.
        file.write_all(&buf)
            .map_err(|source| FsError::Write { path: p, source })
    })
    .await
}

/// Replaces the content of the file at `path` with `contents`, atomically.
///
/// The bytes go to a new temporary file in the same directory, which is
/// flushed to disk (`fsync`) and renamed over `path`; then the directory is
/// synced so the rename itself survives a crash. Readers see the old content
/// or the new, never a mix. On any failure before the rename the old file is
/// untouched and the temporary file is removed. The one step after it, the
/// directory's sync, can fail too: that is an [`FsError::Write`] naming the
/// directory, with the new content already in place but its rename not yet
/// known to be on disk (write again, or sync the directory, to be sure).
///
/// If `path` is a symbolic link (or a chain of them), the file it points to
/// is replaced, next to that file, and the link is kept; a dangling link gets
/// its target created.
///
/// The new file keeps the permissions of the file it replaces and, on Unix,
/// its owner and group. Those are best effort, as only a privileged process
/// may give a file away: when changing the owner is refused for lack of
/// permission (`EPERM`), the new file stays owned by the calling user, and
/// its group is still set to the old one if the user may (a user may give
/// a file to any group they belong to), or else left as created.
///
/// # Errors
///
/// [`FsError::Open`] (temporary file), [`FsError::Write`] (giving the
/// temporary file the old owner fails for a reason other than permission,
/// or writing or syncing it fails; or syncing the directory after the
/// rename, naming the directory) or [`FsError::Rename`].
///
/// # Cancel safety
///
/// The work runs on the blocking pool as one unit: dropping the future does
/// not stop it half-way, so the file is replaced or not, never truncated.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("config.toml");
/// aqueduct_io::fs::write_atomic(&path, "port = 8080\n").await.unwrap();
/// aqueduct_io::fs::write_atomic(&path, "port = 9090\n").await.unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "port = 9090\n");
/// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
///
/// # #[cfg(unix)] {
/// // The replaced file's permissions, owner and group are kept.
/// use std::os::unix::fs::{MetadataExt, PermissionsExt};
/// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
/// let old = std::fs::metadata(&path).unwrap();
/// aqueduct_io::fs::write_atomic(&path, "port = 7070\n").await.unwrap();
/// let new = std::fs::metadata(&path).unwrap();
/// assert_eq!(new.mode() & 0o7777, 0o640);
/// assert_eq!((new.uid(), new.gid()), (old.uid(), old.gid()));
/// # }
/// # }
/// ```
pub async fn write_atomic(
    path: impl AsRef<Path>,
    contents: impl AsRef<[u8]>,
) -> Result<(), FsError> {
    let contents = contents.as_ref().to_vec();
    write_atomic_with(path, move |file| file.write_all(&contents)).await
}

/// Like [`write_atomic`], with the content produced by `write`, which
/// receives the temporary file (on a blocking thread). If `write` fails, the
/// target is untouched and the temporary file removed.
///
/// # Errors
///
/// As [`write_atomic`]; an error returned by `write` becomes
/// [`FsError::Write`].
///
/// # Cancel safety
///
/// As [`write_atomic`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("data.csv");
/// aqueduct_io::fs::write_atomic(&path, "old\n").await.unwrap();
/// let failed = aqueduct_io::fs::write_atomic_with(&path, |f| {
///     f.write_all(b"half of the new")?;
///     Err(std::io::Error::other("generator failed"))
/// })
/// .await;
/// assert!(failed.is_err());
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
/// # }
/// ```
pub async fn write_atomic_with<F>(path: impl AsRef<Path>, write: F) -> Result<(), FsError>
where
    F: FnOnce(&mut File) -> io::Result<()> + Send + 'static,
{
    let path = path.as_ref();
    let p = path.to_path_buf();
    blocking(path, move || write_atomic_blocking(&p, write)).await
}

/// Bytes of the target's name kept in the temporary file's name, leaving
/// room for the dot, process id, counter and `.tmp` under 255 bytes.
const TEMP_NAME_KEEP: usize = 200;

fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    // A name near the 255-byte limit leaves no room for the prefix and
    // suffix: keep its start only (the suffix alone makes the name unique).
    if name.len() > TEMP_NAME_KEEP {
        let mut end = TEMP_NAME_KEEP;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Links followed before giving up, as the kernel's `ELOOP` limit.
const MAX_SYMLINKS: usize = 40;

/// Follows `path` through symbolic links to the file they name (which may not
/// exist yet), so that renaming over it keeps the links.
fn resolve_links(path: &Path) -> Result<PathBuf, FsError> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&p).map_err(|source| FsError::Open {
                    path: p.clone(),
                    source,
                })?;
                p = match p.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(FsError::Open {
        path: path.to_path_buf(),
        source: io::Error::other("too many levels of symbolic links"),
    })
}

fn write_atomic_blocking<F>(path: &Path, write: F) -> Result<(), FsError>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let target = resolve_links(path)?;
    let path = target.as_path();
    let tmp = temp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|source| FsError::Open {
            path: tmp.clone(),
            source,
        })?;
    // Removes the temporary file on every early return.
    struct Cleanup<'a>(Option<&'a Path>);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if let Some(p) = self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let mut cleanup = Cleanup(Some(&tmp));
    if let Ok(meta) = std::fs::metadata(path) {
        // Keep the owner and group of the file being replaced, then its
        // permissions: a change of owner clears the set-user-ID and
        // set-group-ID bits, so it must come first.
        #[cfg(unix)]
        keep_owner(&file, &meta).map_err(|source| FsError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let _ = file.set_permissions(meta.permissions());
    }
    write(&mut file).map_err(|source| FsError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    file.sync_all().map_err(|source| FsError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|source| FsError::Rename {
        from: tmp.clone(),
        to: path.to_path_buf(),
        source,
    })?;
    cleanup.0 = None;
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            d.sync_all().map_err(|source| FsError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Gives the temporary `file` the owner and group of the file it replaces,
/// described by `old`, as far as the process may (see [`write_atomic`]).
#[cfg(unix)]
fn keep_owner(file: &File, old: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let new = file.metadata()?;
    adopt_owner(
        (new.uid(), new.gid()),
        (old.uid(), old.gid()),
        |uid, gid| std::os::unix::fs::fchown(file, uid, gid),
    )
}

/// Moves a file owned by `have` (user, group) to `want` through `chown`,
/// best effort: a refusal for lack of permission (`EPERM`) of the owner
/// leaves the owner as it is, and then the group alone is tried, which a
/// refusal leaves as it is too. Any other error is returned.
#[cfg(unix)]
fn adopt_owner(
    have: (u32, u32),
    want: (u32, u32),
    mut chown: impl FnMut(Option<u32>, Option<u32>) -> io::Result<()>,
) -> io::Result<()> {
    let refused = |e: &io::Error| e.kind() == io::ErrorKind::PermissionDenied;
    if have == want {
        return Ok(());
    }
    match chown(Some(want.0), Some(want.1)) {
        Err(e) if refused(&e) => {}
        done => return done,
    }
    if have.1 == want.1 {
        return Ok(());
    }
    match chown(None, Some(want.1)) {
        Err(e) if refused(&e) => Ok(()),
        done => done,
    }
}

/// How far a [`copy_with_progress`] has come.
///
/// ```
/// let p = aqueduct_io::fs::Progress { copied: 50, total: 200 };
/// assert_eq!(p.fraction(), 0.25);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes written so far.
    pub copied: u64,
    /// Size of the source when the copy started, or the bytes copied if
    /// more; in the final report, the bytes copied, even if the source
    /// shrank while it was copied.
    pub total: u64,
}

impl Progress {
    /// `copied / total`, between 0 and 1 (1 for an empty file).
    ///
    /// ```
    /// let p = aqueduct_io::fs::Progress { copied: 0, total: 0 };
    /// assert_eq!(p.fraction(), 1.0);
    /// ```
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.copied as f64 / self.total as f64).min(1.0)
        }
    }
}

/// Bytes copied between two progress reports.
const PROGRESS_CHUNK: usize = 1024 * 1024;

/// Copies `src` to `dst` (created or truncated) and returns the bytes copied.
///
/// With `progress` set to `None` this is `std::fs::copy` on the blocking
/// pool, which lets the kernel copy (`copy_file_range`, reflinks) without the
/// data passing through user space. With a callback the copy goes in 1 MiB
/// chunks and `progress` is called (on the blocking thread) after each, and
/// once at the end with `copied == total`.
///
/// # Errors
///
/// [`FsError::Copy`] naming both paths. Copying a file onto itself (the
/// same path, another link to it) is refused with an
/// [`io::ErrorKind::InvalidInput`] cause and leaves the file untouched.
///
/// # Cancel safety
///
/// The copy runs on the blocking pool and completes even if the future is
/// dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use aqueduct_io::fs::{copy_with_progress, Progress};
/// let dir = tempfile::tempdir().unwrap();
/// let (src, dst) = (dir.path().join("a"), dir.path().join("b"));
/// std::fs::write(&src, vec![7u8; 3 << 20]).unwrap();
/// let mut reports = Vec::new();
/// let (tx, rx) = std::sync::mpsc::channel();
/// let n = copy_with_progress(&src, &dst, Some(move |p: Progress| tx.send(p.copied).unwrap())).await.unwrap();
/// reports.extend(rx.try_iter());
/// assert_eq!(n, 3 << 20);
/// assert_eq!(reports.last(), Some(&(3 << 20)));
/// // Without a callback: the kernel copies.
/// let n = copy_with_progress(&src, &dst, None::<fn(Progress)>).await.unwrap();
/// assert_eq!(n, 3 << 20);
/// # }
/// ```
pub async fn copy_with_progress<P>(
    src: impl AsRef<Path>,
    dst: impl AsRef<Path>,
    progress: Option<P>,
) -> Result<u64, FsError>
where
    P: FnMut(Progress) + Send + 'static,
{
    let (src, dst) = (src.as_ref().to_path_buf(), dst.as_ref().to_path_buf());
    let target = dst.clone();
    blocking(&target, move || {
        let result = match progress {
            // Creating `dst` truncates it: were it `src`, the data would be gone.
            _ if same_file(&src, &dst) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and destination are the same file",
            )),
            None => std::fs::copy(&src, &dst),
            Some(cb) => copy_chunked(&src, &dst, cb),
        };
        result.map_err(|source| FsError::Copy {
            from: src,
            to: dst,
            source,
        })
    })
    .await
}

/// Copies `src` to `dst` with the kernel's copy: [`copy_with_progress`]
/// without a callback.
///
/// # Errors
///
/// [`FsError::Copy`].
///
/// # Cancel safety
///
/// As [`copy_with_progress`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("a"), "hi").unwrap();
/// assert_eq!(aqueduct_io::fs::copy(dir.path().join("a"), dir.path().join("b")).await.unwrap(), 2);
/// # }
/// ```
pub async fn copy(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Result<u64, FsError> {
    copy_with_progress(src, dst, None::<fn(Progress)>).await
}

/// Whether `a` and `b` name the same existing file, through links too.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

fn copy_chunked(src: &Path, dst: &Path, mut progress: impl FnMut(Progress)) -> io::Result<u64> {
    let mut input = File::open(src)?;
    let total = input.metadata()?.len();
    let mut output = File::create(dst)?;
    let mut buf = vec![0u8; PROGRESS_CHUNK];
    let mut copied = 0u64;
    let mut reported = Progress { copied, total };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        output.write_all(&buf[..n])?;
        copied += n as u64;
        reported = Progress {
            copied,
            total: total.max(copied),
        };
        progress(reported);
    }
    // The final report says `copied == total` also for a source that
    // shrank during the copy (or was empty).
    if copied == 0 || reported.total != copied {
        progress(Progress {
            copied,
            total: copied,
        });
    }
    if let Ok(meta) = input.metadata() {
        let _ = output.set_permissions(meta.permissions());
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_and_hidden() {
        let a = temp_path(Path::new("/x/y.txt"));
        let b = temp_path(Path::new("/x/y.txt"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/x")));
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".y.txt.")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_refused_owner_change_still_sets_the_group_when_it_may() {
        use std::cell::RefCell;
        let denied = || Err(io::Error::from_raw_os_error(1)); // EPERM
        let calls = RefCell::new(Vec::new());
        let record = |uid, gid| calls.borrow_mut().push((uid, gid));
        // Nothing to change: no call.
        adopt_owner((5, 6), (5, 6), |u, g| {
            record(u, g);
            Ok(())
        })
        .unwrap();
        assert!(calls.take().is_empty());
        // Allowed: one call sets both.
        adopt_owner((5, 6), (7, 8), |u, g| {
            record(u, g);
            Ok(())
        })
        .unwrap();
        assert_eq!(calls.take(), [(Some(7), Some(8))]);
        // The owner refused: the group alone is set.
        adopt_owner((5, 6), (7, 8), |u, g| {
            record(u, g);
            if u.is_some() { denied() } else { Ok(()) }
        })
        .unwrap();
        assert_eq!(calls.take(), [(Some(7), Some(8)), (None, Some(8))]);
        // Both refused: the file keeps what it has, and that is no error.
        adopt_owner((5, 6), (7, 8), |u, g| {
            record(u, g);
            denied()
        })
        .unwrap();
        assert_eq!(calls.take(), [(Some(7), Some(8)), (None, Some(8))]);
        // The owner refused and the group already right: no second call.
        adopt_owner((5, 6), (7, 6), |u, g| {
            record(u, g);
            denied()
        })
        .unwrap();
        assert_eq!(calls.take(), [(Some(7), Some(6))]);
        // Any other error is the write's.
        let err = adopt_owner((5, 6), (7, 8), |u, g| {
            record(u, g);
            Err(io::Error::from_raw_os_error(5)) // EIO
        })
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(5));
        assert_eq!(calls.take(), [(Some(7), Some(8))]);
        let err = adopt_owner((5, 6), (7, 8), |u, g| {
            record(u, g);
            if u.is_some() {
                denied()
            } else {
                Err(io::Error::from_raw_os_error(5))
            }
        })
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(5));
    }

    #[tokio::test]
    async fn failed_write_leaves_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "old").unwrap();
        let err = write_atomic_with(&path, |f| {
            f.write_all(&[1; 10_000])?;
            Err(io::Error::other("boom"))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, FsError::Write { .. }));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
