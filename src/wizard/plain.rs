//! The line front end (`--plain`, `TERM=dumb`, or no room for the full screen): plain lines
//! out and whole lines in, read in the terminal's own line mode (no raw mode, no cursor
//! moves, no colours), so it writes not one escape code and works in a log, on a serial
//! console and with a screen reader. Choices are numbered; Enter alone takes the default,
//! `<` goes back, `?` shows the help, Esc then Enter (or the end of input) quits.
//! Validation is the model's (`Wizard::validate`), run before the answer is handed over.

use std::io::{BufRead, Write};

use super::run::Engine;
use super::{Effect, Input, Kind, Phase, QId, Wizard};
use crate::exit::Exit;
use crate::ui::progress::{plan_text, print_event};
use crate::ui::style::Style;

/// Typed instead of an answer: go back one question / show the help.
const BACK: &str = "<";
const HELP: &str = "?";

/// What a line of input meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Line(String),
    /// The line held an Esc (the terminal echoes it as `^[`).
    Esc,
    /// The input ended (Ctrl-D, or a closed pipe).
    Eof,
}

/// The two ends of the line mode: where lines come from and go to, and how wide the output
/// may be (for wrapping with a hanging indent).
pub struct Io<'a> {
    pub input: Box<dyn BufRead + 'a>,
    pub out: Box<dyn Write + 'a>,
    pub width: usize,
}

impl Io<'_> {
    /// Prints a line, wrapped to the width; continued rows are indented under its text.
    pub fn say(&mut self, line: &str) {
        for l in line.split('\n') {
            // Text from files and answers never reaches the terminal as control codes.
            let l = crate::ui::terminal::safe(l, &crate::ui::style::Style::plain());
            for row in super::tui::wrap_str(&l, self.width) {
                let _ = writeln!(self.out, "{row}");
            }
        }
        let _ = self.out.flush();
    }

    /// Prints the prompt (no newline) and reads one line.
    pub fn ask(&mut self, prompt: &str) -> Reply {
        let _ = write!(self.out, "{prompt} ");
        let _ = self.out.flush();
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                // The answer's line was never ended: end it, so what follows starts clean.
                let _ = writeln!(self.out);
                Reply::Eof
            }
            Ok(_) if line.contains('\x1b') => Reply::Esc,
            Ok(_) => Reply::Line(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }
}

pub fn run(
    w: &mut Wizard,
    engine: &Engine,
    rt: &tokio::runtime::Runtime,
    _style: &Style,
) -> Result<i32, Exit> {
    // No colours either: the line mode writes plain text only.
    let style = Style::plain();
    let width = crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w))
        .filter(|w| *w >= 20)
        .unwrap_or(80);
    let stdin = std::io::stdin();
    let mut io = Io {
        input: Box::new(stdin.lock()),
        out: Box::new(std::io::stdout()),
        width,
    };
    loop {
        let input = next_input(w, &mut io);
        let effect = w.handle(input);
        if let Some(code) = carry_out(w, engine, rt, &style, &mut io, effect)? {
            return Ok(code);
        }
    }
}

/// Shows the current screen as lines and reads what the admin answers (the quit question
/// first when it is open: Esc or n stays, the end of input quits).
pub fn next_input(w: &Wizard, io: &mut Io) -> Input {
    if w.confirm_quit {
        let nothing = if w.applied() {
            ""
        } else {
            " Nothing has been changed."
        };
        return match io.ask(&format!("Quit the wizard?{nothing} (y/N)")) {
            Reply::Line(l) => Input::ConfirmQuit(matches!(l.trim(), "y" | "Y" | "yes")),
            Reply::Esc => Input::ConfirmQuit(false),
            Reply::Eof => Input::ConfirmQuit(true),
        };
    }
    ask(w, io)
}

