//! The full-screen front end (ratatui over crossterm): the step list at the side, the
//! question in the middle, keys in the footer; the review's coloured diffs, apply's live
//! progress and the checks at the end. `Screen` holds what is on screen and turns keys into
//! the model's inputs (pure, tested on TestBackend); `run` is the event loop. It blocks on
//! one channel fed by the terminal and the apply thread, and redraws only after a message,
//! so an idle wizard uses no CPU. The terminal is restored on every exit, panics included.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style as TStyle};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::run::{CANCEL, Engine};
use super::{Effect, Input, Kind, Phase, QId, StepState, Wizard};
use crate::apply::session::Event;
use crate::exit::Exit;
use crate::ui::progress::{DiffKind, diff_kind, event_lines, why};
use crate::ui::style::Style;

/// True when the terminal can take the full-screen wizard: a real terminal on both ends, a
/// TERM that is not `dumb`, and a size crossterm can read.
pub fn capable() -> bool {
    let term = std::env::var("TERM").unwrap_or_default();
    if term.is_empty() || term == "dumb" {
        return false;
    }
    if !std::io::stdout().is_terminal() {
        return false;
    }
    matches!(crossterm::terminal::size(), Ok((w, h)) if w >= 40 && h >= 12)
}

/// What is on screen besides the model: the field being typed, the highlighted choice,
/// the help toggle and scroll offsets.
#[derive(Debug, Clone)]
pub struct Screen {
    pub wizard: Wizard,
    pub field: String,
    pub selected: usize,
    pub help: bool,
    pub scroll: u16,
    pub color: bool,
    /// The phase the field was last filled for: a new question starts from its default.
    shown: Option<Phase>,
}

impl Screen {
    pub fn new(wizard: Wizard, color: bool) -> Screen {
        let mut s = Screen {
            wizard,
            field: String::new(),
            selected: 0,
            help: false,
            scroll: 0,
            color,
            shown: None,
        };
        s.sync();
        s
    }

    /// Fills the field (and the highlighted choice) from the question's default when the
    /// screen moved to another question or phase.
    fn sync(&mut self) {
        let now = match &self.wizard.phase {
            Phase::Review(_) => Phase::Review(None),
            p => p.clone(),
        };
        if self.shown.as_ref() == Some(&now) {
            return;
        }
        self.shown = Some(now);
        self.help = false;
        self.scroll = 0;
        self.field.clear();
        self.selected = 0;
        if let Phase::Asking(id) = self.wizard.phase {
            let q = self.wizard.question(id);
            let default = q.default.unwrap_or_default();
            if q.kind == Kind::Choice || q.kind == Kind::YesNo {
                self.selected = q.choices.iter().position(|c| c.key == default).unwrap_or(0);
            } else {
                self.field = default;
            }
        }
    }

    /// Feeds an input to the model and keeps the screen in step.
    pub fn input(&mut self, input: Input) -> Effect {
        let e = self.wizard.handle(input);
        self.sync();
        e
    }

