//! The command line in a real terminal, checked as a person sees it: `tmux` runs a shell, the
//! test types commands into it (`send-keys`) and reads the screen (`capture-pane`).
//!
//! - `list` draws an aligned table cut to the terminal's width, with the outcome in colour;
//!   a display name holding escape sequences (set the title, clear the screen, turn the text
//!   red) shows as inert text: the title is unchanged, the screen is not cleared, nothing
//!   after it is red.
//! - `export` of a million records shows an indicatif progress bar with rate and ETA while it
//!   runs, and the bar finishes at the total.
//! - `tail --follow` shows the records another process appends, as they are committed, and
//!   Ctrl-C gives the shell back.
//! - `purge` says what it would remove and asks; `no` removes nothing, `yes` purges.
//!
//! Needs `tmux` (`.ci/run` installs it); without it each test says NOT RUN and passes. The
//! screens captured are printed (run with `--nocapture` to see them). The size of the export
//! store comes from `AUDIT_LOG_TMUX_RECORDS` (default 1 000 000).

mod cli_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use audit_log::{Actor, AuditLog, EntityRef, Event, SqliteSink};
use cli_support::*;

/// A tmux server of this test's own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A session running a plain shell in a window of `width` x `height`, or `None` (after
    /// saying NOT RUN) when tmux is missing.
    fn start(test: &str, width: u16, height: u16, env: &[(&str, &str)]) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "tmux test {test} NOT RUN: tmux is not installed (.ci/run installs it)"
            );
            return None;
        }
        let socket = format!("audit-cli-{test}-{}", std::process::id());
        let mut shell =
            String::from("env -i PATH=/usr/bin:/bin HOME=/tmp TERM=xterm-256color PS1='$ '");
        for (k, v) in env {
            shell.push_str(&format!(" {k}={v}"));
        }
        shell.push_str(" bash --norc --noprofile");
        let t = Tmux { socket };
        let ok = t
            .tmux(&[
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                &shell,
            ])
            .status
            .success();
        assert!(ok, "tmux could not start a session");
        t.wait_for("the prompt", Duration::from_secs(10), |s| s.contains('$'));
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// Types a line into the shell.
    fn type_line(&self, line: &str) {
        assert!(self
            .tmux(&["send-keys", "-t", "main", "-l", line])
            .status
            .success());
        assert!(self
            .tmux(&["send-keys", "-t", "main", "Enter"])
            .status
            .success());
    }

    fn keys(&self, keys: &str) {
        assert!(self
            .tmux(&["send-keys", "-t", "main", keys])
            .status
            .success());
    }

    /// The screen as text.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "main"]).stdout)
            .into_owned()
    }

    /// The screen and what scrolled off it.
    fn screen_and_scrollback(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-S", "-", "-t", "main"])
                .stdout,
        )
        .into_owned()
    }

    /// The screen with its colours and attributes as escape sequences.
    fn screen_with_attributes(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-e", "-t", "main"])
                .stdout,
        )
        .into_owned()
    }

    fn title(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["display", "-p", "-t", "main", "#{pane_title}"])
                .stdout,
        )
        .trim()
        .to_owned()
    }

    /// Waits until the screen satisfies `done`, and returns it.
    #[track_caller]
    fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn show(name: &str, screen: &str) {
    println!("----- {name} -----\n{}\n-----", screen.trim_end());
}

