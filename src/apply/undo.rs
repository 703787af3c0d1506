//! Rollback of a whole run: the files (journal::rollback, byte for byte), then the running
//! state — the reverse of the commands the run ran, computed from its journal: a daemon-reload
//! when unit files went back, every service the run restarted brought back to the state it
//! had before (restarted on the old configuration, or stopped when the run had started it),
//! a socket it stopped started again, nginx validated and reloaded onto the old files. What
//! the run cannot undo (a certificate obtained, a system user created, an image pulled) is said.

use std::collections::BTreeSet;

use super::journal::{self, JournalError, JournalFile, RollbackReport};
use crate::host::Host;
use crate::plan::Action;

/// What a rollback did, or (under --root, without systemd, `--files-only`) would leave to the admin.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub files: RollbackReport,
    /// The reverse commands, in order.
    pub commands: Vec<Action>,
    /// Why the commands were not run (None: they ran).
    pub commands_left: Option<String>,
    /// Each command that ran: (command, error when it failed).
    pub ran: Vec<(String, Option<String>)>,
    /// After the commands: units whose state is not what it was before the run.
    pub mismatches: Vec<String>,
    /// What a rollback does not undo.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.ran.iter().all(|(_, e)| e.is_none()) && self.mismatches.is_empty()
    }
}

/// `systemctl VERB UNIT` as (verb, unit), for the commands a run records.
fn systemctl(argv: &[String]) -> Option<(&str, &str)> {
    match argv {
        [p, verb, unit] if p == "systemctl" => Some((verb.as_str(), unit.as_str())),
        [p, verb, now, unit] if p == "systemctl" && now == "--now" => {
            Some((verb.as_str(), unit.as_str()))
        }
        _ => None,
    }
}

/// The web servers a run may reload, with the files that are theirs: each is reloaded (or
/// stopped) by the same rule, validated first by the caller.
fn is_front(unit: &str) -> bool {
    crate::proxy::Kind::of_unit(unit).is_some()
}

fn is_unit(unit: &str, name: &str) -> bool {
    unit == name || unit.strip_suffix(".service") == Some(name)
}

