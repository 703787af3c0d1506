//! The text of a plan and of an apply run's events, as `plan` and `apply` print them and
//! the wizard shows them. Pure: values in, lines out.

use super::shell::{self, Invocation};
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
    if !plan.validate.is_empty() {
        line(style.bold("Checked first (a refusal puts every file back):"));
        for a in &plan.validate {
            line(format!(
                "  $ {}  {}",
                shell::join(&a.argv),
                style.dim(&format!("# {}", a.why))
            ));
        }
    }
    if !plan.actions.is_empty() {
        line(style.bold("Then:"));
        for a in &plan.actions {
            line(format!(
                "  $ {}  {}",
                shell::join(&a.argv),
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
/// (callers that print no plan, e.g. `--json`, skip that event). The commands it suggests
/// repeat the run's `--root` and `--answers` (`inv`).
pub fn event_lines(e: &Event, style: &Style, inv: &Invocation) -> Vec<(Stream, String)> {
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
            let verdict = if *what == "systemd-analyze verify" {
                "the units are valid"
            } else {
                "the configuration is valid"
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
                        "dpwizard: restoring failed too: {e}; run `{}`",
                        inv.rollback(id, true)
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
                let file = if inv.answers.is_none() {
                    " (FILE: the answers, saved at the end)"
                } else {
                    ""
                };
                v.push((
                    Out,
                    format!("Then run `{}` again to finish{file}.", inv.apply_again()),
                ));
            }
            v
        }
        // Progress the line front end does not need: the command's ✓ follows at once.
        Event::CommandStarted(c) if c.starts_with("apt-get install") => vec![(
            Out,
            format!("  {c} … (downloading and installing can take a few minutes)"),
        )],
        Event::CommandStarted(_) => Vec::new(),
        Event::CommandDone(c) => vec![(Out, format!("{} {c}", style.good("✓")))],
        Event::NotInstalled(p) => vec![(Err, format!("dpwizard: {p} is not installed"))],
        Event::NotApplied(why) => vec![(Err, format!("dpwizard: {why}"))],
        Event::Reachable {
            address,
            passed,
            detail,
        } => vec![(
            Out,
            format!(
                "{} at this machine's address {address}: {detail}",
                ok(*passed)
            ),
        )],
        Event::OutsideCheck(cmd) => vec![(
            Out,
            format!("  From another machine (it must print 101): {cmd}"),
        )],
        Event::NotChecked(what) => vec![(Out, format!("{} not checked: {what}", style.warn("!")))],
        Event::RolledBack(out) => {
            let mut v = vec![(
                Err,
                format!(
                    "dpwizard: the run was rolled back, so the machine is as it was before it (run {}):",
                    out.files.id
                ),
            )];
            v.extend(
                rollback_lines(out, style)
                    .into_iter()
                    .map(|l| (Err, format!("  {l}"))),
            );
            v
        }
        Event::Settled {
            what,
            waited_ms,
            seen,
        } => vec![(
            Out,
            if *seen {
                format!("  waited {:.1} s for {what}", *waited_ms as f64 / 1000.0)
            } else {
                format!(
                    "{} waited {:.1} s for {what}, and gave up: the checks below judge what \
                     answers now",
                    style.warn("!"),
                    *waited_ms as f64 / 1000.0
                )
            },
        )],
        Event::CommandFailed {
            command,
            why,
            tail,
            id,
        } => {
            let mut v = vec![(Err, format!("dpwizard: `{command}` failed: {why}"))];
            // certbot and Python tools repeat their last line; say each line once.
            let mut seen: Vec<&String> = Vec::new();
            for l in tail {
                if !seen.contains(&l) {
                    seen.push(l);
                    v.push((Err, format!("  {l}")));
                }
            }
            let _ = id; // the rollback that follows names the run
            if command.starts_with("certbot") {
                v.push((
                    Err,
                    format!(
                        "dpwizard: fix what certbot says (the domain's DNS record, port 80 \
                         reaching this machine, Let's Encrypt's rate limits), then run `{}`",
                        inv.apply_again()
                    ),
                ));
            }
            v
        }
        Event::Written { id } => vec![(
            Out,
            format!(
                "Written as run {id}; undo with `{}`.",
                inv.rollback(id, false)
            ),
        )],
        Event::Cancelled { id, restore_error } => vec![(
            Err,
            match (id, restore_error) {
                (None, _) => "dpwizard: stopped before anything was written".into(),
                (Some(_), None) => {
                    "dpwizard: stopped; every file written so far was restored".into()
                }
                (Some(id), Some(e)) => format!(
                    "dpwizard: stopped, but restoring failed: {e}; run `{}`",
                    inv.rollback(id, true)
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
        Event::CannotProbe(w) => vec![(
            Out,
            format!(
                "{} cannot probe {w} from the host (drawpile-srv is reached there only by the \
                 proxy, e.g. over a compose network): checked through the proxy instead",
                style.warn("!")
            ),
        )],
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
        Event::Joinable { domain, untrusted } => join_lines(domain, *untrusted)
            .into_iter()
            .map(|l| (Out, l))
            .collect(),
        Event::RecordFailed { id, error } => vec![(
            Err,
            format!("dpwizard: could not record the checks in run {id}: {error}"),
        )],
    }
}

/// The browser link to a session on this server.
pub fn join_url(domain: &str) -> String {
    format!("https://web.drawpile.net/?host={domain}&session=SESSION")
}

/// What the link's `session=` stands for and, with a certificate this machine does not
/// trust (self-signed), what each user must do before the link works.
pub fn join_notes(domain: &str, untrusted: bool) -> Vec<String> {
    let mut v = vec![
        "  SESSION: the ID or alias of a session on this server; host one from Drawpile, \
         then share the link with it (or the session's own invite link)"
            .to_string(),
    ];
    if untrusted {
        v.push(format!(
            "  but first each user must open https://{domain}/ and accept its certificate: \
             it is not trusted (self-signed), and browsers refuse the WebSocket until then"
        ));
    }
    v
}

/// The lines once browsers can join: the link, then the notes.
pub fn join_lines(domain: &str, untrusted: bool) -> Vec<String> {
    let mut v = vec![format!("Browsers can join: {}", join_url(domain))];
    v.extend(join_notes(domain, untrusted));
    v
}

/// Prints an event's lines on their streams.
pub fn print_event(e: &Event, style: &Style, inv: &Invocation) {
    for (stream, line) in event_lines(e, style, inv) {
        let line = super::terminal::safe(&line, style);
        match stream {
            Stream::Out => println!("{line}"),
            Stream::Err => eprintln!("{line}"),
        }
    }
}

/// What a rollback did, one line each (files, then commands), for the end of a failed apply.
fn rollback_lines(out: &crate::apply::undo::Outcome, style: &Style) -> Vec<String> {
    let r = &out.files;
    let mut v: Vec<String> = r
        .restored
        .iter()
        .map(|p| format!("restored {p}"))
        .chain(r.removed.iter().map(|p| format!("removed {p}")))
        .collect();
    for (c, err) in &out.ran {
        match err {
            None => v.push(format!("{} {c}", style.good("✓"))),
            Some(e) => v.push(format!("{} {c}: {e}", style.bad("✗"))),
        }
    }
    v.extend(
        out.mismatches
            .iter()
            .map(|m| format!("{} {m}", style.bad("✗"))),
    );
    v
}

/// What `dpwizard rollback` did: the files, then the running state.
pub fn rollback_text(
    out: &crate::apply::undo::Outcome,
    host: &crate::host::Host,
    style: &Style,
) -> String {
    let r = &out.files;
    if r.already_rolled_back {
        return format!("run {} was already rolled back: nothing to do\n", r.id);
    }
    let mut s = format!("rolled back run {}\n", r.id);
    for p in &r.restored {
        s += &format!("  restored {p}\n");
    }
    for p in &r.removed {
        s += &format!("  removed {p} (the run had created it)\n");
    }
    for p in &r.removed_dirs {
        s += &format!("  removed the directory {p} (the run had created it)\n");
    }
    match &out.commands_left {
        Some(why) if !out.commands.is_empty() => {
            s += &format!(
                "{} the running state is not restored ({why}): run these to finish\n",
                style.warn("!")
            );
            let root = if host.is_live() {
                String::new()
            } else {
                format!(" (on the machine mounted at {})", host.root().display())
            };
            if !root.is_empty() {
                s += &format!("  {}\n", root.trim());
            }
            for a in &out.commands {
                s += &format!("  {}\n", a.argv.join(" "));
            }
        }
        _ => {
            for (c, err) in &out.ran {
                match err {
                    None => s += &format!("{} {c}\n", style.good("✓")),
                    Some(e) => s += &format!("{} {c}: {e}\n", style.bad("✗")),
                }
            }
        }
    }
    for m in &out.mismatches {
        s += &format!("{} {m}\n", style.bad("✗"));
    }
    for n in &out.notes {
        s += &format!("  note: {n}\n");
    }
    if !out.ok() {
        s += "Not everything is as it was before the run: see above.\n";
    }
    s
}
