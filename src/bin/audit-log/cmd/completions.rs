//! `completions`: the shell's completion script, on standard output.

use clap_complete::Shell;

use crate::fail::Fail;
use crate::render::Out;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
bash: audit-log completions bash > ~/.local/share/bash-completion/completions/audit-log
zsh:  audit-log completions zsh > ~/.zfunc/_audit-log   (with fpath+=~/.zfunc)
fish: audit-log completions fish > ~/.config/fish/completions/audit-log.fish")]
pub struct Args {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: Args, command: &mut clap::Command, out: &mut Out) -> Result<(), Fail> {
    clap_complete::generate(args.shell, command, "audit-log", out.generated());
    Ok(())
}
