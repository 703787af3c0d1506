//! A real, private Docker daemon for tests (test-rig.md): its own data and exec roots in a
//! temp dir, no iptables, nothing written to /etc; torn down on drop, also on panic.
//! Also builds the drawpile/drawpile-srv image locally (no registry is reachable): static
//! busybox, a `drawpile` user, and drawpile-srv (the real build and its libraries, else the
//! stand-in) as /bin/drawpile-srv.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::drawpile::Server;

pub struct Dockerd {
    child: Child,
    /// Daemons share the host's `docker0` bridge name: one at a time (across test processes
    /// too), or one's teardown deletes the bridge under the other.
    _lock: std::fs::File,
    pub dir: tempfile::TempDir,
    pub host: String,
    /// Bridges that existed before this daemon: the ones it adds (compose networks) are its
    /// own, removed at the end, or they pile up until docker finds no free address pool.
    bridges_before: Vec<String>,
}

/// The `br-*` bridges on this host (compose networks of private daemons).
fn bridges() -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link", "show"]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .filter(|n| n.starts_with("br-"))
            .collect()
    })
    .unwrap_or_default()
}

/// Held while a private daemon runs: its containers publish ports (80, 443, 27750…) in this
/// host's network namespace. A test that shares that namespace and binds the same ports (the
/// throwaway VPS that installs nginx from the registry) holds it too, or their nginx and the
/// daemon's would take each other's ports at random.
pub fn host_ports_lock() -> std::fs::File {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/dpw-dockerd.lock")
        .expect("lock file");
    // SAFETY: flock on a file descriptor we own; blocks until the other holder is gone.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock /tmp/dpw-dockerd.lock");
    lock
}

impl Dockerd {
    pub fn start() -> Dockerd {
        let lock = host_ports_lock();
        let bridges_before = bridges();
        let dir = tempfile::Builder::new()
            .prefix("dpw-dockerd-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("daemon.json"),
            format!("{{\"deprecated-key-path\":\"{}/key.json\"}}", d.display()),
        )
        .expect("daemon.json");
        let sock = d.join("docker.sock");
        let child = Command::new("dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
            ])
            .args(["--bip=172.31.250.1/24", "--storage-driver=overlay2"])
            .arg(format!("--data-root={}/data", d.display()))
            .arg(format!("--exec-root={}/exec", d.display()))
            .arg(format!("--pidfile={}/dockerd.pid", d.display()))
            .arg(format!("-H=unix://{}", sock.display()))
            .arg(format!("--config-file={}/daemon.json", d.display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("dockerd.log")).expect("log"))
            .spawn()
            .expect("start dockerd");
        let host = format!("unix://{}", sock.display());
        let daemon = Dockerd {
            child,
            _lock: lock,
            dir,
            host,
            bridges_before,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = daemon.docker(&["version"]).status.success();
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up: {}",
                std::fs::read_to_string(daemon.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }

    /// Runs the host's docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.path().join("cfg"))
            .output()
            .expect("docker CLI")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Builds `drawpile/drawpile-srv:TAG` from busybox and `srv` (+ its libraries).
    pub fn build_image(&self, tag: &str, srv: &Server) {
        let tarball = image_rootfs(self.dir.path(), tag, srv);
        let out = Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.path().join("cfg"))
            .args(IMPORT_CHANGES)
            .arg(&tarball)
            .arg(format!("drawpile/drawpile-srv:{tag}"))
            .output()
            .expect("docker import");
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `docker import` arguments that give the rootfs the official image's configuration
/// (drawpile.md, Docker): entrypoint, user, exposed port, home.
pub const IMPORT_CHANGES: &[&str] = &[
    "import",
    "--change",
    "ENTRYPOINT [\"/bin/drawpile-srv\"]",
    "--change",
    "USER drawpile",
    "--change",
    "EXPOSE 27750/tcp",
    "--change",
    "WORKDIR /home/drawpile",
];

/// The image's root filesystem as a tarball in `dir`: static busybox, a `drawpile` user,
/// and `srv` (the real build or the stand-in with its profile) as /bin/drawpile-srv, with
/// the libraries `ldd` names (test-rig.md).
pub fn image_rootfs(dir: &Path, tag: &str, srv: &Server) -> PathBuf {
    let server = srv.host_binary();
    let server = server.as_path();
    let root = dir.join(format!("rootfs-{tag}"));
    for d in [
        "bin",
        "etc",
        "home/drawpile",
        "tmp",
        "lib",
        "lib64",
        "usr/lib",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    for applet in ["sh", "sleep", "cat", "ls"] {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::copy(server, root.join("bin/drawpile-srv")).expect("copy server");
    std::fs::set_permissions(
        root.join("bin/drawpile-srv"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod server");
    if let Some(profile) = srv.profile() {
        std::fs::write(root.join("bin/drawpile-srv.standin"), profile).expect("profile");
    }
    for lib in shared_libraries(server) {
        let dest = root.join(lib.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&lib, &dest).expect("copy lib");
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\ndrawpile:x:1000:1000::/home/drawpile:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\ndrawpile:x:1000:\n").expect("group");
    let tarball = dir.join(format!("rootfs-{tag}.tar"));
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of the image rootfs failed");
    tarball
}

/// Libraries a dynamically linked binary needs, from `ldd`.
fn shared_libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let t = l.trim();
            let path = t.split("=>").nth(1).unwrap_or(t).trim().split(' ').next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["network", "prune", "-f"]);
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let exec = self.dir.path().join("exec");
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {0}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l; \
                 grep -o ' {1}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                exec.display(),
                self.dir.path().join("data").display()
            ))
            .status();
        let _ = Command::new("ip").args(["link", "del", "docker0"]).status();
        for b in bridges() {
            if !self.bridges_before.contains(&b) {
                let _ = Command::new("ip").args(["link", "del", &b]).status();
            }
        }
        // dockerd's cgroups (empty once its containers are gone); rmdir leaves busy ones.
        let _ = Command::new("sh")
            .arg("-c")
            .arg("for h in /sys/fs/cgroup/*/docker; do find \"$h\" -depth -type d -exec rmdir {} \\; ; done 2>/dev/null")
            .status();
    }
}

/// `docker` and `docker-compose` in the fake machine's /usr/bin that run the host's, so
/// detect (under --root) reaches the private daemon through DOCKER_HOST.
pub fn host_clis(m: &super::FakeMachine) {
    for tool in ["docker", "docker-compose"] {
        m.exec(
            &format!("/usr/bin/{tool}"),
            format!(
                "#!/bin/sh\nexec {} \"$@\"\n",
                super::which_host(tool).unwrap().display()
            ),
        );
    }
}
