//! One apply run from a computed plan to the live checks, told as a stream of [`Event`]s.
//! `apply --answers` prints them as lines (ui::progress) and the wizard draws them, so both
//! front ends run exactly the same engine; nothing here knows a terminal exists.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::answers::Answers;
use crate::detect::{self, Facts};
use crate::exit::{self, Exit};
use crate::host::Host;
use crate::plan::make::PlanError;
use crate::plan::{Action, Plan, VerifySpec};

/// What happened, in order. Each event is one fact a front end may show; the CLI's text for
/// each is in `ui::progress`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A later pass planned again (certbot had to run first); shown like the first plan.
    Replanned(Plan),
    /// A validator accepted the written configuration (`warnings`: what it said anyway).
    Validated {
        what: &'static str,
        warnings: Vec<String>,
    },
    ValidatorSkipped {
        what: &'static str,
        why: String,
    },
    /// A validator refused: every file was put back (`restore_error` if that failed too).
    Refused {
        what: &'static str,
        why: String,
        id: String,
        restore_error: Option<String>,
    },
    /// Commands are not run here (`--root`, no systemd): the admin runs them.
    CommandsLeft {
        reason: String,
        commands: Vec<String>,
        then_replan: bool,
    },
    CommandStarted(String),
    CommandDone(String),
    /// Waited for a change to take effect before judging it (a reload's new workers, a
    /// restarted server's listener); `seen` false: the wait ran out.
    Settled {
        what: String,
        waited_ms: u64,
        seen: bool,
    },
    NotInstalled(String),
    CommandFailed {
        command: String,
        why: String,
        /// The last lines of its stderr.
        tail: Vec<String>,
        id: String,
    },
    /// The run is in the journal and can be undone.
    Written {
        id: String,
    },
    /// Stopped on request after the current atomic write; the run was rolled back.
    Cancelled {
        id: Option<String>,
        restore_error: Option<String>,
    },
    Direct {
        passed: bool,
        websocket: String,
        detail: String,
    },
    CannotProbe(String),
    TlsUntrusted(String),
    Proxy {
        passed: bool,
        url: String,
        origin: Option<String>,
        detail: String,
    },
    /// Every check passed: the invite link's shape.
    Joinable {
        domain: String,
        /// This machine does not trust the certificate (self-signed): users must accept it.
        untrusted: bool,
    },
    RecordFailed {
        id: String,
        error: String,
    },
    /// The changes were not applied (nothing written, or everything written put back): why.
    NotApplied(String),
    /// A safety check that did not run (what was not checked, and why).
    NotChecked(String),
    /// The browser client's handshake at one of this machine's own addresses.
    Reachable {
        address: String,
        passed: bool,
        detail: String,
    },
    /// The command that checks from another machine (only that sees a cloud firewall).
    OutsideCheck(String),
    /// A command failed after the files were written: the whole run was rolled back.
    RolledBack(Box<crate::apply::undo::Outcome>),
}

/// Detects, snapshots and plans for these answers: what `plan`, `apply` and the wizard's
/// review screen all show.
pub async fn plan(host: &Host, answers: &Answers) -> Result<(Plan, Facts), PlanError> {
    let facts = detect::detect(host.clone(), detect::Options::default()).await;
    let plan = plan_with(host, &facts, answers)?;
    Ok((plan, facts))
}

/// Plans from facts already gathered (the wizard detects once, at its start).
pub fn plan_with(host: &Host, facts: &Facts, answers: &Answers) -> Result<Plan, PlanError> {
    let snap = crate::apply::snapshot(host, facts, answers);
    crate::plan::make::make(facts, answers, &snap, host.clock().now_unix())
}

