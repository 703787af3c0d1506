//! The only code that changes the machine: atomic writes (`fs`), the run journal with
//! backups and rollback (`journal`). Everything it writes was computed by `plan` first.

pub mod fs;
pub mod history;
pub mod journal;
pub mod lock;
pub mod preflight;
pub mod runlog;
pub mod session;
pub mod settle;
pub mod undo;

use std::path::Path;

use crate::answers::Answers;
use crate::detect::Facts;
use crate::host::{Cmd, Host};
use crate::plan::make::Snapshot;
use crate::plan::{Change, Plan};

/// Reads, once, the current bytes of every file a plan for these answers may change (the
/// plan names them: `plan::reads`), and makes the key material it may need (key generation
/// is not pure: it happens here, at the edge, not in the planner).
pub fn snapshot(host: &Host, facts: &Facts, answers: &Answers) -> Snapshot {
    let reads = crate::plan::reads::reads(facts, answers);
    let mut snap = Snapshot::default();
    let mut paths = reads.files;
    // Files reached through a symlink are read (and later edited) at their real path.
    for file in reads.resolve {
        if let Ok(real) = host.canonical(&file) {
            let real = real.display().to_string();
            if real != file {
                snap.real_paths.insert(file.clone(), real.clone());
                paths.push(real);
            }
        }
    }
    // A directory reached through a symlink (a Compose project linked into place): its
    // files are read (and edited) at their real path, the override file too before it exists.
    for p in reads.resolve_dir {
        let path = Path::new(&p);
        let real = path
            .parent()
            .zip(path.file_name())
            .and_then(|(dir, name)| Some(host.canonical(dir).ok()?.join(name)))
            .map(|r| r.display().to_string());
        if let Some(real) = real.filter(|r| *r != p) {
            snap.real_paths.insert(p.clone(), real.clone());
            paths.push(real);
        }
        paths.push(p);
    }
    for d in reads.list {
        for name in host.list_dir(&d).unwrap_or_default() {
            paths.push(format!("{d}/{name}"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    paths.retain(|p| seen.insert(p.clone()));
    for p in paths {
        if let Ok(Some(e)) = fs::read_existing(host, Path::new(&p)) {
            if e.is_symlink {
                snap.symlinks.insert(p.clone());
            }
            snap.files.insert(p, e.bytes);
        }
    }
    for d in reads.dirs {
        if host.is_dir(&d) {
            snap.files.insert(format!("{d}/"), Vec::new());
        }
    }
    for d in reads.listings {
        if let Ok(names) = host.list_dir(&d) {
            snap.dirs.insert(d, names);
        }
    }
    if let Some(domain) = reads.self_signed_for {
        snap.generated = Some(
            crate::plan::selfsigned::generate(&domain, host.clock().now_unix(), 365)
                .map_err(|e| format!("{e:#}")),
        );
    }
    snap
}

/// Why a plan's changes were not (all) written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFailure {
    /// Nothing was written: these files are not what the plan was computed from (edited
    /// between the review and apply).
    Stale(Vec<String>),
    /// Nothing was written: these targets cannot be written (why, per path).
    Unwritable(Vec<String>),
    /// A write failed after others were made; the run was rolled back (`restore_error`
    /// when that failed too).
    Failed {
        error: String,
        id: String,
        restore_error: Option<String>,
    },
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteFailure::Stale(paths) => write!(
                f,
                "changed since the plan was made, so nothing was written: {} (plan again to \
                 see the changes against them, or apply with --force to replace them)",
                paths.join(", ")
            ),
            WriteFailure::Unwritable(why) => {
                write!(f, "nothing was written, because: {}", why.join("; "))
            }
            WriteFailure::Failed {
                error,
                id,
                restore_error: None,
            } => write!(
                f,
                "{error}; every file written so far was restored (run {id} is rolled back)"
            ),
            WriteFailure::Failed {
                error,
                id,
                restore_error: Some(r),
            } => write!(
                f,
                "{error}; restoring the files failed too: {r} (free what it names, then run \
                 `dpwizard rollback {id} --force`)"
            ),
        }
    }
}

/// Files in the plan whose bytes on disk are not the ones the plan was computed from.
pub fn stale_files(host: &Host, plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter_map(|c| {
            let expected: Option<Option<&[u8]>> = match c {
                Change::Write { old, .. } => Some(old.as_deref()),
                Change::Remove { old, .. } => Some(Some(old.as_slice())),
                Change::Symlink { .. } => None,
            };
            let expected = expected?;
            let now = fs::read_existing(host, Path::new(c.path())).ok()?;
            (now.as_ref().map(|e| e.bytes.as_slice()) != expected).then(|| c.path().to_string())
        })
        .collect()
}

/// What would stop the plan's writes (and the journal's), found before the first one.
pub fn unwritable(host: &Host, plan: &Plan) -> Vec<String> {
    let journal = format!("{}/x", journal::RUNS_DIR);
    plan.changes
        .iter()
        .map(|c| {
            let link_ok = !matches!(c, Change::Write { .. });
            (c.path(), link_ok)
        })
        .chain([(journal.as_str(), false)])
        .filter_map(|(p, link_ok)| fs::preflight(host, Path::new(p), link_ok).err())
        .map(|e| e.to_string())
        .collect()
}

/// Writes every change of the plan inside a journalled run; returns the run. Before the
/// first write: every target is checked (`unwritable`) and, unless `force`, compared with
/// the bytes the plan saw (`stale_files`). After it, any failure rolls the run back. `stop`
/// is asked between writes (each write is atomic), so an interrupted run is old-or-new per
/// file and the caller rolls it back.
pub fn write_plan(
    host: &Host,
    plan: &Plan,
    answers_text: &str,
    force: bool,
    stop: &dyn Fn() -> bool,
) -> Result<journal::Run, WriteFailure> {
    let refused = unwritable(host, plan);
    if !refused.is_empty() {
        return Err(WriteFailure::Unwritable(refused));
    }
    if !force {
        let stale = stale_files(host, plan);
        if !stale.is_empty() {
            return Err(WriteFailure::Stale(stale));
        }
    }
    let mut run = journal::Run::begin(host, Some(answers_text)).map_err(|e| {
        WriteFailure::Unwritable(vec![format!("the run's journal cannot be written: {e}")])
    })?;
    for c in &plan.changes {
        if stop() {
            break;
        }
        let done = match c {
            Change::Write {
                path, new, mode, ..
            } => run.write(Path::new(path), new, *mode),
            Change::Symlink { path, target, .. } => run.symlink(Path::new(path), target),
            Change::Remove { path, .. } => run.remove(Path::new(path)),
        };
        if let Err(e) = done {
            let id = run.id().to_string();
            let restore_error = journal::rollback(host, Some(&id), true)
                .err()
                .map(|e| e.to_string());
            return Err(WriteFailure::Failed {
                error: e.to_string(),
                id,
                restore_error,
            });
        }
    }
    Ok(run)
}

pub use crate::validate::Validation;

/// `nginx -t` of the written configuration, in the sandbox of [`crate::validate`] (on the
/// live machine too: a plain `nginx -t` creates and chowns the paths it names).
pub async fn validate_nginx(host: &Host) -> Validation {
    crate::validate::nginx(host).await
}

/// Whether a plan changes files under `dir` (a web server's configuration root).
pub fn touches(plan: &Plan, dir: &str) -> bool {
    plan.changes.iter().any(|c| c.path().starts_with(dir))
}

/// The validator of a web server in front (its kind's `validator()`): `commands` are the
/// plan's for nginx in a container (`docker compose exec -T nginx nginx -t`).
pub async fn validate(
    host: &Host,
    kind: crate::proxy::Kind,
    commands: &[crate::plan::Action],
) -> Validation {
    use crate::proxy::Kind;
    match kind {
        Kind::HostNginx => validate_nginx(host).await,
        Kind::ContainerNginx => session::validate_in_containers(host, commands).await,
        Kind::Apache => validate_apache(host).await,
        Kind::Caddy => validate_caddy(host).await,
    }
}

/// `apache2ctl configtest` on the machine (it reads Debian's envvars itself, which a bare
/// `apache2 -t` would not). Under another root it is not run: the tree's Apache
/// configuration names the machine's own paths, so only the live machine can judge it.
pub async fn validate_apache(host: &Host) -> Validation {
    if !host.is_live() {
        return Validation::Skipped(
            "Apache's configuration is checked on the live machine only (--root is not /)".into(),
        );
    }
    let Some(ctl) = host.which("apache2ctl") else {
        return Validation::Skipped("apache2ctl is not installed".into());
    };
    Validation::from(
        &host
            .run(
                host.command(ctl)
                    .arg("configtest")
                    .timeout(std::time::Duration::from_secs(30)),
            )
            .await,
    )
}

/// `caddy validate --adapter caddyfile --config /etc/caddy/Caddyfile` on the machine (live
/// only, like [`validate_apache`]).
pub async fn validate_caddy(host: &Host) -> Validation {
    if !host.is_live() {
        return Validation::Skipped(
            "Caddy's configuration is checked on the live machine only (--root is not /)".into(),
        );
    }
    let Some(caddy) = host.which("caddy") else {
        return Validation::Skipped("caddy is not installed".into());
    };
    Validation::from(
        &host
            .run(
                host.command(caddy)
                    .args([
                        "validate",
                        "--adapter",
                        "caddyfile",
                        "--config",
                        crate::plan::front_caddy::CADDYFILE,
                    ])
                    .timeout(std::time::Duration::from_secs(30)),
            )
            .await,
    )
}

/// `systemd-analyze verify` of the units a plan wrote (live only: it needs the machine's own
/// unit search path). Unknown keys only warn with status 0, so any output counts as failure.
pub async fn validate_units(host: &Host, plan: &Plan) -> Validation {
    // Only files written with content are verified: a mask (a link to /dev/null) or a
    // removed enablement link is not a unit to load.
    let units: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| matches!(c, crate::plan::Change::Write { .. }))
        .map(|c| c.path().to_string())
        .filter(|p| {
            p.starts_with("/etc/systemd/system/")
                && (p.ends_with(".service") || p.ends_with(".socket"))
                && !p.contains(".d/")
        })
        .collect();
    let dropin_units: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| matches!(c, crate::plan::Change::Write { .. }))
        .filter_map(|c| {
            let p = c.path();
            let rest = p.strip_prefix("/etc/systemd/system/")?;
            let (unit, _) = rest.split_once(".d/")?;
            Some(unit.to_string())
        })
        .collect();
    if units.is_empty() && dropin_units.is_empty() {
        return Validation::Skipped("no unit changed".into());
    }
    if !host.is_live() {
        return verify_units_in_tree(host, plan, &units, &dropin_units).await;
    }
    let Some(analyze) = host.which("systemd-analyze") else {
        return Validation::Skipped("systemd-analyze is not installed".into());
    };
    let out = host
        .run(
            host.command(analyze)
                .args(["verify", "--man=no"])
                .args(units.iter().chain(dropin_units.iter()))
                .timeout(std::time::Duration::from_secs(30)),
        )
        .await;
    let mut v = Validation::from(&out);
    // Warnings about lines dpwizard wrote are failures; warnings about the admin's own files
    // (e.g. upstream's `User=nobody`) are passed on, not held against the change.
    if let Validation::Passed(text) = &v {
        let written: Vec<&str> = plan.changes.iter().map(|c| c.path()).collect();
        if text
            .lines()
            .any(|l| !accepted_warning(l) && written.iter().any(|w| l.contains(w)))
        {
            v = Validation::Failed(text.clone());
        }
    }
    v
}

