//! A real systemd as PID 1 (test-rig.md): an overlay of `/` booted with systemd-nspawn in a
//! private mount namespace, driven with nsenter. The host's enabled services do not start
//! inside, nothing is written to the host, and the machine is powered off on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::drawpile::Server;

/// Where the tests put upstream unit files (a local install's unit directory).
pub const UNIT_DIR_LOCAL: &str = "/usr/local/lib/systemd/system";

pub struct Machine {
    nspawn: Child,
    pub init: u32,
    name: String,
    _scratch: tempfile::TempDir,
}

const LAUNCH: &str = r#"set -e
NAME="$1"; T="$2"; BIND="$3"
for h in unified systemd; do mkdir -p /sys/fs/cgroup/$h/$NAME; echo $$ > /sys/fs/cgroup/$h/$NAME/cgroup.procs; done
exec unshare -m --propagation private bash -c '
set -e; NAME="$1"; T="$2"; BIND="$3"
mount -t tmpfs tmpfs "$T"; mkdir -p "$T"/upper "$T"/work "$T"/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
mount -t tmpfs tmpfs /run
rm -f "$T"/root/etc/systemd/system/*.target.wants/*
: > "$T/root/etc/machine-id"
exec systemd-nspawn -q -D "$T/root" -b --register=no --keep-unit ${DPW_NSPAWN_NET---private-network} --console=read-only -M "$NAME" --bind-ro="$BIND" ${DPW_NSPAWN_EXTRA:-}
' inner "$NAME" "$T" "$BIND""#;

/// Skips (returns true, with the printed reason) unless a machine can be booted here (root,
/// systemd-nspawn) and every program in `programs` is installed.
pub fn skip_unless_machine(programs: &[&str]) -> bool {
    super::skip_unless_root("systemd-nspawn")
        || super::skip_unless_program("systemd-nspawn")
        || programs.iter().any(|p| super::skip_unless_program(p))
}

impl Machine {
    pub fn boot(name: &str) -> Machine {
        Self::boot_with(name, &[])
    }

    /// `boot` with environment settings for systemd-nspawn (e.g. writable API file systems,
    /// which a container runtime inside the machine needs for its cgroups).
    pub fn boot_with(name: &str, env: &[(&str, &str)]) -> Machine {
        // Unique per test process: several checkouts (or runs) may boot the same test's
        // machine at once, and the name is a cgroup path.
        let name = &format!("{name}-{}", std::process::id());
        let scratch = tempfile::Builder::new()
            .prefix("dpw-nspawn-")
            .tempdir()
            .expect("tempdir");
        let nspawn = Command::new("bash")
            .envs(env.iter().copied())
            .args(["-c", LAUNCH, "launch", name])
            .arg(scratch.path())
            .arg(format!(
                "{}:{}",
                super::target_dir().display(),
                super::TARGET_IN_MACHINE
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log_path(name)).expect("nspawn log"))
            .spawn()
            .expect("systemd-nspawn");
        let mut m = Machine {
            init: 0,
            nspawn,
            name: name.to_string(),
            _scratch: scratch,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // nspawn's first child is transient; the container's init is the child
            // running systemd (reparented to nspawn, a subreaper).
            m.init = child_of(m.nspawn.id()).unwrap_or(0);
            if m.init != 0
                && PathBuf::from(format!("/proc/{}/root/run/systemd/private", m.init)).exists()
            {
                break;
            }
            if let Ok(Some(st)) = m.nspawn.try_wait() {
                panic!(
                    "systemd-nspawn exited early: {st}: {}",
                    std::fs::read_to_string(log_path(name)).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the container did not boot");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Wait for systemd to finish starting (degraded is fine: some units need hardware).
        let _ = m.sh("systemctl is-system-running --wait >/dev/null 2>&1 || true");
        m
    }

    /// Runs a bash script inside the machine, as root.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.init.to_string(), "-a", "bash", "-c", script])
            .output()
            .expect("nsenter")
    }

    /// Runs a script that must succeed; returns its stdout.
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "{script}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// drawpile-srv (`srv`: the real build or the stand-in) installed at the path its
    /// upstream unit names; returns that path.
    pub fn install_drawpile(&self, srv: &Server) -> String {
        let path = srv.exec_path();
        self.install_drawpile_at(srv, &path);
        path
    }

    /// drawpile-srv (`srv`) installed at `path` (mode 0755; the stand-in with its profile).
    pub fn install_drawpile_at(&self, srv: &Server, path: &str) {
        let bytes = std::fs::read(srv.host_binary())
            .unwrap_or_else(|e| panic!("{}: {e}", srv.host_binary().display()));
        self.write(path, bytes);
        self.ok(&format!("chmod 755 {path}"));
        if let Some(profile) = srv.profile() {
            self.write(format!("{path}.standin"), profile);
        }
    }

    /// The upstream unit files of `srv` (the service, and the 2.2.x socket), unchanged, where
    /// a local install puts them: /usr/local/lib/systemd/system.
    pub fn install_units(&self, srv: &Server) {
        self.write(
            UNIT_DIR_LOCAL.to_string() + "/drawpile-srv.service",
            srv.service_unit(),
        );
        if let Some(socket) = srv.socket_unit() {
            self.write(UNIT_DIR_LOCAL.to_string() + "/drawpile-srv.socket", socket);
        }
    }

    /// drawpile-srv (`srv`) under its upstream service unit, enabled and started (2.3.x; a
    /// 2.2.x service enables its socket too, see [`Machine::with_drawpile_socket`]).
    pub fn with_drawpile_service(&self, srv: &Server) {
        self.install_drawpile(srv);
        self.write(
            UNIT_DIR_LOCAL.to_string() + "/drawpile-srv.service",
            srv.service_unit(),
        );
        self.ok("systemctl daemon-reload && systemctl enable --now drawpile-srv.service");
    }

    /// drawpile-srv (`srv`, 2.2.x) with its upstream service and socket units, enabled as the
    /// docs say (the service's `Also=` enables the socket) and the socket started.
    pub fn with_drawpile_socket(&self, srv: &Server) {
        self.install_drawpile(srv);
        self.install_units(srv);
        self.ok("systemctl daemon-reload && systemctl enable drawpile-srv.service && systemctl start drawpile-srv.socket");
    }

    /// A self-signed certificate for `domain`, valid from a minute ago for 30 days, at
    /// /etc/ssl/dpw/DOMAIN.{crt,key}; returns the two paths.
    pub fn self_signed(&self, domain: &str) -> (String, String) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let tls = dpwizard::plan::selfsigned::generate(domain, now - 60, 30).expect("certificate");
        let (cert, key) = (
            format!("/etc/ssl/dpw/{domain}.crt"),
            format!("/etc/ssl/dpw/{domain}.key"),
        );
        self.write(&cert, &tls.cert_pem);
        self.write(&key, &tls.key_pem);
        (cert, key)
    }

    /// `systemctl show -p PROP --value UNIT`, trimmed.
    pub fn show(&self, unit: &str, prop: &str) -> String {
        self.ok(&format!("systemctl show -p {prop} --value {unit}"))
            .trim()
            .to_string()
    }

    /// `dpwizard --color never ARGS` inside the machine: its exit code and all it printed.
    pub fn dpwizard(&self, args: &str) -> (i32, String) {
        let out = self.sh(&format!(
            "{} --color never {args}",
            super::dpwizard_in_machine()
        ));
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The HTTP status of a WebSocket handshake to https://DOMAIN/drawpile-web/ws through
    /// 127.0.0.1:443 with `origin` (curl gives up after the 101).
    pub fn handshake(&self, domain: &str, origin: &str) -> String {
        self.ok(&format!(
            "curl -sk --http1.1 --max-time 2 -o /dev/null -w '%{{http_code}}' --resolve {domain}:443:127.0.0.1 \
             -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
             -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Origin: {origin}' \
             https://{domain}/drawpile-web/ws || true"
        ))
        .trim()
        .to_string()
    }

    /// Writes a file inside the machine (parents created).
    pub fn write(&self, path: impl AsRef<str>, content: impl AsRef<[u8]>) {
        let p = PathBuf::from(format!("/proc/{}/root{}", self.init, path.as_ref()));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write into the machine");
    }
}

fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}.nspawn.log"))
}

/// The child of `pid` that runs systemd (the container's init).
fn child_of(pid: u32) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state, ppid, ...
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let ppid: u32 = rest
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        if ppid == pid && comm.trim() == "systemd" {
            return Some(p);
        }
    }
    None
}

impl Drop for Machine {
    fn drop(&mut self) {
        if self.init != 0 {
            // SIGRTMIN+4 asks systemd to power off.
            let sig = libc::SIGRTMIN() + 4;
            unsafe {
                libc::kill(self.init as i32, sig);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !matches!(self.nspawn.try_wait(), Ok(Some(_))) {
            let _ = self.nspawn.kill();
            let _ = std::fs::write(
                format!("/sys/fs/cgroup/unified/{}/cgroup.kill", self.name),
                "1",
            );
            let _ = self.nspawn.wait();
        }
        let _ = std::fs::remove_file(log_path(&self.name));
        // Remove the cgroups made for the launch, deepest first.
        for h in ["unified", "systemd"] {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "find /sys/fs/cgroup/{h}/{} -depth -type d -exec rmdir {{}} \\; 2>/dev/null",
                    self.name
                ))
                .status();
        }
    }
}
