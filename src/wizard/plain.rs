//! The line front end (`--plain`, or a terminal that cannot do full screen): one inquire
//! prompt per question, plain lines for everything else, so it works in 80×24, in a log and
//! with a screen reader. Validation is the model's (`Wizard::validate`), run as the admin
//! types and again when the answer is handled.

use inquire::validator::Validation;

use crate::ui::terminal::safe;
use inquire::{Confirm, InquireError, Select, Text};

use super::run::Engine;
use super::{Effect, Input, Kind, Phase, QId, Wizard};
use crate::exit::Exit;
use crate::ui::progress::{plan_text, print_event};
use crate::ui::style::Style;

/// Typed instead of an answer: go back one question / show the help.
const BACK: &str = "<";
const HELP: &str = "?";

pub fn run(
    w: &mut Wizard,
    engine: &Engine,
    rt: &tokio::runtime::Runtime,
    style: &Style,
) -> Result<i32, Exit> {
    if !style.color {
        inquire::set_global_render_config(inquire::ui::RenderConfig::empty());
    }
    loop {
        let input = if w.confirm_quit {
            let nothing = if w.applied() {
                ""
            } else {
                " Nothing has been changed."
            };
            match Confirm::new(&format!("Quit the wizard?{nothing}"))
                .with_default(false)
                .prompt()
            {
                Ok(yes) => Input::ConfirmQuit(yes),
                Err(e) => return Err(prompt_failed(e)),
            }
        } else {
            match ask(w, style) {
                Ok(i) => i,
                Err(InquireError::OperationCanceled | InquireError::OperationInterrupted) => {
                    Input::Quit
                }
                Err(e) => return Err(prompt_failed(e)),
            }
        };
        let effect = w.handle(input);
        if let Some(code) = carry_out(w, engine, rt, style, effect)? {
            return Ok(code);
        }
    }
}

fn prompt_failed(e: InquireError) -> Exit {
    Exit::Internal(anyhow::anyhow!("reading the answer: {e}"))
}

/// Carries out an effect (and those it leads to); Some(code) when the wizard ends.
fn carry_out(
    w: &mut Wizard,
    engine: &Engine,
    rt: &tokio::runtime::Runtime,
    style: &Style,
    mut effect: Effect,
) -> Result<Option<i32>, Exit> {
    loop {
        effect = match effect {
            Effect::None => return Ok(None),
            Effect::MakePlan(a) => {
                println!("Planning…");
                let plan = engine.plan(w.facts(), &a);
                w.handle(Input::Planned(plan))
            }
            Effect::Apply(a, plan) => {
                println!("{}", style.bold("Applying"));
                let _guard = SigintCancels::install();
                let mut events = Vec::new();
                let code = engine.apply(rt, w.facts(), &a, plan, &mut |e| {
                    print_event(&e, style);
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
                        println!(
                            "Answers saved to {path}: `dpwizard apply --answers {path}` repeats this run."
                        );
                        Ok(Some(code))
                    }
                    Err(e) => Err(Exit::usage(e)),
                };
            }
            Effect::Exit(code) => {
                if !w.applied() {
                    println!("Nothing was changed.");
                }
                return Ok(Some(code));
            }
        };
    }
}

