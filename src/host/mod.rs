//! The one seam between dpwizard and the machine it looks at.
//!
//! Every path dpwizard reads is an absolute path *on the target machine*, resolved by the
//! kernel inside the `--root` directory ([`confined`]: links never leave it) and read only
//! when it is a regular file within a size cap. Every command goes through [`runner`], which
//! enforces a timeout and can drop privileges; [`Host::run`] refuses a program of a tree as
//! root. Nothing else in the crate may touch the filesystem or spawn processes for detection.

pub mod clock;
pub mod confined;
pub mod passwd;
pub mod runner;

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use clock::Clock;
pub use confined::ReadKind;
use confined::RootDir;
pub use runner::{Cmd, CmdOutput, CmdStatus, RunAs};

/// The machine dpwizard works on: a root prefix, a default command timeout and a clock.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    timeout: Duration,
    clock: Clock,
    /// `PATH` on the target machine, used for `which` lookups under the root.
    search_path: Vec<PathBuf>,
    /// Canonical forms of directories already resolved by [`Host::canonical`] (the walk
    /// behind callers that want a canonical path, and the fallback where the kernel has no
    /// openat2). Detection never writes, so entries cannot go stale there.
    dir_cache: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PathBuf, PathBuf>>>,
    /// A descriptor of the root, opened on first use; every read is resolved from it.
    root_dir: Arc<Mutex<Option<Arc<RootDir>>>>,
}

