//! `checkpoint`: the head (seq and hash) written to a file to keep outside the store, plain or
//! signed with an Ed25519 key.

use std::io::Write;
use std::path::PathBuf;

use audit_log::{AuditStoreExt, CheckpointFile, CheckpointSigner, CheckpointTarget};

use super::{not_found, Ctx};
use crate::fail::Fail;
use crate::render::Out;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Keep the file where the store's operators cannot rewrite it (another system, a ticket, a signed
e-mail); verify --checkpoint FILE later catches a truncated trail or a store restored from an
older backup. Without --sign the file must not exist yet (- writes to stdout); with --sign the
signed checkpoint is appended to FILE, a file of signed checkpoints.")]
pub struct Args {
    /// Where to write it (- for standard output)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Sign it with the Ed25519 secret key in this file (32 raw bytes or 64 hex digits,
    /// readable by its owner only)
    #[arg(long, value_name = "KEY_FILE", requires = "key_id")]
    pub sign: Option<PathBuf>,

    /// The signing key's id, signed with the checkpoint
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let opened = ctx.store.open_read()?;
    let tenant = ctx.store.tenant();
    let checkpoint = opened
        .store()
        .checkpoint(&tenant)?
        .ok_or_else(|| not_found(format!("tenant {tenant} has no records to checkpoint")))?;
    let name = args.output.display().to_string();
    match (&args.sign, &args.key_id) {
        (Some(key_file), Some(key_id)) => {
            let signer = CheckpointSigner::from_key_file(key_id.clone(), key_file)
                .map_err(|e| Fail::store(key_file.display().to_string(), e))?;
            let signed = checkpoint.sign(&signer, ctx.now);
            let file = CheckpointFile::open(&args.output).map_err(|e| Fail::store(&name, e))?;
            file.append(&signed).map_err(|e| Fail::store(&name, e))?;
            out.line(format!(
                "signed checkpoint of tenant {tenant} at seq {} (hash {}) by key {key_id} appended to {name}",
                checkpoint.seq, checkpoint.hash
            ))?;
        }
        _ if name == "-" => {
            out.line(checkpoint.to_json())?;
        }
        _ => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&args.output)
                .map_err(|e| Fail::store(&name, e.into()))?;
            writeln!(f, "{}", checkpoint.to_json())
                .and_then(|()| f.sync_all())
                .map_err(|e| Fail::store(&name, e.into()))?;
            out.line(format!(
                "checkpoint of tenant {tenant} at seq {} (hash {}) written to {name}",
                checkpoint.seq, checkpoint.hash
            ))?;
        }
    }
    Ok(())
}