/// The commands that bring the running state back to what it was before the run. Pure: from
/// the journal (what ran, the units' states before) and what the file rollback changed.
pub fn reverse_commands(j: &JournalFile, files: &RollbackReport) -> (Vec<Action>, Vec<String>) {
    let changed: Vec<&str> = files
        .restored
        .iter()
        .chain(files.removed.iter())
        .map(String::as_str)
        .collect();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let act = |argv: &[&str], why: &str| Action {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        why: why.to_string(),
    };
    let was_active = |unit: &str| j.units_before.get(unit).map(|b| b.active == "active");
    // The units the run's commands acted on, in the order it first touched them.
    let mut touched: Vec<(String, String)> = Vec::new();
    for c in &j.commands {
        if let Some((verb, unit)) = systemctl(&c.argv)
            && verb != "daemon-reload"
            && !touched.iter().any(|(_, u)| u == unit)
        {
            touched.push((verb.to_string(), unit.to_string()));
        }
    }
    // 1. Services the run started that were not running before: stopped again.
    for (verb, unit) in &touched {
        let started = matches!(verb.as_str(), "restart" | "start" | "enable");
        if started
            && !is_front(unit)
            && !unit.ends_with(".socket")
            && was_active(unit) == Some(false)
        {
            out.push(act(
                &["systemctl", "stop", unit],
                "it was not running before the run",
            ));
        }
    }
    // 2. systemd reads the unit files as they were.
    if changed.iter().any(|p| p.starts_with("/etc/systemd/")) {
        out.push(act(
            &["systemctl", "daemon-reload"],
            "systemd reads the restored unit files",
        ));
    }
    // 3. Sockets the run stopped, started again (before their service takes them).
    for (verb, unit) in &touched {
        if verb == "stop" && unit.ends_with(".socket") && was_active(unit) != Some(false) {
            out.push(act(
                &["systemctl", "start", unit],
                "the socket was listening before the run",
            ));
        }
    }
    // 4. Services that ran before: restarted on the old configuration.
    for (verb, unit) in &touched {
        let restarted = matches!(verb.as_str(), "restart" | "start" | "enable");
        if restarted
            && !is_front(unit)
            && !unit.ends_with(".socket")
            && was_active(unit) != Some(false)
        {
            out.push(act(
                &["systemctl", "restart", unit],
                "it runs with its configuration from before the run",
            ));
        }
    }
    // 5. A Compose service the run re-created: re-created again from the restored file.
    for c in &j.commands {
        let is_up = c.argv.iter().any(|a| a == "up") && c.argv.iter().any(|a| a == "-d");
        let compose = c
            .argv
            .iter()
            .any(|a| a == "compose" || a.ends_with("docker-compose"));
        if is_up && compose {
            out.push(Action {
                argv: c.argv.clone(),
                why: "re-creates the service from the restored compose file".into(),
            });
        }
    }
    // 6. Firewall rules restored from the backup are loaded again.
    if changed.iter().any(|p| p.starts_with("/etc/ufw/")) {
        out.push(act(&["ufw", "reload"], "ufw loads the restored rules"));
    }
    if changed.contains(&crate::plan::firewall::NFTABLES_CONF) {
        out.push(act(
            &["nft", "-f", crate::plan::firewall::NFTABLES_CONF],
            "nftables loads the restored rules",
        ));
    }
    if changed.iter().any(|p| p.starts_with("/etc/firewalld/")) {
        out.push(act(
            &["firewall-cmd", "--reload"],
            "firewalld loads the restored rules",
        ));
    }
    // 7. The web server serves the old files (validated first by the caller).
    for kind in crate::proxy::Kind::ON_HOST {
        let (Some(front), dirs) = (kind.unit(), kind.config_dirs()) else {
            continue;
        };
        let front_files = changed
            .iter()
            .any(|p| dirs.iter().any(|d| p.starts_with(d)));
        let front_touched = touched.iter().any(|(_, u)| is_unit(u, front));
        if front_touched && was_active(front) == Some(false) {
            // The run started it: it goes back to not running.
            out.push(act(
                &["systemctl", "stop", front],
                &format!("{front} was not running before the run"),
            ));
        } else if front_files && (front_touched || was_active(front) == Some(true)) {
            out.push(act(
                &["systemctl", "reload", front],
                &format!("{front} serves the restored configuration"),
            ));
        }
    }
    let ran: BTreeSet<&str> = j
        .commands
        .iter()
        .filter_map(|c| c.argv.first())
        .map(String::as_str)
        .collect();
    if ran.contains("certbot") {
        notes.push(
            "the certificate certbot obtained stays in /etc/letsencrypt (`certbot delete` \
             removes it)"
                .into(),
        );
    }
    if ran.contains("systemd-sysusers") {
        notes.push("the system user the run created stays (it owns no files)".into());
    }
    if j.commands
        .iter()
        .any(|c| c.argv.get(1).is_some_and(|v| v == "pull"))
    {
        notes.push("the image the run pulled stays (`docker image rm` removes it)".into());
    }
    (out, notes)
}