/// The `PATH` a root shell on Debian gets; used for lookups because the caller's own PATH
/// belongs to the host, not to the machine under `--root`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Host {
    pub fn new(root: impl Into<PathBuf>, timeout: Duration, clock: Clock) -> Self {
        Host {
            root: root.into(),
            timeout,
            clock,
            search_path: std::env::split_paths(DEFAULT_PATH).collect(),
            dir_cache: Default::default(),
            root_dir: Default::default(),
        }
    }

    /// The search path used by [`Host::which`]. On the live machine this is the caller's PATH
    /// followed by the Debian default; under another root only the default applies.
    pub fn with_search_path(mut self, dirs: Vec<PathBuf>) -> Self {
        self.search_path = dirs;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when dpwizard looks at the machine it runs on (`--root /`): only then do
    /// /proc, sockets and running daemons describe the target.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn search_path(&self) -> &[PathBuf] {
        &self.search_path
    }

    /// Maps an absolute path on the target machine to the path to open here.
    /// `..` components are resolved lexically and can never climb above the root.
    pub fn path(&self, target: impl AsRef<Path>) -> PathBuf {
        let mut out = self.root.clone();
        let mut depth = 0usize;
        for comp in target.as_ref().components() {
            match comp {
                Component::Normal(c) => {
                    out.push(c);
                    depth += 1;
                }
                Component::ParentDir if depth > 0 => {
                    out.pop();
                    depth -= 1;
                }
                _ => {}
            }
        }
        out
    }

    /// The target-machine path of a host path under the root (inverse of [`Host::path`]).
    pub fn target_path(&self, real: &Path) -> PathBuf {
        match real.strip_prefix(&self.root) {
            Ok(rest) => Path::new("/").join(rest),
            Err(_) => real.to_path_buf(),
        }
    }

    /// The descriptor of the root every target path is resolved in (opened once).
    fn root_dir(&self) -> io::Result<Arc<RootDir>> {
        let mut slot = self
            .root_dir
            .lock()
            .map_err(|_| io::Error::other("root descriptor lock poisoned"))?;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let d = Arc::new(RootDir::new(&self.root)?);
        *slot = Some(d.clone());
        Ok(d)
    }

    /// Opens a file of the target machine for reading: links are resolved inside the root
    /// (never on this host), and only a regular file is opened (a FIFO, device or socket is
    /// an error naming what it is). A link whose target is missing is "a dangling link".
    pub fn open_file(&self, target: impl AsRef<Path>, kind: ReadKind) -> io::Result<File> {
        self.open_checked(target.as_ref(), kind).map(|(f, _)| f)
    }

    fn open_checked(&self, target: &Path, kind: ReadKind) -> io::Result<(File, std::fs::Metadata)> {
        let walk = |p: &Path| self.canonical(p);
        self.root_dir()?
            .open_read(target, kind, &walk)
            .map_err(|e| self.explain_missing(target, e))
    }

    /// Turns "not found" for a path that is a link into "a dangling link to X".
    fn explain_missing(&self, target: &Path, e: io::Error) -> io::Error {
        if e.kind() != io::ErrorKind::NotFound {
            return e;
        }
        match self.read_link(target) {
            Ok(to) => io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "is a dangling link: its target {} does not exist{}",
                    to.display(),
                    if self.is_live() { "" } else { " inside --root" }
                ),
            ),
            Err(_) => e,
        }
    }

    /// Reads a configuration-sized file (see [`Host::read_kind`]).
    pub fn read(&self, target: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        self.read_kind(target, ReadKind::Config)
    }

    /// Reads a regular file of at most `kind`'s cap; anything else is an error saying why.
    pub fn read_kind(&self, target: impl AsRef<Path>, kind: ReadKind) -> io::Result<Vec<u8>> {
        let (file, meta) = self.open_checked(target.as_ref(), kind)?;
        confined::read_checked(file, &meta, kind)
    }

    pub fn read_to_string(&self, target: impl AsRef<Path>) -> io::Result<String> {
        self.read_string_kind(target, ReadKind::Config)
    }

    pub fn read_string_kind(&self, target: impl AsRef<Path>, kind: ReadKind) -> io::Result<String> {
        let bytes = self.read_kind(target, kind)?;
        // Valid UTF-8 (nearly always) is taken without a copy.
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    pub fn exists(&self, target: impl AsRef<Path>) -> bool {
        self.metadata(target).is_ok()
    }

    pub fn is_file(&self, target: impl AsRef<Path>) -> bool {
        self.metadata(target).is_ok_and(|m| m.is_file())
    }

    pub fn is_dir(&self, target: impl AsRef<Path>) -> bool {
        self.metadata(target).is_ok_and(|m| m.is_dir())
    }

    /// The status of the path itself (a link is not followed), found inside the root.
    pub fn symlink_metadata(&self, target: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
        let walk = |p: &Path| self.canonical(p);
        self.root_dir()?.metadata(target.as_ref(), false, &walk)
    }

    /// The status of what the path leads to, links followed inside the root.
    pub fn metadata(&self, target: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
        let walk = |p: &Path| self.canonical(p);
        self.root_dir()?.metadata(target.as_ref(), true, &walk)
    }

    /// Reads a symlink; the returned target is as written in the link (a target-machine path).
    pub fn read_link(&self, target: impl AsRef<Path>) -> io::Result<PathBuf> {
        let walk = |p: &Path| self.canonical(p);
        self.root_dir()?.read_link(target.as_ref(), &walk)
    }

    /// Like `realpath` on the target machine: the canonical target-machine path. Links are
    /// followed *inside the root*: an absolute link target is re-rooted and `..` stops at
    /// the root, so a fake machine's `/usr/bin/x -> /opt/x` never escapes to the host's /opt.
    pub fn canonical(&self, target: impl AsRef<Path>) -> io::Result<PathBuf> {
        let mut resolved = PathBuf::from("/");
        let mut pending: Vec<std::ffi::OsString> = target
            .as_ref()
            .components()
            .filter_map(|c| match c {
                Component::Normal(c) => Some(c.to_os_string()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .rev()
            .collect();
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                resolved.pop();
                continue;
            }
            let candidate = resolved.join(&name);
            if !pending.is_empty()
                && let Some(hit) = self
                    .dir_cache
                    .lock()
                    .ok()
                    .and_then(|c| c.get(&candidate).cloned())
            {
                resolved = hit;
                continue;
            }
            let real = self.path(&candidate);
            match std::fs::symlink_metadata(&real) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    hops += 1;
                    if hops > 40 {
                        return Err(io::Error::other(format!(
                            "too many levels of symbolic links at {}",
                            candidate.display()
                        )));
                    }
                    let link = std::fs::read_link(&real)?;
                    if link.is_absolute() {
                        resolved = PathBuf::from("/");
                    }
                    for c in link.components().rev() {
                        match c {
                            Component::Normal(c) => pending.push(c.to_os_string()),
                            Component::ParentDir => pending.push("..".into()),
                            _ => {}
                        }
                    }
                }
                Ok(meta) => {
                    if meta.is_dir()
                        && hops == 0
                        && let Ok(mut c) = self.dir_cache.lock()
                    {
                        // Only symlink-free prefixes are cached: their key is their value.
                        c.insert(candidate.clone(), candidate.clone());
                    }
                    resolved = candidate
                }
                Err(e) => return Err(e),
            }
        }
        Ok(resolved)
    }

    /// Directory entries (file names) sorted by name; a missing directory is empty.
    pub fn list_dir(&self, target: impl AsRef<Path>) -> io::Result<Vec<String>> {
        let walk = |p: &Path| self.canonical(p);
        let mut names: Vec<String> = match self.root_dir()?.list_dir(target.as_ref(), &walk) {
            Ok(names) => names
                .into_iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        names.sort();
        Ok(names)
    }

    /// Expands a glob pattern given as a target-machine path; results are target paths,
    /// sorted (nginx and Apache include globs in sorted order too).
    pub fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        // The common case (wildcards in the last component only) is a directory listing
        // filtered by the pattern: no stat per match (a 1,000-site tree is all matches).
        let wild = |s: &str| s.contains(['*', '?', '[']);
        if let Some((dir, file)) = pattern.rsplit_once('/')
            && pattern.starts_with('/')
            && !wild(dir)
            && let Ok(pat) = glob::Pattern::new(file)
        {
            let opts = glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                // glob(3), which nginx and Apache use, does not match dot files with `*`.
                require_literal_leading_dot: true,
            };
            let dir = if dir.is_empty() { "/" } else { dir };
            return self
                .list_dir(dir)
                .unwrap_or_default()
                .into_iter()
                .filter(|name| pat.matches_with(name, opts))
                .map(|name| Path::new(dir).join(name))
                .collect();
        }
        // Wildcards in directories: expanded one component at a time through the seam, so
        // a link in the tree is followed inside the root like everywhere else.
        if !pattern.starts_with('/') {
            return Vec::new();
        }
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let mut current = vec![PathBuf::from("/")];
        let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let mut next = Vec::new();
            for dir in &current {
                if wild(part) {
                    let Ok(pat) = glob::Pattern::new(part) else {
                        return Vec::new();
                    };
                    for name in self.list_dir(dir).unwrap_or_default() {
                        if pat.matches_with(&name, opts) {
                            next.push(dir.join(name));
                        }
                    }
                } else {
                    next.push(dir.join(part));
                }
            }
            current = if last {
                next.into_iter()
                    .filter(|p| self.exists(p) || self.symlink_metadata(p).is_ok())
                    .collect()
            } else {
                next.into_iter().filter(|p| self.is_dir(p)).collect()
            };
        }
        current.sort();
        current
    }

    /// Looks a program up on the target machine's search path; returns its target path.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        if name.contains('/') {
            let p = PathBuf::from(name);
            return self.is_executable(&p).then_some(p);
        }
        self.search_path
            .iter()
            .map(|dir| dir.join(name))
            .find(|p| self.is_executable(p))
    }

    pub fn is_executable(&self, target: impl AsRef<Path>) -> bool {
        use std::os::unix::fs::PermissionsExt;
        match self.metadata(target) {
            Ok(m) => m.is_file() && m.permissions().mode() & 0o111 != 0,
            Err(_) => false,
        }
    }

    /// Builds a command for a program on the target machine (path re-rooted).
    pub fn command(&self, program: impl AsRef<Path>) -> Cmd {
        Cmd::new(self.path(program)).timeout(self.timeout)
    }

    /// Runs a command with the host's default timeout unless the command sets its own.
    ///
    /// Under `--root`, a program of the tree is run only when the command drops to an
    /// unprivileged user (drawpile-srv's probes): a tree's programs are whatever an image
    /// holds, and dpwizard is root. Callers read such versions without running them; this
    /// is the guard behind them.
    pub async fn run(&self, cmd: Cmd) -> CmdOutput {
        let as_root = cmd.run_as.is_none() && runner::can_switch_user();
        if !self.is_live() && cmd.program.starts_with(&self.root) && as_root {
            return CmdOutput {
                name: cmd.name(),
                status: CmdStatus::SpawnFailed(
                    "not run: it belongs to the tree under --root and would run as root".into(),
                ),
                stdout: Vec::new(),
                stderr: Vec::new(),
                duration: Duration::ZERO,
                ran_as: None,
                truncated: false,
            };
        }
        runner::run(cmd).await
    }

    /// Whether the target's own programs (its nginx, certbot, docker) may be run: only on
    /// the live machine, where they are this machine's programs.
    pub fn runs_target_programs(&self) -> bool {
        self.is_live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(root: &Path) -> Host {
        Host::new(root, Duration::from_secs(1), Clock::System)
    }

    #[test]
    fn paths_are_prefixed_and_cannot_escape() {
        let h = host(Path::new("/srv/m"));
        assert_eq!(
            h.path("/etc/nginx/nginx.conf"),
            Path::new("/srv/m/etc/nginx/nginx.conf")
        );
        assert_eq!(h.path("/../../etc/passwd"), Path::new("/srv/m/etc/passwd"));
        assert_eq!(h.path("/a/../b"), Path::new("/srv/m/b"));
        assert_eq!(
            h.target_path(Path::new("/srv/m/etc/x")),
            Path::new("/etc/x")
        );
    }

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("opt/dp/bin")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("opt/dp/bin/drawpile-srv"), "x").unwrap();
        std::os::unix::fs::symlink(
            "/opt/dp/bin/drawpile-srv",
            root.join("usr/bin/drawpile-srv"),
        )
        .unwrap();
        let h = host(root);
        assert_eq!(
            h.canonical("/usr/bin/drawpile-srv").unwrap(),
            Path::new("/opt/dp/bin/drawpile-srv")
        );
        assert_eq!(h.read_to_string("/usr/bin/drawpile-srv").unwrap(), "x");
    }

    #[test]
    fn glob_returns_target_paths_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/nginx/sites-enabled")).unwrap();
        for n in ["b", "a", "c.conf"] {
            std::fs::write(root.join("etc/nginx/sites-enabled").join(n), "").unwrap();
        }
        let h = host(root);
        let got = h.glob("/etc/nginx/sites-enabled/*");
        assert_eq!(
            got,
            vec![
                PathBuf::from("/etc/nginx/sites-enabled/a"),
                PathBuf::from("/etc/nginx/sites-enabled/b"),
                PathBuf::from("/etc/nginx/sites-enabled/c.conf"),
            ]
        );
    }
}