/// Applies `plan` (already shown and confirmed), planning again while a pass asks for it,
/// then runs the live checks. Returns the exit code. `cancel` is polled between steps.
pub async fn run(
    host: &Host,
    answers: &Answers,
    text: &str,
    first: (Plan, Facts),
    opts: Options,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Event),
) -> Result<i32, Exit> {
    let force = opts.force;
    let on: &mut dyn FnMut(Event) = &mut crate::apply::runlog::tee(host, on);
    // One apply at a time: another run could change the same files and services under us.
    let _lock = match crate::apply::lock::ApplyLock::acquire(host, "apply") {
        Ok(l) => l,
        Err(e) => {
            on(Event::NotApplied(e.to_string()));
            return Ok(exit::FINDINGS);
        }
    };
    let (mut plan, mut facts) = first;
    let mut pass = 1;
    loop {
        if plan.is_empty() {
            return Ok(exit::OK);
        }
        // certbot cannot succeed when the name does not lead here: say so before any write.
        if let Some(domain) = certbot_domain(&plan) {
            if !host.is_live() {
                on(Event::NotChecked(format!(
                    "whether {domain} resolves to the machine under --root (check it before \
                     running the commands below)"
                )));
            } else if opts.skip_dns_check {
                on(Event::NotChecked(format!(
                    "whether {domain} resolves to this machine (--skip-dns-check)"
                )));
            } else {
                let problems = crate::apply::preflight::certbot(host, &domain, &facts).await;
                if !problems.is_empty() {
                    for p in problems {
                        on(Event::NotApplied(format!(
                            "certbot cannot get a certificate yet: {p}"
                        )));
                    }
                    on(Event::NotApplied(
                        "nothing was changed; or choose a self-signed certificate for now".into(),
                    ));
                    return Ok(exit::FINDINGS);
                }
            }
        }
        match apply_once(host, &plan, &facts, text, force, cancel, on).await? {
            Err(code) => return Ok(code),
            Ok(_) if plan.then_replan && pass < 3 => {
                pass += 1;
                (plan, facts) = self::plan(host, answers)
                    .await
                    .map_err(|e| Exit::Usage(anyhow::anyhow!("{e}")))?;
                if !plan.is_empty() {
                    on(Event::Replanned(plan.clone()));
                }
            }
            Ok(id) => {
                let passed = match &plan.verify {
                    Some(v) => {
                        let (passed, result) = verify_live(v, on).await;
                        if let Err(e) = crate::apply::journal::record_verify(host, &id, result) {
                            on(Event::RecordFailed {
                                id: id.clone(),
                                error: e.to_string(),
                            });
                        }
                        passed
                    }
                    None => true,
                };
                return Ok(if passed { exit::OK } else { exit::FINDINGS });
            }
        }
    }
}

/// The last lines of a failed command's stderr, for a person: a Python traceback (certbot's)
/// is reduced to its final line, and a line said twice is said once.
fn error_tail(stderr: &str) -> Vec<String> {
    let traceback = stderr.lines().any(|l| l.starts_with("Traceback ("));
    let mut lines: Vec<String> = Vec::new();
    for l in stderr.lines() {
        if l.trim().is_empty()
            || (traceback && (l.starts_with("Traceback (") || l.starts_with(' ')))
            || lines.last().is_some_and(|p| p == l)
        {
            continue;
        }
        lines.push(l.to_string());
    }
    lines.dedup();
    let mut seen = std::collections::BTreeSet::new();
    let mut tail: Vec<String> = lines
        .into_iter()
        .rev()
        .filter(|l| seen.insert(l.clone()))
        .take(8)
        .collect();
    tail.reverse();
    tail
}

/// The files a command changes by itself, which the journal must back up first.
fn files_changed_by(argv: &[String]) -> &'static [&'static str] {
    match argv.first().map(String::as_str) {
        Some("ufw") => &["/etc/ufw/user.rules", "/etc/ufw/user6.rules"],
        Some("firewall-cmd") if argv.iter().any(|a| a == "--permanent") => {
            &["/etc/firewalld/zones/public.xml"]
        }
        _ => &[],
    }
}

/// How an apply run may deviate from the safe default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Write over files that changed since the plan was made.
    pub force: bool,
    /// Run certbot without first checking that the domain resolves to this machine
    /// (split-horizon DNS, NAT).
    pub skip_dns_check: bool,
}

