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