fn store_arg(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

#[test]
fn list_draws_an_aligned_table_and_hostile_names_stay_inert() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    let Some(tmux) = Tmux::start("list", 100, 30, &[]) else {
        return;
    };
    let title = tmux.title();
    tmux.type_line(&format!("{BIN} --store {} list", store_arg(&path)));
    let screen = tmux.wait_for("the table", Duration::from_secs(30), |s| {
        s.lines().any(|l| l.trim_start().starts_with("13 "))
    });
    show("list on a 100-column terminal", &screen);
    let lines: Vec<&str> = screen.lines().collect();
    // The command line is still on the screen: the name's "clear screen" did nothing.
    assert!(
        lines[0].starts_with("$ ") && lines[0].contains(" list"),
        "{screen}"
    );
    assert!(
        lines[1].starts_with("SEQ  TIME (UTC)           OUTCOME  EVENT"),
        "{screen}"
    );
    let summary = lines[1].find("SUMMARY").unwrap();
    let rows = &lines[2..15];
    for row in rows {
        // Aligned, and cut to the terminal: no row wraps onto a second line.
        assert!(row.chars().count() <= 100, "{row}");
        assert_ne!(row.chars().nth(summary), Some(' '), "{row}");
    }
    assert!(
        rows.iter().any(|r| r.ends_with('…')),
        "a long summary is cut: {screen}"
    );
    assert!(rows[8].contains("DENIED"), "{screen}");
    // The hostile name shows as text.
    assert!(
        rows[10].contains(r"root created user mal\u001b]0;owned\u0"),
        "{screen}"
    );
    assert_eq!(tmux.title(), title, "the title was not changed");
    // Colour: the outcome is red, and the name's own red never took effect.
    let coloured = tmux.screen_with_attributes();
    assert!(coloured.contains("\u{1b}[31mDENIED"), "{coloured}");
    let row11 = coloured
        .lines()
        .find(|l| l.contains("root created user mal"))
        .unwrap();
    assert!(!row11.contains("\u{1b}[31m"), "{row11:?}");

    // The detail view, longer than the window.
    tmux.type_line("clear");
    tmux.type_line(&format!("{BIN} --store {} show 12", store_arg(&path)));
    tmux.wait_for("the record", Duration::from_secs(30), |s| {
        s.contains("verifies")
    });
    let screen = tmux.screen_and_scrollback();
    show(
        "show 12 (a hostile actor, user agent, reason and payload)",
        &screen,
    );
    assert!(
        screen.contains(r"user agent    mal\u001b]0;owned"),
        "{screen}"
    );
    assert!(
        screen.contains(r#""note": "mal\u001b]0;owned\u0007"#),
        "{screen}"
    );
    assert!(
        screen.contains("show 12\nRecord #12"),
        "the command and the record, uncleared: {screen}"
    );
    assert_eq!(tmux.title(), title);
}

#[test]
fn no_color_is_honoured_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    let Some(tmux) = Tmux::start("nocolor", 120, 30, &[("NO_COLOR", "1")]) else {
        return;
    };
    tmux.type_line(&format!(
        "{BIN} --store {} list --outcome denied",
        store_arg(&path)
    ));
    tmux.wait_for("the row", Duration::from_secs(30), |s| s.contains("DENIED"));
    let coloured = tmux.screen_with_attributes();
    assert!(
        !coloured.contains("\u{1b}[31m") && !coloured.contains("\u{1b}[1m"),
        "{coloured:?}"
    );
}

#[test]
fn export_of_a_million_records_shows_its_progress_bar() {
    let n: u64 = std::env::var("AUDIT_LOG_TMUX_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if Command::new("tmux").arg("-V").output().is_err() {
        // Said by Tmux::start below; no store to build.
        let _ = Tmux::start("export", 120, 30, &[]);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = kept_big_store(n);
    let Some(tmux) = Tmux::start("export", 120, 30, &[]) else {
        return;
    };
    let out = dir.path().join("big.csv");
    let started = Instant::now();
    tmux.type_line(&format!(
        "{BIN} --store {} export --format csv -o {}",
        store_arg(&path),
        out.display()
    ));
    // While it runs: the bar, with a position short of the total, a rate and an ETA.
    let total = format!("/{}", group(n));
    let part_done = |s: &str| -> bool {
        s.lines().any(|l| {
            let Some(at) = l.find(&total) else {
                return false;
            };
            let pos = l[..at].rsplit(' ').next().unwrap_or("").replace(',', "");
            l.contains("ETA") && pos.parse::<u64>().is_ok_and(|p| p >= n / 10 && p < n)
        })
    };
    let during = tmux.wait_for(
        "the progress bar part way",
        Duration::from_secs(300),
        part_done,
    );
    show("export, running", &during);
    let bar = during
        .lines()
        .find(|l| l.contains("ETA"))
        .unwrap()
        .to_owned();
    assert!(bar.contains("records") && bar.contains("/s"), "{bar}");
    // When it is done: the bar at the total, and the summary under it.
    let after = tmux.wait_for("the end of the export", Duration::from_secs(1200), |s| {
        s.contains(&format!("exported {n} records"))
    });
    println!(
        "exported {n} records through the binary in {:?}",
        started.elapsed()
    );
    show("export, finished", &after);
    assert!(
        after
            .lines()
            .any(|l| l.contains(&format!("{}{total} records", group(n)))),
        "the bar finishes at the total: {after}"
    );
    let rows = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
    assert_eq!(rows, n + 1);
}

/// The store of `n` records the export test reads, kept in Cargo's temp dir for the target
/// (`CARGO_TARGET_TMPDIR`) so that it is built once (about two minutes of CPU for a million
/// records in a debug build) and reused by later runs while it is still a store of `n`
/// records this build reads. Built under another name and renamed when complete.
fn kept_big_store(n: u64) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("cli-tmux-{n}.db"));
    let reusable = audit_log::SqliteOptions::new()
        .read_only(true)
        .open(&path)
        .ok()
        .and_then(|s| audit_log::AuditStore::head(&s, &audit_log::TenantId::default()).ok())
        .flatten()
        .is_some_and(|h| h.seq == n);
    if reusable {
        println!("reusing the store of {n} records at {}", path.display());
        return path;
    }
    let building = dir.join(format!("cli-tmux-{n}.{}.building.db", std::process::id()));
    let started = Instant::now();
    drop(big_store(&building, n));
    // An older store's shared index must not be taken for the new one's.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::rename(&building, &path).unwrap();
    println!("built a store of {n} records in {:?}", started.elapsed());
    path
}

