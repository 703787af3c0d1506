//! Builders for fake machines (a root directory dpwizard is pointed at with `--root`) and
//! helpers to run the real dpwizard binary on them.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

pub mod dockerd;
pub mod drawpile;
pub mod front;
pub mod nginx;
pub mod nspawn;
pub mod systemd;
pub mod vps;

pub use serde_json::Value;

/// A throwaway machine: a temp dir laid out like a root filesystem.
pub struct FakeMachine {
    dir: tempfile::TempDir,
    /// Programs of the machine dpwizard runs on (outside the tree), first on its PATH.
    host_bin: std::cell::OnceCell<tempfile::TempDir>,
    /// Environment for every dpwizard run on this machine.
    env: std::cell::RefCell<Vec<(String, String)>>,
}

impl FakeMachine {
    /// An empty root. Directories are 0755 so probes that drop to `nobody` can reach binaries.
    pub fn empty() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dpw-machine-")
            .tempdir()
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod root");
        FakeMachine {
            dir,
            host_bin: Default::default(),
            env: Default::default(),
        }
    }

    /// A fresh Debian 12 VPS: os-release, users, the usual directories, nothing installed.
    pub fn debian12() -> Self {
        let m = Self::empty();
        m.file(
            "/etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n\
             HOME_URL=\"https://www.debian.org/\"\n",
        )
        .file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )
        .file(
            "/etc/group",
            "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n",
        )
        .exec("/usr/bin/apt-get", "#!/bin/sh\nexit 0\n");
        for d in [
            "/usr/local/bin",
            "/usr/sbin",
            "/etc/systemd/system/multi-user.target.wants",
            "/lib/systemd/system",
            "/var/lib",
            "/run",
            "/tmp",
        ] {
            m.dir(d);
        }
        m
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The real path of a target-machine path.
    pub fn path(&self, target: &str) -> PathBuf {
        self.root().join(target.trim_start_matches('/'))
    }

    pub fn dir(&self, target: &str) -> &Self {
        let p = self.path(target);
        std::fs::create_dir_all(&p).expect("mkdir");
        // Every level 0755, for the same reason as the root.
        let mut cur = p.as_path();
        while cur != self.root() {
            let _ = std::fs::set_permissions(cur, std::fs::Permissions::from_mode(0o755));
            match cur.parent() {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        self
    }

    /// Writes a file (parents created), mode 0644.
    pub fn file(&self, target: &str, content: impl AsRef<[u8]>) -> &Self {
        let p = self.path(target);
        if let Some(parent) = Path::new(target).parent() {
            self.dir(&parent.to_string_lossy());
        }
        std::fs::write(&p, content).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        self
    }

    /// Writes an executable (mode 0755).
    pub fn exec(&self, target: &str, content: impl AsRef<[u8]>) -> &Self {
        self.file(target, content);
        self.chmod(target, 0o755)
    }

    pub fn chmod(&self, target: &str, mode: u32) -> &Self {
        std::fs::set_permissions(self.path(target), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        self
    }

    /// A symlink at `link` (target path) pointing to `to`, written as given.
    pub fn symlink(&self, link: &str, to: &str) -> &Self {
        if let Some(parent) = Path::new(link).parent() {
            self.dir(&parent.to_string_lossy());
        }
        let p = self.path(link);
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(to, &p).expect("symlink");
        self
    }

    /// Docker installed in the tree (a CLI that must never run: under `--root` dpwizard
    /// does not run the tree's programs), and `script` as the docker CLI of the machine
    /// dpwizard runs on, asking the daemon DOCKER_HOST names.
    pub fn with_host_docker(&self, script: &str) -> &Self {
        self.exec(
            "/usr/bin/docker",
            "#!/bin/sh\necho \"the tree's docker ran\" >&2\nexit 99\n",
        );
        let bin = self.host_bin.get_or_init(|| {
            tempfile::Builder::new()
                .prefix("dpw-hostbin-")
                .tempdir()
                .expect("temp dir")
        });
        let docker = bin.path().join("docker");
        std::fs::write(&docker, script).expect("write docker");
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != "PATH" && k != "DOCKER_HOST");
        env.push(("PATH".into(), path));
        env.push((
            "DOCKER_HOST".into(),
            "unix:///nonexistent/docker.sock".into(),
        ));
        drop(env);
        self
    }

    pub fn read(&self, target: &str) -> String {
        std::fs::read_to_string(self.path(target)).expect("read")
    }

    /// Runs dpwizard with `--root` set to this machine.
    pub fn dpwizard<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = std::process::Command::new(dpwizard_bin());
        cmd.arg("--root").arg(self.root());
        cmd.args(args);
        for (k, v) in self.env.borrow().iter() {
            cmd.env(k, v);
        }
        cmd.env_remove("NO_COLOR");
        Run::from(cmd.output().expect("running dpwizard"))
    }

    /// `dpwizard detect --json` on this machine; the parsed JSON.
    pub fn detect_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["detect", "--json"];
        args.extend_from_slice(extra);
        let run = self.dpwizard(&args);
        assert_eq!(run.code, 0, "detect failed: {}", run.stderr);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("detect --json is not JSON ({e}): {}", run.stdout))
    }
}

/// The outcome of one dpwizard run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs dpwizard (no `--root`) with these arguments.
pub fn dpw<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Run::from(
        std::process::Command::new(dpwizard_bin())
            .args(args)
            .output()
            .expect("running dpwizard"),
    )
}

pub fn dpwizard_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dpwizard"))
}

/// The directory cargo put this build's binaries in (target/debug).
pub fn target_dir() -> PathBuf {
    dpwizard_bin()
        .parent()
        .expect("binary has a parent")
        .to_path_buf()
}

/// Where throwaway machines (VPS, nspawn) see this build's target directory, read-only.
/// (The build may live under /tmp, which those machines replace with their own tmpfs.)
pub const TARGET_IN_MACHINE: &str = "/opt/dpw-target";

/// The dpwizard binary as seen inside a throwaway machine.
pub fn dpwizard_in_machine() -> String {
    format!("{TARGET_IN_MACHINE}/dpwizard")
}

/// The drawpile-srv stand-in as seen inside a throwaway machine.
pub fn standin_in_machine() -> String {
    format!("{TARGET_IN_MACHINE}/examples/drawpile-srv-standin")
}

/// True when running as root. Tests that need root (namespaces, dropping privileges)
/// call this and return early with a printed reason otherwise; CI runs as root.
pub fn is_root() -> bool {
    nix_euid() == 0
}

fn nix_euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Skips (returns true) with a printed reason when not root.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        false
    } else {
        eprintln!("SKIPPED {what}: needs root (CI runs as root)");
        true
    }
}

/// Skips when a program is missing; the test script installs everything, so in CI this
/// never fires. Returns true to skip.
pub fn skip_unless_program(program: &str) -> bool {
    if which_host(program).is_some() {
        false
    } else {
        eprintln!("SKIPPED: {program} is not installed (scripts/test-deps.sh installs it)");
        true
    }
}

pub fn which_host(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// An answers file with `text` in a temp dir: (the dir, which must outlive the file; its path).
pub fn answers_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("answers.toml");
    std::fs::write(&path, text).expect("write answers");
    let path = path.display().to_string();
    (dir, path)
}

/// Asserts that every expected line occurs in `text` (which is shown when one is missing).
pub fn assert_contains_all(text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "missing {e:?} in:\n{text}");
    }
}

/// Gets a JSON value by a dotted path with array indices: `drawpile.binaries.0.version`.
pub fn jget<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[part],
        };
    }
    cur
}
pub mod dpserver;
