//! Runs external commands for detection and apply: every command has a timeout, its own
//! process group (so a hung child and its children are all killed), a clean environment,
//! and optionally drops to an unprivileged user. A command that cannot start, hangs, crashes
//! or floods its output becomes a [`CmdOutput`] describing that, never a panic or a hang.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Output beyond this is dropped: garbage from a broken binary must not eat memory.
const MAX_OUTPUT: usize = 8 << 20;

/// The user a command runs as. Only honoured when dpwizard itself runs as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone)]
pub struct Cmd {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub run_as: Option<RunAs>,
    pub timeout: Duration,
    pub stdin: Option<Vec<u8>>,
    pub cwd: Option<PathBuf>,
    /// Keep the caller's environment (for tools such as docker that read DOCKER_HOST).
    pub inherit_env: bool,
    /// Run in a private network namespace (no network at all), with no way to gain
    /// privileges (setuid bits ignored): for a program nobody vouches for. Only with
    /// `run_as`, and only when dpwizard is root.
    pub isolated: bool,
}

impl Cmd {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            run_as: None,
            timeout: Duration::from_secs(3),
            stdin: None,
            cwd: None,
            inherit_env: false,
            isolated: false,
        }
    }

    pub fn isolated(mut self) -> Self {
        self.isolated = true;
        self
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn run_as(mut self, user: Option<RunAs>) -> Self {
        self.run_as = user;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn inherit_env(mut self) -> Self {
        self.inherit_env = true;
        self
    }

    /// A short name for messages: the program's file name.
    pub fn name(&self) -> String {
        self.program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.display().to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdStatus {
    Exited(i32),
    Signaled(i32),
    TimedOut(Duration),
    NotFound,
    SpawnFailed(String),
}

#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub name: String,
    pub status: CmdStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
    /// The user the command really ran as (`None`: as dpwizard's own user).
    pub ran_as: Option<String>,
    pub truncated: bool,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status == CmdStatus::Exited(0)
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self.status {
            CmdStatus::Exited(c) => Some(c),
            _ => None,
        }
    }

    pub fn timed_out(&self) -> bool {
        matches!(self.status, CmdStatus::TimedOut(_))
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// One line saying what went wrong, e.g. `docker: timed out after 3 s` or
    /// `nginx: exited with status 1: nginx: [emerg] ...`. Empty-ish for success.
    pub fn describe(&self) -> String {
        let first_err = self
            .stderr_str()
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(300).collect::<String>());
        match &self.status {
            CmdStatus::Exited(0) => format!("{}: ok", self.name),
            CmdStatus::Exited(c) => match first_err {
                Some(e) => format!("{}: exited with status {c}: {e}", self.name),
                None => format!("{}: exited with status {c}", self.name),
            },
            CmdStatus::Signaled(s) => format!("{}: killed by signal {s}", self.name),
            CmdStatus::TimedOut(t) => format!("{}: timed out after {}", self.name, fmt_secs(*t)),
            CmdStatus::NotFound => format!("{}: not found", self.name),
            CmdStatus::SpawnFailed(e) => format!("{}: could not start: {e}", self.name),
        }
    }
}

fn fmt_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

async fn read_capped<R: AsyncRead + Unpin>(r: Option<R>) -> (Vec<u8>, bool) {
    let Some(mut r) = r else {
        return (Vec::new(), false);
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut truncated = false;
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if buf.len() + n > MAX_OUTPUT {
                    truncated = true;
                    // Keep draining so the child is not blocked on a full pipe.
                    continue;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    (buf, truncated)
}

/// Whether this process can switch users (it is root).
pub fn can_switch_user() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `cmd` to completion or until its timeout, whichever comes first.
pub async fn run(cmd: Cmd) -> CmdOutput {
    let start = Instant::now();
    let name = cmd.name();
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if !cmd.inherit_env {
        command
            .env_clear()
            .env("PATH", super::DEFAULT_PATH)
            .env("LC_ALL", "C");
    }
    for (k, v) in &cmd.env {
        command.env(k, v);
    }
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    let mut ran_as = None;
    if let Some(user) = &cmd.run_as
        && can_switch_user()
        && cmd.isolated
    {
        let (uid, gid) = (user.uid, user.gid);
        // SAFETY: only async-signal-safe syscalls between fork and exec. The order matters:
        // the namespace needs root, so it comes before the user is dropped (std's own
        // uid()/gid() would drop it before this closure runs).
        unsafe {
            command.pre_exec(move || {
                let check = |r: libc::c_int| {
                    if r == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                };
                check(libc::unshare(libc::CLONE_NEWNET))?;
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(gid))?;
                check(libc::setuid(uid))?;
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
            });
        }
        command.env("HOME", "/").env("USER", &user.name);
        ran_as = Some(user.name.clone());
    } else if let Some(user) = &cmd.run_as
        && can_switch_user()
    {
        command.uid(user.uid).gid(user.gid);
        command.env("HOME", "/").env("USER", &user.name);
        // std drops root's supplementary groups (setgroups(0)) before setuid when the
        // parent is root, so uid/gid alone leave no privileged group behind.
        ran_as = Some(user.name.clone());
    }

    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let status = if e.kind() == std::io::ErrorKind::NotFound {
                CmdStatus::NotFound
            } else {
                CmdStatus::SpawnFailed(e.to_string())
            };
            return CmdOutput {
                name,
                status,
                stdout: Vec::new(),
                stderr: Vec::new(),
                duration: start.elapsed(),
                ran_as,
                truncated: false,
            };
        }
    };
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stdin = child.stdin.take();
    let input = cmd.stdin.clone();

    let work = async {
        let feed = async {
            if let (Some(mut w), Some(data)) = (stdin, input) {
                let _ = w.write_all(&data).await;
                let _ = w.shutdown().await;
            }
        };
        let ((out, t1), (err, t2), status, ()) =
            tokio::join!(read_capped(stdout), read_capped(stderr), child.wait(), feed);
        (out, err, status, t1 || t2)
    };
    let result = tokio::time::timeout(cmd.timeout, work).await;
    match result {
        Ok((stdout, stderr, status, truncated)) => {
            use std::os::unix::process::ExitStatusExt;
            let status = match status {
                Ok(s) => match (s.code(), s.signal()) {
                    (Some(c), _) => CmdStatus::Exited(c),
                    (None, Some(sig)) => CmdStatus::Signaled(sig),
                    (None, None) => CmdStatus::SpawnFailed("unknown exit status".into()),
                },
                Err(e) => CmdStatus::SpawnFailed(e.to_string()),
            };
            CmdOutput {
                name,
                status,
                stdout,
                stderr,
                duration: start.elapsed(),
                ran_as,
                truncated,
            }
        }
        Err(_) => {
            kill_group(pid);
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_millis(500), child.wait()).await;
            CmdOutput {
                name,
                status: CmdStatus::TimedOut(cmd.timeout),
                stdout: Vec::new(),
                stderr: Vec::new(),
                duration: start.elapsed(),
                ran_as,
                truncated: false,
            }
        }
    }
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_output_and_status() {
        let out = run(Cmd::new("/bin/sh").args(["-c", "echo hi; echo err >&2; exit 3"])).await;
        assert_eq!(out.status, CmdStatus::Exited(3));
        assert_eq!(out.stdout_str(), "hi\n");
        assert_eq!(out.describe(), "sh: exited with status 3: err");
    }

    #[tokio::test]
    async fn a_hung_command_and_its_children_are_killed_at_the_timeout() {
        let t = Instant::now();
        let out = run(Cmd::new("/bin/sh")
            .args(["-c", "sleep 30 & sleep 30; wait"])
            .timeout(Duration::from_millis(300)))
        .await;
        assert!(out.timed_out(), "{:?}", out.status);
        assert!(t.elapsed() < Duration::from_secs(3));
        assert_eq!(out.describe(), "sh: timed out after 0.3 s");
    }

    #[tokio::test]
    async fn a_missing_program_is_reported_not_raised() {
        let out = run(Cmd::new("/nonexistent/prog")).await;
        assert_eq!(out.status, CmdStatus::NotFound);
        assert_eq!(out.describe(), "prog: not found");
    }

    #[tokio::test]
    async fn an_isolated_command_has_no_network_and_no_privileges() {
        if !can_switch_user() {
            eprintln!("SKIPPED: switching users needs root");
            return;
        }
        let nobody = RunAs {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
        };
        let out = run(Cmd::new("/bin/sh")
            .args([
                "-c",
                "id -u; id -G; grep -c : /proc/net/dev; grep NoNewPrivs /proc/self/status",
            ])
            .run_as(Some(nobody))
            .isolated())
        .await;
        // One uid, one group, only `lo` (after the two header lines), no new privileges.
        assert_eq!(
            out.stdout_str(),
            "65534\n65534\n1\nNoNewPrivs:\t1\n",
            "{}",
            out.describe()
        );
        assert_eq!(out.ran_as.as_deref(), Some("nobody"));
    }

    #[tokio::test]
    async fn stdin_is_fed() {
        let out = run(Cmd::new("/bin/cat").stdin(b"abc".to_vec())).await;
        assert_eq!(out.stdout, b"abc");
    }
}
