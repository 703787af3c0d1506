//! nginx fixtures (shared with the benchmark) and the real nginx as the oracle: `nginx -T`
//! run on a fake root's tree, in private mount and network namespaces so the tree's
//! /etc/nginx and /etc/letsencrypt appear at their real paths and nothing on the host changes.

use std::path::Path;
use std::process::Command;

#[path = "../../fixtures/nginx_trees.rs"]
pub mod trees;

/// What the real nginx said about a tree.
#[derive(Debug)]
pub struct NginxDump {
    /// `nginx -t` verdict.
    pub ok: bool,
    /// The `# configuration file PATH:` lines of `nginx -T`, in order.
    pub files: Vec<String>,
    pub stderr: String,
}

/// Runs the real `nginx -T` on the tree under `root`. Needs root (namespaces).
pub fn real_nginx_dump(root: &Path) -> NginxDump {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let script = r#"
set -eu
T="$1"; ROOT="$2"
mount -t tmpfs tmpfs "$T"
cp -r --preserve=mode /etc/. "$T"/ 2>/dev/null || true
mount --bind "$T" /etc
mountpoint -q /etc || exit 99
rm -rf /etc/nginx /etc/letsencrypt
mkdir -p /etc/nginx /etc/letsencrypt
mount --bind "$ROOT/etc/nginx" /etc/nginx
if [ -d "$ROOT/etc/letsencrypt" ]; then mount --bind "$ROOT/etc/letsencrypt" /etc/letsencrypt; fi
mount -t tmpfs tmpfs /run
mkdir -p /var/log/nginx && mount -t tmpfs tmpfs /var/log/nginx
exec nginx -T
"#;
    let out = Command::new("unshare")
        .args([
            "-m",
            "-n",
            "--propagation",
            "private",
            "bash",
            "-c",
            script,
            "nginx-T",
        ])
        .arg(scratch.path())
        .arg(root)
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(
        out.status.code(),
        Some(99),
        "the private /etc was not mounted: {stderr}"
    );
    NginxDump {
        ok: out.status.success(),
        files: stdout
            .lines()
            .filter_map(|l| l.strip_prefix("# configuration file "))
            .map(|l| l.trim_end_matches(':').to_string())
            .collect(),
        stderr,
    }
}
