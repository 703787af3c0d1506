//! The text of a plan and of an apply run's events, as `plan` and `apply` print them and
//! the wizard shows them. Pure: values in, lines out.

use super::style::Style;
use crate::apply::session::Event;
use crate::plan::{Change, Plan};

/// Which stream a line belongs on: failures go to stderr, progress to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// The plan as `dpwizard plan` prints it: each file with its diff, then the commands.
pub fn plan_text(plan: &Plan, style: &Style) -> String {
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    if plan.is_empty() {
        line("Nothing to do: the machine already matches the answers.".into());
    }
    for c in &plan.changes {
        line(format!(
            "{} {}",
            style.bold(&format!("== {}", c.path())),
            style.dim(&format!("({})", why(c)))
        ));
        for l in crate::plan::diff::unified(c).lines() {
            line(paint_diff_line(l, style));
        }
        line(String::new());
    }
    if !plan.actions.is_empty() {
        line(style.bold("Then:"));
        for a in &plan.actions {
            line(format!(
                "  $ {}  {}",
                a.argv.join(" "),
                style.dim(&format!("# {}", a.why))
            ));
        }
    }
    if !plan.manual.is_empty() {
        line(style.bold("Run these yourself:"));
        for m in &plan.manual {
            line(format!("  $ {m}"));
        }
    }
    for n in &plan.notes {
        line(format!("{} {n}", style.warn("!")));
    }
    out
}

/// Why a change is made.
pub fn why(c: &Change) -> &str {
    match c {
        Change::Write { why, .. } | Change::Symlink { why, .. } | Change::Remove { why, .. } => why,
    }
}

/// What a diff line is, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    Added,
    Removed,
    Context,
}

pub fn diff_kind(line: &str) -> DiffKind {
    if line.starts_with('+') && !line.starts_with("+++") {
        DiffKind::Added
    } else if line.starts_with('-') && !line.starts_with("---") {
        DiffKind::Removed
    } else {
        DiffKind::Context
    }
}

fn paint_diff_line(l: &str, style: &Style) -> String {
    match diff_kind(l) {
        DiffKind::Added => style.good(l),
        DiffKind::Removed => style.bad(l),
        DiffKind::Context => l.to_string(),
    }
}

/// The lines an event prints, each with its stream. A replanned pass is the plan's text
/// (callers that print no plan, e.g. `--json`, skip that event).
pub fn event_lines(e: &Event, style: &Style) -> Vec<(Stream, String)> {
    use Stream::{Err, Out};
    let ok = |passed: bool| {
        if passed {
            style.good("✓")
        } else {
            style.bad("✗")
        }
    };
    match e {
        Event::Replanned(plan) => plan_text(plan, style)
            .lines()
            .map(|l| (Out, l.to_string()))
            .collect(),
        Event::Validated { what, warnings } => {
            let mut v: Vec<(Stream, String)> = warnings
                .iter()
                .map(|l| (Out, format!("{} {what}: {l}", style.warn("!"))))
                .collect();
            let verdict = if *what == "nginx -t" {
                "the configuration is valid"
            } else {
                "the units are valid"
            };
            v.push((Out, format!("{} {what}: {verdict}", style.good("✓"))));
            v
        }
        Event::ValidatorSkipped { what, why } => {
            vec![(Out, format!("{} {what} not run: {why}", style.warn("!")))]
        }
        Event::Refused {
            what,
            why,
            id,
            restore_error,
        } => vec![
            (
                Err,
                format!(
                    "dpwizard: {what} refused the new configuration:\n{}",
                    why.trim_end()
                ),
            ),
            (
                Err,
                match restore_error {
                    None => {
                        "dpwizard: every file was restored as it was; nothing was reloaded".into()
                    }
                    Some(e) => format!(
                        "dpwizard: restoring failed too: {e}; run `dpwizard rollback {id} --force`"
                    ),
                },
            ),
        ],
        Event::CommandsLeft {
            reason,
            commands,
            then_replan,
        } => {
            let mut v = vec![(
                Out,
                format!(
                    "{} not running commands ({reason}). Run them yourself:",
                    style.warn("!")
                ),
            )];
            v.extend(commands.iter().map(|c| (Out, format!("  {c}"))));
            if *then_replan {
                v.push((Out, "Then run `dpwizard apply` again to finish.".into()));
            }
            v
        }
        // Progress the line front end does not need: the command's ✓ follows at once.
        Event::CommandStarted(_) => Vec::new(),
        Event::CommandDone(c) => vec![(Out, format!("{} {c}", style.good("✓")))],
        Event::NotInstalled(p) => vec![(Err, format!("dpwizard: {p} is not installed"))],
        Event::CommandFailed {
            command,
            why,
            tail,
            id,
        } => {
            let mut v = vec![(Err, format!("dpwizard: `{command}` failed: {why}"))];
            v.extend(tail.iter().map(|l| (Err, format!("  {l}"))));
            v.push((Err, format!("dpwizard: undo with `dpwizard rollback {id}`")));
            v
        }
        Event::Written { id } => vec![(
            Out,
            format!("Written as run {id}; undo with `dpwizard rollback {id}`."),
        )],
        Event::Cancelled { id, restore_error } => vec![(
            Err,
            match (id, restore_error) {
                (None, _) => "dpwizard: stopped before anything was written".into(),
                (Some(_), None) => {
                    "dpwizard: stopped; every file written so far was restored".into()
                }
                (Some(id), Some(e)) => format!(
                    "dpwizard: stopped, but restoring failed: {e}; run `dpwizard rollback {id} --force`"
                ),
            },
        )],
        Event::Direct {
            passed,
            websocket,
            detail,
        } => vec![(
            Out,
            format!("{} direct WebSocket to {websocket}: {detail}", ok(*passed)),
        )],
        Event::CannotProbe(w) => vec![(Out, format!("{} cannot probe {w}", style.warn("!")))],
        Event::TlsUntrusted(e) => vec![(
            Out,
            format!(
                "{} TLS certificate not trusted by this machine: {e}",
                style.warn("!")
            ),
        )],
        Event::Proxy {
            passed,
            url,
            origin,
            detail,
        } => vec![(
            Out,
            format!(
                "{} {url} (Origin {}): {detail}",
                ok(*passed),
                origin.as_deref().unwrap_or("none")
            ),
        )],
        Event::Joinable { domain } => vec![(Out, join_hint(domain))],
        Event::RecordFailed { id, error } => vec![(
            Err,
            format!("dpwizard: could not record the checks in run {id}: {error}"),
        )],
    }
}

/// The invite link's shape once browsers can join.
pub fn join_hint(domain: &str) -> String {
    format!("Browsers can join: https://web.drawpile.net/?host={domain}&session=SESSION")
}

/// Prints an event's lines on their streams.
pub fn print_event(e: &Event, style: &Style) {
    for (stream, line) in event_lines(e, style) {
        let line = super::terminal::safe(&line, style);
        match stream {
            Stream::Out => println!("{line}"),
            Stream::Err => eprintln!("{line}"),
        }
    }
}