/// The domain a plan runs certbot for, if it does.
fn certbot_domain(plan: &Plan) -> Option<String> {
    let a = plan
        .actions
        .iter()
        .find(|a| a.argv.first().is_some_and(|p| p == "certbot"))?;
    let i = a.argv.iter().position(|x| x == "-d")?;
    a.argv.get(i + 1).cloned()
}

/// A step failed after files were written (and maybe services restarted): the whole run
/// goes back, files and running state, so nothing is left half done; says what it did.
async fn undo_run(host: &Host, id: &str, on: &mut dyn FnMut(Event)) {
    match crate::apply::undo::rollback(host, Some(id), false, false, true).await {
        Ok(outcome) => on(Event::RolledBack(Box::new(outcome))),
        Err(e) => on(Event::NotApplied(format!(
            "rolling the run back failed too: {e}; run `dpwizard rollback {id} --force`"
        ))),
    }
}

/// Rolls back a run stopped on request, and says so.
fn cancelled(host: &Host, id: Option<String>, on: &mut dyn FnMut(Event)) -> Result<String, i32> {
    let restore_error = id.as_deref().and_then(|id| {
        crate::apply::journal::rollback(host, Some(id), true)
            .err()
            .map(|e| e.to_string())
    });
    on(Event::Cancelled { id, restore_error });
    Err(exit::FINDINGS)
}

/// The plan's own checks (nginx in its Compose container: `docker compose exec -T nginx
/// nginx -t`), in order, the first refusal deciding. They reach a running container, so
/// only on the machine itself: under another root they are listed, not run.
pub(crate) async fn validate_in_containers(
    host: &Host,
    commands: &[Action],
) -> crate::apply::Validation {
    use crate::apply::Validation;
    if !host.is_live() {
        return Validation::Skipped(format!(
            "--root is not /: run `{}` on the machine",
            commands
                .first()
                .map(|a| crate::ui::shell::join(&a.argv))
                .unwrap_or_default()
        ));
    }
    let mut said = String::new();
    for a in commands {
        let Some(prog) = host.which(&a.argv[0]) else {
            return Validation::Skipped(format!("{} is not installed", a.argv[0]));
        };
        let cmd = host
            .command(prog)
            .args(a.argv[1..].iter())
            .timeout(std::time::Duration::from_secs(120));
        match Validation::from(&host.run(cmd).await) {
            Validation::Passed(s) => said.push_str(&s),
            other => return other,
        }
    }
    Validation::Passed(said)
}

/// A reload of a unit that is not running fails ("not active, cannot reload"). The plan
/// chose reload from the listeners it saw, which another program on the port can mislead;
/// the unit's own state just before the command is what counts: it is started with the new
/// configuration instead (and rollback, seeing it was not running, stops it again).
fn start_instead_of_reload(a: &Action, not_running: &[String]) -> Action {
    match a.argv.as_slice() {
        [p, verb, unit] if p == "systemctl" && verb == "reload" && not_running.contains(unit) => {
            Action {
                argv: vec![p.clone(), "start".into(), unit.clone()],
                why: format!("{unit} is not running: it starts with the new configuration"),
            }
        }
        _ => a.clone(),
    }
}

