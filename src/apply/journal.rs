//! The run journal: before a file is changed, its old bytes are backed up and the journal
//! (`/var/lib/dpwizard/runs/<id>/journal.json`) says what is about to happen; after, it says
//! it happened. Every journal update is itself an atomic write. `rollback` replays a run
//! backwards, byte for byte, and refuses to clobber a file someone changed since.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fs::{self, WriteError};
use crate::host::Host;
use crate::plan::FileMode;

/// Where runs are journalled, on the target machine.
pub const RUNS_DIR: &str = "/var/lib/dpwizard/runs";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// About to be changed (the backup exists; the change may or may not have happened).
    Planned,
    /// Changed.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    File,
    Symlink,
    Removal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// The file existed before (else rollback removes it).
    pub existed: bool,
    pub old_mode: Option<FileMode>,
    pub old_was_symlink: bool,
    pub old_sha256: Option<String>,
    /// Hash of what the run wrote (for a symlink: of its target text); None for a removal.
    pub new_sha256: Option<String>,
    /// Backup file name inside the run directory.
    pub backup: Option<String>,
    pub state: State,
    /// Directories the change created (outermost first): rollback removes them when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_dirs: Vec<String>,
}

/// A unit's state before the run's commands touched it (`systemctl is-active`/`is-enabled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitBefore {
    pub active: String,
    pub enabled: String,
}

/// A command the run ran, in order, and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RanCommand {
    pub argv: Vec<String>,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalFile {
    pub id: String,
    /// Unix time the run started.
    pub started: i64,
    pub dpwizard_version: String,
    pub entries: Vec<Entry>,
    /// Set once the run has been rolled back.
    #[serde(default)]
    pub rolled_back: bool,
    /// The live checks after the run (direct and through the proxy), when they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<serde_json::Value>,
    /// The units the run's commands restart, stop, start or reload, as they were before:
    /// rollback brings each back to this state.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub units_before: std::collections::BTreeMap<String, UnitBefore>,
    /// The commands the run ran (recorded before each runs, `ok` set after).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<RanCommand>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("no run {0} in {RUNS_DIR}")]
    NoSuchRun(String),
    #[error(
        "{0:?} is not a run id (run ids look like 20261124T123456Z-4242; `dpwizard history` lists them)"
    )]
    BadId(String),
    #[error("no runs in {RUNS_DIR}: nothing to roll back")]
    NoRuns,
    #[error("{path}: the journal cannot be read: {why}")]
    BadJournal { path: String, why: String },
    #[error(
        "{path} was changed after run {id} (it is neither what the run wrote nor what it \
         replaced): not restoring it; use --force to restore it anyway"
    )]
    ChangedSince { id: String, path: String },
}

pub fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A UTC timestamp for run ids, sortable: `20261124T123456Z`.
fn stamp(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{unix}"),
    }
}

/// A run in progress.
#[derive(Debug)]
pub struct Run {
    host: Host,
    dir: PathBuf,
    pub journal: JournalFile,
}

impl Run {
    /// Starts a run: creates its directory (0700) and journal, and keeps the answers used.
    pub fn begin(host: &Host, answers: Option<&str>) -> Result<Run, JournalError> {
        let now = host.clock().now_unix();
        let id = format!("{}-{}", stamp(now), std::process::id());
        let dir = Path::new(RUNS_DIR).join(&id);
        let run = Run {
            host: host.clone(),
            dir,
            journal: JournalFile {
                id,
                started: now,
                dpwizard_version: env!("CARGO_PKG_VERSION").to_string(),
                entries: Vec::new(),
                rolled_back: false,
                verify: None,
                units_before: Default::default(),
                commands: Vec::new(),
            },
        };
        // The journal comes first: a run directory without one recorded no change.
        run.save()?;
        if let Some(a) = answers {
            fs::write_atomic(
                host,
                &run.dir.join("answers.toml"),
                a.as_bytes(),
                FileMode::SECRET,
            )?;
        }
        Ok(run)
    }

    pub fn id(&self) -> &str {
        &self.journal.id
    }

    fn save(&self) -> Result<(), JournalError> {
        let text = serde_json::to_vec_pretty(&self.journal).unwrap_or_default();
        fs::write_atomic(
            &self.host,
            &self.dir.join("journal.json"),
            &text,
            FileMode::SECRET,
        )?;
        Ok(())
    }

