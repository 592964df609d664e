//! `verify-export`: checks an export file against its manifest, offline (no store needed).

use std::path::PathBuf;

use audit_log::export::{manifest_path, verify_export};
use audit_log::Manifest;

use super::Ctx;
use crate::fail::Fail;
use crate::render::{Out, Span, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The export file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Its manifest (default: FILE.manifest.json)
    #[arg(long, value_name = "MANIFEST")]
    pub manifest: Option<PathBuf>,
}

pub fn run(args: Args, _ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let manifest_file = args.manifest.unwrap_or_else(|| manifest_path(&args.file));
    let manifest = Manifest::read(&manifest_file)
        .map_err(|e| Fail::store(manifest_file.display().to_string(), e))?;
    let data = std::fs::File::open(&args.file)
        .map_err(|e| Fail::store(args.file.display().to_string(), e.into()))?;
    let report = verify_export(std::io::BufReader::new(data), &manifest)
        .map_err(|e| Fail::store(args.file.display().to_string(), e))?;
    let what = format!(
        "{}: {} export of tenant {}, {} records{}, taken {}",
        args.file.display(),
        manifest.format,
        manifest.tenant,
        manifest.count,
        match (manifest.first_seq, manifest.last_seq) {
            (Some(a), Some(b)) => format!(" (seq {a} to {b})"),
            _ => String::new(),
        },
        out.time(manifest.exported_at)
    );
    out.line(what)?;
    if report.is_intact() {
        out.spans(&[
            Span::new("intact", Style::Green),
            Span::plain(format!(
                ": {} records, sha-256 {}{}",
                report.count,
                report.sha256,
                if report.chain_checked {
                    ", every record's hash and link verified"
                } else {
                    ""
                }
            )),
        ])?;
        if manifest.full {
            out.line("  the whole trail up to its head at the time")?;
        }
        return Ok(());
    }
    out.spans(&[Span::new("NOT INTACT", Style::Red)])?;
    for p in &report.problems {
        out.line(format!("  - {p}"))?;
    }
    Err(Fail::Check(format!(
        "{} does not match its manifest ({} problems)",
        args.file.display(),
        report.problems.len()
    )))
}