/// What systemd-analyze says about a choice dpwizard makes on purpose: `User=nobody` is the
/// upstream unit's own choice for drawpile-srv, kept for units that had no user at all.
fn accepted_warning(line: &str) -> bool {
    line.contains("Special user nobody configured")
}

/// Under another root: this host's `systemd-analyze verify --root=DIR`. A tree is rarely a
/// whole system (no sysinit.target, binaries of other machines), so only what it says about
/// the files dpwizard wrote counts; the rest is passed on as it is.
async fn verify_units_in_tree(
    host: &Host,
    plan: &Plan,
    units: &[String],
    dropin_units: &[String],
) -> Validation {
    let Ok(analyze) = which::which("systemd-analyze") else {
        return Validation::Skipped("systemd-analyze is not installed here".into());
    };
    let names: Vec<String> = units
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .chain(dropin_units.iter().cloned())
        .collect();
    let mut root_arg = std::ffi::OsString::from("--root=");
    root_arg.push(host.root());
    let out = crate::host::runner::run(
        Cmd::new(analyze)
            .arg(root_arg)
            .args(["verify", "--man=no"])
            .args(names.iter())
            .timeout(std::time::Duration::from_secs(30)),
    )
    .await;
    let text = out.stderr_str() + &out.stdout_str();
    let written: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.path().starts_with("/etc/systemd/"))
        .map(|c| host.path(c.path()).display().to_string())
        .collect();
    let about_ours: Vec<&str> = text
        .lines()
        .filter(|l| !accepted_warning(l) && written.iter().any(|w| l.starts_with(w.as_str())))
        .collect();
    if about_ours.is_empty() {
        Validation::Passed(String::new())
    } else {
        Validation::Failed(about_ours.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Clock;
    use crate::plan::FileMode;

    fn write(path: &str, old: Option<&str>, new: &str) -> Change {
        Change::Write {
            path: path.into(),
            old: old.map(|o| o.as_bytes().to_vec()),
            new: new.as_bytes().to_vec(),
            mode: FileMode::CONFIG,
            secret: false,
            why: "test".into(),
        }
    }

    fn setup() -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/x")).unwrap();
        std::fs::write(dir.path().join("etc/x/a"), "old a\n").unwrap();
        let host = Host::new(
            dir.path(),
            std::time::Duration::from_secs(3),
            Clock::Fixed(1_800_000_000),
        );
        (dir, host)
    }

    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for e in walk(dir) {
            let bytes = std::fs::read(&e).unwrap_or_default();
            out.push((e.display().to_string(), bytes));
        }
        out.sort();
        out
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = vec![dir.to_path_buf()];
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                    out.extend(walk(&p));
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn a_file_edited_after_the_plan_stops_apply_before_anything_is_written() {
        let (dir, host) = setup();
        let plan = Plan {
            changes: vec![
                write("/etc/x/b", None, "new b\n"),
                write("/etc/x/a", Some("old a\n"), "new a\n"),
            ],
            ..Default::default()
        };
        std::fs::write(dir.path().join("etc/x/a"), "edited by the admin\n").unwrap();
        let before = snapshot(dir.path());
        let e = write_plan(&host, &plan, "", false, &|| false).unwrap_err();
        assert_eq!(e, WriteFailure::Stale(vec!["/etc/x/a".into()]));
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(
            snapshot(dir.path()),
            before,
            "nothing written, no journal either"
        );
        // --force replaces it.
        assert!(write_plan(&host, &plan, "", true, &|| false).is_ok());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/x/a")).unwrap(),
            "new a\n"
        );
    }

    #[test]
    fn a_planted_link_or_a_file_where_a_directory_goes_is_refused_up_front() {
        let (dir, host) = setup();
        std::os::unix::fs::symlink("/tmp", dir.path().join("etc/link")).unwrap();
        std::fs::write(dir.path().join("etc/notadir"), "x").unwrap();
        let plan = Plan {
            changes: vec![
                write("/etc/x/a", Some("old a\n"), "new a\n"),
                write("/etc/link/c", None, "c\n"),
                write("/etc/notadir/d", None, "d\n"),
            ],
            ..Default::default()
        };
        let before = snapshot(dir.path());
        let e = write_plan(&host, &plan, "", false, &|| false).unwrap_err();
        let WriteFailure::Unwritable(why) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("/etc/link is a symbolic link"), "{why:?}");
        assert!(
            why[1].contains("/etc/notadir is a regular file, not a directory"),
            "{why:?}"
        );
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn a_write_that_fails_midway_puts_back_every_file_written_before_it() {
        let (dir, host) = setup();
        // Passes the checks up front, then fails at its turn: a directory where the file goes.
        std::fs::create_dir_all(dir.path().join("etc/x/dir-not-file/inner")).unwrap();
        let plan = Plan {
            changes: vec![
                write("/etc/x/a", Some("old a\n"), "new a\n"),
                write("/etc/x/new", None, "new\n"),
                write("/etc/x/dir-not-file", None, "x\n"),
            ],
            ..Default::default()
        };
        let e = write_plan(&host, &plan, "", true, &|| false).unwrap_err();
        let WriteFailure::Failed { restore_error, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(restore_error, &None);
        assert!(
            e.to_string()
                .contains("every file written so far was restored"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/x/a")).unwrap(),
            "old a\n"
        );
        assert!(!dir.path().join("etc/x/new").exists());
    }

    #[test]
    fn temp_names_stay_within_name_max_for_the_longest_domain() {
        let (dir, host) = setup();
        let label = |c: &str, n: usize| c.repeat(n);
        let domain = format!(
            "{}.{}.{}.{}.example.com",
            label("a", 63),
            label("b", 63),
            label("c", 63),
            label("d", 50)
        );
        assert!(domain.len() > 200);
        let site = crate::plan::make::site_file_name(&domain);
        assert!(site.len() <= 200, "{site}");
        let path = format!("/etc/x/{site}");
        let plan = Plan {
            changes: vec![write(&path, None, "site\n")],
            ..Default::default()
        };
        write_plan(&host, &plan, "", false, &|| false).unwrap();
        assert!(dir.path().join(format!("etc/x/{site}")).is_file());
        // A name at the limit itself still gets a temp name that fits.
        let long = "d".repeat(255);
        assert!(fs::temp_prefix(&long).len() + 24 <= 255);
    }
}