    /// Backs up the current state of `path` and records the change as planned.
    fn plan(
        &mut self,
        path: &Path,
        kind: Kind,
        new_hash: Option<String>,
    ) -> Result<usize, JournalError> {
        let old = fs::read_existing(&self.host, path)?;
        let created_dirs = missing_dirs(&self.host, path);
        let n = self.journal.entries.len();
        let backup = match &old {
            Some(e) => {
                let name = format!("backup-{n}");
                fs::write_atomic(
                    &self.host,
                    &self.dir.join(&name),
                    &e.bytes,
                    FileMode::SECRET,
                )?;
                Some(name)
            }
            None => None,
        };
        self.journal.entries.push(Entry {
            path: path.display().to_string(),
            kind,
            existed: old.is_some(),
            old_mode: old.as_ref().map(|e| e.mode),
            old_was_symlink: old.as_ref().is_some_and(|e| e.is_symlink),
            old_sha256: old.as_ref().map(|e| sha256(&e.bytes)),
            new_sha256: new_hash,
            backup,
            state: State::Planned,
            created_dirs,
        });
        self.save()?;
        Ok(n)
    }

    fn done(&mut self, n: usize) -> Result<(), JournalError> {
        self.journal.entries[n].state = State::Done;
        self.save()
    }

    /// Writes a file, journalled.
    pub fn write(&mut self, path: &Path, bytes: &[u8], mode: FileMode) -> Result<(), JournalError> {
        let n = self.plan(path, Kind::File, Some(sha256(bytes)))?;
        fs::write_atomic(&self.host, path, bytes, mode)?;
        self.done(n)
    }

    /// Creates or replaces a symlink, journalled.
    pub fn symlink(&mut self, path: &Path, points_to: &str) -> Result<(), JournalError> {
        let n = self.plan(path, Kind::Symlink, Some(sha256(points_to.as_bytes())))?;
        fs::symlink_atomic(&self.host, path, points_to)?;
        self.done(n)
    }

    /// Removes a file, journalled.
    pub fn remove(&mut self, path: &Path) -> Result<(), JournalError> {
        let n = self.plan(path, Kind::Removal, None)?;
        fs::remove(&self.host, path)?;
        self.done(n)
    }

    /// Records the units' states before any command runs.
    pub fn record_units_before(
        &mut self,
        units: std::collections::BTreeMap<String, UnitBefore>,
    ) -> Result<(), JournalError> {
        self.journal.units_before = units;
        self.save()
    }

    /// Records a command before it runs (as failed, until `command_done` says otherwise), so
    /// a run killed mid-command still tells rollback what may have happened.
    pub fn command_started(&mut self, argv: &[String]) -> Result<(), JournalError> {
        self.journal.commands.push(RanCommand {
            argv: argv.to_vec(),
            ok: false,
        });
        self.save()
    }

    pub fn command_done(&mut self) -> Result<(), JournalError> {
        if let Some(c) = self.journal.commands.last_mut() {
            c.ok = true;
        }
        self.save()
    }
}

/// The directories on the way to `path` that do not exist yet (outermost first): writing it
/// creates them, and rollback removes them again when they are empty.
fn missing_dirs(host: &Host, path: &Path) -> Vec<String> {
    let mut missing: Vec<String> = path
        .ancestors()
        .skip(1)
        .take_while(|d| d.parent().is_some() && std::fs::symlink_metadata(host.path(d)).is_err())
        .map(|d| d.display().to_string())
        .collect();
    missing.reverse();
    missing
}

/// Records the live-check result in a run's journal.
pub fn record_verify(host: &Host, id: &str, result: serde_json::Value) -> Result<(), JournalError> {
    let mut journal = load(host, id)?;
    journal.verify = Some(result);
    let text = serde_json::to_vec_pretty(&journal).unwrap_or_default();
    fs::write_atomic(
        host,
        &Path::new(RUNS_DIR).join(id).join("journal.json"),
        &text,
        FileMode::SECRET,
    )?;
    Ok(())
}

/// Run ids on the machine, oldest first. A directory without a journal (a run killed before
/// it recorded anything) changed nothing and is not a run.
pub fn list_runs(host: &Host) -> Vec<String> {
    host.list_dir(RUNS_DIR)
        .unwrap_or_default()
        .into_iter()
        .filter(|id| {
            valid_id(id) && host.is_file(Path::new(RUNS_DIR).join(id).join("journal.json"))
        })
        .collect()
}