/// Shows the current screen as lines and asks its prompt.
fn ask(w: &Wizard, style: &Style) -> Result<Input, InquireError> {
    match w.phase.clone() {
        Phase::Asking(id) => ask_question(w, id, style),
        Phase::Review(plan) => {
            println!();
            println!("{}", style.bold("Review"));
            match plan {
                Some(Ok(p)) => {
                    print!("{}", safe(&plan_text(&p, style), style));
                    let choice = Select::new(
                        if p.is_empty() {
                            "Nothing to change."
                        } else {
                            "Apply these changes?"
                        },
                        vec!["Apply", "Back", "Quit"],
                    )
                    .prompt()?;
                    Ok(match choice {
                        "Apply" => Input::Answer(String::new()),
                        "Back" => Input::Back,
                        _ => Input::Quit,
                    })
                }
                Some(Err(e)) => {
                    println!("{} {}", style.bad("✗"), safe(&e.to_string(), style));
                    let choice =
                        Select::new("The plan cannot be made.", vec!["Back", "Quit"]).prompt()?;
                    Ok(if choice == "Back" {
                        Input::Back
                    } else {
                        Input::Quit
                    })
                }
                None => Ok(Input::Back),
            }
        }
        Phase::Applying => Ok(Input::Quit),
        Phase::Done { code } => {
            println!();
            println!(
                "{}",
                style.bold(if code == 0 {
                    "Done."
                } else {
                    "Finished with problems (see above)."
                })
            );
            if let Some(e) = &w.error {
                println!("{} {}", style.bad("✗"), safe(e, style));
            }
            if w.save_to.is_some() {
                // --save-answers: saved without asking.
                return Ok(Input::Answer(String::new()));
            }
            let path = Text::new("Save the answers to a file? (path, empty for no)")
                .with_help_message("`dpwizard apply --answers FILE` repeats this run")
                .prompt()?;
            Ok(Input::Answer(path))
        }
    }
}

fn ask_question(w: &Wizard, id: QId, style: &Style) -> Result<Input, InquireError> {
    let q = w.question(id);
    let steps = w.steps();
    let n = steps.iter().position(|(s, _)| *s == id.step()).unwrap_or(0) + 1;
    println!();
    println!(
        "{}",
        style.bold(&format!("[{n}/{}] {}", steps.len(), id.step().title()))
    );
    for c in &q.context {
        println!("  {}", safe(c, style));
    }
    for b in &q.blockers {
        println!("  {} {}", style.warn("!"), safe(b, style));
    }
    if let Some(e) = &w.error {
        println!("  {} {}", style.bad("✗"), safe(e, style));
    }
    let back_hint = if id == QId::Welcome { "" } else { " · < back" };
    match q.kind {
        Kind::Info => {
            println!("{}", q.why);
            let choice = Select::new(&q.prompt, vec!["Continue", "Quit"])
                .with_help_message("↑↓ move · Enter choose · Esc quit")
                .prompt()?;
            Ok(if choice == "Continue" {
                Input::Answer(String::new())
            } else {
                Input::Quit
            })
        }
        Kind::Choice | Kind::YesNo => {
            let mut labels: Vec<String> = q.choices.iter().map(|c| c.label.clone()).collect();
            let start = q
                .default
                .as_ref()
                .and_then(|d| q.choices.iter().position(|c| &c.key == d))
                .unwrap_or(0);
            labels.push("← Back".into());
            let picked = Select::new(&q.prompt, labels)
                .with_starting_cursor(start)
                .with_help_message(&q.why)
                .raw_prompt()?;
            Ok(match q.choices.get(picked.index) {
                Some(c) => Input::Answer(c.key.clone()),
                None => Input::Back,
            })
        }
        Kind::Text | Kind::Port | Kind::Path => {
            let model = w.clone();
            let help = format!("{} (Enter accepts · ? help{back_hint} · Esc quit)", q.why);
            let mut prompt = Text::new(&q.prompt)
                .with_help_message(&help)
                .with_validator(move |s: &str| {
                    let s = s.trim();
                    if s == BACK || s == HELP {
                        return Ok(Validation::Valid);
                    }
                    // Empty takes the default, which the model validates when handled.
                    Ok(match model.validate(id, s) {
                        Ok(()) => Validation::Valid,
                        Err(_) if s.is_empty() => Validation::Valid,
                        Err(e) => Validation::Invalid(e.into()),
                    })
                });
            if let Some(d) = q.default.as_deref().filter(|d| !d.is_empty()) {
                prompt = prompt.with_default(d);
            }
            let answer = prompt.prompt()?;
            Ok(match answer.trim() {
                BACK => Input::Back,
                HELP => {
                    println!("{}", q.help);
                    // Asked again: an unchanged state redraws the same question.
                    Input::ConfirmQuit(false)
                }
                other => Input::Answer(other.to_string()),
            })
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
