//! [`ForwardConfig`]: a forwarder described as data (a TOML or JSON file), for a CLI or a
//! service that reads its configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cursor::{CursorStore, FileCursors, MemoryCursors};
use super::dest::file::JsonLinesFile;
use super::dest::syslog::Syslog;
use super::destination::Destination;
use super::format::{Format, Product};
use super::forwarder::Forwarder;
use super::retry::Backoff;
use super::route::{OnPurged, OnReject, Route, Start, Tenants};
use crate::error::Result;
use crate::sink::AuditStore;

/// Where the cursors live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CursorConfig {
    /// In memory: a restart starts over (tests, and destinations that de-duplicate).
    Memory,
    /// [`FileCursors`] in this directory.
    Files(PathBuf),
    /// [`SqliteCursors`](super::SqliteCursors) in this SQLite file (the trail's own).
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf),
    /// [`PgCursors`](super::PgCursors) in this database and schema, with the lease.
    #[cfg(feature = "postgres")]
    Postgres {
        /// The connection URL.
        url: String,
        /// The schema (the trail's, typically `audit_log`).
        schema: String,
    },
}

/// Syslog's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogTransport {
    /// TCP with octet counting (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// One destination, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum DestinationConfig {
    /// [`JsonLinesFile`].
    File {
        /// The directory.
        dir: PathBuf,
        /// The base name (default `audit`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Rotation size in bytes (default 64 MiB).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_bytes: Option<u64>,
    },
    /// [`Syslog`].
    Syslog {
        /// `host:port`.
        addr: String,
        /// TCP (default) or UDP.
        #[serde(default)]
        transport: SyslogTransport,
        /// The HOSTNAME field (default: this machine's name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hostname: Option<String>,
        /// The APP-NAME field (default `audit-log`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_name: Option<String>,
    },
    /// [`Webhook`](super::Webhook).
    #[cfg(feature = "webhook")]
    Webhook {
        /// The URL to POST to.
        url: String,
        /// The environment variable holding the signing secret: the secret itself never
        /// sits in a configuration file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_env: Option<String>,
        /// Request timeout in milliseconds (default 10,000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// [`JetStream`](super::JetStream).
    #[cfg(feature = "nats")]
    Nats {
        /// The server URL.
        url: String,
        /// The subject prefix.
        prefix: String,
        /// Create this stream over `<prefix>.>` if it is missing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ensure_stream: Option<String>,
    },
}

/// One route as data; see [`Route`] for the meaning and defaults of each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name (its cursors' key).
    pub name: String,
    /// The destination.
    pub destination: DestinationConfig,
    /// The format (default `record`).
    #[serde(default)]
    pub format: Format,
    /// Where the first run starts (default `now`).
    #[serde(default)]
    pub start: Start,
    /// Records per batch (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// What to do with a refused record (default `dead_letter`).
    #[serde(default)]
    pub on_reject: OnReject,
    /// What to do when a purge removed records not delivered yet (default `hold`).
    #[serde(default)]
    pub on_purged: OnPurged,
    /// Retry delays (default 200 ms doubling to 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Which tenants (default all).
    #[serde(default)]
    pub tenants: Tenants,
    /// Who the events say produced them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
}

/// A whole forwarder as data.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> audit_log::Result<()> {
/// use std::sync::Arc;
/// use audit_log::forward::ForwardConfig;
/// use audit_log::MemorySink;
///
/// let config: ForwardConfig = serde_json::from_str(r#"{
///     "cursors": "memory",
///     "routes": [
///         {"name": "siem", "destination": {"kind": "syslog", "addr": "127.0.0.1:6514"},
///          "format": "cef", "start": "beginning"},
///         {"name": "archive", "destination": {"kind": "file", "dir": "audit-out"},
///          "start": {"seq": 1000}}
///     ]
/// }"#).unwrap();
/// let forwarder = config.build(Arc::new(MemorySink::new())).await?;
/// assert_eq!(forwarder.status().snapshot().len(), 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Where the cursors live.
    pub cursors: CursorConfig,
    /// The routes.
    pub routes: Vec<RouteConfig>,
    /// [`Forwarder::shutdown_grace`] in milliseconds (default 30,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_ms: Option<u64>,
}