/// A run id as `Run::begin` makes them: `YYYYMMDDTHHMMSSZ-PID`. Anything else (a path, `..`)
/// never names a directory to act on.
pub fn valid_id(id: &str) -> bool {
    let Some((stamp, pid)) = id.split_once('-') else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 8 | 15) || c.is_ascii_digit())
        && !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|c| c.is_ascii_digit())
}

pub fn load(host: &Host, id: &str) -> Result<JournalFile, JournalError> {
    if !valid_id(id) {
        return Err(JournalError::BadId(id.to_string()));
    }
    let path = Path::new(RUNS_DIR).join(id).join("journal.json");
    let existing =
        fs::read_existing(host, &path)?.ok_or_else(|| JournalError::NoSuchRun(id.into()))?;
    serde_json::from_slice(&existing.bytes).map_err(|e| JournalError::BadJournal {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

/// What rollback did, one line per file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    pub id: String,
    pub restored: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Directories the run had created, removed again (they were empty).
    pub removed_dirs: Vec<String>,
    pub already_rolled_back: bool,
}

/// Restores every file a run changed, newest change first. Without `force`, a file that is
/// neither what the run wrote nor what it replaced stops the rollback before anything is
/// restored.
pub fn rollback(
    host: &Host,
    id: Option<&str>,
    force: bool,
) -> Result<RollbackReport, JournalError> {
    let id = match id {
        Some(i) => i.to_string(),
        None => list_runs(host).pop().ok_or(JournalError::NoRuns)?,
    };
    let mut journal = load(host, &id)?;
    let mut report = RollbackReport {
        id: id.clone(),
        ..Default::default()
    };
    if journal.rolled_back {
        report.already_rolled_back = true;
        return Ok(report);
    }
    let dir = Path::new(RUNS_DIR).join(&id);
    // First pass: check, so a refusal leaves everything as it is. A path may be changed
    // twice in one run (a socket unit removed, then masked there): each entry is judged
    // against the state the newer entries leave once undone, not against the disk.
    let mut actions = Vec::new();
    let mut state: std::collections::BTreeMap<String, Option<String>> = Default::default();
    for e in journal.entries.iter().rev() {
        let now_hash = match state.get(&e.path) {
            Some(h) => h.clone(),
            None => fs::read_existing(host, Path::new(&e.path))?.map(|x| sha256(&x.bytes)),
        };
        state.insert(e.path.clone(), e.old_sha256.clone());
        if now_hash == e.old_sha256 {
            report.unchanged.push(e.path.clone());
            continue; // already as before (the change never happened, or was undone)
        }
        let ours = now_hash == e.new_sha256;
        if !ours && !force {
            return Err(JournalError::ChangedSince {
                id: id.clone(),
                path: e.path.clone(),
            });
        }
        actions.push(e.clone());
    }
    for e in actions {
        let path = Path::new(&e.path);
        match (&e.backup, e.existed) {
            (Some(b), true) => {
                let old = fs::read_existing(host, &dir.join(b))?.ok_or_else(|| {
                    JournalError::BadJournal {
                        path: dir.join(b).display().to_string(),
                        why: "the backup is missing".into(),
                    }
                })?;
                if e.old_was_symlink {
                    fs::symlink_atomic(host, path, &String::from_utf8_lossy(&old.bytes))?;
                } else {
                    fs::write_atomic(
                        host,
                        path,
                        &old.bytes,
                        e.old_mode.unwrap_or(FileMode::CONFIG),
                    )?;
                }
                report.restored.push(e.path.clone());
            }
            _ => {
                fs::remove(host, path)?;
                report.removed.push(e.path.clone());
            }
        }
    }
    // Temp files of writes interrupted by a crash (never the files themselves).
    for e in &journal.entries {
        let p = Path::new(&e.path);
        if let (Some(parent), Some(name)) = (p.parent(), p.file_name()) {
            let prefix = fs::temp_prefix(&name.to_string_lossy());
            for f in host.list_dir(parent).unwrap_or_default() {
                if f.starts_with(&prefix) {
                    fs::remove(host, &parent.join(f))?;
                }
            }
        }
    }
    // Directories the run created, deepest first, when nothing else was put in them since.
    let mut dirs: Vec<&String> = journal
        .entries
        .iter()
        .flat_map(|e| e.created_dirs.iter())
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
    dirs.dedup();
    for d in dirs {
        if fs::remove_empty_dir(host, Path::new(d))? {
            report.removed_dirs.push(d.clone());
        }
    }
    journal.rolled_back = true;
    let text = serde_json::to_vec_pretty(&journal).unwrap_or_default();
    // Marking the run rolled back needs room for a temp file; on a full disk with nothing
    // to restore, the run is as good as rolled back (a second rollback finds nothing to do).
    if let Err(e) = fs::write_atomic(host, &dir.join("journal.json"), &text, FileMode::SECRET)
        && !(report.restored.is_empty() && report.removed.is_empty())
    {
        return Err(e.into());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Clock;
    use std::time::Duration;

    fn host(dir: &Path) -> Host {
        Host::new(dir, Duration::from_secs(1), Clock::Fixed(1_795_000_000))
    }

    #[test]
    fn a_run_is_rolled_back_byte_for_byte_and_only_once() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path());
        std::fs::create_dir_all(d.path().join("etc/nginx/sites-available")).unwrap();
        std::fs::write(
            d.path().join("etc/nginx/sites-available/paint"),
            b"old site\n",
        )
        .unwrap();
        let mut run = Run::begin(&h, Some("[site]\ndomain = \"a.example.com\"\n")).unwrap();
        assert!(run.id().starts_with("20261118T"), "{}", run.id());
        run.write(
            Path::new("/etc/nginx/sites-available/paint"),
            b"new site\n",
            FileMode::CONFIG,
        )
        .unwrap();
        run.write(
            Path::new("/etc/systemd/system/x.service.d/dpwizard.conf"),
            b"[Service]\n",
            FileMode::CONFIG,
        )
        .unwrap();
        run.symlink(
            Path::new("/etc/nginx/sites-enabled/paint"),
            "/etc/nginx/sites-available/paint",
        )
        .unwrap();
        let id = run.id().to_string();
        assert_eq!(list_runs(&h), vec![id.clone()]);

        let r = rollback(&h, None, false).unwrap();
        assert_eq!(r.restored, vec!["/etc/nginx/sites-available/paint"]);
        assert_eq!(r.removed.len(), 2);
        assert_eq!(
            std::fs::read(d.path().join("etc/nginx/sites-available/paint")).unwrap(),
            b"old site\n"
        );
        assert!(
            !d.path()
                .join("etc/systemd/system/x.service.d/dpwizard.conf")
                .exists()
        );
        assert!(std::fs::symlink_metadata(d.path().join("etc/nginx/sites-enabled/paint")).is_err());
        assert!(rollback(&h, Some(&id), false).unwrap().already_rolled_back);
    }

    #[test]
    fn a_file_changed_after_the_run_is_not_clobbered_without_force() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path());
        let mut run = Run::begin(&h, None).unwrap();
        run.write(Path::new("/etc/a.conf"), b"ours\n", FileMode::CONFIG)
            .unwrap();
        run.write(Path::new("/etc/b.conf"), b"ours\n", FileMode::CONFIG)
            .unwrap();
        std::fs::write(d.path().join("etc/a.conf"), b"edited by the admin\n").unwrap();
        let e = rollback(&h, None, false).unwrap_err();
        assert!(
            e.to_string().contains("/etc/a.conf was changed after run"),
            "{e}"
        );
        // Nothing was restored: b.conf is still the run's.
        assert_eq!(
            std::fs::read(d.path().join("etc/b.conf")).unwrap(),
            b"ours\n"
        );
        let r = rollback(&h, None, true).unwrap();
        assert_eq!(r.removed.len(), 2);
    }

    #[test]
    fn unknown_runs_are_named() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path());
        assert!(matches!(
            rollback(&h, None, false),
            Err(JournalError::NoRuns)
        ));
        assert!(
            rollback(&h, Some("20260101T000000Z-1"), false)
                .unwrap_err()
                .to_string()
                .contains("no run 20260101T000000Z-1")
        );
        // A path or anything else is never taken for a run directory.
        for bad in [
            "nope",
            "/tmp/x",
            "../../etc",
            "20260101T000000Z-1/..",
            "20260101T000000Z-",
        ] {
            assert!(matches!(
                rollback(&h, Some(bad), true),
                Err(JournalError::BadId(_))
            ));
        }
    }
}