/// Rolls a run back: files first, then (on a live machine with systemd, unless `files_only`)
/// the reverse commands, nginx validated before its reload, and the units' states compared
/// with the journal's record afterwards.
pub async fn rollback(
    host: &Host,
    id: Option<&str>,
    force: bool,
    files_only: bool,
    systemd_running: bool,
) -> Result<Outcome, JournalError> {
    let id = match id {
        Some(i) => i.to_string(),
        None => journal::list_runs(host).pop().ok_or(JournalError::NoRuns)?,
    };
    let j = journal::load(host, &id)?;
    let files = journal::rollback(host, Some(&id), force)?;
    let mut out = Outcome {
        files,
        ..Default::default()
    };
    if out.files.already_rolled_back {
        return Ok(out);
    }
    (out.commands, out.notes) = reverse_commands(&j, &out.files);
    if out.commands.is_empty() {
        return Ok(out);
    }
    out.commands_left = if files_only {
        Some("--files-only".into())
    } else if !host.is_live() {
        Some("--root is not /".into())
    } else if !systemd_running {
        Some("systemd is not running".into())
    } else {
        None
    };
    if out.commands_left.is_some() {
        return Ok(out);
    }
    for a in out.commands.clone() {
        let command = a.argv.join(" ");
        let reloads = match a.argv.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["systemctl", "reload", unit] => crate::proxy::Kind::of_unit(unit),
            _ => None,
        };
        let validation = match reloads {
            Some(kind) => Some((kind.validator(), super::validate(host, kind, &[]).await)),
            None => None,
        };
        if let Some((what, super::Validation::Failed(why))) = validation {
            out.ran.push((
                command,
                Some(format!(
                    "not reloaded: {what} refuses the restored files: {why}"
                )),
            ));
            continue;
        }
        let Some(prog) = host.which(&a.argv[0]) else {
            out.ran
                .push((command, Some(format!("{} is not installed", a.argv[0]))));
            continue;
        };
        let before = reloads
            .is_some_and(|k| k.waits_for_new_workers())
            .then(super::settle::NginxProcs::read);
        let r = host
            .run(
                host.command(prog)
                    .args(a.argv[1..].iter())
                    .timeout(std::time::Duration::from_secs(90)),
            )
            .await;
        if let (Some(before), true) = (&before, r.success()) {
            super::settle::wait_for_nginx_reload(before, std::time::Duration::from_secs(15)).await;
        }
        out.ran
            .push((command, (!r.success()).then(|| r.describe())));
    }
    // Verified: each unit is back in the state the journal recorded.
    for (unit, before) in &j.units_before {
        let now = unit_state(host, unit).await;
        if now.active != before.active && !(before.active != "active" && now.active != "active") {
            out.mismatches.push(format!(
                "{unit} is {} (it was {} before the run)",
                now.active, before.active
            ));
        }
    }
    Ok(out)
}

