//! The full-screen front end on ratatui's TestBackend: reviewed snapshots of the screens at
//! 80×24, keys turned into the model's inputs, and no colour when colour is off.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::*;
use crate::detect::runtime::RuntimeKind;
use crate::plan::{Action, Change, FileMode, Plan};
use crate::wizard::tests::facts;

fn screen() -> Screen {
    Screen::new(Wizard::new(facts(), false), true)
}

fn draw(s: &Screen, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| s.render(f)).unwrap();
    t
}

fn press(s: &mut Screen, code: KeyCode) -> Effect {
    s.key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(s: &mut Screen, text: &str) {
    for c in text.chars() {
        press(s, KeyCode::Char(c));
    }
}

#[test]
fn welcome_at_80x24() {
    let s = screen();
    insta::assert_snapshot!(draw(&s, 80, 24).backend());
}

#[test]
fn a_refused_port_shows_the_error_under_the_field() {
    let mut s = screen();
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.field, "27760", "the field starts from the default");
    s.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut s, "27750");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.wizard.phase, Phase::Asking(QId::WsPort));
    insta::assert_snapshot!(draw(&s, 80, 24).backend());
}

#[test]
fn choices_move_with_the_arrows_and_q_types_in_a_field() {
    let mut s = screen();
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.wizard.phase, Phase::Asking(QId::Domain));
    // In a text field q is a letter, not Quit.
    typed(&mut s, "q");
    assert!(!s.wizard.confirm_quit);
    assert!(s.field.ends_with('q'));
    s.field = "paint.example.com".into();
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.wizard.phase, Phase::Asking(QId::TlsMode));
    assert_eq!(s.selected, 1, "existing is the default");
    press(&mut s, KeyCode::Down);
    press(&mut s, KeyCode::Down);
    press(&mut s, KeyCode::Down);
    assert_eq!(s.selected, 2, "stops at the last choice");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.wizard.raw(QId::TlsMode), Some("self-signed"));
    // ? shows the longer help, and again hides it.
    let help = s.wizard.question(QId::ProxyServer).help;
    let shown = |s: &Screen| buffer_text(&draw(s, 80, 24)).contains(&help);
    assert!(!shown(&s));
    press(&mut s, KeyCode::Char('?'));
    assert!(shown(&s));
    press(&mut s, KeyCode::Char('?'));
    assert!(!shown(&s));
    // Outside a field q asks to quit; n stays.
    press(&mut s, KeyCode::Char('q'));
    assert!(s.wizard.confirm_quit);
    press(&mut s, KeyCode::Char('n'));
    assert!(!s.wizard.confirm_quit);
    press(&mut s, KeyCode::Left);
    assert_eq!(s.wizard.phase, Phase::Asking(QId::TlsMode));
    assert_eq!(s.selected, 2, "back shows the answer given");
}

fn review() -> Screen {
    let mut s = screen();
    loop {
        match press(&mut s, KeyCode::Enter) {
            Effect::MakePlan(_) => break,
            Effect::None => {}
            e => panic!("{e:?}"),
        }
    }
    let plan = Plan {
        changes: vec![Change::Write {
            path: "/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf".into(),
            old: Some(b"[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv\n".to_vec()),
            new: b"[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --websocket-port 27760\n"
                .to_vec(),
            mode: FileMode::CONFIG,
            secret: false,
            why: "the WebSocket listener".into(),
        }],
        actions: vec![Action {
            argv: vec!["systemctl".into(), "daemon-reload".into()],
            why: "reads the drop-in".into(),
        }],
        ..Default::default()
    };
    s.input(Input::Planned(Ok(plan)));
    s
}

#[test]
fn the_review_shows_each_change_as_a_coloured_diff_and_the_commands() {
    let s = review();
    let t = draw(&s, 80, 24);
    insta::assert_snapshot!(t.backend());
    // Added lines green, removed red.
    let buf = t.backend().buffer();
    let row_of = |needle: &str| {
        (0..24)
            .find(|y| {
                (0..80)
                    .map(|x| buf[(x, *y)].symbol().to_string())
                    .collect::<String>()
                    .contains(needle)
            })
            .unwrap_or_else(|| panic!("{needle:?} not on screen"))
    };
    let first_symbol = |y: u16, c: &str| (0..80).find(|x| buf[(*x, y)].symbol() == c).unwrap();
    let added = row_of("+ExecStart=/usr/local/bin/drawpile-srv --websocket-port");
    assert_eq!(buf[(first_symbol(added, "+"), added)].fg, Color::Green);
    let removed = row_of("-ExecStart=/usr/local/bin/drawpile-srv");
    assert_eq!(buf[(first_symbol(removed, "-"), removed)].fg, Color::Red);
}

