//! Configuration checks by the real programs (`nginx -t`; later `apachectl configtest`,
//! `caddy validate`), run in a sandbox that nothing they do can leave.
//!
//! A checker does more than read: `nginx -t` creates and chowns every temp path, opens
//! every log for appending and binds every listen socket, as root. A configuration is
//! whatever the tree (or the not-yet-loaded live machine) says, so those paths can be any
//! directory on this machine. The sandbox gives the checker a root of its own: private
//! mount and network namespaces, every directory an overlay whose writes land in a tmpfs,
//! a /dev with only `null`, and under `--root` the tree's files mounted `noexec,nodev`
//! below this machine's own programs and libraries (so no code of the tree runs, not even
//! a `load_module`). When the process ends, the namespace and everything written go away.
//! Apply and audit both use it; the audit's promise (it changes nothing) rests on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host::{Cmd, CmdOutput, Host};

/// The outcome of validating a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    Passed(String),
    Failed(String),
    /// Could not be checked (why).
    Skipped(String),
}

impl From<&CmdOutput> for Validation {
    /// A validator's verdict: its exit status, and what it said on stderr.
    fn from(out: &CmdOutput) -> Self {
        let text = out.stderr_str();
        if out.success() {
            Validation::Passed(text)
        } else if text.trim().is_empty() {
            Validation::Failed(out.describe())
        } else {
            Validation::Failed(text)
        }
    }
}

/// Address space a checker may use (KiB, for `ulimit -v`): a configuration that includes a
/// huge file makes it fail, not the machine swap.
const CHECKER_MEMORY_KIB: u64 = 1 << 20;

/// Top-level directories that hold this machine's programs and libraries: in the sandbox
/// they are always this machine's (the checker is this machine's program).
const SYSTEM_DIRS: &str = "usr bin sbin lib lib32 lib64 libx32";

/// Exit status of the sandbox script when the sandbox itself could not be built (then the
/// checker did not run, and its verdict is "skipped", not "failed").
const SETUP_FAILED: i32 = 125;

const SANDBOX_SCRIPT: &str = r#"fail() { echo "the sandbox could not be set up: $*" >&2; exit 125; }
ROOT="$1"; T="$2"; LIVE="$3"; shift 3
mount -t tmpfs -o mode=0755 dpwizard-sandbox "$T" || fail "tmpfs on $T"
N="$T/root"; mkdir -p "$N" "$T/up" "$T/wk" || fail "mkdir in $T"
# One directory: reads see LOWER, every write lands in the tmpfs. Where overlayfs refuses
# the lower directory, a read-only bind: a write there fails instead of reaching it.
layer() {
  mkdir -p "$T/up/$2" "$T/wk/$2" "$N/$2" || return 1
  mount -t overlay overlay -o "$3lowerdir=$1,upperdir=$T/up/$2,workdir=$T/wk/$2" "$N/$2" 2>/dev/null && return 0
  mount --bind "$1" "$N/$2" || return 1
  mount -o "remount,bind,ro,$3" "$N/$2" 2>/dev/null || mount -o remount,bind,ro "$N/$2" || { umount "$N/$2"; return 1; }
}
for d in $SYSTEM; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$N/$d" || fail "link /$d"
  elif [ -d "/$d" ]; then layer "/$d" "$d" "nodev,nosuid," || fail "/$d"; fi
done
if [ "$LIVE" = 1 ]; then OPTS="nodev,nosuid,"; else OPTS="nodev,nosuid,noexec,"; fi
for p in "$ROOT"/* "$ROOT"/.[!.]*; do
  [ -e "$p" ] || [ -L "$p" ] || continue
  d="${p##*/}"
  case " $SYSTEM dev proc sys run tmp " in *" $d "*) continue;; esac
  case "$d" in *[,:\\]*) continue;; esac
  if [ -L "$p" ]; then ln -s "$(readlink "$p")" "$N/$d"
  elif [ -d "$p" ]; then layer "$p" "$d" "$OPTS" || echo "dpwizard sandbox: $p left out" >&2; fi
done
mkdir -p "$N/dev" "$N/run" "$N/tmp" "$N/etc" || fail "mkdir in $N"
mount -t tmpfs -o mode=0755,nosuid dpwizard-dev "$N/dev" || fail "tmpfs on /dev"
mknod -m 666 "$N/dev/null" c 1 3 || fail "/dev/null"
mount -t tmpfs -o mode=0755,nosuid,nodev dpwizard-run "$N/run" || fail "tmpfs on /run"
mount -t tmpfs -o mode=1777,nosuid,nodev dpwizard-tmp "$N/tmp" || fail "tmpfs on /tmp"
if [ "$LIVE" != 1 ]; then
  # This machine's loader cache, and no preload: the tree's would load its libraries.
  rm -f "$N/etc/ld.so.preload" "$N/etc/ld.so.cache" || fail "the tree's ld.so.preload"
  if [ -f /etc/ld.so.cache ]; then cp /etc/ld.so.cache "$N/etc/ld.so.cache"; fi
fi
# Every machine resolves localhost, with or without an /etc/hosts (a tree may lack one).
if [ ! -e "$N/etc/hosts" ] && [ ! -L "$N/etc/hosts" ]; then
  printf '127.0.0.1 localhost\n::1 localhost\n' > "$N/etc/hosts"
fi
for d in $MKDIRS; do mkdir -p "$N/$d"; done
ulimit -v "$MEMORY" || fail "ulimit"
exec chroot "$N" "$@""#;