/// Writes, validates and runs one plan. `Err(code)` ends apply there (failure, commands
/// left to the admin, or cancelled); `Ok(run id)` means everything ran.
pub async fn apply_once(
    host: &Host,
    plan: &Plan,
    facts: &Facts,
    text: &str,
    force: bool,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Event),
) -> Result<Result<String, i32>, Exit> {
    let stop = || cancel.load(Ordering::SeqCst);
    let mut run = match crate::apply::write_plan(host, plan, text, force, &stop) {
        Ok(run) => run,
        Err(e) => {
            on(Event::NotApplied(e.to_string()));
            return Ok(Err(exit::FINDINGS));
        }
    };
    let id = run.id().to_string();
    if stop() {
        return Ok(cancelled(host, Some(id), on));
    }
    // Validators run before any reload; if one refuses, every file goes back as it was.
    // A plan that only runs commands (packages installed first) has nothing to validate yet.
    let mut checks = if plan.changes.is_empty() {
        Vec::new()
    } else {
        vec![(
            "systemd-analyze verify",
            crate::apply::validate_units(host, plan).await,
        )]
    };
    // Each web server whose configuration the plan changes is validated by its own tool.
    for kind in &plan.check {
        let v = crate::apply::validate(host, *kind, &plan.validate).await;
        checks.push((kind.validator(), v));
    }
    for (what, v) in checks {
        match v {
            crate::apply::Validation::Failed(why) => {
                let restore_error = crate::apply::journal::rollback(host, Some(&id), true)
                    .err()
                    .map(|e| e.to_string());
                on(Event::Refused {
                    what,
                    why,
                    id,
                    restore_error,
                });
                return Ok(Err(exit::FINDINGS));
            }
            crate::apply::Validation::Passed(said) => {
                // nginx -t always talks on stderr ("syntax is ok"): only other validators'
                // words are worth passing on. So do apache2ctl ("Syntax OK") and caddy (its log lines).
                let quiet = plan.check.iter().any(|k| k.validator() == what);
                let warnings = if quiet {
                    Vec::new()
                } else {
                    said.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(String::from)
                        .collect()
                };
                on(Event::Validated { what, warnings })
            }
            crate::apply::Validation::Skipped(why) => on(Event::ValidatorSkipped { what, why }),
        }
    }
    if stop() {
        return Ok(cancelled(host, Some(id), on));
    }
    let can_run = host.is_live() && facts.os.systemd_running;
    if !can_run {
        // Recorded as not run: rollback then lists the commands that undo them.
        for a in &plan.actions {
            run.command_started(&a.argv)
                .map_err(|e| Exit::Internal(anyhow::anyhow!("writing the journal: {e}")))?;
        }
        on(Event::CommandsLeft {
            reason: if host.is_live() {
                "systemd is not running"
            } else {
                "--root is not /"
            }
            .into(),
            commands: plan
                .actions
                .iter()
                .map(|a| crate::ui::shell::join(&a.argv))
                .collect(),
            then_replan: plan.then_replan,
        });
        on(Event::Written { id });
        return Ok(Err(exit::OK));
    }
    // The state of every unit the commands touch, so rollback can bring each back to it.
    let mut before = std::collections::BTreeMap::new();
    for a in &plan.actions {
        if let [p, verb, unit] = a.argv.as_slice()
            && p == "systemctl"
            && verb != "daemon-reload"
            && !before.contains_key(unit)
        {
            before.insert(
                unit.clone(),
                crate::apply::undo::unit_state(host, unit).await,
            );
        }
    }
    let not_running: Vec<String> = before
        .iter()
        .filter(|(_, b)| matches!(b.active.as_str(), "inactive" | "failed"))
        .map(|(u, _)| u.clone())
        .collect();
    run.record_units_before(before)
        .map_err(|e| Exit::Internal(anyhow::anyhow!("writing the journal: {e}")))?;
    for a in &plan.actions {
        if stop() {
            return Ok(cancelled(host, Some(id), on));
        }
        let a = &start_instead_of_reload(a, &not_running);
        let command = crate::ui::shell::join(&a.argv);
        let Some(prog) = host.which(&a.argv[0]) else {
            on(Event::NotInstalled(a.argv[0].clone()));
            undo_run(host, &id, on).await;
            return Ok(Err(exit::FINDINGS));
        };
        on(Event::CommandStarted(command.clone()));
        let mut cmd =
            host.command(prog)
                .args(a.argv[1..].iter())
                .timeout(std::time::Duration::from_secs(match a.argv[0].as_str() {
                    "certbot" => 180,
                    "apt-get" => 900,
                    _ => 60,
                }));
        if a.argv[0] == "apt-get" {
            // No questions (a conffile prompt would wait for ever); no services started by
            // policy-rc.d decide here either way.
            cmd = cmd.env("DEBIAN_FRONTEND", "noninteractive");
        }
        // A private ACME server's CA (tests, internal PKI) reaches certbot this way.
        for k in [
            "REQUESTS_CA_BUNDLE",
            "SSL_CERT_FILE",
            "HTTPS_PROXY",
            "https_proxy",
        ] {
            if let Some(v) = std::env::var_os(k) {
                cmd = cmd.env(k, v);
            }
        }
        run.command_started(&a.argv)
            .map_err(|e| Exit::Internal(anyhow::anyhow!("writing the journal: {e}")))?;
        // Files the command changes itself (ufw's rules) are backed up, so rollback
        // restores them too.
        let mut owned = Vec::new();
        for f in files_changed_by(&a.argv) {
            let n = run
                .before_command_writes(std::path::Path::new(f))
                .map_err(|e| Exit::Internal(anyhow::anyhow!("writing the journal: {e}")))?;
            owned.push(n);
        }
        let waits = match a.argv.as_slice() {
            [p, v, unit] if p == "systemctl" && (v == "reload" || v == "start") => {
                crate::proxy::Kind::of_unit(unit).is_some_and(|k| k.waits_for_new_workers())
            }
            _ => false,
        };
        let before = waits.then(crate::apply::settle::NginxProcs::read);
        let out = host.run(cmd).await;
        if let (Some(before), true) = (&before, out.success()) {
            let (waited, seen) = crate::apply::settle::wait_for_nginx_reload(
                before,
                std::time::Duration::from_secs(15),
            )
            .await;
            on(Event::Settled {
                what: "nginx's new workers".into(),
                waited_ms: waited.as_millis() as u64,
                seen,
            });
        }
        for n in owned {
            run.command_wrote(n)
                .map_err(|e| Exit::Internal(anyhow::anyhow!("writing the journal: {e}")))?;
        }
        if !out.success() {
            let mut tail = error_tail(&out.stderr_str());
            // A service that did not start says why in its journal, not on systemctl's stderr.
            if let [p, verb, unit] = a.argv.as_slice()
                && p == "systemctl"
                && matches!(verb.as_str(), "restart" | "start")
                && let Some(jc) = host.which("journalctl")
            {
                let log = host
                    .run(host.command(jc).args([
                        "-u",
                        unit,
                        "-n",
                        "6",
                        "--no-pager",
                        "-q",
                        "-o",
                        "cat",
                    ]))
                    .await;
                let lines: Vec<String> = log.stdout_str().lines().map(String::from).collect();
                if !lines.is_empty() {
                    tail.push(format!("{unit} said:"));
                    tail.extend(lines.into_iter().map(|l| format!("  {l}")));
                }
            }
            on(Event::CommandFailed {
                command,
                why: out.describe(),
                tail,
                id: id.clone(),
            });
            undo_run(host, &id, on).await;
            return Ok(Err(exit::FINDINGS));
        }
        run.command_done()
            .map_err(|e| Exit::Internal(anyhow::anyhow!("writing the journal: {e}")))?;
        on(Event::CommandDone(command));
    }
    on(Event::Written { id: id.clone() });
    Ok(Ok(id))
}

