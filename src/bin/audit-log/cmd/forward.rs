//! `forward`: runs the library's forwarder from a configuration file (TOML or JSON: see
//! `audit_log::forward::ForwardConfig`), with a live status line per destination, until
//! Ctrl-C or SIGTERM; then the batch in flight is finished and the final status printed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_log::forward::{DestinationStatus, ForwardConfig, StatusHandle};
use audit_log::AuditStore;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Ctx;
use crate::fail::Fail;
use crate::render::{self, Out};
use crate::store::Opened;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The configuration names the cursor store and the routes (destination, format, where the first
run starts); see the forward module docs and docs/forwarding.md. The trail is only read (opened
read-only); the cursors live where the configuration says. On a terminal each route has a
status line on stderr; otherwise a status line per route goes to stderr every --status-every
seconds.")]
pub struct Args {
    /// The configuration file: TOML (.toml) or JSON
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Without a terminal, print the status every this many seconds (0: only at the end)
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub status_every: u64,
}

fn read_config(path: &PathBuf) -> Result<ForwardConfig, Fail> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Fail::store(&name, e.into()))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let parsed = if is_toml {
        toml::from_str::<ForwardConfig>(&text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str::<ForwardConfig>(&text).map_err(|e| e.to_string())
    };
    // A one-line message: the parsers' own point at the line and column.
    parsed.map_err(|e| {
        Fail::Usage(format!(
            "{name}: {}",
            e.lines().collect::<Vec<_>>().join(" ")
        ))
    })
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let config = read_config(&args.config)?;
    // Opened before the runtime starts: the stores' own clients block.
    let store: Arc<dyn AuditStore> = match ctx.store.open_read()? {
        Opened::Sqlite(s) => Arc::new(s),
        Opened::Postgres(s) => Arc::new(s),
    };
    // This handle outlives the runtime: the PostgreSQL store's synchronous client must not be
    // dropped (closing its connections) on a thread that drives the runtime.
    let kept = Arc::clone(&store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Fail::Io)?;
    let report = runtime.block_on(async move {
        let forwarder = config
            .build(store)
            .await
            .map_err(|e| Fail::store(args.config.display().to_string(), e))?;
        let status = forwarder.status();
        let shown = tokio::spawn(show_status(status, args.status_every));
        let report = forwarder.run(stop_signal()).await;
        shown.abort();
        report.map_err(Fail::from)
    });
    drop(runtime);
    drop(kept);
    let report = report?;
    for s in &report.routes {
        out.line(s.line())?;
        if let Some(e) = &s.last_error {
            out.line(format!("  last error: {e}"))?;
        }
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM (a service manager stopping it).
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A live line per route on a terminal; otherwise a line per route every `every` seconds.
async fn show_status(status: StatusHandle, every: u64) {
    if render::stderr_is_terminal() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut bars: Vec<ProgressBar> = Vec::new();
        loop {
            let snapshot = status.snapshot();
            while bars.len() < snapshot.len() {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bars.push(bar);
            }
            for (bar, s) in bars.iter().zip(&snapshot) {
                bar.set_message(line(s));
                bar.tick();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    } else if every > 0 {
        loop {
            tokio::time::sleep(Duration::from_secs(every)).await;
            for s in status.snapshot() {
                render::note(&line(&s));
            }
        }
    }
}

/// A route's status line, its text neutralised (route and tenant names come from a file and
/// a store).
fn line(s: &DestinationStatus) -> String {
    render::safe(&s.line()).into_owned()
}
