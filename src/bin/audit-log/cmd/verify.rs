//! `verify`: the chain, the start, the head, the entity index, and optionally a checkpoint
//! kept elsewhere and the store's own storage check.

use std::path::PathBuf;

use audit_log::chain::{StorageCheck, VerifyOptions, VerifyReport};
use audit_log::{AuditStoreExt, Checkpoint, CheckpointFile, CheckpointVerifier, SignedCheckpoint};

use super::{purge_note, Ctx};
use crate::fail::Fail;
use crate::render::{Out, Span, Style};

/// `--storage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageArg {
    /// SQLite's quick_check (pages and B-trees)
    Quick,
    /// SQLite's integrity_check (also every index against its table)
    Full,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit 1 when the trail does not verify (the first bad seq and why are printed), 0 when it does.
A checkpoint file holds a checkpoint as checkpoint -o writes it, or signed checkpoints (one JSON
line each, as checkpoint --sign appends them): then --public-key is needed and the newest of
the tenant is checked.")]
pub struct Args {
    /// Also check the trail against a checkpoint kept outside the store
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// The signer's public key (64 hex digits), for a file of signed checkpoints
    #[arg(long, value_name = "HEX")]
    pub public_key: Option<String>,

    /// Also run the store's own check of its storage
    #[arg(long, value_enum, value_name = "CHECK")]
    pub storage: Option<StorageArg>,
}

/// What a checkpoint file held.
enum Kept {
    Plain(Checkpoint),
    Signed(SignedCheckpoint),
}

fn read_checkpoint(path: &PathBuf, tenant: &audit_log::TenantId) -> Result<Kept, Fail> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Fail::store(&name, e.into()))?;
    if let Ok(c) = Checkpoint::from_json(text.trim()) {
        return Ok(Kept::Plain(c));
    }
    let file = CheckpointFile::open_read_only(path).map_err(|e| {
        Fail::store(
            &name,
            audit_log::Error::invalid(
                "checkpoint",
                format!("neither a checkpoint nor a file of signed checkpoints ({e})"),
            ),
        )
    })?;
    match file.newest(tenant).map_err(|e| Fail::store(&name, e))? {
        Some(s) => Ok(Kept::Signed(s)),
        None => Err(Fail::Check(format!(
            "{name} holds no checkpoint of tenant {tenant}"
        ))),
    }
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let tenant = ctx.store.tenant();
    let kept = match &args.checkpoint {
        Some(p) => Some(read_checkpoint(p, &tenant)?),
        None => None,
    };
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let mut options = VerifyOptions::new();
    if let Some(s) = args.storage {
        options = options.storage(match s {
            StorageArg::Quick => StorageCheck::Quick,
            StorageArg::Full => StorageCheck::Full,
        });
    }
    let checkpoint_line = match &kept {
        None => None,
        Some(Kept::Plain(c)) => {
            options = options.checkpoint(c.clone());
            Some(format!("seq {} hash {}", c.seq, c.hash))
        }
        Some(Kept::Signed(s)) => {
            let Some(hex) = &args.public_key else {
                return Err(Fail::Usage(
                    "the checkpoint file holds signed checkpoints: give the signer's --public-key"
                        .to_owned(),
                ));
            };
            let verifier = CheckpointVerifier::from_hex(s.key_id.clone(), hex)
                .map_err(|e| Fail::Usage(format!("--public-key: {e}")))?;
            let c = s.verify_signature(&verifier).map_err(|e| {
                Fail::Check(format!("the checkpoint's signature does not hold: {e}"))
            })?;
            options = options.checkpoint(c.clone());
            Some(format!(
                "seq {} hash {}, signed by {} at {}",
                c.seq,
                c.hash,
                s.key_id,
                out.time(s.signed_at)
            ))
        }
    };
    let report = store.verify_with(&tenant, &options)?;
    show(&report, out)?;
    match purge_note(store, &tenant, out)? {
        Some(note) => out.field("start", note, 12)?,
        None => out.field("start", "seq 1 (nothing purged)", 12)?,
    }
    out.field(
        "entity index",
        if report.index_checked {
            "checked"
        } else {
            "none kept by this store"
        },
        12,
    )?;
    match report.sealed {
        Some(true) => out.field("seals", "checked with the chain key", 12)?,
        Some(false) => out.field(
            "seals",
            "not checked: the chain is keyed and no key was given",
            12,
        )?,
        None => {}
    }
    if let Some(line) = checkpoint_line {
        out.field("checkpoint", line, 12)?;
    }
    if let Some(s) = &report.storage {
        out.field(
            "storage",
            match s {
                Ok(()) => "ok".to_owned(),
                Err(why) => format!("FAILED: {why}"),
            },
            12,
        )?;
    }
    match (&report.first_break, &report.storage) {
        (Some(b), _) => Err(Fail::Check(format!("verification failed at {b}"))),
        (None, Some(Err(why))) => Err(Fail::Check(format!("storage check failed: {why}"))),
        _ => Ok(()),
    }
}

fn show(r: &VerifyReport, out: &mut Out) -> Result<(), Fail> {
    match &r.first_break {
        None => out.spans(&[
            Span::new("intact", Style::Green),
            Span::plain(format!(": tenant {}, {} records", r.tenant, r.count)),
        ])?,
        Some(b) => out.spans(&[
            Span::new("BROKEN", Style::Red),
            Span::plain(format!(
                ": tenant {}, first bad seq {}: {} ({} records read)",
                r.tenant, b.seq, b.reason, r.count
            )),
        ])?,
    }
    match &r.head {
        Some(h) => out.field("head", format!("seq {} hash {}", h.seq, h.hash), 12)?,
        None => out.field("head", "empty trail", 12)?,
    }
    Ok(())
}
