//! Cursors in files the host names: one small JSON file per destination, replaced
//! atomically, and one JSON Lines file of dead letters.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{advance, check_destination_name, CursorStore, Cursors, DeadLetter};
use crate::error::{Error, Result};
use crate::record::TenantId;

/// The on-disk form of one destination's cursors.
#[derive(Debug, Serialize, Deserialize)]
struct CursorFile {
    version: u32,
    destination: String,
    #[serde(flatten)]
    cursors: Cursors,
}

/// Cursors in a directory: `<destination>.cursors.json` and
/// `<destination>.dead-letters.jsonl`.
///
/// Each save writes the whole (small) cursor file beside the old one, syncs it, renames it
/// over the old one and syncs the directory, so a crash leaves either the old or the new
/// file, never a torn one. Dead letters are appended and synced before the cursor moves.
///
/// Grants every lease: run one forwarder per destination on a directory (use
/// [`PgCursors`](super::PgCursors) for several).
#[derive(Debug)]
pub struct FileCursors {
    dir: PathBuf,
    cache: Mutex<HashMap<String, Cursors>>,
}

impl FileCursors {
    /// Uses `dir` (created if missing).
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be created.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        Ok(FileCursors {
            dir,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn cursor_path(&self, destination: &str) -> Result<PathBuf> {
        check_destination_name(destination)?;
        Ok(self.dir.join(format!("{destination}.cursors.json")))
    }

    fn dead_letter_path(&self, destination: &str) -> Result<PathBuf> {
        check_destination_name(destination)?;
        Ok(self.dir.join(format!("{destination}.dead-letters.jsonl")))
    }

    fn read(&self, destination: &str) -> Result<Option<Cursors>> {
        let path = self.cursor_path(destination)?;
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let file: CursorFile = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(0, format!("cursor file {}: {e}", path.display())))?;
        Ok(Some(file.cursors))
    }

    fn write(&self, destination: &str, cursors: &Cursors) -> Result<()> {
        let path = self.cursor_path(destination)?;
        let tmp = self.dir.join(format!(".{destination}.cursors.json.tmp"));
        let body = serde_json::to_vec_pretty(&CursorFile {
            version: 1,
            destination: destination.to_owned(),
            cursors: cursors.clone(),
        })
        .map_err(|e| Error::store("forward-cursors", e))?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)
    }

    fn update(&self, destination: &str, f: impl FnOnce(&mut Cursors)) -> Result<()> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut current = match cache.get(destination) {
            Some(c) => c.clone(),
            None => self.read(destination)?.unwrap_or_default(),
        };
        f(&mut current);
        self.write(destination, &current)?;
        cache.insert(destination.to_owned(), current);
        Ok(())
    }
}

/// Makes a rename durable: the directory entry is synced too.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl CursorStore for FileCursors {
    fn load(&self, destination: &str) -> Result<Option<Cursors>> {
        let loaded = self.read(destination)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match &loaded {
            Some(c) => cache.insert(destination.to_owned(), c.clone()),
            None => cache.remove(destination),
        };
        Ok(loaded)
    }

    fn init(&self, destination: &str, cursors: &Cursors) -> Result<()> {
        self.update(destination, |c| {
            for (t, s) in &cursors.positions {
                advance(c, t, *s);
            }
        })
    }

    fn save(&self, destination: &str, tenant: &TenantId, seq: u64) -> Result<()> {
        self.update(destination, |c| advance(c, tenant, seq))
    }

    fn settle(&self, letter: &DeadLetter) -> Result<()> {
        let path = self.dead_letter_path(&letter.destination)?;
        let mut line =
            serde_json::to_vec(letter).map_err(|e| Error::store("forward-cursors", e))?;
        line.push(b'\n');
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(&line)?;
        f.sync_all()?;
        sync_dir(&self.dir)?;
        self.save(&letter.destination, &letter.tenant, letter.seq)
    }

    fn dead_letters(&self, destination: &str) -> Result<Vec<DeadLetter>> {
        let path = self.dead_letter_path(destination)?;
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let lines: Vec<String> = BufReader::new(f).lines().collect::<std::io::Result<_>>()?;
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(l) => out.push(l),
                // A line torn by a crash mid-append can only be the last one: its record's
                // cursor was not moved, so the record comes back and is settled again.
                Err(_) if i + 1 == lines.len() => {}
                Err(e) => {
                    return Err(Error::corrupt(
                        0,
                        format!("dead letter file {} line {}: {e}", path.display(), i + 1),
                    ))
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_survive_a_reopen_and_never_move_back() {
        let dir = tempfile::tempdir().unwrap();
        let t = TenantId::new("acme");
        {
            let c = FileCursors::new(dir.path()).unwrap();
            assert_eq!(c.load("siem").unwrap(), None);
            c.init("siem", &Cursors::default()).unwrap();
            c.save("siem", &t, 10).unwrap();
            c.save("siem", &t, 4).unwrap();
        }
        let c = FileCursors::new(dir.path()).unwrap();
        assert_eq!(c.load("siem").unwrap().unwrap().get(&t), Some(10));
        assert_eq!(c.load("other").unwrap(), None);
        assert!(c.save("../escape", &t, 1).is_err());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(leftovers, vec!["siem.cursors.json".to_owned()]);
    }

    #[test]
    fn a_corrupt_cursor_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("siem.cursors.json"), "{not json").unwrap();
        let c = FileCursors::new(dir.path()).unwrap();
        assert!(matches!(c.load("siem"), Err(Error::Corrupt { .. })));
    }
}
