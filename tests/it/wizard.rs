//! The interactive wizard, driven in tmux (an 80×24 terminal with no one at it) on a fake
//! machine under `--root`: the full-screen TUI and the line mode from welcome through
//! review and apply, and the back, quit, resize and invalid-input paths. Expected values
//! come from the fixture (the port in its drop-in, its domain), never from the screen.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::apply::plan_and_apply::machine;
use crate::support::*;

/// The fixture's facts the wizard must find as defaults.
const PORT: &str = "27760"; // the drop-in's --websocket-port
const DOMAIN: &str = "paint.example.com"; // the nginx TLS server's name
const DROPIN: &str = "/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf";
const SITE: &str = "/etc/nginx/sites-available/paint.example.com";

/// One tmux server of its own (its socket in a temp dir), killed on drop.
struct Tmux {
    dir: tempfile::TempDir,
    exit_file: PathBuf,
}

impl Tmux {
    /// Starts `program args` in an 80×24 window; its exit code lands in a file.
    fn start(program: &Path, args: &[&str]) -> Tmux {
        Tmux::start_sized(program, args, (80, 24))
    }

    /// `start` in a window of (columns, rows).
    fn start_sized(program: &Path, args: &[&str], (w, h): (u16, u16)) -> Tmux {
        let dir = tempfile::tempdir().expect("tmux dir");
        let exit_file = dir.path().join("exit");
        let mut script = String::from("\"$@\"; echo $? > ");
        script.push_str(&exit_file.display().to_string());
        script.push_str("; sleep 600");
        let t = Tmux { dir, exit_file };
        let st = t
            .cmd()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "W",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .args(["sh", "-c", &script, "sh"])
            .arg(program)
            .args(args)
            .status()
            .expect("tmux");
        assert!(st.success(), "tmux did not start");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.env("TMUX_TMPDIR", self.dir.path())
            .env_remove("TMUX")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color");
        c
    }