/// The three handshakes a browser, the desktop app and a foreign site would make, after a
/// direct one to drawpile-srv. Each is judged as users will meet the setup: no client of
/// dpwizard's own is held open to keep a server up. A restarted server and a reloaded proxy
/// need a moment; only what cannot be a moment (a refused connection, 502/504 while the
/// backend comes up) is retried, within a bound, and the wait is reported.
pub async fn verify_live(v: &VerifySpec, on: &mut dyn FnMut(Event)) -> (bool, serde_json::Value) {
    use crate::verify;
    let t = std::time::Duration::from_secs(3);
    let limit = std::time::Duration::from_secs(20);
    let mut ok = true;
    let direct_check: Option<verify::Check> = match v.websocket.parse::<std::net::SocketAddr>() {
        Ok(addr) => {
            let start = std::time::Instant::now();
            let mut direct = verify::check_direct(addr, t).await;
            while !direct.passed && start.elapsed() < limit {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                direct = verify::check_direct(addr, t).await;
            }
            report_wait(
                on,
                "drawpile-srv's WebSocket listener",
                start,
                direct.passed,
            );
            ok &= direct.passed;
            on(Event::Direct {
                passed: direct.passed,
                websocket: v.websocket.clone(),
                detail: direct.detail.clone(),
            });
            Some(direct)
        }
        Err(_) => {
            on(Event::CannotProbe(v.websocket.clone()));
            None
        }
    };
    let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], 443));
    let start = std::time::Instant::now();
    let mut report = verify::check_proxy(&v.domain, proxy, verify::TlsVerify::SystemRoots, t).await;
    let transient = |r: &verify::ProxyReport| transient(r, v.retry_not_found, start.elapsed());
    while transient(&report) && start.elapsed() < limit {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        report = verify::check_proxy(&v.domain, proxy, verify::TlsVerify::SystemRoots, t).await;
    }
    report_wait(on, "the proxy", start, !transient(&report));
    if let Some(tls) = &report.tls
        && let Some(e) = &tls.verify_error
    {
        on(Event::TlsUntrusted(e.clone()));
    }
    for c in &report.checks {
        ok &= c.passed;
        on(Event::Proxy {
            passed: c.passed,
            url: report.url.clone(),
            origin: c.origin.clone(),
            detail: c.detail.clone(),
        });
    }
    // The same handshake at this machine's own addresses: a web server bound to loopback
    // only (or to another address) fails here. From outside, only the admin can check.
    for ip in verify::reachable_addresses() {
        let at = std::net::SocketAddr::new(ip, 443);
        let r = verify::check_proxy(&v.domain, at, verify::TlsVerify::SystemRoots, t).await;
        let official = r
            .checks
            .iter()
            .find(|c| c.origin.as_deref() == Some(verify::OFFICIAL_ORIGIN));
        if let Some(c) = official {
            ok &= c.passed;
            on(Event::Reachable {
                address: at.to_string(),
                passed: c.passed,
                detail: c.detail.clone(),
            });
        }
    }
    on(Event::OutsideCheck(verify::outside_check_command(
        &v.domain,
    )));
    if ok {
        on(Event::Joinable {
            domain: v.domain.clone(),
            untrusted: report
                .tls
                .as_ref()
                .is_some_and(|t| t.verify_error.is_some()),
        });
    }
    let result = serde_json::json!({ "passed": ok, "direct": direct_check, "proxy": report });
    (ok, result)
}

