//! `dpwizard history`: the runs `apply` journalled under /var/lib/dpwizard/runs, newest
//! first — when, what each changed, whether the live checks passed, whether it was rolled
//! back — read from each run's journal.json (and its log.txt, see [`super::runlog`]).
//! Read-only. Journals hold paths and hashes, never file contents, so nothing secret shows.

use std::path::Path;

use serde::Serialize;

use super::fs;
use super::journal::{self, Entry, JournalFile, Kind, RUNS_DIR, State};
use super::runlog::LOG_FILE;
use crate::host::Host;
use crate::ui::style::Style;

/// One run, as `history` lists it (`--json` prints a list of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub id: String,
    /// Unix time the run started, and the same in UTC for people.
    pub started: i64,
    pub started_utc: String,
    pub dpwizard_version: String,
    pub changes: Vec<FileChange>,
    /// `passed`, `failed`, or `not-run` (commands left to the admin, `--root`, a failure).
    pub verification: Verification,
    pub rolled_back: bool,
    /// The run's log, when it has one.
    pub log: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    /// `created`, `changed`, `linked` or `removed`.
    pub what: &'static str,
    /// False when the run stopped before this change was made.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    Passed,
    Failed,
    NotRun,
}

/// A run directory whose journal cannot be read: listed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub id: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct History {
    pub runs: Vec<RunSummary>,
    pub unreadable: Vec<Unreadable>,
    /// Why the runs directory could not be listed (e.g. not root: it is 0700), if so.
    pub error: Option<String>,
}

/// Every run on the machine, newest first.
pub fn read(host: &Host) -> History {
    let mut h = History::default();
    if let Err(e) = host.list_dir(RUNS_DIR)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        h.error = Some(format!("{RUNS_DIR}: {e}"));
    }
    for id in journal::list_runs(host).into_iter().rev() {
        match load(host, &id) {
            Ok(j) => h.runs.push(summary(host, j)),
            Err(error) => h.unreadable.push(Unreadable { id, error }),
        }
    }
    h
}

fn load(host: &Host, id: &str) -> Result<JournalFile, String> {
    let path = Path::new(RUNS_DIR).join(id).join("journal.json");
    let bytes = fs::read_existing(host, &path)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: gone", path.display()))?
        .bytes;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn summary(host: &Host, j: JournalFile) -> RunSummary {
    let log = Path::new(RUNS_DIR).join(&j.id).join(LOG_FILE);
    let verification = match j.verify.as_ref().and_then(|v| v.get("passed")?.as_bool()) {
        Some(true) => Verification::Passed,
        Some(false) => Verification::Failed,
        None => Verification::NotRun,
    };
    RunSummary {
        started_utc: utc(j.started),
        changes: j.entries.iter().map(change).collect(),
        verification,
        rolled_back: j.rolled_back,
        log: host.is_file(&log).then(|| log.display().to_string()),
        id: j.id,
        started: j.started,
        dpwizard_version: j.dpwizard_version,
    }
}

fn change(e: &Entry) -> FileChange {
    FileChange {
        path: e.path.clone(),
        what: match (e.kind, e.existed) {
            (Kind::Removal, _) => "removed",
            (Kind::Symlink, _) => "linked",
            (Kind::File, false) => "created",
            (Kind::File, true) => "changed",
        },
        done: e.state == State::Done,
    }
}

/// `2026-11-24 12:34:56 UTC`.
fn utc(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("@{unix}"),
    }
}

