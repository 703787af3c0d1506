//! A throwaway VPS (test-rig.md, level 3): private mount, network and pid namespaces, an
//! overlay of `/` with writes going to a tmpfs, a private loopback, then chroot. Files are
//! staged in before the scenario runs; `/results` hands files back. When the scenario ends
//! the kernel kills everything it started; nothing on the host changes.

use std::path::Path;
use std::process::{Command, Output};

pub struct Vps {
    stage: tempfile::TempDir,
    results: tempfile::TempDir,
}

impl Default for Vps {
    fn default() -> Self {
        Self::new()
    }
}

impl Vps {
    pub fn new() -> Vps {
        Vps {
            stage: tempfile::tempdir().expect("stage"),
            results: tempfile::tempdir().expect("results"),
        }
    }

    /// A file placed at `target` inside the VPS before the scenario starts.
    pub fn file(&self, target: &str, content: impl AsRef<[u8]>, mode: u32) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        let p = self.stage.path().join(target.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        self
    }

    /// drawpile-srv (`srv`: the real build or the stand-in) placed at the path its upstream
    /// unit names, its directories 0755 so `nobody` reaches it; returns that path.
    pub fn drawpile(&self, srv: &super::drawpile::Server) -> String {
        let path = srv.exec_path();
        let bytes = std::fs::read(srv.host_binary())
            .unwrap_or_else(|e| panic!("{}: {e}", srv.host_binary().display()));
        self.file(&path, bytes, 0o755);
        if let Some(profile) = srv.profile() {
            self.file(&format!("{path}.standin"), profile, 0o644);
        }
        path
    }

    /// A file the scenario wrote to /results.
    pub fn result(&self, name: &str) -> String {
        std::fs::read_to_string(self.results.path().join(name)).unwrap_or_default()
    }

    pub fn results_dir(&self) -> &Path {
        self.results.path()
    }

    /// Runs `script` (bash) as root inside the VPS; returns its output.
    pub fn run(&self, script: &str) -> Output {
        self.file("/scenario.sh", script, 0o755);
        let setup = r#"
set -e
STAGE="$1"; RESULTS="$2"; T="$3"; TARGET="$4"; TARGET_IN="$5"
ip link set lo up
mount -t tmpfs tmpfs "$T"
mkdir -p "$T"/upper "$T"/work "$T"/m
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/m"
mount -t proc proc "$T/m/proc"
mount --rbind /dev "$T/m/dev"
mount --rbind /sys "$T/m/sys"
mount -t tmpfs tmpfs "$T/m/run"
mkdir -p "$T/m/run/lock" "$T/m/results"
mount -t tmpfs tmpfs "$T/m/tmp"
cp -r --preserve=mode "$STAGE"/. "$T/m/"
mount --bind "$RESULTS" "$T/m/results"
mkdir -p "$T/m$TARGET_IN" && mount --bind "$TARGET" "$T/m$TARGET_IN"
exec chroot "$T/m" /bin/bash /scenario.sh
"#;
        let scratch = tempfile::Builder::new()
            .prefix("dpw-vps-")
            .tempdir()
            .expect("scratch");
        let out = Command::new("unshare")
            .args([
                "-m",
                "-n",
                "-p",
                "-f",
                "--kill-child",
                "--propagation",
                "private",
            ])
            .args(["bash", "-c", setup, "vps"])
            .arg(self.stage.path())
            .arg(self.results.path())
            .arg(scratch.path())
            .arg(super::target_dir())
            .arg(super::TARGET_IN_MACHINE)
            .output()
            .expect("unshare");
        drop(scratch);
        out
    }
}