#[test]
fn without_colour_nothing_is_coloured() {
    let mut s = review();
    s.color = false;
    let t = draw(&s, 80, 24);
    let buf = t.backend().buffer();
    for y in 0..24 {
        for x in 0..80 {
            assert_eq!(buf[(x, y)].fg, Color::Reset, "({x},{y})");
        }
    }
}

#[test]
fn apply_progress_and_ctrl_c_cancels_instead_of_quitting() {
    let mut s = review();
    assert!(matches!(press(&mut s, KeyCode::Enter), Effect::Apply(..)));
    s.input(Input::Progress(Event::CommandStarted(
        "systemctl daemon-reload".into(),
    )));
    let t = draw(&s, 80, 24);
    insta::assert_snapshot!(t.backend());
    CANCEL.store(false, Ordering::SeqCst);
    let e = s.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(e, Effect::None);
    assert!(
        CANCEL.load(Ordering::SeqCst),
        "Ctrl-C asks the session to stop"
    );
    CANCEL.store(false, Ordering::SeqCst);
    assert!(!s.wizard.confirm_quit);
}

#[test]
fn the_final_screen_shows_the_checks_and_the_invite_link() {
    let mut s = review();
    press(&mut s, KeyCode::Enter);
    for e in [
        Event::Direct {
            passed: true,
            websocket: "127.0.0.1:27760".into(),
            detail: "101 Switching Protocols".into(),
        },
        Event::Proxy {
            passed: true,
            url: "wss://paint.example.com/drawpile-web/ws".into(),
            origin: Some("https://web.drawpile.net".into()),
            detail: "101 Switching Protocols".into(),
        },
        Event::Proxy {
            passed: true,
            url: "wss://paint.example.com/drawpile-web/ws".into(),
            origin: None,
            detail: "101 Switching Protocols".into(),
        },
        Event::Proxy {
            passed: true,
            url: "wss://paint.example.com/drawpile-web/ws".into(),
            origin: Some("https://evil.example".into()),
            detail: "403 Forbidden (refused, as it should be)".into(),
        },
        Event::Joinable {
            domain: "paint.example.com".into(),
            untrusted: false,
        },
    ] {
        s.input(Input::Progress(e));
    }
    s.input(Input::Finished(0));
    insta::assert_snapshot!(draw(&s, 80, 24).backend());
}

#[test]
fn a_small_terminal_still_shows_the_question_and_keys() {
    let mut s = screen();
    press(&mut s, KeyCode::Enter);
    let text = buffer_text(&draw(&s, 60, 16));
    assert!(text.contains("Which drawpile-srv"), "{text}");
    assert!(text.contains("Enter next"), "{text}");
}

/// The screen's text, one line per row.
fn buffer_text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

#[test]
fn scrolling_stops_at_the_end_and_the_quit_question_stays_in_view() {
    let mut s = review();
    for _ in 0..50 {
        press(&mut s, KeyCode::PageDown);
    }
    let limit = s.scroll;
    assert!(limit > 0 && limit < 50, "{limit}");
    press(&mut s, KeyCode::Down);
    assert_eq!(s.scroll, limit);
    press(&mut s, KeyCode::Up);
    assert_eq!(s.scroll, limit - 1, "one step up from the end");
    // The quit question is on the bottom line, however far the review is scrolled.
    press(&mut s, KeyCode::Esc);
    let text = buffer_text(&draw(&s, 80, 24));
    let last = text.lines().last().unwrap_or("");
    assert!(
        last.starts_with("Quit the wizard? Nothing has been changed. y quits"),
        "{text}"
    );
}

/// The final screen after a long run: `n` lines of progress before the checks.
fn done_after(n: usize, untrusted: bool) -> Screen {
    done_at(n, untrusted, None)
}

/// `done_after` on a terminal of a known size (where the end opens scrolled to the end).
fn done_at(n: usize, untrusted: bool, size: Option<(u16, u16)>) -> Screen {
    let mut s = review();
    s.size = size;
    press(&mut s, KeyCode::Enter);
    for i in 0..n {
        s.input(Input::Progress(Event::CommandDone(format!(
            "systemctl step-{i} drawpile-srv.service"
        ))));
    }
    s.input(Input::Progress(Event::Joinable {
        domain: "paint.example.com".into(),
        untrusted,
    }));
    s.input(Input::Finished(0));
    s
}