/// Carries out an effect (and those it leads to); Some(code) when the wizard ends.
fn carry_out(
    w: &mut Wizard,
    engine: &Engine,
    rt: &tokio::runtime::Runtime,
    style: &Style,
    io: &mut Io,
    mut effect: Effect,
) -> Result<Option<i32>, Exit> {
    loop {
        effect = match effect {
            Effect::None => return Ok(None),
            Effect::MakePlan(a) => {
                io.say("Planning…");
                let plan = engine.plan(w.facts(), &a);
                w.handle(Input::Planned(plan))
            }
            Effect::Apply(a, plan) => {
                let (n, of) = w.step_counter();
                io.say(&format!("\n[{n}/{of}] Apply"));
                let _guard = SigintCancels::install();
                let mut events = Vec::new();
                let inv = w.invocation.clone();
                let code = engine.apply(rt, w.facts(), &a, *plan, &mut |e| {
                    print_event(&e, style, &inv);
                    events.push(e);
                });
                for e in events {
                    w.handle(Input::Progress(e));
                }
                w.handle(Input::Finished(code))
            }
            Effect::Save { path, text, code } => {
                return match super::run::save(&path, &text) {
                    Ok(()) => {
                        io.say(&format!(
                            "Answers saved to {path}: `{}` repeats this run.",
                            w.invocation.dpwizard(&["apply", "--answers", &path])
                        ));
                        Ok(Some(code))
                    }
                    Err(e) => Err(Exit::usage(e)),
                };
            }
            Effect::Exit(code) => {
                if !w.applied() {
                    io.say("Nothing was changed.");
                }
                return Ok(Some(code));
            }
        };
    }
}

/// `[n/total] Title`, after a blank line.
fn header(w: &Wizard, io: &mut Io, title: &str) {
    let (n, of) = w.step_counter();
    io.say(&format!("\n[{n}/{of}] {title}"));
}

/// A numbered choice: Some(index), or the reply that was not one (back, help, quit).
fn choose(io: &mut Io, prompt: &str, labels: &[String], default: usize) -> Result<usize, Reply> {
    for (i, l) in labels.iter().enumerate() {
        let mark = if i == default { " (default)" } else { "" };
        io.say(&format!("  {}) {l}{mark}", i + 1));
    }
    loop {
        match io.ask(&format!("? {prompt} ({}):", default + 1)) {
            Reply::Line(l) => {
                let l = l.trim();
                if l.is_empty() {
                    return Ok(default);
                }
                if let Ok(n) = l.parse::<usize>()
                    && (1..=labels.len()).contains(&n)
                {
                    return Ok(n - 1);
                }
                if l == "q" {
                    return Err(Reply::Esc);
                }
                if l == BACK || l == HELP {
                    return Err(Reply::Line(l.to_string()));
                }
                io.say(&format!(
                    "  ✗ {l:?}: type a number from 1 to {} (Enter alone: {})",
                    labels.len(),
                    default + 1
                ));
            }
            other => return Err(other),
        }
    }
}

fn ask(w: &Wizard, io: &mut Io) -> Input {
    let style = Style::plain();
    match w.phase.clone() {
        Phase::Asking(id) => ask_question(w, id, io),
        Phase::Review(plan) => {
            header(w, io, "Review");
            match plan {
                Some(Ok(p)) => {
                    io.say(plan_text(&p, &style).trim_end_matches('\n'));
                    let prompt = if p.is_empty() {
                        "Nothing to change. Go on?"
                    } else {
                        "Apply these changes?"
                    };
                    let labels = ["Apply", "Back", "Quit"].map(String::from);
                    match choose(io, prompt, &labels, 0) {
                        Ok(0) => Input::Answer(String::new()),
                        Ok(1) | Err(Reply::Line(_)) => Input::Back,
                        _ => Input::Quit,
                    }
                }
                Some(Err(e)) => {
                    io.say(&format!("✗ {e}"));
                    let labels = ["Back", "Quit"].map(String::from);
                    match choose(io, "The plan cannot be made.", &labels, 0) {
                        Ok(0) | Err(Reply::Line(_)) => Input::Back,
                        _ => Input::Quit,
                    }
                }
                None => Input::Back,
            }
        }
        Phase::Applying => Input::Quit,
        Phase::Done { code } => {
            header(w, io, "Verify");
            io.say(if code == 0 {
                "Done."
            } else {
                "Finished with problems (see above)."
            });
            if let Some(e) = &w.error {
                io.say(&format!("✗ {e}"));
            }
            if w.save_to.is_some() {
                // --save-answers: saved without asking.
                return Input::Answer(String::new());
            }
            io.say(&format!(
                "  `{}` repeats this run.",
                w.invocation.dpwizard(&["apply", "--answers", "FILE"])
            ));
            match io.ask("? Save the answers to a file? (path, Enter alone: no):") {
                Reply::Line(l) => Input::Answer(l),
                Reply::Esc | Reply::Eof => Input::Quit,
            }
        }
    }
}

