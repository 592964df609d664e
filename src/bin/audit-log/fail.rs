//! How a command fails, and the exit code each way of failing gets.
//!
//! | exit | when |
//! | --- | --- |
//! | 0 | success |
//! | 1 | a check failed (a broken chain, an export that does not match its manifest), nothing was found where something was required (no such record, entity or user), or the operator declined |
//! | 2 | usage errors (bad arguments; clap's own too) and store errors (a missing file, a bad URL, a newer schema, an unreachable server) |
//!
//! Whatever the failure, one line on standard error: `audit-log: error: <what>`.

use std::fmt;
use std::process::ExitCode;

/// A command's failure.
#[derive(Debug)]
pub enum Fail {
    /// A check failed or nothing was found: exit 1.
    Check(String),
    /// Bad arguments: exit 2.
    Usage(String),
    /// The store (or a file) could not be opened, read or written: exit 2. `context` says
    /// which (the store's location, a file's path).
    Store {
        context: String,
        error: audit_log::Error,
    },
    /// Writing the output failed: exit 2 (a closed pipe is not a failure: see [`Fail::code`]).
    Io(std::io::Error),
}

impl Fail {
    /// A store error with what was being done.
    pub fn store(context: impl Into<String>, error: audit_log::Error) -> Self {
        Fail::Store {
            context: context.into(),
            error,
        }
    }

    /// The exit code.
    pub fn code(&self) -> ExitCode {
        match self {
            Fail::Check(_) => ExitCode::from(1),
            // `audit-log list | head`: the reader left; nothing went wrong.
            Fail::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Fail::Usage(_) | Fail::Store { .. } | Fail::Io(_) => ExitCode::from(2),
        }
    }

    /// Whether there is anything to say (a closed pipe is left quiet).
    pub fn is_quiet(&self) -> bool {
        matches!(self, Fail::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Fail {
    /// One line: the error and its causes, joined with `: `, never a debug dump.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Check(m) | Fail::Usage(m) => f.write_str(m),
            Fail::Store { context, error } => {
                if !context.is_empty() {
                    write!(f, "{context}: ")?;
                }
                write!(f, "{error}")?;
                let mut source = std::error::Error::source(error);
                let mut last = error.to_string();
                while let Some(s) = source {
                    let text = s.to_string();
                    // Drivers often repeat their cause in their own message.
                    if !last.contains(&text) {
                        write!(f, ": {text}")?;
                    }
                    last = text;
                    source = s.source();
                }
                Ok(())
            }
            Fail::Io(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Io(e)
    }
}

impl From<audit_log::Error> for Fail {
    fn from(e: audit_log::Error) -> Self {
        Fail::store("", e)
    }
}
