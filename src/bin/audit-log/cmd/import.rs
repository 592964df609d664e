//! `import`: a JSON Lines export into the store (created if it does not exist), checked whole
//! before anything is written.

use std::path::PathBuf;

use audit_log::{Import, Progress};

use super::export::progress_bar;
use super::Ctx;
use crate::fail::Fail;
use crate::render::Out;
use crate::store::Opened;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The file is read twice: a first pass checks every line (JSON, chain, hashes, that it continues
the store's trail) and writes nothing; then the records are appended byte for byte. Records the
store already holds are skipped, so an interrupted import is finished by running it again.")]
pub struct Args {
    /// The JSON Lines file (as export --format jsonl writes it)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    // Before the store is opened (and perhaps created): no empty store for a file not there.
    std::fs::File::open(&args.file)
        .map_err(|e| Fail::store(args.file.display().to_string(), e.into()))?;
    let opened = ctx.store.open_write()?;
    let bar = progress_bar();
    let import = Import::new().on_progress(|p: Progress| {
        if let Some(total) = p.total {
            bar.set_length(total);
        }
        bar.set_position(p.written);
    });
    let summary = match &opened {
        Opened::Sqlite(s) => import.from_path(s, &args.file),
        Opened::Postgres(s) => import.from_path(s, &args.file),
    }
    .map_err(|e| Fail::store(args.file.display().to_string(), e))?;
    bar.finish();
    out.line(format!(
        "imported {} records from {} ({} lines, {} already in the store)",
        summary.imported,
        args.file.display(),
        summary.lines,
        summary.skipped
    ))?;
    for (tenant, head) in &summary.heads {
        out.line(format!(
            "  tenant {tenant}: head seq {} hash {}",
            head.seq, head.hash
        ))?;
    }
    Ok(())
}