/// `1000000` as indicatif's `human_pos` writes it: `1,000,000`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn tail_follow_shows_what_another_process_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    let Some(tmux) = Tmux::start("tail", 120, 30, &[]) else {
        return;
    };
    tmux.type_line(&format!(
        "{BIN} --store {} tail -n 3 --follow --interval 100",
        store_arg(&path)
    ));
    let first = tmux.wait_for("the newest records", Duration::from_secs(30), |s| {
        s.lines().any(|l| l.trim_start().starts_with("13 "))
    });
    show("tail --follow, waiting", &first);
    // Another process (this test) appends while the command waits.
    let store = SqliteSink::open(&path).unwrap();
    let log = AuditLog::builder(store).build();
    for i in 0..2 {
        log.record(
            &Actor::user(7, "dave"),
            Event::user_added_to_group(
                EntityRef::new(500 + i, format!("new{i}")),
                EntityRef::new("g-acc", "Accounting"),
            ),
        )
        .unwrap();
    }
    let arrived = tmux.wait_for("the appended records", Duration::from_secs(30), |s| {
        s.contains("dave added user new1 to group Accounting")
    });
    show("tail --follow, after two appends", &arrived);
    let rows: Vec<&str> = arrived
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u64>().is_ok())
        })
        .collect();
    let seqs: Vec<u64> = rows
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, [11, 12, 13, 14, 15], "{arrived}");
    // Ctrl-C ends it and gives the shell back.
    tmux.keys("C-c");
    tmux.type_line("echo done-$((40+2))");
    tmux.wait_for("the shell", Duration::from_secs(10), |s| {
        s.contains("done-42")
    });
}

/// `purge` on a terminal says what it would remove and asks: an answer other than yes
/// removes nothing (exit 1); yes removes the records, on record.
#[test]
fn purge_asks_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    let Some(tmux) = Tmux::start("purge", 120, 30, &[]) else {
        return;
    };
    let purge = format!(
        "{BIN} --store {} purge --through 4 --operator ops-alice; echo exit=$?",
        store_arg(&path)
    );
    tmux.type_line(&purge);
    let asked = tmux.wait_for("the question", Duration::from_secs(30), |s| {
        s.contains("Type yes to go on:")
    });
    show("purge, asking", &asked);
    assert!(
        asked.contains("This removes 4 records of tenant default: seq 1 to 4"),
        "{asked}"
    );
    tmux.type_line("no");
    let declined = tmux.wait_for("the refusal", Duration::from_secs(30), |s| {
        s.contains("exit=1")
    });
    assert!(
        declined.contains("purge not confirmed: nothing was removed"),
        "{declined}"
    );
    tmux.type_line("clear");
    tmux.type_line(&purge);
    tmux.wait_for("the question", Duration::from_secs(30), |s| {
        s.contains("Type yes to go on:")
    });
    tmux.type_line("yes");
    let done = tmux.wait_for("the purge", Duration::from_secs(30), |s| {
        s.contains("exit=0")
    });
    show("purge, confirmed", &done);
    assert!(
        done.contains("removed 4 records; the trail now starts after seq 4; recorded as audit.purged #14 by ops-alice"),
        "{done}"
    );
}
