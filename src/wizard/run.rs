//! Starting the wizard and carrying out its effects on the machine: detect once, plan with
//! the planner, apply through `apply::session` (the engine `apply` uses), save the answers.
//! Picks the front end: the TUI on a capable terminal, else the line mode.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Wizard;
use crate::answers::Answers;
use crate::apply::session::{self, Event};
use crate::detect::{self, Facts};
use crate::exit::Exit;
use crate::host::Host;
use crate::plan::Plan;
use crate::ui::style::Style;

/// Set by Ctrl-C during apply (a key in the TUI, SIGINT in the line mode): the session
/// finishes the current atomic write, then rolls the run back.
pub static CANCEL: AtomicBool = AtomicBool::new(false);

/// What the command line decided for the wizard.
#[derive(Debug, Clone)]
pub struct Options {
    pub plain: bool,
    pub save_answers: Option<std::path::PathBuf>,
    pub style: Style,
}

/// `dpwizard` with no subcommand.
pub fn main(host: Host, rt: &tokio::runtime::Runtime, opts: Options) -> Result<i32, Exit> {
    if !std::io::stdin().is_terminal() {
        return Err(Exit::usage(
            "the wizard needs a terminal to ask its questions, and standard input is not one: \
             use `dpwizard apply --answers FILE` instead (`dpwizard answers --template` writes \
             a commented FILE)",
        ));
    }
    if host.is_live() && !nix::unistd::geteuid().is_root() {
        return Err(Exit::usage(
            "the wizard changes system files (nginx, systemd): run it as root, `sudo dpwizard`; \
             `dpwizard detect` shows what it would find without changing anything",
        ));
    }
    let facts = rt.block_on(detect::detect(host.clone(), detect::Options::default()));
    // Apache's or Caddy's files when one of them is in front, read here at the edge: the
    // wizard judges their site and route from them (nginx's are in the facts).
    let front_files = crate::audit::front::files(&host, &facts);
    // Already set up (a site serves /drawpile-web/ws, whichever web server is in front):
    // start from the audit.
    let audit = crate::audit::setup::read(&facts, None)
        .with_front(&facts, &front_files)
        .has_site()
        .then(|| {
            let opts = crate::audit::observe::Options {
                offline: false,
                since_secs: 7 * 86_400,
                since_text: "7d".into(),
                timeout: host.timeout(),
            };
            rt.block_on(async {
                let obs = crate::audit::observe::observe(&host, &facts, None, &opts).await;
                crate::audit::judge(&facts, &obs, None)
            })
        });
    let mut wizard = Wizard::new(facts, host.is_live());
    wizard.audit = audit;
    wizard.front_files = front_files;
    wizard.save_to = opts.save_answers.as_ref().map(|p| p.display().to_string());
    wizard.invocation =
        crate::ui::shell::Invocation::new(host.root(), opts.save_answers.as_deref());
    let engine = Engine { host };
    if opts.plain || !super::tui::capable() {
        super::plain::run(&mut wizard, &engine, rt, &opts.style)
    } else {
        super::tui::run(wizard, engine, &opts.style)
    }
}

/// The machine side of the wizard's effects.
#[derive(Debug, Clone)]
pub struct Engine {
    pub host: Host,
}

impl Engine {
    /// The plan the review shows (the same `plan` and `apply` compute).
    pub fn plan(&self, facts: &Facts, answers: &Answers) -> Result<Plan, String> {
        session::plan_with(&self.host, facts, answers).map_err(|e| e.to_string())
    }

    /// Applies a reviewed plan; events go to `on`. Returns the exit code.
    pub fn apply(
        &self,
        rt: &tokio::runtime::Runtime,
        facts: &Facts,
        answers: &Answers,
        plan: Plan,
        on: &mut dyn FnMut(Event),
    ) -> i32 {
        CANCEL.store(false, Ordering::SeqCst);
        // The journal keeps the answers the run came from, as the answers file would be.
        let text = crate::answers::to_toml(answers, "Applied by the dpwizard wizard.", &|_| None);
        let run = session::run(
            &self.host,
            answers,
            &text,
            (plan, facts.clone()),
            session::Options::default(),
            &CANCEL,
            on,
        );
        match rt.block_on(run) {
            Ok(code) => code,
            Err(e) => {
                on(Event::CommandFailed {
                    command: "apply".into(),
                    why: e.to_string(),
                    tail: Vec::new(),
                    id: String::new(),
                });
                e.code()
            }
        }
    }
}

/// Writes the answers file (the admin's own path, not under `--root`).
pub fn save(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("could not write {path}: {e}"))
}