impl ForwardConfig {
    /// Opens the cursor store, connects the destinations that need it, and builds the
    /// forwarder (not yet running: call [`Forwarder::run`] or [`Forwarder::spawn`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a missing secret variable; the cursor store's and the
    /// destinations' connection errors.
    pub async fn build<S: AuditStore + Send + Sync + ?Sized + 'static>(
        &self,
        store: Arc<S>,
    ) -> Result<Forwarder<S>> {
        let cursors: Arc<dyn CursorStore> = match &self.cursors {
            CursorConfig::Memory => Arc::new(MemoryCursors::new()),
            CursorConfig::Files(dir) => Arc::new(FileCursors::new(dir)?),
            #[cfg(feature = "sqlite")]
            CursorConfig::Sqlite(path) => {
                let path = path.clone();
                Arc::new(blocking(move || super::SqliteCursors::open(path)).await?)
            }
            #[cfg(feature = "postgres")]
            CursorConfig::Postgres { url, schema } => {
                let (url, schema) = (url.clone(), schema.clone());
                Arc::new(blocking(move || super::PgCursors::connect(&url, &schema)).await?)
            }
        };
        let mut f = Forwarder::with_cursors(store, cursors);
        if let Some(ms) = self.shutdown_grace_ms {
            f = f.shutdown_grace(Duration::from_millis(ms));
        }
        for r in &self.routes {
            let destination = r.destination.build(r.format).await?;
            let mut route = Route::with_arc(&r.name, destination)
                .format(r.format)
                .start(r.start)
                .on_reject(r.on_reject)
                .on_purged(r.on_purged)
                .tenants(r.tenants.clone());
            if let Some(n) = r.batch_size {
                route = route.batch_size(n);
            }
            if let Some(b) = r.backoff {
                route = route.backoff(b);
            }
            if let Some(p) = &r.product {
                route = route.product(p.clone());
            }
            f = f.route(route);
        }
        Ok(f)
    }
}

impl DestinationConfig {
    async fn build(&self, format: Format) -> Result<Arc<dyn Destination>> {
        let _ = format;
        Ok(match self {
            DestinationConfig::File {
                dir,
                name,
                max_bytes,
            } => {
                let mut d = JsonLinesFile::new(dir);
                if let Some(n) = name {
                    d = d.name(n.clone());
                }
                if let Some(m) = max_bytes {
                    d = d.max_bytes(*m);
                }
                Arc::new(d)
            }
            DestinationConfig::Syslog {
                addr,
                transport,
                hostname,
                app_name,
            } => {
                let mut d = match transport {
                    SyslogTransport::Tcp => Syslog::tcp(addr.clone()),
                    SyslogTransport::Udp => Syslog::udp(addr.clone()),
                };
                if let Some(h) = hostname {
                    d = d.hostname(h);
                }
                if let Some(a) = app_name {
                    d = d.app_name(a);
                }
                Arc::new(d)
            }
            #[cfg(feature = "webhook")]
            DestinationConfig::Webhook {
                url,
                secret_env,
                timeout_ms,
            } => {
                let mut d = super::Webhook::new(url.clone()).format(format);
                if let Some(var) = secret_env {
                    let secret = std::env::var(var).map_err(|_| {
                        crate::Error::invalid(
                            "secret_env",
                            format!("environment variable {var} is not set"),
                        )
                    })?;
                    d = d.secret(secret.into_bytes());
                }
                if let Some(ms) = timeout_ms {
                    d = d.timeout(Duration::from_millis(*ms));
                }
                Arc::new(d)
            }
            #[cfg(feature = "nats")]
            DestinationConfig::Nats {
                url,
                prefix,
                ensure_stream,
            } => {
                let js = super::JetStream::connect(url, prefix).await?;
                if let Some(name) = ensure_stream {
                    js.ensure_stream(name, Duration::from_secs(120)).await?;
                }
                Arc::new(js)
            }
        })
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(crate::Error::store("forward", e.to_string())),
    }
}
