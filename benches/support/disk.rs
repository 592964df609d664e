//! The disk's state, measured in the same run as a durable bench (issue #12).
//!
//! This machine's disk switches between a fast state (a 4 KiB fdatasync in 40-60 µs) and a
//! throttled one (~4 ms each). A durable figure means nothing without the state it was taken
//! in, and a figure taken in one state must not be compared with one taken in the other, so
//! each durable bench group probes the disk when it starts and when it ends and prints both
//! beside its figures.

use std::fmt;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Synced writes per probe: enough for a stable median and p90, a fraction of a second even
/// when throttled.
const SYNCS: usize = 50;
/// A median below this is the fast state; the two states are two orders of magnitude apart.
const FAST_BELOW: Duration = Duration::from_millis(1);

/// The latency of a 4 KiB `pwrite` + `fdatasync`: median and 90th percentile.
pub struct DiskState {
    pub median: Duration,
    pub p90: Duration,
}

impl DiskState {
    pub fn label(&self) -> &'static str {
        if self.median < FAST_BELOW {
            "fast"
        } else {
            "throttled"
        }
    }
}

impl fmt::Display for DiskState {
    /// `fast (median 52 µs, p90 71 µs)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (median, p90) = (show(self.median), show(self.p90));
        write!(f, "{} (median {median}, p90 {p90})", self.label())
    }
}

fn show(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

/// Times `SYNCS` 4 KiB writes, each followed by `fdatasync`, to a scratch file in `dir`,
/// which must be on the file system under test (a store's temp dir).
pub fn probe(dir: &Path) -> DiskState {
    let path = dir.join(format!("disk-probe-{}", std::process::id()));
    let file = File::create(&path).expect("disk probe file");
    let block = [0x5a_u8; 4096];
    // Allocate the block and sync it once untimed: the timed syncs then rewrite data in
    // place and flush no size change (the file system's journal), as a database's log does.
    file.write_all_at(&block, 0).expect("disk probe write");
    file.sync_all().expect("disk probe sync");
    let mut times: Vec<Duration> = (0..SYNCS)
        .map(|_| {
            let start = Instant::now();
            file.write_all_at(&block, 0).expect("disk probe write");
            // fdatasync on Linux.
            file.sync_data().expect("disk probe sync");
            start.elapsed()
        })
        .collect();
    drop(file);
    let _ = fs::remove_file(&path);
    times.sort();
    DiskState {
        median: times[SYNCS / 2],
        p90: times[SYNCS * 9 / 10],
    }
}

/// The disk's state around one bench group. Call [`Around::start`] at the top of each of the
/// group's benchmark closures: it probes once, when the first one that criterion's filter
/// lets through starts, so a run filtered to other groups neither probes nor prints.
/// [`Around::finish`] probes again and prints one line with both states.
pub struct Around {
    group: &'static str,
    dir: PathBuf,
    what: &'static str,
    before: Option<DiskState>,
}

impl Around {
    /// `what` says whose disk `dir` is on, when that is not plainly the store's.
    pub fn new(group: &'static str, dir: &Path, what: &'static str) -> Self {
        Around {
            group,
            dir: dir.to_owned(),
            what,
            before: None,
        }
    }

    pub fn start(&mut self) {
        if self.before.is_none() {
            self.before = Some(probe(&self.dir));
        }
    }

    pub fn finish(self) {
        if let Some(before) = self.before {
            let after = probe(&self.dir);
            println!(
                "{}: disk{} before: {before}; after: {after}",
                self.group, self.what
            );
        }
    }
}