/// Why a root cannot be sandboxed, if it cannot (overlayfs options cannot carry these).
fn unsupported_root(root: &Path) -> Option<String> {
    let s = root.to_string_lossy();
    s.contains([',', ':', '\\']).then(|| {
        format!(
            "{} contains ',', ':' or '\\', which an overlay mount cannot name",
            root.display()
        )
    })
}

/// Runs `program args` (a program of *this* machine, under /usr or /bin) in the sandbox of
/// the host's root, after creating `dirs` in it (where the checker insists on a directory
/// that only the running service needs, e.g. nginx's log directory); `Err` says why it
/// could not.
pub async fn run_sandboxed(
    host: &Host,
    program: &Path,
    args: &[&str],
    dirs: &[&str],
    timeout: Duration,
) -> Result<CmdOutput, String> {
    let Ok(unshare) = which::which("unshare") else {
        return Err("unshare is not installed here".into());
    };
    if !nix::unistd::geteuid().is_root() {
        return Err("the sandbox needs root (mount namespaces)".into());
    }
    if let Some(why) = unsupported_root(host.root()) {
        return Err(why);
    }
    let program = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let system = SYSTEM_DIRS
        .split(' ')
        .any(|d| program.starts_with(Path::new("/").join(d)));
    if !system {
        return Err(format!(
            "{} is not under /usr, /bin or /sbin: the sandbox only runs this machine's programs",
            program.display()
        ));
    }
    let scratch = tempfile::Builder::new()
        .prefix("dpwizard-sandbox-")
        .tempdir()
        .map_err(|e| format!("no temp dir: {e}"))?;
    let cmd = Cmd::new(unshare)
        .args([
            "--mount",
            "--net",
            "--propagation",
            "private",
            "sh",
            "-c",
            SANDBOX_SCRIPT,
            "dpwizard-sandbox",
        ])
        .arg(host.root())
        .arg(scratch.path())
        .arg(if host.is_live() { "1" } else { "0" })
        .arg(&program)
        .args(args.iter().copied())
        .env("SYSTEM", SYSTEM_DIRS)
        .env("MEMORY", CHECKER_MEMORY_KIB.to_string())
        .env(
            "MKDIRS",
            dirs.iter()
                .map(|d| d.trim_start_matches('/'))
                .filter(|d| !d.contains(char::is_whitespace))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .timeout(timeout);
    let out = crate::host::runner::run(cmd).await;
    if out.exit_code() == Some(SETUP_FAILED) {
        let why = out.stderr_str();
        let why = why
            .lines()
            .find(|l| l.starts_with("the sandbox could not be set up"))
            .unwrap_or("the sandbox could not be set up");
        return Err(why.to_string());
    }
    Ok(out)
}

/// The first file under `dir` (links followed inside the root, at most a few thousand
/// entries) that a reader would block on: a FIFO. nginx opens every included file; a FIFO
/// among them would hold `nginx -t` until its timeout.
fn blocking_file(host: &Host, dir: &str) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let mut todo = vec![(PathBuf::from(dir), 0usize)];
    let mut seen = 0usize;
    while let Some((d, depth)) = todo.pop() {
        for name in host.list_dir(&d).unwrap_or_default() {
            seen += 1;
            if seen > 5000 {
                return None;
            }
            let p = d.join(name);
            let Ok(meta) = host.metadata(&p) else {
                continue;
            };
            if meta.file_type().is_fifo() {
                return Some(format!("{} is a FIFO (named pipe)", p.display()));
            }
            if meta.is_dir() && depth < 8 {
                todo.push((p, depth + 1));
            }
        }
    }
    None
}

/// `nginx -t` of the configuration of the host's root (the tree, or the live machine's
/// not-yet-loaded files), in the sandbox: nothing it creates, chowns or binds is real.
pub async fn nginx(host: &Host) -> Validation {
    let nginx = if host.is_live() {
        host.which("nginx")
    } else {
        which::which("nginx").ok()
    };
    let Some(nginx) = nginx else {
        return Validation::Skipped(if host.is_live() {
            "nginx is not installed".into()
        } else {
            "nginx is not installed here".into()
        });
    };
    if let Some(fifo) = blocking_file(host, "/etc/nginx") {
        return Validation::Failed(format!(
            "nginx -t not run: {fifo}; nginx would wait on it forever"
        ));
    }
    // The log and state directories are the package's (Debian ships both); a tree or an
    // image may lack them, and `nginx -t` would stop there.
    let dirs = ["/var/log/nginx", "/var/lib/nginx"];
    match run_sandboxed(host, &nginx, &["-t"], &dirs, Duration::from_secs(30)).await {
        Ok(out) => Validation::from(&out),
        Err(why) => Validation::Skipped(format!("nginx -t not run: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_an_overlay_cannot_name_are_refused() {
        assert!(unsupported_root(Path::new("/mnt/vps")).is_none());
        assert!(unsupported_root(Path::new("/mnt/a,b")).is_some());
        assert!(unsupported_root(Path::new("/mnt/a:b")).is_some());
    }

    #[test]
    fn a_fifo_in_the_nginx_tree_is_found_through_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc/nginx/sites-enabled")).unwrap();
        std::fs::create_dir_all(root.join("srv")).unwrap();
        nix::unistd::mkfifo(&root.join("srv/pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let host = Host::new(root, Duration::from_secs(1), crate::host::Clock::System);
        assert_eq!(blocking_file(&host, "/etc/nginx"), None);
        std::os::unix::fs::symlink("/srv/pipe", root.join("etc/nginx/sites-enabled/p")).unwrap();
        assert_eq!(
            blocking_file(&host, "/etc/nginx").as_deref(),
            Some("/etc/nginx/sites-enabled/p is a FIFO (named pipe)")
        );
    }
}