    /// A key press → what the front end must do.
    pub fn key(&mut self, k: KeyEvent) -> Effect {
        if k.kind == KeyEventKind::Release {
            return Effect::None;
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            if self.wizard.phase == Phase::Applying {
                // The session stops after the current atomic write and rolls back.
                CANCEL.store(true, Ordering::SeqCst);
                return Effect::None;
            }
            return self.input(Input::Quit);
        }
        if self.wizard.confirm_quit {
            let yes = matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y'));
            return self.input(Input::ConfirmQuit(yes));
        }
        let typing = self.typing();
        match k.code {
            KeyCode::Esc => self.input(Input::Quit),
            KeyCode::Char('q') if !typing => self.input(Input::Quit),
            KeyCode::Char('?') | KeyCode::F(1) => {
                self.help = !self.help;
                Effect::None
            }
            KeyCode::Left => self.input(Input::Back),
            KeyCode::Char('b') if !typing && !matches!(self.wizard.phase, Phase::Done { .. }) => {
                self.input(Input::Back)
            }
            KeyCode::Enter => {
                let answer = match &self.wizard.phase {
                    Phase::Asking(id) => {
                        let q = self.wizard.question(*id);
                        match q.kind {
                            Kind::Choice | Kind::YesNo => q
                                .choices
                                .get(self.selected)
                                .map(|c| c.key.clone())
                                .unwrap_or_default(),
                            Kind::Info => String::new(),
                            _ => self.field.clone(),
                        }
                    }
                    _ => self.field.clone(),
                };
                self.input(Input::Answer(answer))
            }
            KeyCode::Up => {
                self.move_by(-1);
                Effect::None
            }
            KeyCode::Down => {
                self.move_by(1);
                Effect::None
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(10);
                Effect::None
            }
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_add(10).min(self.scroll_limit());
                Effect::None
            }
            KeyCode::Backspace if typing => {
                self.field.pop();
                Effect::None
            }
            KeyCode::Char('u') if ctrl && typing => {
                self.field.clear();
                Effect::None
            }
            KeyCode::Char(c) if typing && !ctrl => {
                self.field.push(c);
                Effect::None
            }
            _ => Effect::None,
        }
    }

    /// A text field has the keys (letters type instead of being shortcuts).
    fn typing(&self) -> bool {
        match &self.wizard.phase {
            Phase::Asking(id) => matches!(
                self.wizard.question(*id).kind,
                Kind::Text | Kind::Port | Kind::Path
            ),
            Phase::Done { .. } => self.wizard.save_to.is_none(),
            _ => false,
        }
    }

    fn move_by(&mut self, d: i32) {
        match &self.wizard.phase {
            Phase::Asking(id) => {
                let n = self.wizard.question(*id).choices.len();
                if n > 0 {
                    self.selected = (self.selected as i32 + d).clamp(0, n as i32 - 1) as usize;
                }
            }
            _ => {
                self.scroll = if d < 0 {
                    self.scroll.saturating_sub(1)
                } else {
                    self.scroll.saturating_add(1).min(self.scroll_limit())
                }
            }
        }
    }

    /// How far the middle can scroll: down to its last line at the top.
    fn scroll_limit(&self) -> u16 {
        max_scroll(&self.main_lines().0)
    }

    fn st(&self, fg: Color) -> TStyle {
        if self.color {
            TStyle::new().fg(fg)
        } else {
            TStyle::new()
        }
    }

    fn bold(&self) -> TStyle {
        TStyle::new().add_modifier(Modifier::BOLD)
    }

    fn dim(&self) -> TStyle {
        TStyle::new().add_modifier(Modifier::DIM)
    }

    /// Draws the whole screen. Never changes state.
    pub fn render(&self, f: &mut Frame) {
        let [title, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(f.area());
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(
                "dpwizard — Drawpile server for the web client",
                self.bold(),
            ))),
            title,
        );
        let [side, main] =
            Layout::horizontal([Constraint::Length(18), Constraint::Min(20)]).areas(body);
        self.render_steps(f, side);
        self.render_main(f, main);
        let footer_style = if self.wizard.confirm_quit {
            self.bold().patch(self.st(Color::Yellow))
        } else {
            self.dim()
        };
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(self.footer(), footer_style))),
            footer,
        );
    }

    fn render_steps(&self, f: &mut Frame, area: Rect) {
        let lines: Vec<Line> = self
            .wizard
            .steps()
            .into_iter()
            .map(|(s, st)| match st {
                StepState::Done => Line::from(vec![
                    Span::styled("✓ ", self.st(Color::Green)),
                    Span::raw(s.title()),
                ]),
                StepState::Current => Line::from(Span::styled(
                    format!("▶ {}", s.title()),
                    self.bold().patch(self.st(Color::Cyan)),
                )),
                StepState::Pending => {
                    Line::from(Span::styled(format!("  {}", s.title()), self.dim()))
                }
            })
            .collect();
        f.render_widget(
            Paragraph::new(lines).block(Block::new().borders(Borders::RIGHT)),
            area,
        );
    }

    fn footer(&self) -> String {
        if self.wizard.confirm_quit {
            let nothing = if self.wizard.applied() {
                ""
            } else {
                " Nothing has been changed."
            };
            return format!("Quit the wizard?{nothing} y quits · other keys stay");
        }
        match &self.wizard.phase {
            Phase::Asking(QId::Welcome) => "Enter continue · ? help · Esc/q quit".into(),
            Phase::Asking(id) => {
                let kind = self.wizard.question(*id).kind;
                if matches!(kind, Kind::Choice | Kind::YesNo) {
                    "↑↓ choose · Enter next · ← Back · ? Help · Esc/q Quit".into()
                } else {
                    "type · Enter next · ← Back · ? Help · Esc Quit".into()
                }
            }
            Phase::Review(_) => "Enter Apply · ↑↓ PgUp PgDn scroll · ← Back · Esc/q Quit".into(),
            Phase::Applying => "applying… · Ctrl-C stops and rolls back".into(),
            Phase::Done { .. } => "Enter finish · ↑↓ scroll · Esc quit".into(),
        }
    }

    fn render_main(&self, f: &mut Frame, area: Rect) {
        let area = Rect {
            x: area.x + 1,
            width: area.width.saturating_sub(1),
            ..area
        };
        let (lines, scrolls) = self.main_lines();
        let scroll = if scrolls {
            self.scroll.min(max_scroll(&lines))
        } else {
            0
        };
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0)),
            area,
        );
    }

    /// The middle of the screen, and whether it scrolls (review, apply, the end).
    fn main_lines(&self) -> (Vec<Line<'static>>, bool) {
        let mut lines: Vec<Line<'static>> = Vec::new();
        let mut scroll = false;
        match &self.wizard.phase {
            Phase::Asking(id) => self.question_lines(*id, &mut lines),
            Phase::Review(plan) => {
                lines.push(Line::from(Span::styled("Review", self.bold())));
                match plan {
                    None => lines.push(Line::raw("Planning…")),
                    Some(Err(e)) => {
                        lines.push(Line::from(Span::styled(
                            format!("✗ {e}"),
                            self.st(Color::Red),
                        )));
                        lines.push(Line::raw("← Back to change the answers."));
                    }
                    Some(Ok(p)) => {
                        self.plan_lines(p, &mut lines);
                        scroll = true;
                    }
                }
            }
            Phase::Applying => {
                lines.push(Line::from(Span::styled("Applying", self.bold())));
                self.event_lines(&mut lines, true);
                scroll = true;
            }
            Phase::Done { code } => {
                lines.push(Line::from(Span::styled(
                    if *code == 0 {
                        "Done"
                    } else {
                        "Finished with problems"
                    },
                    self.bold(),
                )));
                self.event_lines(&mut lines, false);
                lines.push(Line::raw(""));
                if let Some(p) = &self.wizard.save_to {
                    lines.push(Line::raw(format!(
                        "Enter finishes and saves the answers to {p}."
                    )));
                } else {
                    lines.push(Line::raw(
                        "Save the answers? Type a path (Enter alone: no).",
                    ));
                    lines.push(Line::from(Span::styled(
                        "`dpwizard apply --answers PATH` repeats this run.",
                        self.dim(),
                    )));
                    lines.push(self.field_line());
                }
                if let Some(e) = &self.wizard.error {
                    lines.push(Line::from(Span::styled(
                        format!("✗ {e}"),
                        self.st(Color::Red),
                    )));
                }
                scroll = true;
            }
        }
        (lines, scroll)
    }

    fn field_line(&self) -> Line<'static> {
        Line::from(vec![
            Span::raw("> "),
            Span::styled(
                self.field.clone(),
                TStyle::new().add_modifier(Modifier::UNDERLINED),
            ),
            Span::styled("█", self.dim()),
        ])
    }

    fn question_lines(&self, id: QId, lines: &mut Vec<Line<'static>>) {
        let q = self.wizard.question(id);
        lines.push(Line::from(Span::styled(q.prompt.clone(), self.bold())));
        lines.push(Line::from(Span::styled(q.why.clone(), self.dim())));
        if !q.context.is_empty() {
            lines.push(Line::raw(""));
            for c in &q.context {
                lines.push(Line::raw(format!("  {c}")));
            }
        }
        for b in &q.blockers {
            lines.push(Line::from(vec![
                Span::styled("  ! ", self.st(Color::Yellow)),
                Span::raw(b.clone()),
            ]));
        }
        lines.push(Line::raw(""));
        match q.kind {
            Kind::Info => {}
            Kind::Choice | Kind::YesNo => {
                for (i, c) in q.choices.iter().enumerate() {
                    if i == self.selected {
                        lines.push(Line::from(Span::styled(
                            format!("› {}", c.label),
                            TStyle::new().add_modifier(Modifier::REVERSED),
                        )));
                    } else {
                        lines.push(Line::raw(format!("  {}", c.label)));
                    }
                }
            }
            Kind::Text | Kind::Port | Kind::Path => {
                lines.push(self.field_line());
                if q.optional {
                    lines.push(Line::from(Span::styled(
                        "  (optional: leave empty for none)",
                        self.dim(),
                    )));
                }
            }
        }
        if let Some(e) = &self.wizard.error {
            lines.push(Line::from(Span::styled(
                format!("✗ {e}"),
                self.st(Color::Red),
            )));
        }
        if self.help {
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled("Help", self.bold())));
            lines.push(Line::raw(q.help.clone()));
        }
    }

    fn plan_lines(&self, p: &crate::plan::Plan, lines: &mut Vec<Line<'static>>) {
        if p.is_empty() {
            lines.push(Line::raw(
                "Nothing to do: the machine already matches the answers.",
            ));
        }
        for c in &p.changes {
            lines.push(Line::from(Span::styled(
                format!("== {}", c.path()),
                self.bold(),
            )));
            lines.push(Line::from(Span::styled(
                format!("   {}", why(c)),
                self.dim(),
            )));
            // The ---/+++ header only repeats the path shown above.
            for l in crate::plan::diff::unified(c)
                .lines()
                .filter(|l| !l.starts_with("--- ") && !l.starts_with("+++ "))
            {
                let st = match diff_kind(l) {
                    DiffKind::Added => self.st(Color::Green),
                    DiffKind::Removed => self.st(Color::Red),
                    DiffKind::Context => TStyle::new(),
                };
                lines.push(Line::from(Span::styled(l.to_string(), st)));
            }
        }
        if !p.actions.is_empty() {
            lines.push(Line::from(Span::styled("Then:", self.bold())));
            for a in &p.actions {
                lines.push(Line::from(vec![
                    Span::raw(format!("  $ {}", a.argv.join(" "))),
                    Span::styled(format!("  # {}", a.why), self.dim()),
                ]));
            }
        }
        if !p.manual.is_empty() {
            lines.push(Line::from(Span::styled("Run these yourself:", self.bold())));
            for m in &p.manual {
                lines.push(Line::raw(format!("  $ {m}")));
            }
        }
        for n in &p.notes {
            lines.push(Line::from(vec![
                Span::styled("! ", self.st(Color::Yellow)),
                Span::raw(n.clone()),
            ]));
        }
    }

    fn event_lines(&self, lines: &mut Vec<Line<'static>>, running: bool) {
        let plain = Style::plain();
        let n = self.wizard.events.len();
        for (i, e) in self.wizard.events.iter().enumerate() {
            if let Event::CommandStarted(c) = e {
                // Shown only while it runs: its ✓ line replaces it.
                if running && i + 1 == n {
                    lines.push(Line::raw(format!("… {c}")));
                }
                continue;
            }
            for (_, l) in event_lines(e, &plain) {
                let st = if l.starts_with('✓') {
                    self.st(Color::Green)
                } else if l.starts_with('✗') || l.starts_with("dpwizard:") {
                    self.st(Color::Red)
                } else if l.starts_with('!') {
                    self.st(Color::Yellow)
                } else {
                    TStyle::new()
                };
                lines.push(Line::from(Span::styled(l, st)));
            }
        }
    }
}

