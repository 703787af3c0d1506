//! The only code that changes the machine: atomic writes (`fs`), the run journal with
//! backups and rollback (`journal`). Everything it writes was computed by `plan` first.

pub mod fs;
pub mod journal;
pub mod session;

use std::path::Path;

use crate::answers::Answers;
use crate::detect::Facts;
use crate::host::{Cmd, Host};
use crate::plan::make::{Snapshot, self_signed_paths};
use crate::plan::{Change, Plan};

/// Reads, once, the current bytes of every file a plan for these answers may change.
pub fn snapshot(host: &Host, facts: &Facts, answers: &Answers) -> Snapshot {
    let domain = answers.site.domain.as_str();
    let mut paths: Vec<String> = facts
        .nginx
        .servers
        .iter()
        .filter(|s| s.ssl)
        .map(|s| s.file.to_string())
        .collect();
    let site = format!("dpwizard-{domain}.conf");
    paths.push(format!("/etc/nginx/sites-available/{site}"));
    paths.push(format!("/etc/nginx/sites-enabled/{site}"));
    paths.push(format!("/etc/nginx/conf.d/{site}"));
    let (c, k) = self_signed_paths(domain);
    paths.push(c);
    paths.push(k);
    for u in &facts.runtime.units {
        for name in [
            "zz-dpwizard.conf",
            "zzz-dpwizard.conf",
            "zzzz-dpwizard.conf",
        ] {
            paths.push(format!("/etc/systemd/system/{}.d/{name}", u.name));
        }
    }
    paths.push("/etc/systemd/system/drawpile-srv.service".into());
    paths.extend(facts.runtime.compose.files.iter().map(|f| f.path.clone()));
    paths.push("/etc/sysusers.d/drawpile-srv.conf".into());
    for sock in &facts.runtime.sockets {
        paths.push(format!("/etc/systemd/system/{}", sock.name));
        paths.push(format!(
            "/etc/systemd/system/{}.d/zz-dpwizard.conf",
            sock.name
        ));
        for via in &sock.enabled_via {
            paths.push(format!("/etc/systemd/system/{via}/{}", sock.name));
        }
    }
    let mut snap = Snapshot::default();
    // Many server blocks share a file (thousands in one): each file is resolved and read
    // once, or the snapshot grows with servers × file size.
    let server_files: std::collections::BTreeSet<&str> = facts
        .nginx
        .servers
        .iter()
        .filter(|s| s.ssl)
        .map(|s| &*s.file)
        .collect();
    // Server files reached through a symlink are read (and later edited) at their real path.
    for file in server_files {
        if let Ok(real) = host.canonical(file) {
            let real = real.display().to_string();
            if real != file {
                snap.real_paths.insert(file.to_string(), real.clone());
                paths.push(real);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    paths.retain(|p| seen.insert(p.clone()));
    for p in paths {
        if let Ok(Some(e)) = fs::read_existing(host, Path::new(&p)) {
            snap.files.insert(p, e.bytes);
        }
    }
    if host.is_dir("/etc/nginx/sites-available") {
        snap.files
            .insert("/etc/nginx/sites-available/".into(), Vec::new());
    }
    snap
}

/// Writes every change of the plan inside a journalled run; returns the run. `stop` is
/// asked between writes (each write is atomic), so an interrupted run is old-or-new per
/// file and the caller rolls it back.
pub fn write_plan(
    host: &Host,
    plan: &Plan,
    answers_text: &str,
    stop: &dyn Fn() -> bool,
) -> Result<journal::Run, journal::JournalError> {
    let mut run = journal::Run::begin(host, Some(answers_text))?;
    for c in &plan.changes {
        if stop() {
            break;
        }
        match c {
            Change::Write {
                path, new, mode, ..
            } => run.write(Path::new(path), new, *mode)?,
            Change::Symlink { path, target, .. } => run.symlink(Path::new(path), target)?,
            Change::Remove { path, .. } => run.remove(Path::new(path))?,
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