    /// Sends tmux key names (`Enter`, `Escape`, `Left`, `C-u`).
    fn keys(&self, keys: &[&str]) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", "W"])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(st.success());
    }

    /// Types text literally.
    fn text(&self, s: &str) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", "W", "-l", s])
            .status()
            .expect("send-keys");
        assert!(st.success());
    }

    fn screen(&self) -> String {
        self.capture(&[])
    }

    /// The screen with wrapped lines joined (`-J`), e.g. after the full screen is gone.
    fn joined(&self) -> String {
        self.capture(&["-J"])
    }

    /// The screen with its escape sequences (`-e`: colours and attributes).
    fn capture(&self, flags: &[&str]) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "W"])
            .args(flags)
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `pred` holds (never a fixed sleep); panics with the screen.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait(&format!("{text:?}"), |s| s.contains(text))
    }

    /// The program's exit code, once it ended.
    fn exit_code(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(&self.exit_file)
                && let Ok(c) = s.trim().parse()
            {
                return c;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("dpwizard did not exit; the screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    /// A tmux format about the pane (`#{alternate_on}`, `#{cursor_flag}`).
    fn format(&self, f: &str) -> String {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "W", f])
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn resize(&self, w: u16, h: u16) {
        let st = self
            .cmd()
            .args([
                "resize-window",
                "-t",
                "W",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .status()
            .expect("resize-window");
        assert!(st.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The fixture machine and dpwizard started on it in tmux with `extra` arguments (the temp
/// dir holds files a test saves); None when tmux is missing.
fn session(extra: &[&str]) -> Option<(FakeMachine, tempfile::TempDir, Tmux)> {
    session_with_env(&[], extra)
}

/// `session` with `K=V` environment settings for dpwizard.
fn session_with_env(
    env: &[&str],
    extra: &[&str],
) -> Option<(FakeMachine, tempfile::TempDir, Tmux)> {
    if skip_unless_program("tmux") {
        return None;
    }
    let (m, _answers, dir) = machine();
    let extra: Vec<String> = extra
        .iter()
        .map(|a| a.replace("{dir}", &dir.path().display().to_string()))
        .collect();
    let root = m.root().display().to_string();
    let bin = dpwizard_bin().display().to_string();
    let mut args: Vec<&str> = env.to_vec();
    args.extend([bin.as_str(), "--root", root.as_str()]);
    args.extend(extra.iter().map(String::as_str));
    let t = Tmux::start(Path::new("/usr/bin/env"), &args);
    Some((m, dir, t))
}

/// From the welcome screen (checked) to the drawpile-srv question.
fn past_welcome(t: &Tmux, continue_label: &str) -> String {
    past_welcome_at(t, continue_label, "/usr/local/bin")
}

/// `past_welcome` with drawpile-srv 2.3.0 expected in `dir`.
fn past_welcome_at(t: &Tmux, continue_label: &str, dir: &str) -> String {
    let s = t.wait_for(continue_label);
    // The detected context: the server's version and where it is.
    assert!(s.contains(&format!("drawpile-srv 2.3.0 at {dir}")), "{s}");
    t.keys(&["Enter"]);
    t.wait_for("Which drawpile-srv")
}

/// The field's line of the current question (`> value█`).
fn field(screen: &str) -> String {
    screen
        .lines()
        .find_map(|l| {
            l.split_once("> ")
                .map(|(_, v)| v.trim_end().trim_end_matches('█').to_string())
        })
        .unwrap_or_default()
}

/// After a run: the files apply wrote, and the saved answers reproduce it exactly
/// (`plan --check` finds nothing left to do).
fn assert_applied_and_reproducible(m: &FakeMachine, saved: &Path) {
    let dropin = m.read(DROPIN);
    assert!(
        dropin.contains(&format!(
            "--websocket-port {PORT} --websocket-listen 127.0.0.1"
        )),
        "{dropin}"
    );
    let site = m.read(SITE);
    assert!(
        site.contains(&format!("proxy_pass http://127.0.0.1:{PORT};")),
        "{site}"
    );
    assert!(
        site.contains("paint\\.example\\.org"),
        "the extra origin: {site}"
    );
    let text = std::fs::read_to_string(saved).expect("the answers were saved");
    let a = dpwizard::answers::parse("saved.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(a.site.domain.as_str(), DOMAIN);
    assert_eq!(
        a.drawpile
            .websocket_port
            .map(|p| p.get().to_string())
            .as_deref(),
        Some(PORT)
    );
    assert_eq!(a.proxy.extra_origins.len(), 1);
    let check = m.dpwizard(["plan", "--check", "--answers", &saved.display().to_string()]);
    assert_eq!(
        check.code, 0,
        "the saved answers do not reproduce the run: {check:?}"
    );
}

#[test]
fn tui_from_welcome_through_review_and_apply() {
    let Some((m, dir, t)) = session(&["--save-answers", "{dir}/saved.toml"]) else {
        return;
    };
    let saved = dir.path().join("saved.toml");
    let s = past_welcome(&t, "▶ Welcome");
    assert!(s.contains("✓ Welcome"), "{s}");
    assert!(
        s.contains("› drawpile-srv.service"),
        "the unit is highlighted:\n{s}"
    );
    t.keys(&["Enter"]);
    let s = t.wait_for("WebSocket port for drawpile-srv");
    assert_eq!(field(&s), PORT, "the default is the configured port:\n{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("Address the WebSocket listener");
    assert_eq!(field(&s), "127.0.0.1", "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("Domain people use");
    assert_eq!(field(&s), DOMAIN, "the domain nginx serves:\n{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("Certificate for TLS");
    assert!(s.contains("› existing"), "a certificate is there:\n{s}");
    t.keys(&["Enter"]);
    t.wait_for("It terminates TLS");
    t.keys(&["Enter"]);
    let s = t.wait_for("Which nginx site");
    assert!(s.contains(&format!("the server for {DOMAIN}")), "{s}");
    t.keys(&["Enter"]);
    t.wait_for("Other web client origins");
    t.text("https://paint.example.org");
    t.keys(&["Enter"]);
    // Hosting the browser client: no by default.
    t.wait_for("Also host the browser client");
    t.keys(&["Enter"]);
    // Wrapped at 80 columns: the path may start on the line after "==".
    let s = t.wait_for(DROPIN);
    assert!(s.contains("▶ Review"), "{s}");
    assert!(
        s.contains(&format!("--websocket-port {PORT}")),
        "the diff:\n{s}"
    );
    assert!(!m.path(DROPIN).exists(), "the review wrote something");
    t.keys(&["Enter"]);
    // The run's lines come first, then its end moves the wizard to the last step.
    let s = t.wait("the end of the run", |s| {
        s.contains("Written as run") && s.contains("Enter finishes and saves the answers to")
    });
    assert!(
        s.contains("--root is not /"),
        "commands are listed, not run:\n{s}"
    );
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    // The undo command left in the terminal repeats --root, so it can be pasted.
    let s = t.joined();
    let undo = s
        .lines()
        .find_map(|l| {
            l.split_once("undo with `")
                .map(|(_, r)| r.trim_end_matches("`."))
        })
        .unwrap_or_else(|| panic!("no undo command:\n{s}"));
    let root = m.root().display().to_string();
    assert!(
        undo.starts_with(&format!("dpwizard --root {root} rollback ")),
        "{undo}"
    );
    // So does the command that repeats the run, on screen and in the saved file.
    let again = format!("dpwizard --root {root} apply --answers ");
    assert!(s.contains(&format!("`{again}{}`", saved.display())), "{s}");
    let text = std::fs::read_to_string(&saved).expect("saved");
    assert!(text.contains(&format!("sudo {again}THIS-FILE")), "{text}");
    assert_applied_and_reproducible(&m, &saved);
}

#[test]
fn plain_mode_from_welcome_through_review_and_apply() {
    let Some((m, dir, t)) = session(&["--plain", "--color", "never"]) else {
        return;
    };
    let saved = dir.path().join("saved.toml");
    past_welcome(&t, "Enter continues");
    t.keys(&["Enter"]);
    let s = t.wait_for("WebSocket port for drawpile-srv");
    assert!(
        s.contains(&format!("({PORT})")),
        "the default is shown:\n{s}"
    );
    // ? prints the longer help and asks again; < goes back one question.
    t.text("?");
    t.keys(&["Enter"]);
    t.wait_for("A port another program listens on");
    t.text("<");
    t.keys(&["Enter"]);
    // Each header printed after the one before it (earlier output scrolls away).
    let after = |s: &str, first: &str, then: &str| matches!((s.rfind(first), s.rfind(then)), (Some(a), Some(b)) if b > a);
    t.wait("the drawpile-srv question again", |s| {
        after(s, &format!("({PORT}): <"), "[2/11] drawpile-srv")
    });
    t.keys(&["Enter"]);
    t.wait("the port question again", |s| {
        after(s, "[2/11] drawpile-srv", "[3/11] WebSocket port")
    });
    t.keys(&["Enter"]);
    t.wait_for("Address the WebSocket listener");
    t.keys(&["Enter"]);
    let s = t.wait_for("Domain people use");
    assert!(s.contains(&format!("({DOMAIN})")), "{s}");
    // Esc asks to quit; Esc again at that question means no: the domain is asked again.
    t.keys(&["Escape", "Enter"]);
    t.wait_for("Quit the wizard? Nothing has been changed. (y/N)");
    t.keys(&["Escape", "Enter"]);
    t.wait("the domain asked again", |s| {
        after(s, "Quit the wizard?", "[5/11] Domain")
    });
    t.keys(&["Enter"]);
    t.wait_for("Certificate for TLS");
    t.keys(&["Enter"]);
    t.wait_for("It terminates TLS");
    t.keys(&["Enter"]);
    t.wait_for("Which nginx site");
    t.keys(&["Enter"]);
    t.wait_for("Other web client origins");
    // Invalid input is refused with the model's message and asked again.
    t.text("http://paint.example.org");
    t.keys(&["Enter"]);
    t.wait_for("must start with https://");
    t.text("https://paint.example.org");
    t.keys(&["Enter"]);
    // Hosting the browser client: no by default.
    t.wait_for("Also host the browser client");
    t.keys(&["Enter"]);
    t.wait_for("Apply these changes?");
    assert!(!m.path(DROPIN).exists(), "the review wrote something");
    t.keys(&["Enter"]);
    t.wait_for("Save the answers to a file?");
    t.text(&saved.display().to_string());
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let s = t.screen();
    assert!(s.contains("Answers saved to"), "{s}");
    // The step counter goes on past the questions (it stopped at [8/11]).
    let all = t.capture(&["-J", "-S", "-"]);
    assert_contains_all(
        &all,
        &[
            "[8/11] Browser client",
            "[9/11] Review",
            "[10/11] Apply",
            "[11/11] Verify",
        ],
    );
    assert_applied_and_reproducible(&m, &saved);
}

#[test]
fn back_keeps_answers_invalid_input_is_refused_and_quit_changes_nothing() {
    let Some((m, _dir, t)) = session(&[]) else {
        return;
    };
    past_welcome(&t, "Make this Drawpile server reachable");
    t.keys(&["Enter"]);
    t.wait_for("WebSocket port for drawpile-srv");
    // Out of range, then drawpile's own TCP port (from the fixture's ExecStart).
    t.keys(&["C-u"]);
    t.text("70000");
    t.keys(&["Enter"]);
    t.wait_for("out of range");
    t.keys(&["C-u"]);
    t.text("27750");
    t.keys(&["Enter"]);
    let s = t.wait_for("already drawpile's TCP");
    assert!(
        s.contains("WebSocket port for drawpile-srv"),
        "still on the port:\n{s}"
    );
    t.keys(&["C-u"]);
    t.text("27770");
    t.keys(&["Enter"]);
    t.wait_for("Address the WebSocket listener");
    t.keys(&["Enter"]);
    t.wait_for("Domain people use");
    // Back twice: the port keeps the answer given, not the default.
    t.keys(&["Left"]);
    t.wait_for("Address the WebSocket listener");
    t.keys(&["Left"]);
    let s = t.wait_for("WebSocket port for drawpile-srv");
    assert_eq!(field(&s), "27770", "{s}");
    // Esc asks; n stays; Esc and y quit without changing anything.
    t.keys(&["Escape"]);
    t.wait_for("Quit the wizard? Nothing has been changed.");
    t.text("n");
    t.wait("the question without the quit prompt", |s| {
        s.contains("WebSocket port for drawpile-srv") && !s.contains("Quit the wizard?")
    });
    t.keys(&["Escape"]);
    t.wait_for("Quit the wizard?");
    // While the wizard runs: the alternate screen, no cursor (what must be undone).
    assert_eq!(t.format("#{alternate_on} #{cursor_flag}"), "1 0");
    t.text("y");
    assert_eq!(t.exit_code(), 0);
    let s = t.wait_for("Nothing was changed.");
    assert!(
        !s.contains("Quit the wizard?"),
        "the full screen is gone:\n{s}"
    );
    // The terminal is as it was: main screen, cursor shown.
    assert_eq!(t.format("#{alternate_on} #{cursor_flag}"), "0 1");
    assert!(!m.path(DROPIN).exists());
    assert!(
        m.dpwizard(["rollback"]).stderr.contains("no runs"),
        "no run was journalled"
    );
}

#[test]
fn resizing_redraws_to_the_new_size() {
    let Some((_m, _dir, t)) = session(&[]) else {
        return;
    };
    past_welcome(&t, "Make this Drawpile server reachable");
    t.resize(60, 20);
    // tmux crops the old picture at once; the wizard's redraw follows its resize event.
    let s = t.wait("the question redrawn at 60 columns", |s| {
        s.lines().count() <= 20
            && s.lines().all(|l| l.chars().count() <= 60)
            && s.contains("Enter next")
            && s.contains("Which drawpile-srv")
    });
    assert!(
        s.lines().next().is_some_and(|l| l.starts_with("dpwizard")),
        "the title row: {s}"
    );
    t.resize(100, 30);
    let s = t.wait("the wider screen", |s| {
        s.lines().any(|l| l.chars().count() > 80)
    });
    assert!(s.contains("▶ drawpile-srv"), "{s}");
}

/// At 50×14 and at 40×12 (the smallest the full screen takes): the highlighted choice is
/// on screen as it moves, and after apply the verdict and the save question are in view
/// without scrolling.
#[test]
fn small_terminals_keep_the_choice_and_the_end_in_view() {
    if skip_unless_program("tmux") {
        return;
    }
    for size in [(50, 14), (40, 12)] {
        let (m, _answers, _dir) = machine();
        let root = m.root().display().to_string();
        let t = Tmux::start_sized(&dpwizard_bin(), &["--root", &root], size);
        let at = format!("{}×{}", size.0, size.1);
        t.wait_for("Enter continue");
        t.keys(&["Enter"]);
        t.wait_for("› drawpile-srv.service");
        for _ in 0..4 {
            t.keys(&["Enter"]);
        }
        t.wait_for("› existing");
        t.keys(&["Down"]);
        t.wait_for("› self-signed");
        t.keys(&["Up", "Up"]);
        t.wait_for("› certbot");
        t.keys(&["Down"]);
        let s = t.wait_for("› existing");
        assert!(s.lines().count() <= usize::from(size.1), "{at}:\n{s}");
        // The rest with the defaults (the browser client's question included), then Apply.
        for _ in 0..6 {
            t.keys(&["Enter"]);
        }
        let s = t.wait("the end of the run", |s| s.contains("Save the answers?"));
        assert!(s.contains("! Written"), "{at}: the verdict:\n{s}");
        assert!(s.contains("> █"), "{at}: the field:\n{s}");
        t.keys(&["Enter"]);
        assert_eq!(t.exit_code(), 0, "{at}: {}", t.screen());
        assert!(m.path(DROPIN).exists(), "{at}: applied");
    }
}

#[test]
fn without_a_terminal_the_wizard_points_to_the_answers_file() {
    let (m, _answers, _dir) = machine();
    let run = m.dpwizard::<[&str; 0], &str>([]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("apply --answers"), "{}", run.stderr);
    assert!(!m.path(DROPIN).exists());
}

#[test]
fn a_dumb_terminal_gets_the_line_mode() {
    let Some((_m, _dir, t)) = session_with_env(&["TERM=dumb"], &[]) else {
        return;
    };
    let s = past_welcome(&t, "Enter continues");
    assert!(!s.contains("▶"), "no full screen on a dumb terminal:\n{s}");
    assert!(s.contains("[2/"), "the line mode's step header:\n{s}");
}

/// Every byte the line mode writes, recorded by `script` on the terminal dpwizard sees:
/// with `TERM=dumb`, and with `--plain` on a capable terminal, not one escape code (no
/// colour, cursor move or bracketed paste), from the welcome to the end of a run.
#[test]
fn the_line_mode_writes_no_escape_codes() {
    if skip_unless_program("script") || skip_unless_program("tmux") {
        return;
    }
    for (env, extra) in [
        ("TERM=dumb", &[][..]),
        ("TERM=xterm-256color", &["--plain", "--color", "always"][..]),
    ] {
        let log = tempfile::NamedTempFile::new().expect("log");
        let log_path = log.path().display().to_string();
        let (m, _answers, _dir) = machine();
        let root = m.root().display().to_string();
        let mut cmd = format!("env {env} {} --root {root}", dpwizard_bin().display());
        for e in extra {
            cmd.push(' ');
            cmd.push_str(e);
        }
        // script records what dpwizard writes to its terminal before tmux draws it.
        let t = Tmux::start(
            Path::new("script"),
            &["-q", "-f", "-e", "-c", &cmd, &log_path],
        );
        t.wait_for("Enter continues");
        t.keys(&["Enter"]);
        t.wait_for("Which drawpile-srv");
        // Every question with its default (nine), Apply, and the end without saving.
        for _ in 0..10 {
            t.keys(&["Enter"]);
        }
        t.wait_for("Save the answers to a file?");
        t.keys(&["Enter"]);
        assert_eq!(t.exit_code(), 0, "{env}: {}", t.screen());
        let raw = std::fs::read(log.path()).expect("the typescript");
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("[11/11] Verify"),
            "{env}: the whole run: {text}"
        );
        assert!(
            m.path(DROPIN).exists(),
            "{env}: applied on the machine under --root"
        );
        if let Some(i) = raw.iter().position(|b| *b == 0x1b) {
            let from = i.saturating_sub(60);
            panic!(
                "{env} {extra:?}: an escape code at byte {i}: {:?}",
                String::from_utf8_lossy(&raw[from..(i + 20).min(raw.len())])
            );
        }
    }
}

#[test]
fn no_color_and_color_never_draw_without_colours() {
    for (env, extra) in [
        (&["NO_COLOR=1"][..], &[][..]),
        (&[][..], &["--color", "never"][..]),
    ] {
        let Some((_m, _dir, t)) = session_with_env(env, extra) else {
            return;
        };
        past_welcome(&t, "Make this Drawpile server reachable");
        let s = t.capture(&["-e"]);
        assert!(!has_colour(&s), "{env:?} {extra:?}: colours drawn:\n{s:?}");
    }
    // The same screen with colours, so the check above can fail.
    let Some((_m, _dir, t)) = session(&["--color", "always"]) else {
        return;
    };
    past_welcome(&t, "Make this Drawpile server reachable");
    assert!(has_colour(&t.capture(&["-e"])));
}

/// A foreground colour in the SGR sequences of a capture: 30–38 (38 is 256/RGB colour) or
/// 90–97; bold, dim, reverse and the default colour (39) are not colours.
fn has_colour(s: &str) -> bool {
    s.split("\x1b[").skip(1).any(|seq| {
        let params = seq.split('m').next().unwrap_or("");
        params
            .split(';')
            .any(|p| matches!(p.parse::<u32>(), Ok(30..=38 | 90..=97)))
    })
}

#[test]
fn an_idle_wizard_uses_no_cpu() {
    let Some((_m, _dir, t)) = session(&[]) else {
        return;
    };
    past_welcome(&t, "Make this Drawpile server reachable");
    let pid = dpwizard_pid(&t);
    let ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        // utime and stime are fields 14 and 15 (proc(5)); after the name, which may hold
        // spaces and ends with ')', field 3 comes first.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> u64 { f[n - 3].parse().expect("a tick count") };
        field(14) + field(15)
    };
    let before = ticks();
    std::thread::sleep(Duration::from_secs(2));
    let used = ticks() - before;
    // Clock ticks are 1/100 s: a busy loop would use ~200 here.
    assert!(used <= 2, "{used} ticks in 2 s idle");
}

/// The pid of dpwizard inside the tmux pane (a child of the pane's shell, via env's exec).
fn dpwizard_pid(t: &Tmux) -> u32 {
    let out = t
        .cmd()
        .args(["list-panes", "-t", "W", "-F", "#{pane_pid}"])
        .output()
        .expect("list-panes");
    let shell: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pane pid");
    let children =
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).expect("children");
    children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .find(|p: &u32| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "dpwizard")
        })
        .expect("dpwizard runs in the pane")
}

/// `sudo dpwizard` on a machine with a real systemd, drawpile-srv as a service and nginx, in
/// an 80×24 and a 50×14 terminal: the wizard applies, and the final screen shows the verdict,
/// the link browsers join with and the save question without scrolling.
#[test]
fn live_the_wizard_applies_and_shows_the_checks() {
    use crate::support::nspawn::skip_unless_machine;
    if skip_unless_machine(&["nginx", "tmux"]) {
        return;
    }
    live_run("dpw-wizard-live", (80, 24));
    live_run("dpw-wizard-live-50", (50, 14));
}

fn live_run(name: &str, size: (u16, u16)) {
    use crate::support::drawpile::Server;
    use crate::support::nspawn::Machine;
    let at = format!("{}×{}", size.0, size.1);
    let m = Machine::boot(name);
    let srv = Server::pick("2.3.0");
    m.with_drawpile_service(&srv);
    m.ok("systemctl start nginx");
    let init = m.init.to_string();
    let dpw = dpwizard_in_machine();
    let t = Tmux::start_sized(
        Path::new("nsenter"),
        &[
            "-t",
            &init,
            "-a",
            &dpw,
            "--save-answers",
            "/root/saved.toml",
        ],
        size,
    );
    t.wait_for("Enter continue");
    t.keys(&["Enter"]);
    t.wait_for("Which drawpile-srv");
    t.keys(&["Enter"]);
    let s = t.wait_for("WebSocket port for drawpile-srv");
    assert_eq!(
        field(&s),
        "27751",
        "{at}: not configured yet: the usual port\n{s}"
    );
    t.keys(&["Enter"]);
    t.wait_for("Address the WebSocket listener");
    t.keys(&["Enter"]);
    t.wait_for("Domain people use");
    t.text("draw.example.test");
    t.keys(&["Enter"]);
    let s = t.wait_for("› certbot");
    assert!(s.contains("Certificate for TLS"), "{at}: {s}");
    t.keys(&["Down", "Down"]);
    t.wait_for("› self-signed");
    t.keys(&["Enter"]);
    t.wait_for("It terminates TLS");
    t.keys(&["Enter"]);
    let s = t.wait_for("Which nginx site");
    assert!(s.contains("a new site"), "{at}: {s}");
    t.keys(&["Enter"]);
    t.wait_for("Other web client origins");
    t.keys(&["Enter"]);
    // Hosting the browser client: no by default.
    t.wait_for("Also host the browser client");
    t.keys(&["Enter"]);
    t.wait_for("Enter Apply");
    t.keys(&["Enter"]);
    // Without scrolling: the verdict, the link, the self-signed note, the save.
    let s = t.wait("the end of the run", |s| {
        s.contains("Done: browsers can join")
    });
    assert!(s.lines().count() <= usize::from(size.1), "{at}:\n{s}");
    // Rows joined without their breaks: the link may wrap at 50 columns.
    let rows: Vec<&str> = s.lines().map(str::trim).collect();
    assert!(
        rows.concat()
            .contains("https://web.drawpile.net/?host=draw.example.test&session=SESSION"),
        "{at}:\n{s}"
    );
    assert_contains_all(
        &rows.join(" "),
        &[
            "accept its certificate",
            "Enter finishes and saves the answers to /root/saved.toml",
        ],
    );
    if size == (80, 24) {
        assert!(
            rows.join(" ")
                .contains("SESSION: the ID or alias of a session"),
            "{s}"
        );
    }
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{at}: {}", t.joined());
    // The run's lines stay in the terminal after the wizard.
    let s = t.capture(&["-J", "-S", "-"]);
    assert_contains_all(
        &s,
        &[
            "✓ systemctl restart drawpile-srv.service",
            "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin none): 101",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
            "Browsers can join: https://web.drawpile.net/?host=draw.example.test&session=SESSION",
            "but first each user must open https://draw.example.test/ and accept its certificate",
        ],
    );
    // The saved answers repeat the run: nothing is left to do.
    let check = m.sh(&format!("{dpw} plan --check --answers /root/saved.toml"));
    assert_eq!(
        check.status.code(),
        Some(0),
        "{at}: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// On a machine already set up, the wizard opens on the audit and fixes only what is wrong:
/// here a pre-2025 Origin regex in the location apply had written, which the review
/// replaces; the drop-in, already right, is left alone.
#[test]
fn on_a_set_up_machine_the_wizard_starts_from_the_audit_and_fixes_what_is_wrong() {
    if skip_unless_program("tmux") {
        return;
    }
    let (m, answers, _dir) = machine();
    let run = m.dpwizard(["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let site = m.read(SITE);
    // The Origin line as before 2025: no empty alternative (the desktop app is refused).
    let broken: String = site
        .lines()
        .map(|l| {
            if l.contains("$http_origin") {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!(
                    "{indent}if ($http_origin !~ \"^(https://web\\.(drawpile\\.net|foxdice\\.cn)|https://paint\\.example\\.org)$\") {{\n"
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(broken, site);
    // Written by hand now: no dpwizard markers around it.
    let broken = broken
        .replace("    # BEGIN dpwizard\n", "")
        .replace("    # END dpwizard\n", "");
    m.file(SITE, &broken);
    let dropin_before = m.read(DROPIN);
    let audit = m.dpwizard(["audit", "--offline", "--json"]);
    assert_eq!(audit.code, 1, "{}", audit.stdout);
    assert!(
        audit.stdout.contains("\"id\":\"DPW-PROXY-003\""),
        "{}",
        audit.stdout
    );

    let root = m.root().display().to_string();
    let bin = dpwizard_bin().display().to_string();
    let t = Tmux::start(Path::new(&bin), &["--root", &root]);
    let s = t.wait_for("Already set up for");
    assert!(s.contains(&format!("Already set up for {DOMAIN}")), "{s}");
    assert!(s.contains("[DPW-PROXY-003]"), "{s}");
    t.keys(&["Enter"]);
    t.wait_for("Which drawpile-srv");
    for next in [
        "WebSocket port for drawpile-srv",
        "Address the WebSocket listener",
        "Domain people use",
        "Certificate for TLS",
        "It terminates TLS",
        "Which nginx site",
        "Other web client origins",
    ] {
        t.keys(&["Enter"]);
        t.wait_for(next);
    }
    let s = t.screen();
    assert!(
        field(&s).contains("https://paint.example.org"),
        "the origin the location allows stays allowed:\n{s}"
    );
    t.keys(&["Enter"]);
    // Hosting the browser client: no by default.
    t.wait_for("Also host the browser client");
    t.keys(&["Enter"]);
    let s = t.wait_for("▶ Review");
    assert!(!s.contains(DROPIN), "the drop-in is already right:\n{s}");
    t.keys(&["Enter"]);
    // The save question is in view at the end, under the run's lines.
    t.wait("the end of the run", |s| {
        s.contains("Written as run") && s.contains("Save the answers?") && s.contains("> ")
    });
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let after = m.dpwizard(["audit", "--offline", "--json"]);
    assert_eq!(after.code, 0, "{}", after.stdout);
    let v: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    assert!(
        v["passed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "DPW-PROXY-003"),
        "{}",
        after.stdout
    );
    assert_eq!(m.read(DROPIN), dropin_before);
}

/// A panic in the full-screen wizard still gives the terminal back: the main screen, a
/// cursor, and the line discipline (canonical input, echo) as the shell had it.
#[test]
fn a_panic_restores_the_terminal() {
    let Some((m, _dir, t)) = session_with_env(&["DPWIZARD_TEST_PANIC=1"], &[]) else {
        return;
    };
    let code = t.exit_code();
    assert_eq!(code, 101, "the panic's exit code: {}", t.screen());
    let s = t.wait_for("a panic on purpose");
    assert!(!s.contains("▶ Welcome"), "the full screen is gone:\n{s}");
    assert_eq!(t.format("#{alternate_on} #{cursor_flag}"), "0 1");
    let tty = t.format("#{pane_tty}");
    let stty = Command::new("stty")
        .arg("-F")
        .arg(&tty)
        .arg("-a")
        .output()
        .unwrap();
    let modes = String::from_utf8_lossy(&stty.stdout);
    for mode in ["icanon", "echo", "isig"] {
        assert!(
            modes.split_whitespace().any(|w| w == mode),
            "{mode} is off after the panic: {modes}"
        );
    }
    assert!(!m.path(DROPIN).exists());
}

/// The finding ids of `audit --json` (the audit is the spec the wizard's offer is held to).
fn audit_ids(m: &FakeMachine) -> Vec<String> {
    crate::docker::finding_ids(&m.dpwizard(["audit", "--offline", "--json"]).stdout)
}

/// The wizard in line mode on `m`, in a terminal tall enough that nothing of a step scrolls
/// away between two waits.
fn plain_wizard(m: &FakeMachine) -> Tmux {
    let root = m.root().display().to_string();
    let bin = dpwizard_bin().display().to_string();
    Tmux::start_sized(
        Path::new(&bin),
        &["--root", &root, "--plain", "--color", "never"],
        (120, 60),
    )
}

/// Enter on each step, waiting for the next one's text; the whole scrollback, joined.
fn enter_through(t: &Tmux, steps: &[&str]) -> String {
    for next in steps {
        t.keys(&["Enter"]);
        t.wait_for(next);
    }
    t.capture(&["-J", "-S", "-"])
}

/// drawpile/dpserver cloned before 2026 (nginx in a container, the old Origin check): the
/// wizard opens on the audit, asks only what applies to a project whose nginx container
/// keeps its own site and certificate, and its review offers exactly the fix of what the
/// audit names: the mounted site's location, nothing on the host, no Compose change.
#[test]
fn on_dpserver_the_wizard_opens_on_the_audit_and_offers_exactly_its_fixes() {
    if skip_unless_program("tmux") {
        return;
    }
    let m = FakeMachine::debian12();
    crate::support::dpserver::pre_2026(&m);
    let domain = crate::support::dpserver::DOMAIN;
    let site = "/root/dpserver/nginx-config/default.conf";
    let findings = audit_ids(&m);
    assert_eq!(findings, ["DPW-PROXY-003", "DPW-PROXY-005"]);
    let before = crate::readonly::snapshot(m.root());
    let t = plain_wizard(&m);
    let s = t.wait_for("Already set up for");
    assert!(s.contains(&format!("Already set up for {domain}")), "{s}");
    for id in &findings {
        assert!(s.contains(&format!("[{id}]")), "{id}:\n{s}");
    }
    // Nothing to install, no host nginx to add: the container is named as the one in front.
    assert!(!s.contains("install"), "{s}");
    assert!(
        s.contains("web server in front: nginx in compose service nginx"),
        "{s}"
    );
    t.keys(&["Enter"]);
    let s = t.wait_for("Which drawpile-srv should browsers reach?");
    assert!(s.contains("Compose service drawpile-srv"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("WebSocket port for drawpile-srv (27751)");
    assert!(s.contains("over the compose network"), "{s}");
    t.keys(&["Enter"]);
    t.wait_for(&format!("Domain people use for your server ({domain})"));
    t.keys(&["Enter"]);
    // No listen address, certificate or nginx site question: straight to the origins.
    t.wait_for("Other web client origins to allow");
    t.keys(&["Enter"]);
    // dpserver's nginx can host the browser client too: no by default.
    t.wait_for("Also host the browser client");
    t.keys(&["Enter"]);
    t.wait_for("Apply these changes?");
    let all = t.capture(&["-J", "-S", "-"]);
    let review = &all[all.rfind("Review").unwrap()..];
    for not_asked in [
        "Address the WebSocket listener",
        "Certificate for TLS",
        "Which nginx site",
    ] {
        assert!(!all.contains(not_asked), "{not_asked}:\n{all}");
    }
    // One change, the site's location, and the note says it fixes each finding.
    let changed: Vec<&str> = review.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(changed.len(), 1, "{review}");
    assert!(changed[0].starts_with(&format!("== {site} ")), "{review}");
    for id in &findings {
        assert!(review.contains(&format!("[{id}]")), "{id}:\n{review}");
    }
    for bad in [
        "apt-get",
        "certbot certonly",
        "/etc/nginx/",
        "override",
        "up -d",
    ] {
        assert!(!review.contains(bad), "{bad}:\n{review}");
    }
    assert!(
        crate::readonly::snapshot(m.root()) == before,
        "the review wrote something"
    );
    t.keys(&["Enter"]);
    t.wait_for("Save the answers to a file?");
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(audit_ids(&m).is_empty(), "the audit is clean after the run");
    assert!(
        !m.path("/root/dpserver/docker-compose.override.yaml")
            .exists()
    );

    // Run again on the now sound project: every check passes and there is nothing to do.
    let t = plain_wizard(&m);
    let s = t.wait_for("Already set up for");
    assert!(s.contains("Every check passes"), "{s}");
    let all = enter_through(
        &t,
        &[
            "Which drawpile-srv should browsers reach?",
            "WebSocket port for drawpile-srv (27751)",
            &format!("Domain people use for your server ({domain})"),
            "Other web client origins to allow",
            "Also host the browser client",
            "Nothing to change. Go on?",
            "Save the answers to a file?",
        ],
    );
    assert!(all.contains("Nothing to do"), "{all}");
    assert!(!all.lines().any(|l| l.starts_with("== ")), "{all}");
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(audit_ids(&m).is_empty());
}

/// Apache, then Caddy, in front with a sound route written by hand (not by dpwizard): the
/// wizard opens on the audit as it does with nginx in front, offers that web server and
/// no other, its domain is the site's and its origins question defaults to the origin the
/// route lets through, so taking every default plans nothing.
#[test]
fn with_apache_or_caddy_in_front_the_wizard_opens_on_the_audit_and_keeps_the_routes_origins() {
    use crate::audit_fronts::{HAND_APACHE, HAND_CADDY, MODULES, apache, caddy};
    // The fronts' domain, not this file's nginx fixture's.
    use crate::plan_fronts::{DOMAIN, le_ssl};
    if skip_unless_program("tmux") {
        return;
    }
    // The origin the hand-written routes allow besides the official ones.
    let extra = "https://paint.example.org";
    for (m, label) in [
        (apache(&le_ssl(HAND_APACHE), MODULES), "Apache"),
        (caddy(HAND_CADDY), "Caddy"),
    ] {
        assert!(audit_ids(&m).is_empty(), "{label}: the fixture is sound");
        let before = crate::readonly::snapshot(m.root());
        let t = plain_wizard(&m);
        let s = t.wait_for("Already set up for");
        assert!(
            s.contains(&format!("Already set up for {DOMAIN}")),
            "{label}:\n{s}"
        );
        assert!(s.contains("Every check passes"), "{label}:\n{s}");
        let all = enter_through(
            &t,
            &[
                "Which drawpile-srv should browsers reach?",
                "WebSocket port for drawpile-srv",
                "Address the WebSocket listener",
                &format!("Domain people use for your server ({DOMAIN})"),
                "Reverse proxy",
                &format!("Other web client origins to allow (optional) ({extra})"),
                "Also host the browser client",
                "Nothing to change. Go on?",
                "Save the answers to a file?",
            ],
        );
        assert!(
            all.contains(&format!("{label} serves {DOMAIN} with TLS")),
            "{label}:\n{all}"
        );
        assert!(all.contains("Nothing to do"), "{label}:\n{all}");
        // The one serving 443 is the only reverse proxy offered.
        let proxy = &all[all.find("Reverse proxy").unwrap()..];
        let proxy = &proxy[..proxy.find("Other web client origins").unwrap()];
        assert!(proxy.contains(&format!("1) {label}")), "{proxy}");
        assert!(!proxy.contains("2) "), "{proxy}");
        assert!(!all.contains("Certificate for TLS"), "{label}:\n{all}");
        t.keys(&["Enter"]);
        assert_eq!(t.exit_code(), 0, "{label}: {}", t.screen());
        assert!(
            crate::readonly::snapshot(m.root()) == before,
            "{label}: the run changed a file"
        );
    }
}

/// The same in the full-screen wizard: the audit first, the container's questions only, and
/// a review of the one site change; the audit is clean after it.
#[test]
fn on_dpserver_the_tui_opens_on_the_audit_and_fixes_the_mounted_site() {
    if skip_unless_program("tmux") {
        return;
    }
    let m = FakeMachine::debian12();
    crate::support::dpserver::pre_2026(&m);
    let site = "/root/dpserver/nginx-config/default.conf";
    let root = m.root().display().to_string();
    let bin = dpwizard_bin().display().to_string();
    let t = Tmux::start_sized(Path::new(&bin), &["--root", &root], (120, 40));
    let s = t.wait_for("Already set up for");
    for id in audit_ids(&m) {
        assert!(s.contains(&format!("[{id}]")), "{id}:\n{s}");
    }
    t.keys(&["Enter"]);
    t.wait_for("Which drawpile-srv");
    for next in [
        "WebSocket port for drawpile-srv",
        "Domain people use",
        "Other web client origins",
        // dpserver's nginx can host the browser client too: no by default.
        "Also host the browser client",
    ] {
        t.keys(&["Enter"]);
        let s = t.wait_for(next);
        for not_asked in ["Address the WebSocket listener", "Certificate for TLS"] {
            assert!(!s.contains(not_asked), "{not_asked}:\n{s}");
        }
    }
    t.keys(&["Enter"]);
    t.wait_for("▶ Review");
    let s = t.wait(&format!("{site} in the review"), |s| s.contains(site));
    assert!(!s.contains("/etc/nginx/"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the end of the run", |s| {
        s.contains("Written as run") && s.contains("Save the answers?")
    });
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(audit_ids(&m).is_empty(), "the audit is clean after the run");
    assert!(m.read(site).contains("# BEGIN dpwizard"));
}
