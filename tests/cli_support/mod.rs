//! What the command-line tests share: the binary, stores built through the library (SQLite
//! files, PostgreSQL schemas), and a one-line way to run a command and look at what it did.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use audit_log::{
    Actor, AuditLog, AuditSink, Context, CustomEvent, Durability, EntityKind, EntityRef, Entry,
    Event, FieldChange, ManualClock, Outcome, PermissionGroupRef, Scope, SqliteOptions, SqliteSink,
    Store, UserChange, UserCreated,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_audit-log");

/// A display name built to attack a terminal: set the window title (OSC 0), clear the screen,
/// turn the text red, a C1 CSI, and a bidi override.
pub const HOSTILE: &str = "mal\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[31mlory\u{9b}1m\u{202e}x";

/// What [`HOSTILE`] looks like once neutralised.
pub const HOSTILE_SHOWN: &str = r"mal\u001b]0;owned\u0007\u001b[2J\u001b[31mlory\u009b1m\u202ex";

/// When the story starts.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 55, 0).unwrap()
}

/// The story every store of these tests holds (13 records over two days):
///
/// | seq | day | who | what |
/// | --- | --- | --- | --- |
/// | 1 | 2 Mar | root | workspace Finance created (ip 10.0.0.17, request req-1, correlation job-7) |
/// | 2 | | root | application Payroll created in Finance |
/// | 3 | | hr-sync | user alice (42) created |
/// | 4, 5 | | root | groups Accounting (g-acc), Finance staff (g-fin) created |
/// | 6 | | root | Accounting added to Finance staff |
/// | 7 | | root | alice added to Accounting |
/// | 8 | | root | Finance staff added to Payroll editors (pg-edit, application Payroll) |
/// | 9 | | carol | carol added to Payroll editors: denied (ip 192.0.2.9, request req-2) |
/// | 10 | 3 Mar | bob | Accounting removed from Finance staff (reason, request req-3, correlation job-7) |
/// | 11 | | root | user 66 created, display name [`HOSTILE`] |
/// | 12 | | user 66 ([`HOSTILE`]) | a custom event with a hostile payload, user agent and reason |
/// | 13 | | bob | application Payroll deleted |
pub fn story(log: &AuditLog, clock: &ManualClock) {
    let root = Actor::user(1, "root");
    let bob = Actor::user(2, "bob");
    let carol = Actor::user(43, "carol");
    let hostile = Actor::user(66, HOSTILE);
    let finance = EntityRef::new("ws-fin", "Finance");
    let payroll = EntityRef::new("app-payroll", "Payroll");
    let alice = EntityRef::new(42, "alice");
    let accounting = EntityRef::new("g-acc", "Accounting");
    let staff = EntityRef::new("g-fin", "Finance staff");
    let editors = PermissionGroupRef::new(
        "pg-edit",
        "Payroll editors",
        Scope::application(payroll.clone(), finance.clone()),
    );
    let office = Context::new()
        .ip("10.0.0.17".parse().unwrap())
        .request_id("req-1")
        .correlation_id("job-7");
    let rec = |actor: &Actor, event: Event, outcome: Outcome, ctx: Context| {
        clock.advance(Duration::minutes(3));
        log.record_entry(
            Entry::new(actor.clone(), event)
                .outcome(outcome)
                .context(ctx),
        )
        .unwrap();
    };
    let ok = Outcome::Success;
    rec(
        &root,
        Event::workspace_created(finance.clone()),
        ok,
        office.clone(),
    );
    rec(
        &root,
        Event::application_created(payroll.clone(), finance.clone()),
        ok,
        Context::new(),
    );
    rec(
        &Actor::service("hr-sync"),
        UserCreated::new(alice.clone())
            .login_name("alice")
            .email("alice@example.com")
            .into(),
        ok,
        Context::new(),
    );
    rec(
        &root,
        Event::group_created(accounting.clone()),
        ok,
        Context::new(),
    );
    rec(
        &root,
        Event::group_created(staff.clone()),
        ok,
        Context::new(),
    );
    rec(
        &root,
        Event::group_added_to_group(accounting.clone(), staff.clone()),
        ok,
        Context::new(),
    );
    rec(
        &root,
        Event::user_added_to_group(alice.clone(), accounting.clone()),
        ok,
        Context::new(),
    );
    rec(
        &root,
        Event::permission_group_added(staff.clone(), editors.clone()),
        ok,
        Context::new(),
    );
    rec(
        &carol,
        Event::permission_user_added(EntityRef::new(43, "carol"), editors.clone()),
        Outcome::Denied,
        Context::new()
            .ip("192.0.2.9".parse().unwrap())
            .request_id("req-2"),
    );
    clock.set(Utc.with_ymd_and_hms(2026, 3, 3, 10, 0, 0).unwrap());
    rec(
        &bob,
        Event::group_removed_from_group(accounting.clone(), staff.clone()),
        ok,
        Context::new()
            .reason("ticket OPS-1234: reorganise finance")
            .request_id("req-3")
            .correlation_id("job-7"),
    );
    rec(
        &root,
        Event::user_created(EntityRef::new(66, HOSTILE)),
        ok,
        Context::new(),
    );
    rec(
        &hostile,
        CustomEvent::new(
            "billing.invoice_voided",
            serde_json::json!({ "note": HOSTILE, "amount": 12 }),
        )
        .target(
            EntityKind::Other("invoice".into()),
            EntityRef::new("inv-1", HOSTILE),
        )
        .into(),
        ok,
        Context::new().user_agent(HOSTILE).reason(HOSTILE),
    );
    rec(
        &bob,
        Event::application_deleted(payroll.clone(), finance.clone()),
        ok,
        Context::new(),
    );
    // Keep the other constructors in use for the edits tests read.
    let _ = (FieldChange::new("x", 1, 2), UserChange::password_changed());
}

