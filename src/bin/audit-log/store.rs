//! Which store a command works on, and opening it: read-only for every reading command
//! (nothing created, migrated or written), writable only for the commands that write.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_log::{AuditStore, PostgresOptions, PostgresSink, SqliteOptions, SqliteSink, TenantId};

use crate::fail::Fail;

/// The options naming the store, shared by every command.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The store: sqlite:PATH, or a PostgreSQL URL (postgres://USER@HOST/DB)
    #[arg(long, global = true, env = "AUDIT_LOG_STORE", value_name = "STORE")]
    pub store: Option<String>,

    /// The PostgreSQL schema holding the trail
    #[arg(
        long,
        global = true,
        env = "AUDIT_LOG_SCHEMA",
        default_value = "audit_log",
        value_name = "SCHEMA"
    )]
    pub schema: String,

    /// The tenant whose trail to work on
    #[arg(
        long,
        global = true,
        env = "AUDIT_LOG_TENANT",
        default_value = "default",
        value_name = "TENANT"
    )]
    pub tenant: String,

    /// How long to wait for a PostgreSQL server, in seconds
    #[arg(long, global = true, default_value_t = 5, value_name = "SECS")]
    pub connect_timeout: u64,
}

/// Where a store is.
#[derive(Debug, Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// The location as an error message names it: a PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite:{}", p.display()),
            Location::Postgres(url) => without_password(url),
        }
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db` (and a `password=`
/// parameter as `password=***`): a password never goes to a terminal or a log.
fn without_password(url: &str) -> String {
    let masked = match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => {
                    let (userinfo, host) = rest.split_at(at);
                    match userinfo.split_once(':') {
                        Some((user, _)) => format!("{scheme}://{user}:***{host}"),
                        None => url.to_owned(),
                    }
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    match masked.find("password=") {
        Some(i) => {
            let start = i + "password=".len();
            let end = masked[start..]
                .find('&')
                .map_or(masked.len(), |e| start + e);
            format!("{}***{}", &masked[..start], &masked[end..])
        }
        None => masked,
    }
}

/// An opened store.
#[derive(Debug, Clone)]
pub enum Opened {
    Sqlite(SqliteSink),
    Postgres(PostgresSink),
}

impl Opened {
    /// The store, to read from.
    pub fn store(&self) -> &dyn AuditStore {
        match self {
            Opened::Sqlite(s) => s,
            Opened::Postgres(s) => s,
        }
    }
}

impl StoreArgs {
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        TenantId::new(self.tenant.clone())
    }

    /// Where the store is, from `--store` or `AUDIT_LOG_STORE`.
    pub fn location(&self) -> Result<Location, Fail> {
        let Some(s) = self.store.as_deref().filter(|s| !s.is_empty()) else {
            return Err(Fail::Usage(
                "no store given: pass --store sqlite:PATH or --store postgres://... \
                 (or set AUDIT_LOG_STORE)"
                    .to_owned(),
            ));
        };
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(Fail::Usage("--store sqlite: needs a path".to_owned()));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Location::Postgres(s.to_owned()));
        }
        Err(Fail::Usage(format!(
            "--store {}: not a store (use sqlite:PATH or postgres://USER@HOST/DB)",
            without_password(s)
        )))
    }

    fn pg_options(&self) -> PostgresOptions {
        PostgresOptions::new()
            .schema(self.schema.clone())
            .pool_size(2)
            .connect_timeout(Duration::from_secs(self.connect_timeout.max(1)))
    }

    /// Opens the store for reading: nothing is created, migrated or written. A missing
    /// SQLite file, a missing PostgreSQL schema and a store of another version are errors.
    pub fn open_read(&self) -> Result<Opened, Fail> {
        let location = self.location()?;
        let opened = match &location {
            Location::Sqlite(path) => SqliteOptions::new()
                .read_only(true)
                .open(path)
                .map(Opened::Sqlite),
            Location::Postgres(url) => {
                PostgresSink::connect_with(url, self.pg_options().read_only(true))
                    .map(Opened::Postgres)
            }
        };
        opened.map_err(|e| Fail::store(location.describe(), e))
    }

    /// Opens an existing store for writing (purge): a missing SQLite file is an error, not a
    /// new store.
    pub fn open_existing(&self) -> Result<Opened, Fail> {
        let location = self.location()?;
        if let Location::Sqlite(path) = &location {
            if !is_nonempty_file(path) {
                return Err(Fail::store(
                    location.describe(),
                    audit_log::Error::NotAStore {
                        reason: format!("no store at {} (missing or empty file)", path.display()),
                    },
                ));
            }
        }
        self.open_write_at(&location)
    }

    /// Opens the store for writing, creating it if needed (import into a new store).
    pub fn open_write(&self) -> Result<Opened, Fail> {
        let location = self.location()?;
        self.open_write_at(&location)
    }

    fn open_write_at(&self, location: &Location) -> Result<Opened, Fail> {
        let opened = match location {
            Location::Sqlite(path) => SqliteSink::open(path).map(Opened::Sqlite),
            Location::Postgres(url) => {
                PostgresSink::connect_with(url, self.pg_options()).map(Opened::Postgres)
            }
        };
        opened.map_err(|e| Fail::store(location.describe(), e))
    }
}

fn is_nonempty_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            without_password("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            without_password("postgres://app@db/x"),
            "postgres://app@db/x"
        );
        assert_eq!(
            without_password("postgres://a:b@c@db/x"),
            "postgres://a:***@db/x"
        );
        assert_eq!(
            without_password("postgres://db/x?user=a&password=pw&sslmode=disable"),
            "postgres://db/x?user=a&password=***&sslmode=disable"
        );
    }
}