/// Says how long a check waited, when it had to.
/// How long a 404 counts as the old configuration still serving after an Apache or Caddy
/// reload (their graceful reloads return before every worker has the new one).
const NOT_FOUND_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a proxy report may still change by itself: nothing listening yet, the backend
/// coming up (502/504), or — only for Apache/Caddy, within [`NOT_FOUND_SETTLE`] of the
/// first try — a 404 from a worker that still has the old configuration.
fn transient(
    r: &crate::verify::ProxyReport,
    retry_not_found: bool,
    elapsed: std::time::Duration,
) -> bool {
    r.checks.iter().any(|c| {
        c.detail.contains("could not connect")
            || matches!(c.status, Some(502 | 504))
            || (retry_not_found && c.status == Some(404) && elapsed < NOT_FOUND_SETTLE)
    })
}

fn report_wait(on: &mut dyn FnMut(Event), what: &str, start: std::time::Instant, seen: bool) {
    let waited = start.elapsed();
    if waited >= std::time::Duration::from_millis(200) {
        on(Event::Settled {
            what: what.into(),
            waited_ms: waited.as_millis() as u64,
            seen,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_of_a_unit_that_is_not_running_becomes_a_start() {
        let reload = Action {
            argv: vec!["systemctl".into(), "reload".into(), "nginx".into()],
            why: "w".into(),
        };
        let stopped = ["nginx".to_string()];
        assert_eq!(
            start_instead_of_reload(&reload, &stopped).argv,
            ["systemctl", "start", "nginx"]
        );
        // Running, or another unit stopped: the plan's command as it is.
        assert_eq!(start_instead_of_reload(&reload, &[]), reload);
        assert_eq!(
            start_instead_of_reload(&reload, &["apache2".to_string()]),
            reload
        );
        let restart = Action {
            argv: vec!["systemctl".into(), "restart".into(), "nginx".into()],
            why: "w".into(),
        };
        assert_eq!(start_instead_of_reload(&restart, &stopped), restart);
    }

    #[test]
    fn a_404_is_waited_for_only_briefly_and_only_after_an_apache_or_caddy_reload() {
        let report = |status: u16, detail: &str| crate::verify::ProxyReport {
            url: String::new(),
            connect_to: String::new(),
            tls: None,
            checks: vec![crate::verify::Check {
                name: "proxy-official-origin".into(),
                origin: None,
                expect: crate::verify::Expect::Reach,
                passed: false,
                detail: detail.into(),
                status: Some(status),
            }],
        };
        let s = std::time::Duration::from_secs;
        let not_found = report(404, "HTTP 404");
        assert!(transient(&not_found, true, s(1)));
        assert!(!transient(&not_found, true, s(6)), "bounded");
        assert!(
            !transient(&not_found, false, s(1)),
            "nginx: a 404 is the answer"
        );
        assert!(transient(&report(502, "HTTP 502"), false, s(10)));
        assert!(!transient(&report(403, "HTTP 403"), true, s(1)));
    }
    use crate::host::Clock;
    use crate::plan::{Change, FileMode};

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

    /// A root with /etc/a (old) and a plan that changes it and creates /etc/b.
    fn setup() -> (tempfile::TempDir, Host, Plan) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/a"), "old a\n").unwrap();
        let host = Host::new(
            dir.path(),
            std::time::Duration::from_secs(3),
            Clock::Fixed(1_800_000_000),
        );
        let plan = Plan {
            changes: vec![
                write("/etc/a", Some("old a\n"), "new a\n"),
                write("/etc/b", None, "new b\n"),
            ],
            ..Default::default()
        };
        (dir, host, plan)
    }

    #[test]
    fn a_traceback_is_reduced_to_its_message_and_repeats_are_said_once() {
        let certbot = "Saving debug log to /var/log/letsencrypt/letsencrypt.log\n\
            Traceback (most recent call last):\n  File \"/usr/bin/certbot\", line 33, in <module>\n    \
            sys.exit(load_entry_point())\nrequests.exceptions.ConnectionError: HTTPSConnectionPool: Max retries exceeded\n\
            An unexpected error occurred:\nrequests.exceptions.ConnectionError: HTTPSConnectionPool: Max retries exceeded\n";
        assert_eq!(
            error_tail(certbot),
            vec![
                "Saving debug log to /var/log/letsencrypt/letsencrypt.log",
                "An unexpected error occurred:",
                "requests.exceptions.ConnectionError: HTTPSConnectionPool: Max retries exceeded",
            ]
        );
        assert_eq!(error_tail("a\nb\n"), vec!["a", "b"]);
    }

    #[test]
    fn a_stop_between_writes_leaves_whole_files_and_the_rest_unwritten() {
        let (dir, host, plan) = setup();
        let calls = std::cell::Cell::new(0);
        let stop = || {
            calls.set(calls.get() + 1);
            calls.get() > 1
        };
        crate::apply::write_plan(&host, &plan, "", false, &stop).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/a")).unwrap(),
            "new a\n"
        );
        assert!(!dir.path().join("etc/b").exists());
    }

    #[test]
    fn cancelling_rolls_the_run_back_and_says_so() {
        let (dir, host, plan) = setup();
        let cancel = AtomicBool::new(true);
        let mut events = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt
            .block_on(apply_once(
                &host,
                &plan,
                &Facts::default(),
                "",
                false,
                &cancel,
                &mut |e| events.push(e),
            ))
            .unwrap();
        assert_eq!(out, Err(exit::FINDINGS));
        assert!(
            matches!(
                &events[..],
                [Event::Cancelled {
                    id: Some(_),
                    restore_error: None
                }]
            ),
            "{events:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/a")).unwrap(),
            "old a\n"
        );
        assert!(!dir.path().join("etc/b").exists());
    }
}
