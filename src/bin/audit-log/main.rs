//! `audit-log`: the command line for operators and auditors who hold an audit store (a
//! SQLite file, a PostgreSQL URL) and want to look into it without writing Rust.
//!
//! Install with `cargo install audit-log --features cli`. A thin layer over the library's
//! public API: one module per subcommand in `cmd/`, the store opened in `store.rs`
//! (read-only for every reading command), and every byte shown to a person through
//! `render.rs`, which neutralises the text stored in records.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cmd;
mod fail;
mod filter;
mod render;
mod store;
mod when;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::fail::Fail;
use crate::render::{Out, OutputArgs};
use crate::store::StoreArgs;

const AFTER_HELP: &str = "\
The store comes from --store or AUDIT_LOG_STORE: sqlite:PATH, or postgres://USER@HOST/DB
(with --schema, default audit_log). Reading commands open it read-only: they never create,
migrate or write anything.

Exit codes: 0 success; 1 a check failed (a broken chain, an export that does not match its
manifest), nothing was found where something was required, or a purge was declined; 2 usage
or store errors.";

/// Look into an audit trail: list and filter, show one record, follow an entity's history,
/// ask who has access and why, export, verify, keep checkpoints, purge by policy.
#[derive(Debug, Parser)]
#[command(name = "audit-log", version, after_help = AFTER_HELP, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,

    #[command(flatten)]
    output: OutputArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List records, filtered, as a table, JSON Lines or CSV
    List(cmd::list::Args),
    /// Show one record in full: envelope, context, changes, payload, chain link
    Show(cmd::show::Args),
    /// An entity's timeline, or its state at a point
    History(cmd::history::Args),
    /// What changed about an entity between two points
    Diff(cmd::diff::Args),
    /// A user's effective access, with every path and the records behind it
    Access(cmd::access::Args),
    /// The records that changed a user's access between two points
    Blame(cmd::blame::Args),
    /// The newest records, then (with --follow) new ones as they are committed
    Tail(cmd::tail::Args),
    /// Export records to a CSV or JSON Lines file with a manifest
    Export(cmd::export::Args),
    /// Check an export file against its manifest, offline
    VerifyExport(cmd::verify_export::Args),
    /// Import a JSON Lines export into the store
    Import(cmd::import::Args),
    /// Verify the chain: count, head, and the first bad seq and why
    Verify(cmd::verify::Args),
    /// Write a checkpoint of the head to keep outside the store
    Checkpoint(cmd::checkpoint::Args),
    /// Remove the oldest records under a retention policy, on record
    Purge(cmd::purge::Args),
    /// Counts by event, actor, outcome and day, and the entities named most
    Stats(cmd::stats::Args),
    /// Forward every record to the destinations of a configuration file
    Forward(cmd::forward::Args),
    /// Serve the audit log viewer (web pages) to this machine
    Serve(cmd::serve::Args),
    /// Shell completions
    Completions(cmd::completions::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            if !fail.is_quiet() {
                render::diagnostic("error", &fail.to_string());
            }
            fail.code()
        }
    }
}

/// Help and version go to stdout (exit 0); a usage error becomes one line on stderr (exit 2):
/// clap's message without its usage block, which `--help` shows.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    let message = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    render::diagnostic("error", &format!("{message} (see --help)"));
    ExitCode::from(2)
}

fn run(cli: Cli) -> Result<(), Fail> {
    let mut out = Out::new(&cli.output)?;
    let ctx = cmd::Ctx {
        store: &cli.store,
        now: chrono::Utc::now(),
    };
    let result = match cli.command {
        Command::List(a) => cmd::list::run(a, &ctx, &mut out),
        Command::Show(a) => cmd::show::run(a, &ctx, &mut out),
        Command::History(a) => cmd::history::run(a, &ctx, &mut out),
        Command::Diff(a) => cmd::diff::run(a, &ctx, &mut out),
        Command::Access(a) => cmd::access::run(a, &ctx, &mut out),
        Command::Blame(a) => cmd::blame::run(a, &ctx, &mut out),
        Command::Tail(a) => cmd::tail::run(a, &ctx, &mut out),
        Command::Export(a) => cmd::export::run(a, &ctx, &mut out),
        Command::VerifyExport(a) => cmd::verify_export::run(a, &ctx, &mut out),
        Command::Import(a) => cmd::import::run(a, &ctx, &mut out),
        Command::Verify(a) => cmd::verify::run(a, &ctx, &mut out),
        Command::Checkpoint(a) => cmd::checkpoint::run(a, &ctx, &mut out),
        Command::Purge(a) => cmd::purge::run(a, &ctx, &mut out),
        Command::Stats(a) => cmd::stats::run(a, &ctx, &mut out),
        Command::Forward(a) => cmd::forward::run(a, &ctx, &mut out),
        Command::Serve(a) => cmd::serve::run(a, &ctx, &mut out),
        Command::Completions(a) => cmd::completions::run(a, &mut Cli::command(), &mut out),
    };
    // What was printed before a failure still reaches the reader.
    let flushed = out.flush();
    result?;
    flushed.map_err(Fail::Io)
}
