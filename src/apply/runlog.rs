//! The human-readable log each run keeps beside its journal
//! (`/var/lib/dpwizard/runs/<id>/log.txt`): the apply session's events, one timestamped line
//! each, in the words `apply` prints (ui::progress). It is fed by a one-line hook in
//! `session::run`, so the CLI and the wizard log the same way.
//!
//! Secrets never reach it: a replanned pass is logged as its file list, not its diffs (a
//! Compose file's context lines may hold a password), and every line goes through [`redact`]
//! (web-admin credentials, private keys).

use std::path::Path;

use super::fs;
use super::journal::RUNS_DIR;
use super::session::Event;
use crate::host::Host;
use crate::plan::FileMode;
use crate::ui::shell::Invocation;
use crate::ui::style::Style;

/// The log file's name in a run's directory.
pub const LOG_FILE: &str = "log.txt";

/// Collects an apply session's events and keeps each run's log.txt up to date.
pub struct RunLog {
    host: Host,
    /// Lines not yet tied to a run: a pass's events before its run id is known.
    pending: Vec<String>,
    /// The run being logged and its lines so far.
    current: Option<(String, Vec<String>)>,
    invocation: Invocation,
}

impl RunLog {
    pub fn new(host: &Host) -> RunLog {
        RunLog {
            host: host.clone(),
            pending: Vec::new(),
            current: None,
            invocation: Invocation::new(host.root(), None),
        }
    }

    /// Takes one event. A log that cannot be written must not stop the run (the journal is
    /// what rollback needs): the failure is noted in the next write's lines instead.
    pub fn record(&mut self, e: &Event) {
        let stamp = clock(self.host.clock().now_unix());
        let lines: Vec<String> = lines(e, &self.invocation)
            .into_iter()
            .map(|l| format!("{stamp} {}", redact(&l)))
            .collect();
        match run_id(e) {
            Some(id) if self.current.as_ref().is_none_or(|(c, _)| c != id) => {
                let mut all = std::mem::take(&mut self.pending);
                all.extend(lines);
                self.current = Some((id.to_string(), all));
            }
            Some(_) => self.append(lines),
            // Before a pass wrote anything its run does not exist yet; the live checks
            // after the last pass belong to that run.
            None if after_a_run(e) && self.current.is_some() => self.append(lines),
            None => {
                self.pending.extend(lines);
                return;
            }
        }
        self.save();
    }

    fn append(&mut self, lines: Vec<String>) {
        if let Some((_, all)) = &mut self.current {
            all.extend(std::mem::take(&mut self.pending));
            all.extend(lines);
        }
    }

    fn save(&self) {
        let Some((id, lines)) = &self.current else {
            return;
        };
        let dir = Path::new(RUNS_DIR).join(id);
        // Only a run that exists gets a log (a cancelled run may have none).
        if !self.host.is_dir(&dir) {
            return;
        }
        let mut text = lines.join("\n");
        text.push('\n');
        let _ = fs::write_atomic(
            &self.host,
            &dir.join(LOG_FILE),
            text.as_bytes(),
            FileMode::SECRET,
        );
    }
}

/// Passes every event on to `on` after logging it: `session::run` wraps its sink in this.
pub fn tee<'a>(host: &Host, on: &'a mut dyn FnMut(Event)) -> impl FnMut(Event) + 'a {
    let mut log = RunLog::new(host);
    move |e| {
        log.record(&e);
        on(e)
    }
}

/// The run an event names, if any.
fn run_id(e: &Event) -> Option<&str> {
    match e {
        Event::Refused { id, .. }
        | Event::CommandFailed { id, .. }
        | Event::Written { id }
        | Event::RecordFailed { id, .. } => Some(id),
        Event::Cancelled { id, .. } => id.as_deref(),
        _ => None,
    }
}

/// Events that follow a written run: the live checks.
fn after_a_run(e: &Event) -> bool {
    matches!(
        e,
        Event::Direct { .. }
            | Event::CannotProbe(_)
            | Event::TlsUntrusted(_)
            | Event::Proxy { .. }
            | Event::Joinable { .. }
    )
}