#[test]
fn after_a_long_run_the_link_and_the_save_question_are_in_view_with_a_mark() {
    for (w, h) in [(80, 24), (50, 14), (40, 12)] {
        let mut s = done_at(40, false, Some((w, h)));
        let text = buffer_text(&draw(&s, w, h));
        // The link may wrap at 40 columns: compare without the row breaks.
        let flat: String = text.lines().map(|l| l.trim()).collect();
        assert!(
            flat.contains("https://web.drawpile.net/?host=paint.example.com&session=SESSION"),
            "{w}×{h}:\n{text}"
        );
        assert!(text.contains("> █"), "the save field, {w}×{h}:\n{text}");
        assert!(flat.contains("Save the answers?"), "{w}×{h}:\n{text}");
        // It opens on the end of the run, right above the verdict.
        assert!(text.contains("step-39"), "{w}×{h}:\n{text}");
        assert!(text.contains("more line(s) above"), "{w}×{h}:\n{text}");
        assert!(!text.contains("more line(s) below"), "{w}×{h}:\n{text}");
        // Scrolled to the start, the mark moves to the bottom and the first step shows.
        for _ in 0..20 {
            press(&mut s, KeyCode::PageUp);
        }
        let text = buffer_text(&draw(&s, w, h));
        assert!(text.contains("step-0 "), "{w}×{h}:\n{text}");
        assert!(text.contains("more line(s) below"), "{w}×{h}:\n{text}");
        assert!(!text.contains("more line(s) above"), "{w}×{h}:\n{text}");
        // One line back down: the mark above is back.
        press(&mut s, KeyCode::Down);
        let text = buffer_text(&draw(&s, w, h));
        assert!(text.contains("more line(s) above"), "{w}×{h}:\n{text}");
    }
    let s = done_at(40, false, Some((80, 24)));
    insta::assert_snapshot!(draw(&s, 80, 24).backend());
}

#[test]
fn a_self_signed_run_says_each_user_must_accept_the_certificate() {
    for (w, h) in [(80, 24), (50, 14)] {
        let text = flat(&draw(&done_after(0, true), w, h));
        assert!(text.contains("accept its certificate"), "{w}×{h}: {text}");
        let text = flat(&draw(&done_after(0, false), w, h));
        assert!(!text.contains("certificate"), "{w}×{h}: {text}");
    }
}

/// The screen's text as one line: rows trimmed and joined with a space (wrapped text
/// reads as it was written).
fn flat(t: &Terminal<TestBackend>) -> String {
    buffer_text(t)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Facts with so many drawpile units that the list is taller than a small screen.
fn many_units() -> Screen {
    let mut f = facts();
    let unit = f.runtime.units[0].clone();
    for i in 1..=11 {
        let mut u = unit.clone();
        u.name = format!("drawpile-srv-{i:02}.service");
        f.runtime.units.push(u);
    }
    let mut s = Screen::new(Wizard::new(f, false), true);
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.wizard.phase, Phase::Asking(QId::Runtime));
    s
}

#[test]
fn the_selected_choice_is_always_on_screen_at_every_size_the_tui_takes() {
    for (w, h) in [(40, 12), (50, 14), (80, 24)] {
        let mut s = many_units();
        s.size = Some((w, h));
        let n = s.wizard.question(QId::Runtime).choices.len();
        assert_eq!(n, 12);
        for i in 0..n + 2 {
            let label = s.wizard.question(QId::Runtime).choices[s.selected]
                .label
                .clone();
            let text = buffer_text(&draw(&s, w, h));
            let flat: String = text.lines().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
            // The highlighted row starts with › and its label (wrapped rows may follow).
            let first_word = label.split_whitespace().next().unwrap_or("");
            assert!(
                flat.contains(&format!("› {first_word}")),
                "{w}×{h}, step {i}: {label:?} not on screen:\n{text}"
            );
            if s.selected + 1 < n && h < 24 {
                assert!(text.contains("more line(s) below"), "{w}×{h}:\n{text}");
            }
            press(&mut s, KeyCode::Down);
        }
        if (w, h) == (40, 12) {
            // Moved past the end (stops at the last): the list scrolled with it.
            insta::assert_snapshot!(draw(&s, w, h).backend());
        }
        // And back up to the first.
        for _ in 0..n {
            press(&mut s, KeyCode::Up);
        }
        let text = buffer_text(&draw(&s, w, h));
        assert!(text.contains("› drawpile-srv.service"), "{w}×{h}:\n{text}");
    }
}

#[test]
fn every_question_keeps_its_choice_or_field_in_view_at_40x12() {
    let mut s = screen();
    s.size = Some((40, 12));
    loop {
        let text = buffer_text(&draw(&s, 40, 12));
        match s.wizard.phase {
            Phase::Asking(id) => {
                let kind = s.wizard.question(id).kind;
                let visible = match kind {
                    Kind::Choice | Kind::YesNo => text.contains("› "),
                    Kind::Info => text.contains("Enter continue"),
                    _ => text.contains("> "),
                };
                assert!(visible, "{id:?}:\n{text}");
                // Narrow: the step list gives way to a counter in the title.
                assert!(text.starts_with("dpwizard ["), "{text}");
            }
            _ => break,
        }
        if !matches!(press(&mut s, KeyCode::Enter), Effect::None) {
            break;
        }
    }
}

