//! `export`: records to a CSV or JSON Lines file, with its manifest beside it, and a progress
//! bar on a terminal.

use std::path::PathBuf;
use std::time::Duration;

use audit_log::export::manifest_path;
use audit_log::{Actor, AuditLog, Column, CsvExport, JsonlExport, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Ctx;
use crate::fail::Fail;
use crate::filter::Filters;
use crate::render::{self, Out};

/// `--format` of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    /// CSV for spreadsheets, formula-safe
    Csv,
    /// JSON Lines: every field and hash, lossless (what import reads)
    Jsonl,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Writes FILE and FILE.manifest.json (what the file holds, its SHA-256, the head it was taken
at), which verify-export checks offline. Times in CSV are in --tz. A progress bar with rate and
ETA shows on a terminal (stderr), none otherwise.")]
pub struct Args {
    /// The file's format
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: FileFormat,

    /// The file to write
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub filters: Filters,

    /// CSV: the columns, comma-separated (default: the documented default set)
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,

    /// CSV: the field delimiter
    #[arg(long, default_value_t = ',', value_name = "CHAR")]
    pub delimiter: char,

    /// CSV: start with a UTF-8 byte order mark (for Excel)
    #[arg(long)]
    pub bom: bool,

    /// CSV: values exactly as recorded (no formula escaping), for machines
    #[arg(long)]
    pub raw: bool,

    /// Record the export in the trail (audit.exported) with this actor id as the one who
    /// exported; opens the store for writing
    #[arg(long, value_name = "ACTOR_ID")]
    pub record_as: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let file = &args.output;
    if file.exists() && !args.force {
        return Err(Fail::Usage(format!(
            "{} exists: remove it or pass --force",
            file.display()
        )));
    }
    let opened = if args.record_as.is_some() {
        ctx.store.open_existing()?
    } else {
        ctx.store.open_read()?
    };
    let store = opened.store();
    let q = args
        .filters
        .query(ctx.store.tenant(), out.zone(), ctx.now)?;
    let log;
    let recorder = match &args.record_as {
        Some(id) => {
            log = match &opened {
                crate::store::Opened::Sqlite(s) => AuditLog::builder(s.clone()).build(),
                crate::store::Opened::Postgres(s) => AuditLog::builder(s.clone()).build(),
            };
            Some((&log, Actor::user(id.as_str(), id.as_str())))
        }
        None => None,
    };

    let bar = progress_bar();
    let on_progress = |p: Progress| {
        if let Some(total) = p.total {
            bar.set_length(total);
        }
        bar.set_position(p.written);
    };
    let manifest = match args.format {
        FileFormat::Csv => {
            let mut e = CsvExport::new()
                .time_zone(*out.zone())
                .bom(args.bom)
                .formula_escaping(!args.raw);
            // Progress costs a count of the records first: only when a bar shows it.
            if !bar.is_hidden() {
                e = e.on_progress(on_progress);
            }
            if !args.delimiter.is_ascii() {
                return Err(Fail::Usage(
                    "--delimiter must be an ASCII character".to_owned(),
                ));
            }
            e = e.delimiter(args.delimiter as u8);
            if !args.columns.is_empty() {
                let mut cols = Vec::new();
                for c in &args.columns {
                    cols.push(Column::from_header(c.trim()).ok_or_else(|| {
                        Fail::Usage(format!(
                            "--columns: no column {c:?} (the columns: {})",
                            Column::ALL
                                .iter()
                                .map(|c| c.header())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?);
                }
                e = e.columns(cols);
            }
            if let Some((log, actor)) = &recorder {
                e = e.record_to(log, actor.clone());
            }
            e.to_file(store, &q, file)
        }
        FileFormat::Jsonl => {
            let mut e = JsonlExport::new();
            if !bar.is_hidden() {
                e = e.on_progress(on_progress);
            }
            if let Some((log, actor)) = &recorder {
                e = e.record_to(log, actor.clone());
            }
            e.to_file(store, &q, file)
        }
    }
    .map_err(|e| Fail::store(file.display().to_string(), e))?;
    bar.finish();

    let range = match (manifest.first_seq, manifest.last_seq) {
        (Some(a), Some(b)) => format!(" (seq {a} to {b})"),
        _ => String::new(),
    };
    out.line(format!(
        "exported {} records{range} to {}",
        manifest.count,
        file.display()
    ))?;
    out.line(format!(
        "manifest {} (sha-256 {})",
        manifest_path(file).display(),
        manifest.sha256
    ))?;
    if let Some(seq) = manifest.recorded_seq {
        out.line(format!("recorded as audit.exported #{seq}"))?;
    }
    Ok(())
}

/// A bar on stderr when it is a terminal (rate and ETA once the total is known), nothing
/// otherwise.
pub fn progress_bar() -> ProgressBar {
    if !render::stderr_is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {human_pos}/{human_len} records  {per_sec}  ETA {eta}  {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