/// A log over `store` with the story's clock.
pub fn story_log(store: impl Store) -> (AuditLog, ManualClock) {
    let clock = ManualClock::new(t0());
    let log = AuditLog::builder(store).clock(clock.clone()).build();
    (log, clock)
}

/// A SQLite store holding the story, closed again (so the file stands alone, as an operator
/// finds it).
pub fn sqlite_story(dir: &Path) -> PathBuf {
    let path = dir.join("audit.db");
    let store = SqliteSink::open(&path).unwrap();
    let (log, clock) = story_log(store);
    story(&log, &clock);
    path
}

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success:\n{self:#?}");
        &self.stdout
    }

    /// Asserts exit `code` with one line on stderr starting `audit-log: error:`, and returns
    /// that line.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "expected exit {code}:\n{self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr:\n{}", self.stderr);
        assert!(
            lines[0].starts_with("audit-log: error: "),
            "{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"));
        lines[0]
    }
}

/// A command for the binary with none of the caller's settings leaking in.
pub fn command() -> Command {
    let mut c = Command::new(BIN);
    for v in [
        "AUDIT_LOG_STORE",
        "AUDIT_LOG_SCHEMA",
        "AUDIT_LOG_TENANT",
        "AUDIT_LOG_TZ",
        "AUDIT_LOG_OPERATOR",
        "NO_COLOR",
        "TZ",
    ] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null());
    c
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Ran {
    Ran::from(command().args(args).output().unwrap())
}

/// A store a test works on: its `--store` (and `--schema`) arguments.
#[derive(Debug, Clone)]
pub struct Target {
    pub args: Vec<String>,
}

impl Target {
    pub fn sqlite(path: &Path) -> Self {
        Target {
            args: vec!["--store".into(), format!("sqlite:{}", path.display())],
        }
    }

    pub fn postgres(url: &str, schema: &str) -> Self {
        Target {
            args: vec![
                "--store".into(),
                url.to_owned(),
                "--schema".into(),
                schema.to_owned(),
            ],
        }
    }

    /// Runs `audit-log <store args> <args>`.
    pub fn run(&self, args: &[&str]) -> Ran {
        let mut all: Vec<&str> = self.args.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        run(&all)
    }
}

/// The server's URL, or `None` after saying the test was not run.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("AUDIT_LOG_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "postgres test {test} NOT RUN: set AUDIT_LOG_POSTGRES_URL to a server URL to run it"
            );
            None
        }
    }
}

/// A PostgreSQL schema of a test's own, dropped when the test ends.
pub struct PgSchema {
    pub url: String,
    pub name: String,
}

impl PgSchema {
    pub fn new(url: &str, tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        PgSchema {
            url: url.to_owned(),
            name: format!(
                "audit_cli_{tag}_{}_{}_{nanos}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// The sink over this schema (creating it).
    pub fn sink(&self) -> audit_log::PostgresSink {
        audit_log::PostgresSink::connect_with(
            &self.url,
            audit_log::PostgresOptions::new()
                .schema(&self.name)
                .pool_size(2),
        )
        .unwrap()
    }

    /// The schema holding the story.
    pub fn with_story(url: &str, tag: &str) -> Self {
        let s = PgSchema::new(url, tag);
        let (log, clock) = story_log(s.sink());
        story(&log, &clock);
        s
    }

    pub fn target(&self) -> Target {
        Target::postgres(&self.url, &self.name)
    }

    pub fn admin(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}

/// A SQLite store of `n` records of a realistic mix (memberships, edits, grants with ip, user
/// agent, request id and reason), appended in batches of 10 000 through the library. One
/// thread prepares the next batch (encoding, hashing) while the other appends the last, so a
/// million records take what the slower of the two takes.
pub fn big_store(path: &Path, n: u64) -> SqliteSink {
    let store = SqliteOptions::new()
        .durability(Durability::ProcessCrash)
        .open(path)
        .unwrap();
    let clock = ManualClock::new(t0());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    let admin = Actor::user(1, "root");
    let ctx = Context::new()
        .ip("203.0.113.9".parse().unwrap())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64)")
        .request_id("req-0001");
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<audit_log::PreparedRecord>>(2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut i = 0;
            while i < n {
                let batch: Vec<Entry> = (i..(i + 10_000).min(n))
                    .map(|k| {
                        let user = EntityRef::new(k % 5000, format!("user{}", k % 5000));
                        let group = EntityRef::new(k % 50, format!("Group {}", k % 50));
                        let event = match k % 4 {
                            0 => Event::user_added_to_group(user, group),
                            1 => Event::user_edited(
                                user,
                                vec![
                                    UserChange::email("a@example.com", "b@example.com"),
                                    UserChange::password_changed(),
                                ],
                            ),
                            2 => Event::permission_user_added(
                                user,
                                PermissionGroupRef::new(
                                    9,
                                    "Payroll editors",
                                    Scope::application(
                                        EntityRef::new(3, "Payroll"),
                                        EntityRef::new(1, "Finance"),
                                    ),
                                ),
                            ),
                            _ => Event::group_edited(
                                group,
                                vec![FieldChange::new("name", "Ops", "Operations")],
                            ),
                        };
                        Entry::new(admin.clone(), event)
                            .context(ctx.clone().reason("ticket OPS-1234"))
                    })
                    .collect();
                clock.advance(Duration::seconds(1));
                let prepared = log.prepare_batch(batch).unwrap();
                i += prepared.len() as u64;
                if tx.send(prepared).is_err() {
                    return;
                }
            }
        });
        for prepared in rx {
            store.append(prepared).unwrap();
        }
    });
    store
}