fn ask_question(w: &Wizard, id: QId, io: &mut Io) -> Input {
    let q = w.question(id);
    header(w, io, id.step().title());
    for c in &q.context {
        io.say(&format!("  {c}"));
    }
    for b in &q.blockers {
        io.say(&format!("  ! {b}"));
    }
    if let Some(e) = &w.error {
        io.say(&format!("  ✗ {e}"));
    }
    let back_hint = if id == QId::Welcome { "" } else { " · < back" };
    let keys = |what: &str| format!("  {} ({what} · ? help{back_hint} · Esc Enter quits)", q.why);
    let mut help_shown = false;
    loop {
        let reply = match q.kind {
            Kind::Info => {
                if id == QId::Welcome && !w.stopped().is_empty() {
                    io.say(
                        "dpwizard cannot go on: fix the problems above, then run dpwizard again.",
                    );
                    // The model ends the wizard here (exit 2).
                    return Input::Answer(String::new());
                }
                if !help_shown {
                    io.say(&keys("Enter continues"));
                }
                io.ask(&format!("? {} (Enter):", q.prompt))
                    .map_line(|_| Input::Answer(String::new()))
            }
            Kind::Choice | Kind::YesNo => {
                if !help_shown {
                    io.say(&keys("a number, or Enter for the default"));
                }
                let labels: Vec<String> = q.choices.iter().map(|c| c.label.clone()).collect();
                let start = q
                    .default
                    .as_ref()
                    .and_then(|d| q.choices.iter().position(|c| &c.key == d))
                    .unwrap_or(0);
                match choose(io, &q.prompt, &labels, start) {
                    Ok(i) => Ok(Input::Answer(q.choices[i].key.clone())),
                    Err(r) => Err(r),
                }
            }
            Kind::Text | Kind::Port | Kind::Path => {
                if !help_shown {
                    io.say(&keys("Enter accepts"));
                }
                let default = q.default.as_deref().filter(|d| !d.is_empty());
                let prompt = match default {
                    Some(d) => format!("? {} ({d}):", q.prompt),
                    None => format!("? {}:", q.prompt),
                };
                match io.ask(&prompt) {
                    Reply::Line(l) if l.trim() != BACK && l.trim() != HELP => {
                        let l = l.trim().to_string();
                        // Empty takes the default, which the model validates when handled.
                        match w.validate(id, &l) {
                            Err(e) if !l.is_empty() => {
                                io.say(&format!("  ✗ {e}"));
                                help_shown = true;
                                continue;
                            }
                            _ => Ok(Input::Answer(l)),
                        }
                    }
                    other => Err(other),
                }
            }
        };
        match reply {
            Ok(input) => return input,
            Err(Reply::Line(l)) if l.trim() == BACK && id != QId::Welcome => return Input::Back,
            Err(Reply::Line(l)) if l.trim() == HELP => {
                io.say(&q.help);
                help_shown = true;
            }
            Err(Reply::Line(_)) => {}
            Err(Reply::Esc | Reply::Eof) => return Input::Quit,
        }
    }
}

impl Reply {
    /// A plain line becomes `f(line)`; help, back and quit are handed back.
    fn map_line(self, f: impl FnOnce(String) -> Input) -> Result<Input, Reply> {
        match self {
            Reply::Line(l) if l.trim() == BACK || l.trim() == HELP => Err(Reply::Line(l)),
            Reply::Line(l) => Ok(f(l)),
            other => Err(other),
        }
    }
}

/// While applying in the line mode, SIGINT asks the session to stop after the current
/// atomic write and roll back, instead of killing dpwizard mid-run. Restored on drop.
struct SigintCancels {
    old: Option<nix::sys::signal::SigAction>,
}