/// The list as `dpwizard history` prints it.
pub fn text(h: &History, style: &Style) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if let Some(e) = &h.error {
        let _ = writeln!(out, "cannot list the runs: {e}");
    } else if h.runs.is_empty() && h.unreadable.is_empty() {
        let _ = writeln!(out, "No runs recorded in {RUNS_DIR}.");
    }
    for r in &h.runs {
        let checks = match r.verification {
            Verification::Passed => style.good("checks passed"),
            Verification::Failed => style.bad("checks failed"),
            Verification::NotRun => style.dim("checks not run"),
        };
        let undone = if r.rolled_back {
            format!(" · {}", style.warn("rolled back"))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}  {}  {checks}{undone}",
            style.bold(&r.id),
            r.started_utc
        );
        if r.changes.is_empty() {
            let _ = writeln!(out, "  (no file changed)");
        }
        for c in &r.changes {
            let _ = writeln!(
                out,
                "  {} {}{}",
                c.what,
                c.path,
                if c.done {
                    ""
                } else {
                    " (not done: the run stopped)"
                }
            );
        }
        if let Some(log) = &r.log {
            let _ = writeln!(out, "  {}", style.dim(&format!("log: {log}")));
        }
    }
    for u in &h.unreadable {
        let _ = writeln!(out, "{}  cannot be read: {}", style.bold(&u.id), u.error);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Clock;
    use crate::plan::FileMode;

    fn host(dir: &Path, now: i64) -> Host {
        Host::new(dir, std::time::Duration::from_secs(1), Clock::Fixed(now))
    }

    #[test]
    fn runs_are_listed_newest_first_with_changes_checks_and_rollback() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/a"), "old\n").unwrap();
        // First run: changes /etc/a, creates /etc/b; its checks pass; later rolled back.
        let h1 = host(dir.path(), 1_800_000_000);
        let mut run = journal::Run::begin(&h1, None).unwrap();
        run.write(Path::new("/etc/a"), b"new\n", FileMode::CONFIG)
            .unwrap();
        run.write(Path::new("/etc/b"), b"b\n", FileMode::CONFIG)
            .unwrap();
        let first = run.id().to_string();
        journal::record_verify(&h1, &first, serde_json::json!({"passed": true})).unwrap();
        journal::rollback(&h1, Some(&first), false).unwrap();
        // Second run, a minute later: removes /etc/a; checks failed.
        let h2 = host(dir.path(), 1_800_000_060);
        let mut run = journal::Run::begin(&h2, None).unwrap();
        run.remove(Path::new("/etc/a")).unwrap();
        let second = run.id().to_string();
        journal::record_verify(&h2, &second, serde_json::json!({"passed": false})).unwrap();
        // A run directory with a broken journal.
        let broken = dir.path().join("var/lib/dpwizard/runs/20990101T000000Z-1");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join("journal.json"), "{").unwrap();

        let h = read(&h2);
        let ids: Vec<&str> = h.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, [second.as_str(), first.as_str()]);
        let (newest, oldest) = (&h.runs[0], &h.runs[1]);
        assert_eq!(newest.verification, Verification::Failed);
        assert!(!newest.rolled_back);
        assert_eq!(
            newest.changes,
            [FileChange {
                path: "/etc/a".into(),
                what: "removed",
                done: true
            }]
        );
        assert_eq!(oldest.verification, Verification::Passed);
        assert!(oldest.rolled_back);
        assert_eq!(oldest.started_utc, "2027-01-15 08:00:00 UTC");
        let what: Vec<(&str, &str)> = oldest
            .changes
            .iter()
            .map(|c| (c.what, c.path.as_str()))
            .collect();
        assert_eq!(what, [("changed", "/etc/a"), ("created", "/etc/b")]);
        assert_eq!(h.unreadable.len(), 1);
        assert_eq!(h.unreadable[0].id, "20990101T000000Z-1");

        let t = text(&h, &Style::plain());
        assert!(
            t.contains(&format!(
                "{first}  2027-01-15 08:00:00 UTC  checks passed · rolled back\n  changed /etc/a\n  created /etc/b\n"
            )),
            "{t}"
        );
        assert!(t.contains("20990101T000000Z-1  cannot be read: "), "{t}");
    }

    #[test]
    fn an_unreadable_runs_directory_is_not_taken_for_no_runs() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be: listing it fails, and not with NotFound.
        std::fs::create_dir_all(dir.path().join("var/lib/dpwizard")).unwrap();
        std::fs::write(dir.path().join("var/lib/dpwizard/runs"), "").unwrap();
        let h = read(&host(dir.path(), 0));
        let t = text(&h, &Style::plain());
        assert!(
            t.starts_with("cannot list the runs: /var/lib/dpwizard/runs: "),
            "{t}"
        );
    }

    #[test]
    fn no_runs_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let h = read(&host(dir.path(), 0));
        assert_eq!(
            text(&h, &Style::plain()),
            "No runs recorded in /var/lib/dpwizard/runs.\n"
        );
    }
}