/// `systemctl is-active` and `is-enabled` of a unit ("unknown" when systemctl cannot say).
pub async fn unit_state(host: &Host, unit: &str) -> journal::UnitBefore {
    let Some(systemctl) = host.which("systemctl") else {
        return journal::UnitBefore {
            active: "unknown".into(),
            enabled: "unknown".into(),
        };
    };
    let ask = |verb: &'static str| host.run(host.command(systemctl.clone()).args([verb, unit]));
    let (a, e) = tokio::join!(ask("is-active"), ask("is-enabled"));
    let word = |o: crate::host::CmdOutput| {
        let w = o.stdout_str().trim().to_string();
        if w.is_empty() { "unknown".into() } else { w }
    };
    journal::UnitBefore {
        active: word(a),
        enabled: word(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::journal::{RanCommand, UnitBefore};

    fn journal(commands: &[&[&str]], before: &[(&str, &str)]) -> JournalFile {
        JournalFile {
            id: "r".into(),
            started: 0,
            dpwizard_version: "t".into(),
            entries: vec![],
            rolled_back: false,
            verify: None,
            units_before: before
                .iter()
                .map(|(u, a)| {
                    (
                        u.to_string(),
                        UnitBefore {
                            active: a.to_string(),
                            enabled: "enabled".into(),
                        },
                    )
                })
                .collect(),
            commands: commands
                .iter()
                .map(|c| RanCommand {
                    argv: c.iter().map(|s| s.to_string()).collect(),
                    ok: true,
                })
                .collect(),
        }
    }

    fn files(paths: &[&str]) -> RollbackReport {
        RollbackReport {
            restored: paths.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn argvs(a: &[Action]) -> Vec<String> {
        a.iter().map(|a| a.argv.join(" ")).collect()
    }

    #[test]
    fn a_drop_in_and_location_run_is_undone_with_reload_restart_and_nginx_reload() {
        let j = journal(
            &[
                &["systemctl", "daemon-reload"],
                &["systemctl", "restart", "drawpile-srv.service"],
                &["systemctl", "reload", "nginx"],
            ],
            &[("drawpile-srv.service", "active"), ("nginx", "active")],
        );
        let (c, notes) = reverse_commands(
            &j,
            &files(&[
                "/etc/nginx/sites-available/paint",
                "/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf",
            ]),
        );
        assert_eq!(
            argvs(&c),
            [
                "systemctl daemon-reload",
                "systemctl restart drawpile-srv.service",
                "systemctl reload nginx"
            ]
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn apache_and_caddy_runs_are_undone_with_their_own_reload_and_never_a_restart() {
        // Apache: the vhost restored and the module links removed.
        let j = journal(
            &[
                &["systemctl", "restart", "drawpile-srv.service"],
                &["systemctl", "reload", "apache2"],
            ],
            &[("drawpile-srv.service", "active"), ("apache2", "active")],
        );
        let mut report = files(&["/etc/apache2/sites-available/draw-le-ssl.conf"]);
        report
            .removed
            .push("/etc/apache2/mods-enabled/proxy.load".into());
        let (c, _) = reverse_commands(&j, &report);
        assert_eq!(
            argvs(&c),
            [
                "systemctl restart drawpile-srv.service",
                "systemctl reload apache2"
            ]
        );
        // Only the module links went back (the vhost was already as wanted): still a reload.
        let mut links = RollbackReport::default();
        links
            .removed
            .push("/etc/apache2/mods-enabled/headers.load".into());
        let (c, _) = reverse_commands(&j, &links);
        assert!(argvs(&c).contains(&"systemctl reload apache2".to_string()));
        // Caddy: its Caddyfile restored; a Caddy the run started is stopped again.
        let j = journal(&[&["systemctl", "reload", "caddy"]], &[("caddy", "active")]);
        let (c, _) = reverse_commands(&j, &files(&["/etc/caddy/Caddyfile"]));
        assert_eq!(argvs(&c), ["systemctl reload caddy"]);
        let j = journal(
            &[&["systemctl", "start", "apache2"]],
            &[("apache2", "inactive")],
        );
        let (c, _) = reverse_commands(&j, &files(&["/etc/apache2/sites-available/x.conf"]));
        assert_eq!(argvs(&c), ["systemctl stop apache2"]);
        // An nginx run reloads nginx only.
        let j = journal(&[&["systemctl", "reload", "nginx"]], &[("nginx", "active")]);
        let (c, _) = reverse_commands(&j, &files(&["/etc/nginx/conf.d/x.conf"]));
        assert_eq!(argvs(&c), ["systemctl reload nginx"]);
    }

    #[test]
    fn a_socket_migration_is_undone_socket_first_and_a_started_service_is_stopped() {
        // 2.2.x under its socket: the run stopped the socket and restarted the service.
        let j = journal(
            &[
                &["systemctl", "stop", "drawpile-srv.socket"],
                &["systemctl", "daemon-reload"],
                &["systemctl", "restart", "drawpile-srv.service"],
            ],
            &[
                ("drawpile-srv.socket", "active"),
                ("drawpile-srv.service", "active"),
            ],
        );
        let (c, _) = reverse_commands(&j, &files(&["/etc/systemd/system/drawpile-srv.socket"]));
        assert_eq!(
            argvs(&c),
            [
                "systemctl daemon-reload",
                "systemctl start drawpile-srv.socket",
                "systemctl restart drawpile-srv.service"
            ]
        );
        // A new service the run created and started: stopped, not restarted.
        let j = journal(
            &[
                &["systemd-sysusers"],
                &["systemctl", "daemon-reload"],
                &["systemctl", "restart", "drawpile-srv.service"],
            ],
            &[("drawpile-srv.service", "inactive")],
        );
        let (c, notes) =
            reverse_commands(&j, &files(&["/etc/systemd/system/drawpile-srv.service"]));
        assert_eq!(
            argvs(&c),
            [
                "systemctl stop drawpile-srv.service",
                "systemctl daemon-reload"
            ]
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn nothing_to_undo_when_no_file_went_back_and_nothing_ran() {
        let (c, _) = reverse_commands(&journal(&[], &[]), &RollbackReport::default());
        assert!(c.is_empty());
        // nginx files went back but nginx was not running and the run never reloaded it.
        let j = journal(&[], &[("nginx", "inactive")]);
        let (c, _) = reverse_commands(&j, &files(&["/etc/nginx/conf.d/x.conf"]));
        assert!(c.is_empty(), "{c:?}");
        // nginx was stopped and the run started it: stopped again, not reloaded.
        let j = journal(
            &[&["systemctl", "start", "nginx"]],
            &[("nginx", "inactive")],
        );
        let (c, _) = reverse_commands(&j, &files(&["/etc/nginx/conf.d/x.conf"]));
        assert_eq!(argvs(&c), ["systemctl stop nginx"]);
    }
}
