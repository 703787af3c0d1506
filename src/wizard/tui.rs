//! The full-screen front end (ratatui over crossterm): the step list at the side, the
//! question in the middle, keys in the footer; the review's coloured diffs, apply's live
//! progress and the checks at the end. `Screen` holds what is on screen and turns keys into
//! the model's inputs (pure, tested on TestBackend); `run` is the event loop. It blocks on
//! one channel fed by the terminal and the apply thread, and redraws only after a message,
//! so an idle wizard uses no CPU. The terminal is restored on every exit, panics included.
//! Nothing that matters is ever off screen unannounced: lists scroll with their selection,
//! marks count the lines above and below, the end pins its verdict, link and save question,
//! and below 40×12 the screen says so instead of drawing a question it cannot show.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style as TStyle};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::run::{CANCEL, Engine};
use super::{Effect, Input, Kind, Phase, QId, StepState, Wizard};
use crate::apply::session::Event;
use crate::exit::Exit;
use crate::ui::progress::{DiffKind, diff_kind, event_lines, join_notes, join_url, why};
use crate::ui::style::Style;
use wrap::wrap_line;

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
    /// The terminal's size, once known (scrolling stops where the content ends there).
    pub size: Option<(u16, u16)>,
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
            size: None,
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
        if matches!(self.wizard.phase, Phase::Done { .. }) {
            // The end of the run (the checks, or what failed) sits right above the verdict;
            // ↑ goes back through the rest.
            self.scroll = self.scroll_limit();
        }
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
        if self.too_small() {
            // The question cannot be seen: only leaving is possible.
            return match k.code {
                KeyCode::Esc | KeyCode::Char('q') => self.input(Input::Quit),
                _ => Effect::None,
            };
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
        let choices = match &self.wizard.phase {
            Phase::Asking(id) => self.wizard.question(*id).choices.len(),
            _ => 0,
        };
        match choices {
            // A list: the selection moves (and the view with it).
            n if n > 0 => {
                self.selected = (self.selected as i32 + d).clamp(0, n as i32 - 1) as usize;
            }
            // Anything else taller than the screen (a welcome with a long audit) scrolls.
            _ => {
                self.scroll = if d < 0 {
                    self.scroll.saturating_sub(1)
                } else {
                    self.scroll.saturating_add(1).min(self.scroll_limit())
                }
            }
        }
    }

    /// How far the middle can scroll: until its last row is in view at the terminal's size
    /// (before the first size is known: down to its last line at the top).
    fn scroll_limit(&self) -> u16 {
        let offset = match self.size {
            Some((w, h)) => {
                let v = self.view(self.areas(Rect::new(0, 0, w, h)).main);
                v.rows.len().saturating_sub(v.win.shown)
            }
            None => self.main_lines().lines.len().saturating_sub(1),
        };
        u16::try_from(offset).unwrap_or(u16::MAX)
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

    /// Where each part of the screen goes at a size: the step list only when there is
    /// room for it beside the question (and not at the end, whose link needs the width).
    fn areas(&self, area: Rect) -> Areas {
        let footer_rows = wrap_line(&Line::raw(self.footer()), area.width as usize)
            .len()
            .clamp(1, 2) as u16;
        let [title, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(footer_rows),
        ])
        .areas(area);
        let side =
            area.width >= SIDE_LIST_MIN_WIDTH && !matches!(self.wizard.phase, Phase::Done { .. });
        let (side, main) = if side {
            let [side, main] =
                Layout::horizontal([Constraint::Length(18), Constraint::Min(20)]).areas(body);
            (Some(side), main)
        } else {
            (None, body)
        };
        let main = Rect {
            x: main.x + 1,
            width: main.width.saturating_sub(1),
            ..main
        };
        Areas {
            title,
            side,
            main,
            footer,
        }
    }

    /// True when the terminal is below the size the full screen needs (it shrank while the
    /// wizard ran): nothing is drawn but how to go on, and no choice can be taken blind.
    fn too_small(&self) -> bool {
        self.size
            .is_some_and(|(w, h)| w < MIN_WIDTH || h < MIN_HEIGHT)
    }

    /// Draws the whole screen. Never changes state.
    pub fn render(&self, f: &mut Frame) {
        let area = f.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let text = format!(
                "The terminal is too small ({}×{}): the wizard needs {MIN_WIDTH}×{MIN_HEIGHT}. \
                 Make it larger, or quit (Esc) and run `{}`.",
                area.width,
                area.height,
                self.wizard.invocation.dpwizard(&["--plain"])
            );
            let mut lines = wrap_line(&Line::raw(text), area.width as usize);
            if self.wizard.confirm_quit {
                lines.push(Line::from(Span::styled(
                    "Quit? y quits",
                    self.bold().patch(self.st(Color::Yellow)),
                )));
            }
            f.render_widget(Paragraph::new(lines), area);
            return;
        }
        let a = self.areas(area);
        let title = match a.side {
            Some(_) => "dpwizard — Drawpile server for the web client".to_string(),
            None => {
                let (n, of) = self.wizard.step_counter();
                format!("dpwizard [{n}/{of}] {}", self.wizard.step().title())
            }
        };
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(title, self.bold()))),
            a.title,
        );
        if let Some(side) = a.side {
            self.render_steps(f, side);
        }
        self.render_main(f, a.main);
        let footer_style = if self.wizard.confirm_quit {
            self.bold().patch(self.st(Color::Yellow))
        } else {
            self.dim()
        };
        let footer: Vec<Line> = wrap_line(
            &Line::from(Span::styled(self.footer(), footer_style)),
            a.footer.width as usize,
        );
        f.render_widget(Paragraph::new(footer), a.footer);
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
        if self.too_small() {
            return "Esc quit".into();
        }
        match &self.wizard.phase {
            Phase::Asking(QId::Welcome) if !self.wizard.stopped().is_empty() => {
                "Enter/Esc quit: fix the problems above, then run dpwizard again".into()
            }
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
            Phase::Done { .. } if self.wizard.save_to.is_some() => {
                "Enter saves and finishes · ↑↓ PgUp PgDn scroll · Esc quit".into()
            }
            Phase::Done { .. } => {
                "path + Enter saves · Enter alone finishes without saving · ↑↓ scroll".into()
            }
        }
    }

    /// The middle at a width and height: the rows it shows and where its window is.
    fn view(&self, area: Rect) -> View {
        let m = self.main_lines();
        let w = area.width as usize;
        let wrap_all = |lines: &[Line<'static>]| -> Vec<Line<'static>> {
            lines.iter().flat_map(|l| wrap_line(l, w)).collect()
        };
        let mut rows = Vec::new();
        let mut focus = None;
        for (i, l) in m.lines.iter().enumerate() {
            let wrapped = wrap_line(l, w);
            if m.focus == Some(i) {
                focus = Some((rows.len(), rows.len() + wrapped.len()));
            }
            rows.extend(wrapped);
        }
        // The pinned part never takes the whole middle: two rows stay for what scrolls;
        // when it would, only the lines that must stay are kept.
        let h = area.height as usize;
        let all: Vec<Line<'static>> = m.pinned.iter().map(|(l, _)| l.clone()).collect();
        let mut pinned = wrap_all(&all);
        if pinned.len() + 2 > h {
            let must: Vec<Line<'static>> = m
                .pinned
                .iter()
                .filter(|(_, must)| *must)
                .map(|(l, _)| l.clone())
                .collect();
            pinned = wrap_all(&must);
            // Still too tall: the last rows (the field) matter most.
            let cut = pinned.len().saturating_sub(h.saturating_sub(2));
            pinned.drain(..cut);
        }
        let room = h - pinned.len();
        let wanted = if m.tail {
            usize::MAX
        } else {
            usize::from(self.scroll)
        };
        let win = window(rows.len(), room, wanted, focus);
        View { rows, pinned, win }
    }

    fn render_main(&self, f: &mut Frame, area: Rect) {
        let v = self.view(area);
        let Window {
            offset,
            shown,
            above,
            below,
        } = v.win;
        let mut out: Vec<Line> = Vec::new();
        if above {
            out.push(Line::from(Span::styled(
                format!("↑ {offset} more line(s) above"),
                self.dim(),
            )));
        }
        out.extend(v.rows.iter().skip(offset).take(shown).cloned());
        if below {
            let rest = v.rows.len() - offset - shown;
            let keys = if matches!(self.wizard.phase, Phase::Asking(_)) {
                "↑↓"
            } else {
                "↓ PgDn"
            };
            out.push(Line::from(Span::styled(
                format!("↓ {rest} more line(s) below ({keys})"),
                self.bold().patch(self.st(Color::Yellow)),
            )));
        }
        let room = area.height as usize - v.pinned.len();
        while out.len() < room {
            out.push(Line::raw(""));
        }
        out.extend(v.pinned);
        f.render_widget(Paragraph::new(out), area);
    }

    /// The middle of the screen: what scrolls, what stays pinned under it (the end's verdict,
    /// link and save question), and the line that must stay in view (the selected choice).
    fn main_lines(&self) -> Main {
        let mut m = Main::default();
        let lines = &mut m.lines;
        match &self.wizard.phase {
            Phase::Asking(id) => m.focus = self.question_lines(*id, lines),
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
                    Some(Ok(p)) => self.plan_lines(p, lines),
                }
            }
            Phase::Applying => {
                lines.push(Line::from(Span::styled("Applying", self.bold())));
                self.event_lines(lines, true);
                m.tail = true;
            }
            Phase::Done { code } => {
                lines.push(Line::from(Span::styled("The run", self.bold())));
                self.event_lines(lines, false);
                m.pinned = self.done_lines(*code);
            }
        }
        m
    }

    /// The end: the verdict, the link browsers join with, and the save question, always in
    /// view under the run's lines. Each line says whether it must stay when rows are short
    /// (the notes and blank lines give way first).
    fn done_lines(&self, code: i32) -> Vec<(Line<'static>, bool)> {
        let mut out = vec![(Line::raw(""), false)];
        let joinable = self.wizard.events.iter().find_map(|e| match e {
            Event::Joinable { domain, untrusted } => Some((domain.clone(), *untrusted)),
            _ => None,
        });
        let left = self
            .wizard
            .events
            .iter()
            .any(|e| matches!(e, Event::CommandsLeft { .. }));
        let (mark, verdict, colour) = match (code, &joinable) {
            (0, Some(_)) => ("✓", "Done: browsers can join at", Color::Green),
            (0, None) if left => (
                "!",
                "Written: the commands above are yours to run, then the checks (↑ scroll)",
                Color::Yellow,
            ),
            (0, None) => ("✓", "Done", Color::Green),
            _ => (
                "✗",
                "Finished with problems: the lines above say what (↑ scroll)",
                Color::Red,
            ),
        };
        out.push((
            Line::from(vec![
                Span::styled(format!("{mark} "), self.st(colour)),
                Span::styled(verdict, self.bold()),
            ]),
            true,
        ));
        if let Some((domain, untrusted)) = &joinable {
            // On a row of its own and unindented, so it can be selected and copied.
            out.push((
                Line::from(Span::styled(
                    join_url(domain),
                    self.bold().patch(self.st(Color::Cyan)),
                )),
                true,
            ));
            out.extend(join_notes(domain, *untrusted).into_iter().map(|l| {
                // Without trusting the certificate the link fails: that note stays.
                let must = l.contains("certificate");
                (Line::from(Span::styled(l, self.dim())), must)
            }));
        }
        out.push((Line::raw(""), false));
        if let Some(p) = &self.wizard.save_to {
            out.push((
                Line::raw(format!("Enter finishes and saves the answers to {p}.")),
                true,
            ));
        } else {
            out.push((
                Line::from(Span::styled(
                    "Save the answers? Type a path and Enter (Enter alone: no).",
                    self.bold(),
                )),
                true,
            ));
            out.push((
                Line::from(Span::styled(
                    format!(
                        "`{}` repeats this run.",
                        self.wizard
                            .invocation
                            .dpwizard(&["apply", "--answers", "PATH"])
                    ),
                    self.dim(),
                )),
                false,
            ));
            out.push((self.field_line(), true));
        }
        if let Some(e) = &self.wizard.error {
            out.push((
                Line::from(Span::styled(format!("✗ {e}"), self.st(Color::Red))),
                true,
            ));
        }
        out
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

    /// The question's lines; the index of the selected choice's line, if any.
    fn question_lines(&self, id: QId, lines: &mut Vec<Line<'static>>) -> Option<usize> {
        let mut focus = None;
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
                        focus = Some(lines.len());
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
                focus = Some(lines.len());
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
        if id == QId::Welcome {
            let stopped = self.wizard.stopped();
            if !stopped.is_empty() {
                lines.push(Line::raw(""));
                lines.push(Line::from(Span::styled(
                    "dpwizard cannot go on: fix the problems above first.",
                    self.bold().patch(self.st(Color::Red)),
                )));
            }
        }
        if self.help {
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled("Help", self.bold())));
            lines.push(Line::raw(q.help.clone()));
        }
        focus
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
                    Span::raw(format!("  $ {}", crate::ui::shell::join(&a.argv))),
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
            // At the end the link is pinned under the run (done_lines).
            if !running && matches!(e, Event::Joinable { .. }) {
                continue;
            }
            for (_, l) in event_lines(e, &plain, &self.wizard.invocation) {
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

/// The smallest terminal the full screen draws on; below it the wizard says so.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;
/// Narrower than this, the step list gives its columns to the question.
const SIDE_LIST_MIN_WIDTH: u16 = 60;

struct Areas {
    title: Rect,
    side: Option<Rect>,
    main: Rect,
    footer: Rect,
}

/// The middle's content before wrapping.
#[derive(Default)]
struct Main {
    lines: Vec<Line<'static>>,
    /// Lines under the scrolling part, each with whether it must stay on a short screen.
    pinned: Vec<(Line<'static>, bool)>,
    /// The line that must be on screen (the selected choice).
    focus: Option<usize>,
    /// Show the end (apply's progress) instead of the scroll offset.
    tail: bool,
}

/// The middle wrapped at a width, and its window at a height.
struct View {
    rows: Vec<Line<'static>>,
    pinned: Vec<Line<'static>>,
    win: Window,
}

/// Which rows of some content are shown in `h` rows: from `offset`, `shown` of them, with
/// a mark row above and/or below when there is more there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    offset: usize,
    shown: usize,
    above: bool,
    below: bool,
}

/// The window over `len` rows in `h` rows of screen nearest to `wanted`, moved so that
/// the `focus` rows (start, end) are in it; marks take a row each when needed.
fn window(len: usize, h: usize, wanted: usize, focus: Option<(usize, usize)>) -> Window {
    if len <= h {
        return Window {
            offset: 0,
            shown: len,
            above: false,
            below: false,
        };
    }
    let at = |offset: usize| {
        let above = offset > 0;
        let mut shown = h.saturating_sub(usize::from(above));
        let below = offset + shown < len;
        if below {
            shown = shown.saturating_sub(1);
        }
        Window {
            offset,
            shown,
            above,
            below,
        }
    };
    // The last offset: the end in view under the mark above.
    let last = len - h.saturating_sub(1).max(1);
    let mut w = at(wanted.min(last));
    if let Some((start, end)) = focus
        && (start < w.offset || end > w.offset + w.shown)
    {
        // The smallest offset that shows the focus (its first row, if it is taller than
        // the window).
        w = (0..=last)
            .map(at)
            .find(|w| start >= w.offset && (end <= w.offset + w.shown || start == w.offset))
            .unwrap_or_else(|| at(start.min(last)));
    }
    w
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
    screen.size = crossterm::terminal::size().ok();
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
            Msg::Term(TermEvent::Resize(w, h)) => {
                screen.size = Some((w, h));
                Effect::None
            }
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
                            Ok(rt) => engine.apply(&rt, &facts, &a, *plan, &mut |e| {
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
            crate::ui::progress::print_event(e, style, &screen.wizard.invocation);
        }
    } else {
        println!("Nothing was changed.");
        for b in screen.wizard.stopped() {
            eprintln!("dpwizard: {b}");
        }
    }
    if let Some(p) = saved {
        println!(
            "Answers saved to {p}: `{}` repeats this run.",
            screen
                .wizard
                .invocation
                .dpwizard(&["apply", "--answers", &p])
        );
    }
    Ok(code)
}

mod wrap;
pub use wrap::wrap_str;

#[cfg(test)]
mod tests;