extern "C" fn on_sigint(_: libc::c_int) {
    super::run::CANCEL.store(true, std::sync::atomic::Ordering::SeqCst);
}

impl SigintCancels {
    fn install() -> SigintCancels {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        let action = SigAction::new(
            SigHandler::Handler(on_sigint),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let old = unsafe { sigaction(Signal::SIGINT, &action) }.ok();
        SigintCancels { old }
    }
}

impl Drop for SigintCancels {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            // SAFETY: restoring the disposition that was in place before.
            let _ = unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, old) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wizard::tests::facts;

    /// Runs `f` on an Io reading `input`; what it wrote.
    fn with_io<T>(input: &str, width: usize, f: impl FnOnce(&mut Io) -> T) -> (T, String) {
        let mut out = Vec::new();
        let r = {
            let mut io = Io {
                input: Box::new(std::io::Cursor::new(input.as_bytes().to_vec())),
                out: Box::new(&mut out),
                width,
            };
            f(&mut io)
        };
        (r, String::from_utf8(out).expect("UTF-8"))
    }

    #[test]
    fn esc_at_the_quit_question_means_no_and_the_end_of_input_quits() {
        let mut w = Wizard::new(facts(), false);
        w.handle(Input::Quit);
        assert!(w.confirm_quit);
        let (i, out) = with_io("\x1b\n", 80, |io| next_input(&w, io));
        assert_eq!(i, Input::ConfirmQuit(false));
        assert!(out.contains("Quit the wizard? Nothing has been changed. (y/N)"));
        assert_eq!(
            with_io("y\n", 80, |io| next_input(&w, io)).0,
            Input::ConfirmQuit(true)
        );
        assert_eq!(
            with_io("", 80, |io| next_input(&w, io)).0,
            Input::ConfirmQuit(true)
        );
        assert_eq!(
            with_io("\n", 80, |io| next_input(&w, io)).0,
            Input::ConfirmQuit(false)
        );
    }

    #[test]
    fn choices_are_numbered_and_a_wrong_number_is_asked_again() {
        let mut w = Wizard::new(facts(), false);
        for _ in 0..5 {
            w.handle(Input::Answer(String::new()));
        }
        assert_eq!(w.phase, Phase::Asking(QId::TlsMode));
        let (i, out) = with_io("9\nx\n3\n", 80, |io| next_input(&w, io));
        assert_eq!(i, Input::Answer("self-signed".into()));
        assert!(out.contains("  2) existing: use a certificate that is already there (default)"));
        assert_eq!(out.matches("type a number from 1 to 3").count(), 2, "{out}");
        // Enter alone: the default; < back; Esc quits.
        assert_eq!(
            with_io("\n", 80, |io| next_input(&w, io)).0,
            Input::Answer("existing".into())
        );
        assert_eq!(with_io("<\n", 80, |io| next_input(&w, io)).0, Input::Back);
        assert_eq!(
            with_io("\x1b\n", 80, |io| next_input(&w, io)).0,
            Input::Quit
        );
        assert!(!out.contains('\x1b'), "no escape codes: {out:?}");
    }

    #[test]
    fn text_is_validated_before_it_is_handed_over_and_lines_wrap_with_an_indent() {
        let mut w = Wizard::new(facts(), false);
        w.handle(Input::Answer(String::new()));
        w.handle(Input::Answer(String::new()));
        assert_eq!(w.phase, Phase::Asking(QId::WsPort));
        let (i, out) = with_io("80\n?\n27770\n", 40, |io| next_input(&w, io));
        assert_eq!(i, Input::Answer("27770".into()));
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("✗ port 80 is the web server's HTTP port"),
            "{out}"
        );
        assert!(
            flat.contains("A port another program listens on"),
            "the help: {out}"
        );
        for l in out.lines() {
            // The prompt line holds what was typed after it; the rest fits the width.
            if !l.starts_with('?') {
                assert!(l.chars().count() <= 40, "{l:?}");
            }
        }
        assert!(
            out.lines().any(|l| l.starts_with("    ")),
            "hanging indent: {out}"
        );
    }
}
