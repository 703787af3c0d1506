//! The one seam between dpwizard and the machine it looks at.
//!
//! Every path dpwizard reads is an absolute path *on the target machine* and goes through
//! [`Host::path`], which prefixes the `--root` directory. Every command goes through
//! [`runner`], which enforces a timeout and can drop privileges. Nothing else in the crate
//! may touch the filesystem or spawn processes for detection.

pub mod clock;
pub mod passwd;
pub mod runner;

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use clock::Clock;
pub use runner::{Cmd, CmdOutput, CmdStatus, RunAs};

/// The machine dpwizard works on: a root prefix, a default command timeout and a clock.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    timeout: Duration,
    clock: Clock,
    /// `PATH` on the target machine, used for `which` lookups under the root.
    search_path: Vec<PathBuf>,
    /// Canonical forms of directories already resolved under a non-`/` root. Detection
    /// reads thousands of files in a few directories; resolving each directory once keeps
    /// it to one lstat per file. Detection never writes, so entries cannot go stale there.
    dir_cache: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PathBuf, PathBuf>>>,
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

    /// The real path to open for a target path, following symlinks the way the target
    /// machine would. On the live machine the kernel already does this.
    pub fn open_path(&self, target: impl AsRef<Path>) -> PathBuf {
        if self.is_live() {
            return self.path(target);
        }
        self.resolve(target.as_ref())
            .unwrap_or_else(|_| self.path(target))
    }

    /// Opens a file for reading the way the target machine would resolve it. Under another
    /// root the directory part is resolved (cached) and the file opened with O_NOFOLLOW;
    /// only a file that is itself a symlink takes the slow full resolution.
    fn open_read(&self, target: &Path) -> io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        if self.is_live() {
            return std::fs::File::open(self.path(target));
        }
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return std::fs::File::open(self.open_path(target));
        };
        let dir = self.canonical(parent)?;
        let fast = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.path(dir.join(name)));
        match fast {
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                std::fs::File::open(self.open_path(target))
            }
            other => other,
        }
    }

    pub fn read(&self, target: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut f = self.open_read(target.as_ref())?;
        // No stat for a size hint: config files are small, and detection reads thousands.
        // (File::read_to_end would stat and seek for a size hint.)
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => {
                    // Thousands of small files stay resident while they are parsed: keep
                    // only what they use (untouched capacity still costs page clearing).
                    buf.shrink_to_fit();
                    return Ok(buf);
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn read_to_string(&self, target: impl AsRef<Path>) -> io::Result<String> {
        let bytes = self.read(target)?;
        // Valid UTF-8 (nearly always) is taken without a copy.
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    pub fn exists(&self, target: impl AsRef<Path>) -> bool {
        self.open_path(target).exists()
    }

    pub fn is_file(&self, target: impl AsRef<Path>) -> bool {
        self.open_path(target).is_file()
    }

    pub fn is_dir(&self, target: impl AsRef<Path>) -> bool {
        self.open_path(target).is_dir()
    }

    pub fn symlink_metadata(&self, target: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
        std::fs::symlink_metadata(self.path(target))
    }

    pub fn metadata(&self, target: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
        std::fs::metadata(self.resolve(target)?)
    }

    /// Reads a symlink; the returned target is as written in the link (a target-machine path).
    pub fn read_link(&self, target: impl AsRef<Path>) -> io::Result<PathBuf> {
        std::fs::read_link(self.path(target))
    }

    /// Follows symlinks *inside the root*: an absolute link target is re-rooted, so a fake
    /// machine's `/usr/bin/x -> /opt/x` never escapes to the host's /opt.
    /// Returns the real path to open here.
    pub fn resolve(&self, target: impl AsRef<Path>) -> io::Result<PathBuf> {
        Ok(self.path(self.canonical(target)?))
    }

    /// Like `realpath` on the target machine: the canonical target-machine path.
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
        let dir = self.open_path(target);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in rd {
            let entry = entry?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
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
        let real_pattern = if pattern.starts_with('/') {
            let root = self.root.to_string_lossy();
            let root = root.trim_end_matches('/');
            format!("{}{}", glob::Pattern::escape(root), pattern)
        } else {
            pattern.to_string()
        };
        let mut out: Vec<PathBuf> = match glob::glob(&real_pattern) {
            Ok(paths) => paths.flatten().map(|p| self.target_path(&p)).collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out
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
        match self.resolve(target).and_then(std::fs::metadata) {
            Ok(m) => m.is_file() && m.permissions().mode() & 0o111 != 0,
            Err(_) => false,
        }
    }

    /// Builds a command for a program on the target machine (path re-rooted).
    pub fn command(&self, program: impl AsRef<Path>) -> Cmd {
        Cmd::new(self.path(program)).timeout(self.timeout)
    }

    /// Runs a command with the host's default timeout unless the command sets its own.
    pub async fn run(&self, cmd: Cmd) -> CmdOutput {
        runner::run(cmd).await
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
