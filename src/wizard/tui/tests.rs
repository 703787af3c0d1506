//! The full-screen front end on ratatui's TestBackend: reviewed snapshots of the screens at
//! 80×24, keys turned into the model's inputs, and no colour when colour is off.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::*;
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
