//! Exit codes, decided by the kind of error (see README, "Exit codes").

use std::fmt;

/// Everything fine.
pub const OK: i32 = 0;
/// The run worked but found problems (audit failures, pending changes with --check).
pub const FINDINGS: i32 = 1;
/// Bad usage or bad input (command line, answers file, config the user pointed at).
pub const USAGE: i32 = 2;
/// A bug or an environment failure dpwizard could not handle.
pub const INTERNAL: i32 = 3;

#[derive(Debug)]
pub enum Exit {
    /// Bad command line or input; the message says what and where.
    Usage(anyhow::Error),
    /// Something broke that is not the user's fault.
    Internal(anyhow::Error),
}

impl Exit {
    pub fn code(&self) -> i32 {
        match self {
            Exit::Usage(_) => USAGE,
            Exit::Internal(_) => INTERNAL,
        }
    }

    pub fn usage(msg: impl fmt::Display) -> Exit {
        Exit::Usage(anyhow::anyhow!("{msg}"))
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:#}` prints the whole context chain: "reading X: permission denied".
        match self {
            Exit::Usage(e) | Exit::Internal(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for Exit {
    fn from(e: anyhow::Error) -> Self {
        Exit::Internal(e)
    }
}
