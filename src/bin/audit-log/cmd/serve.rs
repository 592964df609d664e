//! `serve`: the audit log viewer (the library's `web::Viewer`) over the store, in its
//! local-only mode: bound to the loopback address, serving only connections from this
//! machine, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use audit_log::web::Viewer;
use audit_log::Store;

use super::Ctx;
use crate::fail::Fail;
use crate::render::Out;
use crate::store::Opened;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The viewer serves this machine only (the loopback address): every tenant, to anyone who can
open a connection here. To show the audit log to other people, mount audit_log::web::Viewer in
your own service with authorize, which says who may see which tenants. Downloads are recorded
in the trail (audit.exported by \"local operator\"), so the store is opened for writing.")]
pub struct Args {
    /// Where to listen: a loopback address and port
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// The path the viewer is served under
    #[arg(long, default_value = "/", value_name = "PATH")]
    pub base: String,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    if !args.listen.ip().is_loopback() {
        return Err(Fail::Usage(format!(
            "--listen {}: serve listens on the loopback address only (127.0.0.1 or ::1); \
             mount the viewer in a service with authorize to serve others",
            args.listen
        )));
    }
    let base = args.base.trim_end_matches('/').to_owned();
    if !base.is_empty() && (!base.starts_with('/') || base.contains(['?', '#', ' '])) {
        return Err(Fail::Usage(format!(
            "--base {}: a path such as /admin/audit",
            args.base
        )));
    }
    // Opened before the runtime starts (the stores' own clients block), kept until it is gone.
    let store: Arc<dyn Store> = match ctx.store.open_existing()? {
        Opened::Sqlite(s) => Arc::new(s),
        Opened::Postgres(s) => Arc::new(s),
    };
    let viewer = Viewer::shared(Arc::clone(&store))
        .local_only()
        .into_router();
    let app = if base.is_empty() {
        viewer
    } else {
        axum::Router::new().nest(&base, viewer)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Fail::Io)?;
    let listen = args.listen;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let url = format!(
            "http://{}{}",
            listener.local_addr()?,
            if base.is_empty() { "/" } else { &base }
        );
        Ok::<_, std::io::Error>((listener, url))
    });
    let (listener, url) = served.map_err(|e| Fail::Usage(format!("--listen {listen}: {e}")))?;
    out.line(format!(
        "The audit log viewer on {url} (this machine only; Ctrl-C stops it)"
    ))
    .map_err(Fail::Io)?;
    out.flush().map_err(Fail::Io)?;
    let result = runtime.block_on(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(super::forward::stop_signal())
        .await
    });
    drop(runtime);
    drop(store);
    result.map_err(Fail::Io)
}