/// The last line index of some content (wrapping only adds rows, so never too far).
fn max_scroll(lines: &[Line]) -> u16 {
    u16::try_from(lines.len().saturating_sub(1)).unwrap_or(u16::MAX)
}

/// What the event loop waits for: the terminal, or the apply thread.
enum Msg {
    Term(TermEvent),
    Progress(Event),
    Finished(i32),
    /// The terminal could not be read any more.
    Gone(String),
}

/// Restores the terminal when dropped (ratatui::init also restores it on panic).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
        // The cursor was hidden while drawing; a shell without one is unusable.
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    }
}

pub fn run(wizard: Wizard, engine: Engine, style: &Style) -> Result<i32, Exit> {
    let mut terminal = ratatui::try_init()
        .map_err(|e| Exit::Internal(anyhow::anyhow!("starting the full-screen wizard: {e}")))?;
    let guard = Restore;
    let mut screen = Screen::new(wizard, style.color);
    let (tx, rx) = mpsc::channel::<Msg>();
    let term_tx = tx.clone();
    // crossterm's read blocks; one thread turns terminal events into messages so the loop
    // below can block on one channel for both sources.
    std::thread::spawn(move || {
        loop {
            let m = match crossterm::event::read() {
                Ok(e) => Msg::Term(e),
                Err(e) => Msg::Gone(e.to_string()),
            };
            let gone = matches!(m, Msg::Gone(_));
            if term_tx.send(m).is_err() || gone {
                break;
            }
        }
    });
    let draw = |t: &mut ratatui::DefaultTerminal, s: &Screen| {
        t.draw(|f| s.render(f))
            .map(|_| ())
            .map_err(|e| Exit::Internal(anyhow::anyhow!("drawing: {e}")))
    };
    draw(&mut terminal, &screen)?;
    // A panic on purpose, so a test can prove the terminal comes back from one
    // (tests/it/wizard.rs); never set outside tests.
    if std::env::var_os("DPWIZARD_TEST_PANIC").is_some() {
        panic!("DPWIZARD_TEST_PANIC is set: a panic on purpose");
    }
    let code = loop {
        let msg = rx
            .recv()
            .map_err(|e| Exit::Internal(anyhow::anyhow!("event loop: {e}")))?;
        let mut effect = match msg {
            Msg::Term(TermEvent::Key(k)) => screen.key(k),
            Msg::Term(TermEvent::Resize(_, _)) => Effect::None,
            Msg::Term(_) => continue,
            Msg::Progress(e) => screen.input(Input::Progress(e)),
            Msg::Finished(code) => screen.input(Input::Finished(code)),
            Msg::Gone(e) => return Err(Exit::Internal(anyhow::anyhow!("terminal: {e}"))),
        };
        let mut done = None;
        loop {
            effect = match effect {
                Effect::None => break,
                Effect::MakePlan(a) => {
                    draw(&mut terminal, &screen)?;
                    let plan = engine.plan(screen.wizard.facts(), &a);
                    screen.input(Input::Planned(plan))
                }
                Effect::Apply(a, plan) => {
                    let tx = tx.clone();
                    let engine = engine.clone();
                    let facts = screen.wizard.facts().clone();
                    std::thread::spawn(move || {
                        let code = match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(rt) => engine.apply(&rt, &facts, &a, plan, &mut |e| {
                                let _ = tx.send(Msg::Progress(e));
                            }),
                            Err(_) => crate::exit::INTERNAL,
                        };
                        let _ = tx.send(Msg::Finished(code));
                    });
                    Effect::None
                }
                Effect::Save { path, text, code } => match super::run::save(&path, &text) {
                    Ok(()) => {
                        done = Some((code, Some(path)));
                        break;
                    }
                    Err(e) => {
                        screen.wizard.error = Some(e);
                        Effect::None
                    }
                },
                Effect::Exit(code) => {
                    done = Some((code, None));
                    break;
                }
            };
        }
        if let Some(d) = done {
            break d;
        }
        draw(&mut terminal, &screen)?;
    };
    drop(guard);
    // What happened stays in the terminal's scrollback after the full screen is gone.
    let (code, saved) = code;
    if screen.wizard.applied() {
        for e in &screen.wizard.events {
            crate::ui::progress::print_event(e, style);
        }
    } else {
        println!("Nothing was changed.");
    }
    if let Some(p) = saved {
        println!("Answers saved to {p}: `dpwizard apply --answers {p}` repeats this run.");
    }
    Ok(code)
}

#[cfg(test)]
mod tests;
