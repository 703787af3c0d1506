//! Installs the drawpile-srv stand-in (examples/drawpile-srv-standin.rs) into fake machines,
//! playing a given real build, plus broken binaries for the failure cases.

use std::path::PathBuf;

use super::FakeMachine;

/// Which real build the stand-in plays (see the example's header).
#[derive(Debug, Clone)]
pub struct Build {
    pub version: &'static str,
    pub websockets: bool,
    pub webadmin: bool,
    pub systemd: bool,
    pub gui: bool,
}

impl Build {
    pub fn v(version: &'static str) -> Build {
        Build {
            version,
            websockets: true,
            webadmin: true,
            systemd: true,
            gui: false,
        }
    }

    pub fn without_websockets(mut self) -> Build {
        self.websockets = false;
        self
    }

    pub fn without_webadmin(mut self) -> Build {
        self.webadmin = false;
        self
    }

    pub fn appimage(mut self) -> Build {
        self.gui = true;
        self.systemd = false;
        self
    }

    pub fn profile(&self) -> String {
        let yn = |b: bool| if b { "yes" } else { "no" };
        format!(
            "version={}\nwebsockets={}\nwebadmin={}\nlibsodium=yes\nsystemd={}\ngui={}\n",
            self.version,
            yn(self.websockets),
            yn(self.webadmin),
            yn(self.systemd),
            yn(self.gui)
        )
    }
}

