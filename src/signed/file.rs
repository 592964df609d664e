//! [`CheckpointFile`]: signed checkpoints as JSON Lines in a file, appended and synced.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::emit::CheckpointTarget;
use super::SignedCheckpoint;
use crate::error::{Error, Result};
use crate::record::TenantId;

/// Longest line a checkpoint file may hold: a checkpoint is a few hundred bytes; a longer
/// line is not one, and is refused before it is read into memory whole.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// A file of signed checkpoints, one JSON line each ([`SignedCheckpoint::to_json`]): the
/// [`CheckpointTarget`] that keeps them on disk, and their reader.
///
/// Each [`append`](CheckpointTarget::append) writes one line with a single write to a file
/// opened for appending, then syncs it to disk before returning `Ok`; several processes may
/// append to one file. Nothing is ever rewritten: keep the file append-only at the system
/// level too (`chattr +a`, a log shipper, another machine), since whoever can delete its last
/// lines moves the auditor back to an older checkpoint.
///
/// Reading is strict: every line must be a signed checkpoint, or the whole read is an
/// [`Error::InvalidInput`] whose field names the file and the line (`checkpoints.jsonl line
/// 7`). A last line without its newline is a write cut short (its append never returned
/// `Ok`): it is refused by name too, and appends refuse to glue a new line to it, until
/// someone removes it.
///
/// ```
/// use audit_log::{ChainAlgorithm, Checkpoint, CheckpointFile, CheckpointSigner, CheckpointTarget, Digest, TenantId};
/// use chrono::Utc;
///
/// let dir = tempfile::tempdir()?;
/// let file = CheckpointFile::open(dir.path().join("checkpoints.jsonl"))?;
/// let signer = CheckpointSigner::from_bytes("audit-2026", &[7; 32])?;
/// for seq in [10, 20] {
///     let checkpoint = Checkpoint { tenant: TenantId::default(), seq, hash: Digest([1; 32]), chain: ChainAlgorithm::Sha256 };
///     file.append(&checkpoint.sign(&signer, Utc::now()))?;
/// }
/// let newest = file.newest(&TenantId::default())?.unwrap();
/// assert_eq!(newest.checkpoint.seq, 20);
/// assert_eq!(file.read_all()?.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CheckpointFile {
    path: PathBuf,
    /// The handle appends go through; `None` when opened read-only.
    appender: Option<Mutex<File>>,
}

impl CheckpointFile {
    /// Opens the file for appending, creating it if it does not exist, after reading it
    /// through: a file that is not a checkpoint file is refused before anything is added to
    /// it.
    ///
    /// # Errors
    /// As [`read_all`](Self::read_all) for an existing file that does not read;
    /// [`Error::Io`], [`Error::ReadOnly`] when it cannot be opened for writing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error)?;
        if !existed {
            sync_parent(&path)?;
        }
        let this = CheckpointFile {
            path,
            appender: Some(Mutex::new(file)),
        };
        this.read_all()?;
        Ok(this)
    }

    /// Opens an existing file only to read it (an auditor's copy); appending to it is
    /// [`Error::ReadOnly`].
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be opened; as [`read_all`](Self::read_all) when it does
    /// not read.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let this = CheckpointFile {
            path: path.as_ref().to_path_buf(),
            appender: None,
        };
        this.read_all()?;
        Ok(this)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every checkpoint in the file, in file order.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] with field `PATH line N` for the first line that is not a
    /// signed checkpoint (not UTF-8, not JSON, an unknown version or key, a bad hash or
    /// signature encoding, no final newline, longer than 64 KiB); [`Error::Io`].
    pub fn read_all(&self) -> Result<Vec<SignedCheckpoint>> {
        let mut all = Vec::new();
        self.scan(|c| all.push(c))?;
        Ok(all)
    }

    /// The newest checkpoint of `tenant`: the one with the highest seq (the later line when
    /// one seq was signed twice), or `None` when the file has none for it. The signature is
    /// not checked here: pass the result to [`verify_against_signed`](super::verify_against_signed).
    ///
    /// # Errors
    /// As [`read_all`](Self::read_all): a file with one bad line is refused whole, so a
    /// damaged file is noticed, not read around.
    pub fn newest(&self, tenant: &TenantId) -> Result<Option<SignedCheckpoint>> {
        let mut newest: Option<SignedCheckpoint> = None;
        self.scan(|c| {
            if c.checkpoint.tenant == *tenant
                && newest
                    .as_ref()
                    .is_none_or(|n| c.checkpoint.seq >= n.checkpoint.seq)
            {
                newest = Some(c);
            }
        })?;
        Ok(newest)
    }

    /// Reads the file line by line, in constant memory, handing each checkpoint to `f`.
    fn scan(&self, mut f: impl FnMut(SignedCheckpoint)) -> Result<()> {
        let mut reader = BufReader::new(File::open(&self.path).map_err(io_error)?);
        let mut line = Vec::new();
        let mut n: u64 = 0;
        loop {
            n += 1;
            line.clear();
            let read = reader
                .by_ref()
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut line)
                .map_err(io_error)?;
            if read == 0 {
                return Ok(());
            }
            let bad = |reason: String| {
                Error::invalid(format!("{} line {n}", self.path.display()), reason)
            };
            if line.last() != Some(&b'\n') {
                return Err(bad(if line.len() as u64 > MAX_LINE_BYTES {
                    format!("longer than {MAX_LINE_BYTES} bytes: not a checkpoint")
                } else {
                    "incomplete (no newline at its end): a write cut short, whose append never \
                     returned Ok; remove it"
                        .to_owned()
                }));
            }
            let text = std::str::from_utf8(&line[..line.len() - 1])
                .map_err(|_| bad("not UTF-8".to_owned()))?;
            match SignedCheckpoint::from_json(text) {
                Ok(c) => f(c),
                Err(Error::InvalidInput { reason, .. }) => return Err(bad(reason)),
                Err(e) => return Err(e),
            }
        }
    }
}

impl CheckpointTarget for CheckpointFile {
    fn append(&self, checkpoint: &SignedCheckpoint) -> Result<()> {
        let Some(appender) = &self.appender else {
            return Err(Error::ReadOnly {
                source: format!("{} was opened read-only", self.path.display()).into(),
            });
        };
        let mut line = checkpoint.to_json();
        line.push('\n');
        // Appends are serialized in this process; the lock guards only the handle.
        let mut file = appender.lock().unwrap_or_else(|e| e.into_inner());
        refuse_torn_end(&mut file, &self.path)?;
        file.write_all(line.as_bytes()).map_err(io_error)?;
        file.sync_data().map_err(io_error)
    }
}

/// Refuses to append after a last line that has no newline: the new line would be glued to
/// it and both would be lost to every reader.
fn refuse_torn_end(file: &mut File, path: &Path) -> Result<()> {
    let len = file.metadata().map_err(io_error)?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1)).map_err(io_error)?;
    file.read_exact(&mut last).map_err(io_error)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    Err(Error::invalid(
        path.display().to_string(),
        "the last line is incomplete (no newline at its end): a write cut short; remove it \
         before more checkpoints are appended",
    ))
}

/// Syncs the directory of a new file, so the file itself survives a crash, not only its
/// content.
fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The crate's error for an I/O failure: a full disk and a read-only file by category.
fn io_error(e: std::io::Error) -> Error {
    match e.kind() {
        ErrorKind::StorageFull => Error::StorageFull { source: e.into() },
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => {
            Error::ReadOnly { source: e.into() }
        }
        _ => Error::Io(e),
    }
}