#[test]
fn a_terminal_too_small_says_so_and_takes_no_choice() {
    let mut s = many_units();
    s.size = Some((30, 8));
    let t = draw(&s, 30, 8);
    insta::assert_snapshot!(t.backend());
    let text = flat(&t);
    assert!(text.contains("too small (30×8)"), "{text}");
    assert!(text.contains("--plain"), "{text}");
    assert!(!text.contains("›"), "no choice drawn:\n{text}");
    assert_eq!(press(&mut s, KeyCode::Enter), Effect::None);
    press(&mut s, KeyCode::Down);
    assert_eq!(
        s.wizard.phase,
        Phase::Asking(QId::Runtime),
        "Enter took nothing"
    );
    assert_eq!(s.selected, 0);
    // Esc still quits (asking first).
    press(&mut s, KeyCode::Esc);
    assert!(s.wizard.confirm_quit);
    assert!(buffer_text(&draw(&s, 30, 8)).contains("Quit?"));
    // Back to a usable size: the list is there again.
    s.size = Some((50, 14));
    press(&mut s, KeyCode::Char('n'));
    assert!(buffer_text(&draw(&s, 50, 14)).contains("› drawpile-srv.service"));
}

#[test]
fn a_build_without_websockets_stops_on_the_welcome_screen_with_the_fix() {
    let mut f = facts();
    f.drawpile.binaries[0].version = Some("2.2.2".into());
    f.drawpile.binaries[0].websocket = crate::detect::drawpile::WebSocketSupport {
        supported: Some(false),
        reason: "--version says \"QtWebSockets: no\"".into(),
    };
    let mut s = Screen::new(Wizard::new(f, false), true);
    let t = draw(&s, 80, 24);
    let text = buffer_text(&t);
    assert!(text.contains("cannot go on"), "{text}");
    assert!(text.contains("fix the problems above"), "{text}");
    insta::assert_snapshot!(t.backend());
    assert_eq!(
        press(&mut s, KeyCode::Enter),
        Effect::Exit(crate::exit::USAGE)
    );
    assert_eq!(
        s.wizard.phase,
        Phase::Asking(QId::Welcome),
        "no question asked"
    );
    // With a working build beside it (Docker's official image), it goes on.
    let mut f = s.wizard.facts().clone();
    f.runtime.docker.cli = Some("/usr/bin/docker".into());
    f.runtime.units.clear();
    f.runtime.kind = RuntimeKind::None;
    let mut s = Screen::new(Wizard::new(f, false), true);
    assert_eq!(press(&mut s, KeyCode::Enter), Effect::None);
    assert_eq!(s.wizard.phase, Phase::Asking(QId::Runtime));
}

#[test]
fn windows_keep_the_focus_and_leave_rows_for_the_marks() {
    // Fits: no marks.
    assert_eq!(
        window(5, 10, 3, None),
        Window {
            offset: 0,
            shown: 5,
            above: false,
            below: false
        }
    );
    // The focus at the end of 30 rows in 10: the end in view under the mark above.
    let w = window(30, 10, 0, Some((29, 30)));
    assert_eq!(
        w,
        Window {
            offset: 21,
            shown: 9,
            above: true,
            below: false
        }
    );
    // In the middle: both marks, the focus inside.
    let w = window(30, 10, 0, Some((15, 16)));
    assert!(w.above && w.below && w.shown == 8, "{w:?}");
    assert!(w.offset <= 15 && 16 <= w.offset + w.shown, "{w:?}");
    // No focus: the offset asked for, at most the last one.
    assert_eq!(window(30, 10, 100, None).offset, 21);
}

#[test]
fn a_long_welcome_scrolls_with_the_arrows() {
    let mut f = facts();
    for i in 0..30 {
        f.web_servers.push(crate::detect::webserver::WebServer {
            name: format!("server-{i:02}"),
            ..Default::default()
        });
    }
    let mut s = Screen::new(Wizard::new(f, false), true);
    s.size = Some((50, 14));
    let text = buffer_text(&draw(&s, 50, 14));
    assert!(text.contains("more line(s) below"), "{text}");
    assert!(!text.contains("server-29"), "{text}");
    for _ in 0..60 {
        press(&mut s, KeyCode::Down);
    }
    let text = buffer_text(&draw(&s, 50, 14));
    assert!(text.contains("web server: server-29"), "{text}");
    assert!(!text.contains("more line(s) below"), "{text}");
    assert_eq!(s.wizard.phase, Phase::Asking(QId::Welcome));
}