/// The compiled stand-in (cargo builds examples before running tests).
pub fn standin_binary() -> PathBuf {
    let p = super::target_dir().join("examples/drawpile-srv-standin");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --examples` (cargo test does it)",
        p.display()
    );
    p
}

/// A broken binary, for the failure cases.
#[derive(Debug, Clone, Copy)]
pub enum Broken {
    /// Killed by SIGSEGV before printing anything.
    Crash,
    /// Prints binary garbage and exits 0.
    Garbage,
    /// Never answers.
    Hang,
}

impl FakeMachine {
    /// Installs the stand-in at `path`, playing `build`.
    pub fn with_drawpile(&self, path: &str, build: &Build) -> &Self {
        let dest = self.path(path);
        if let Some(parent) = std::path::Path::new(path).parent() {
            self.dir(&parent.to_string_lossy());
        }
        let _ = std::fs::remove_file(&dest);
        if std::fs::hard_link(standin_binary(), &dest).is_err() {
            std::fs::copy(standin_binary(), &dest).expect("copy stand-in");
        }
        self.chmod(path, 0o755);
        self.file(&format!("{path}.standin"), build.profile())
    }

    /// The stand-in (a real drawpile-srv binary, so dpwizard probes it) breaking as asked.
    pub fn with_broken_drawpile(&self, path: &str, how: Broken) -> &Self {
        let misbehave = match how {
            Broken::Crash => "crash",
            Broken::Garbage => "garbage",
            Broken::Hang => "hang",
        };
        self.with_drawpile(path, &Build::v("2.3.0"));
        self.file(
            &format!("{path}.standin"),
            format!("misbehave={misbehave}\n"),
        )
    }
}

/// Where the real upstream builds live (shared/drawpile-srv/README.md): `$DPW_REAL_DRAWPILE_DIR`,
/// else `../shared/drawpile-srv` beside the checkout (it is there in CI).
pub fn real_builds_dir() -> PathBuf {
    match std::env::var_os("DPW_REAL_DRAWPILE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let beside =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/drawpile-srv");
            beside.canonicalize().unwrap_or(beside)
        }
    }
}

/// The shared libraries `ldd` cannot find for `bin` (`libQt5WebSockets.so.5 => not found`).
pub fn missing_libraries(bin: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("ldd")
        .arg(bin)
        .output()
        .expect("ldd");
    assert!(
        out.status.success(),
        "ldd {}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The drawpile-srv a live test meets: the real upstream build of a version when
/// [`real_builds_dir`] has it, else the stand-in playing that version, installed at the same
/// path (the one the upstream unit's `ExecStart=` names) under an identical unit.
#[derive(Debug, Clone)]
pub struct Server {
    pub version: &'static str,
    /// The build's directory (bin/, lib/systemd/system/) when the real one runs.
    real: Option<PathBuf>,
}

impl Server {
    /// The real build when present, else the stand-in; prints which (every live test says
    /// what it ran against).
    pub fn pick(version: &'static str) -> Server {
        let s = Self::real(version).unwrap_or_else(|| Self::standin(version));
        eprintln!("{}", s.describe());
        s
    }

    /// The real build of `version`, if it is there.
    /// A build that is there but cannot run (its libraries missing) fails the test with
    /// what to do, rather than quietly leaving the test to the stand-in.
    pub fn real(version: &'static str) -> Option<Server> {
        let dir = real_builds_dir().join(version);
        let bin = dir.join("bin/drawpile-srv");
        if !bin.is_file() {
            return None;
        }
        let missing = missing_libraries(&bin);
        assert!(
            missing.is_empty(),
            "{}: ldd finds no {} (bash scripts/test-deps.sh installs them)",
            bin.display(),
            missing.join(", ")
        );
        Some(Server {
            version,
            real: Some(dir),
        })
    }

    /// The stand-in playing `version`, whatever is present.
    pub fn standin(version: &'static str) -> Server {
        Server {
            version,
            real: None,
        }
    }

    pub fn is_real(&self) -> bool {
        self.real.is_some()
    }

    /// `drawpile-srv: real 2.3.0 from DIR` or `drawpile-srv: stand-in (real builds not found at DIR)`.
    pub fn describe(&self) -> String {
        match &self.real {
            Some(dir) => format!("drawpile-srv: real {} from {}", self.version, dir.display()),
            None => match Self::real(self.version) {
                Some(r) => format!(
                    "drawpile-srv: stand-in playing {} (the real one is at {})",
                    self.version,
                    r.real
                        .as_deref()
                        .unwrap_or(std::path::Path::new("?"))
                        .display()
                ),
                None => format!(
                    "drawpile-srv: stand-in (real builds not found at {})",
                    real_builds_dir().join(self.version).display()
                ),
            },
        }
    }

    /// Short label for parametrized tests' messages.
    pub fn label(&self) -> String {
        let kind = if self.is_real() { "real" } else { "stand-in" };
        format!("{kind} {}", self.version)
    }

    /// The program on the host: the real binary or the compiled stand-in.
    pub fn host_binary(&self) -> PathBuf {
        match &self.real {
            Some(dir) => dir.join("bin/drawpile-srv"),
            None => standin_binary(),
        }
    }

    /// The stand-in's profile (the `.standin` sidecar); `None` for the real build.
    pub fn profile(&self) -> Option<String> {
        self.real
            .is_none()
            .then(|| Build::v(self.version).profile())
    }

    fn v22(&self) -> bool {
        self.version.starts_with("2.2.")
    }

    /// The upstream unit file `name` of this build (`drawpile-srv.service`, `.socket`).
    fn upstream_unit(&self, name: &str) -> Option<String> {
        match &self.real {
            Some(dir) => std::fs::read_to_string(dir.join("lib/systemd/system").join(name)).ok(),
            None => match name {
                "drawpile-srv.service" => {
                    Some(super::systemd::upstream_service(&self.prefix(), self.v22()))
                }
                "drawpile-srv.socket" if self.v22() => {
                    Some(super::systemd::upstream_socket(true, true))
                }
                _ => None,
            },
        }
    }

    /// The upstream `drawpile-srv.service`, unchanged.
    pub fn service_unit(&self) -> String {
        self.upstream_unit("drawpile-srv.service")
            .unwrap_or_else(|| panic!("{}: no drawpile-srv.service", self.describe()))
    }

    /// The upstream `drawpile-srv.socket` (2.2.x only).
    pub fn socket_unit(&self) -> Option<String> {
        self.upstream_unit("drawpile-srv.socket")
    }

    /// The install prefix the upstream unit names (`/opt/dpsrv` for 2.3.0).
    fn prefix(&self) -> String {
        if self.version == "2.3.0" {
            "/opt/dpsrv".into()
        } else {
            format!("/opt/dpsrv-{}", self.version)
        }
    }

    /// Where the binary goes: the path the upstream unit's `ExecStart=` names.
    pub fn exec_path(&self) -> String {
        match &self.real {
            Some(_) => self
                .service_unit()
                .lines()
                .find_map(|l| l.strip_prefix("ExecStart="))
                .and_then(|cmd| cmd.split_whitespace().next())
                .map(str::to_string)
                .unwrap_or_else(|| panic!("{}: the unit has no ExecStart=", self.describe())),
            None => format!("{}/bin/drawpile-srv", self.prefix()),
        }
    }
}