/// The event's text as `apply` prints it, without colours; a replanned pass as its files.
/// `inv` makes the commands it names repeat `--root`.
fn lines(e: &Event, inv: &Invocation) -> Vec<String> {
    match e {
        Event::Replanned(plan) => {
            let mut v = vec!["planned again (certbot has run):".to_string()];
            v.extend(plan.changes.iter().map(|c| {
                format!(
                    "  {} ({})",
                    c.path(),
                    crate::ui::progress::why(c).replace('\n', " ")
                )
            }));
            v.extend(
                plan.actions
                    .iter()
                    .map(|a| format!("  $ {}", a.argv.join(" "))),
            );
            v
        }
        Event::CommandStarted(c) => vec![format!("running {c}")],
        _ => crate::ui::progress::event_lines(e, &Style::plain(), inv)
            .into_iter()
            .flat_map(|(_, l)| l.lines().map(String::from).collect::<Vec<_>>())
            .collect(),
    }
}

/// `HH:MM:SSZ` of a unix time (the run id carries the date).
fn clock(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// Hides what must never be written down: the web admin's `user:password`
/// (`DRAWPILESRV_WEB_ADMIN_AUTH=…`, `--web-admin-auth …`) and private key material.
pub fn redact(line: &str) -> String {
    if line.contains("PRIVATE KEY") {
        return "(a line about private key material, not logged)".into();
    }
    let mut out = line.to_string();
    for key in [
        "DRAWPILESRV_WEB_ADMIN_AUTH=",
        "DRAWPILESRV_WEB_ADMIN_AUTH: ",
        "--web-admin-auth=",
        "--web-admin-auth ",
    ] {
        let mut from = 0;
        while let Some(pos) = out[from..].find(key) {
            let start = from + pos + key.len();
            let end = out[start..]
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .map_or(out.len(), |n| start + n);
            out.replace_range(start..end, "(hidden)");
            from = start + "(hidden)".len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Clock;

    #[test]
    fn web_admin_credentials_and_keys_are_hidden() {
        assert_eq!(
            redact("  -e DRAWPILESRV_WEB_ADMIN_AUTH=admin:hunter2 -p 80"),
            "  -e DRAWPILESRV_WEB_ADMIN_AUTH=(hidden) -p 80"
        );
        assert_eq!(
            redact("ExecStart=/x --web-admin-auth admin:pw --web-admin-auth=a:b"),
            "ExecStart=/x --web-admin-auth (hidden) --web-admin-auth=(hidden)"
        );
        assert_eq!(
            redact("Environment=\"DRAWPILESRV_WEB_ADMIN_AUTH=a:b\""),
            "Environment=\"DRAWPILESRV_WEB_ADMIN_AUTH=(hidden)\""
        );
        assert!(!redact("-----BEGIN PRIVATE KEY-----").contains("BEGIN"));
        assert_eq!(redact("nothing secret"), "nothing secret");
    }

    #[test]
    fn each_pass_is_logged_in_its_own_run_and_the_checks_in_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(
            dir.path(),
            std::time::Duration::from_secs(1),
            Clock::Fixed(1_800_000_000),
        );
        for id in ["r1", "r2"] {
            std::fs::create_dir_all(dir.path().join(RUNS_DIR.trim_start_matches('/')).join(id))
                .unwrap();
        }
        let mut log = RunLog::new(&host);
        for e in [
            Event::CommandDone("certbot certonly".into()),
            Event::Written { id: "r1".into() },
            Event::CommandDone("systemctl reload nginx".into()),
            Event::Written { id: "r2".into() },
            Event::Joinable {
                domain: "paint.example.com".into(),
                untrusted: false,
            },
        ] {
            log.record(&e);
        }
        let read = |id: &str| {
            std::fs::read_to_string(
                dir.path()
                    .join(RUNS_DIR.trim_start_matches('/'))
                    .join(id)
                    .join(LOG_FILE),
            )
            .unwrap()
        };
        // 1,800,000,000 s after the epoch is 08:00:00 UTC.
        // The commands it names repeat --root, as apply prints them.
        assert_eq!(
            read("r1"),
            format!(
                "08:00:00Z ✓ certbot certonly\n\
                 08:00:00Z Written as run r1; undo with `dpwizard --root {} rollback r1`.\n",
                dir.path().display()
            )
        );
        let r2 = read("r2");
        assert!(
            r2.starts_with("08:00:00Z ✓ systemctl reload nginx\n"),
            "{r2}"
        );
        assert!(
            r2.contains("Browsers can join: https://web.drawpile.net/?host=paint.example.com"),
            "{r2}"
        );
        assert!(!r2.contains("certbot"), "{r2}");
    }
}
