//! The plan: Facts + Answers → the exact file changes and commands apply would make.
//! Computing a plan has no side effects, so `plan`, `apply --dry-run`, the TUI review screen
//! and the tests all see the same thing. Renderers for each file kind live in submodules.

pub mod apache;
pub mod caddy;
pub mod compose_front;
pub mod compose_override;
pub mod decide;
pub mod diff;
pub mod firewall;
pub mod front_apache;
pub mod front_caddy;
pub mod make;
pub mod nginx;
pub mod nginx_site;
pub mod reads;
pub mod selfsigned;
pub mod service;
pub mod systemd;
pub mod web_client;

use serde::Serialize;

/// Who owns a file and its permission bits, as apply must leave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileMode {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl FileMode {
    /// root:root 0644, the default for configuration files.
    pub const CONFIG: FileMode = FileMode {
        uid: 0,
        gid: 0,
        mode: 0o644,
    };
    /// root:root 0600, for private keys.
    pub const SECRET: FileMode = FileMode {
        uid: 0,
        gid: 0,
        mode: 0o600,
    };
}

/// One change to the filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// Create or replace a file. `old` is `None` for a new file.
    Write {
        path: String,
        #[serde(skip)]
        old: Option<Vec<u8>>,
        #[serde(skip)]
        new: Vec<u8>,
        mode: FileMode,
        /// Secrets are never printed (diffs show only that the key changes).
        secret: bool,
        why: String,
    },
    /// Create a symlink (`sites-enabled/x -> ../sites-available/x`).
    Symlink {
        path: String,
        target: String,
        why: String,
    },
    /// Remove a file (a leftover socket unit).
    Remove {
        path: String,
        #[serde(skip)]
        old: Vec<u8>,
        why: String,
    },
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Write { path, .. }
            | Change::Symlink { path, .. }
            | Change::Remove { path, .. } => path,
        }
    }

    /// True when applying this change would leave the file as it already is.
    pub fn is_noop(&self) -> bool {
        matches!(self, Change::Write { old: Some(old), new, .. } if old == new)
    }
}

/// A command apply runs, in order, after the files are written and validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub argv: Vec<String>,
    pub why: String,
}

/// Everything apply would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub actions: Vec<Action>,
    /// The web servers in front whose configuration this plan changes: apply runs each
    /// kind's validator (`proxy::Kind::validator`) before any action; a refusal restores
    /// every file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub check: Vec<crate::proxy::Kind>,
    /// The commands that validate nginx in its container (`docker compose exec -T nginx
    /// nginx -t`), for `proxy::Kind::ContainerNginx` in `check`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validate: Vec<Action>,
    /// Things the admin must know or do by hand (e.g. DNS, a firewall rule).
    pub notes: Vec<String>,
    /// What to probe once applied.
    pub verify: Option<VerifySpec>,
    /// Steps dpwizard cannot take itself (a plain `docker run` has no file to edit): the
    /// exact commands for the admin.
    pub manual: Vec<String>,
    /// More follows once the actions ran (certbot had to obtain the certificate first):
    /// apply plans again and finishes.
    pub then_replan: bool,
}

/// The live checks after apply: the WebSocket port directly, then through the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifySpec {
    pub domain: String,
    /// `127.0.0.1:27751`
    pub websocket: String,
    /// Apache's and Caddy's graceful reloads return before every worker serves the new
    /// configuration (nginx's are waited for by pid): a 404 at the path right after one is
    /// retried briefly.
    #[serde(skip)]
    pub retry_not_found: bool,
}

impl Plan {
    /// Drops file changes that change nothing; a plan with nothing left is a no-op.
    pub fn without_noops(mut self) -> Plan {
        self.changes.retain(|c| !c.is_noop());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.actions.is_empty() && self.manual.is_empty()
    }
}
#[cfg(test)]
mod tests;
