//! Plans for a Compose project whose web server in front is nginx in a container of the same
//! project (drawpile/dpserver's layout): the route goes into the site file nginx reads
//! through its bind mount (on the host, between dpwizard markers, every other byte kept),
//! upstream `http://<drawpile service>:<container port>` over the compose network (inside a
//! container 127.0.0.1 is the container itself); drawpile-srv's `command:` changes go into
//! the override file the project's README reserves for customisations (compose_override,
//! shared with a web server on the host), never into its own docker-compose.yaml; the
//! WebSocket port is not published on the host (only the nginx
//! container reaches it). Nothing is installed on the host and no host certbot runs: the
//! container manages its own certificate. Pure, like the rest of the planner.

use super::compose_override::Publish;
use super::decide::DEFAULT_WEBSOCKET_PORT;
use super::make::{PlanError, Snapshot};
use super::nginx::{LocationSpec, REVERTIBLE_SWITCHES};
use super::nginx_site::HAND_WRITTEN;
use super::nginx_site::{edit_server_block, replace_hand_written_location};
use super::{Action, Change, FileMode, Plan, VerifySpec};
use crate::answers::{Answers, SiteFile, TlsMode};
use crate::detect::Facts;
use crate::detect::docker::{ComposeFile, ComposeService};
use crate::detect::nginx::{NginxContainer, NginxServer};

/// The drawpile service to change and how Compose is run here.
pub struct Target<'a> {
    pub file: &'a ComposeFile,
    pub service: &'a ComposeService,
    /// `docker compose` or `docker-compose`, whichever detection found.
    pub tool: Vec<String>,
}

/// The nginx container of the same project that serves `domain` on 443, and its TLS server
/// (one definition of "serves the domain": the audit's). None when nginx on the host serves
/// it, when the answers name a site file that is not the container's, or when the container
/// shares the host's network (then it proxies like host nginx, through published ports).
pub fn front<'a>(
    facts: &'a Facts,
    answers: &Answers,
    target: &Target,
) -> Option<(&'a NginxContainer, &'a NginxServer)> {
    let (c, server) = container_in_front(facts, Some(answers.site.domain.as_str()), target.file)?;
    if let Some(SiteFile::Path(p)) = &answers.proxy.site_file
        && p.as_str() != &*server.file
    {
        return None;
    }
    Some((c, server))
}

/// The nginx container of `project` that serves `domain` (the audit's domain when None) on
/// 443, reaching drawpile-srv over the compose network, and its TLS server. The one test of
/// "a container is the web server in front" for plan and wizard.
pub fn container_in_front<'a>(
    facts: &'a Facts,
    domain: Option<&str>,
    project: &ComposeFile,
) -> Option<(&'a NginxContainer, &'a NginxServer)> {
    let site = crate::audit::setup::read(facts, domain).site?;
    let c = site.container?;
    let same_project = c.project_dir.trim_end_matches('/')
        == project.project_dir.trim_end_matches('/')
        || c.project_name == project.project_name;
    (same_project && c.network_mode.as_deref() != Some("host")).then_some((c, site.server))
}

/// `<tool> --project-directory DIR -f FILE… ` followed by `rest`: every file Compose reads
/// for the project, so the override is never left out (`-f` alone replaces the defaults).
pub fn compose_argv(target: &Target, files: &[String], rest: &[&str]) -> Vec<String> {
    let mut argv = target.tool.clone();
    argv.extend([
        "--project-directory".to_string(),
        target.file.project_dir.clone(),
    ]);
    for f in files {
        argv.extend(["-f".to_string(), f.clone()]);
    }
    argv.extend(rest.iter().map(|s| s.to_string()));
    argv
}

/// Explicit answers this path cannot honour are refused; a TCP or web admin port that is the
/// one the service already has (as `answers --from-machine` exports it) asks for nothing.
pub fn refuse_answers(answers: &Answers, svc: &ComposeService) -> Result<(), PlanError> {
    let d = &answers.drawpile;
    let differs = |given: Option<u16>, current: Option<&str>, default: Option<u16>| {
        given.is_some_and(|g| Some(g) != current.and_then(|c| c.parse().ok()).or(default))
    };
    let refused = [
        ("drawpile.binary", d.binary.is_some()),
        ("drawpile.user", d.user.is_some()),
        (
            "drawpile.tcp_port",
            differs(
                d.tcp_port.map(|p| p.get()),
                svc.options.port.as_deref(),
                Some(super::decide::DEFAULT_TCP_PORT),
            ),
        ),
        (
            "drawpile.web_admin_port",
            differs(
                d.web_admin_port.map(|p| p.get()),
                svc.options.web_admin_port.as_deref(),
                None,
            ),
        ),
    ];
    match refused.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(PlanError::Answer {
            key,
            message: format!(
                "cannot be honoured here: dpwizard changes only the WebSocket port of compose \
                 service {} (edit its command: for the rest); remove it from the answers",
                svc.name
            ),
        }),
        None => Ok(()),
    }
}

/// The plan for drawpile-srv in `target` behind the nginx container `front`.
pub fn make(
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
    target: &Target,
    (front, server): (&NginxContainer, &NginxServer),
) -> Result<Plan, PlanError> {
    let svc = target.service;
    if answers.drawpile.websocket_listen.is_some() {
        return Err(PlanError::Answer {
            key: "drawpile.websocket_listen",
            message: format!(
                "cannot be honoured here: the proxy is compose service {}, which reaches \
                 drawpile-srv over the compose network (inside its container drawpile-srv \
                 listens on all of the container's interfaces); remove it from the answers",
                front.service
            ),
        });
    }
    if let Some(mode @ (TlsMode::Certbot | TlsMode::SelfSigned)) = answers.tls.mode {
        return Err(PlanError::Answer {
            key: "tls.mode",
            message: format!(
                "cannot be honoured here: nginx in compose service {} serves the site with its \
                 own certificate (dpserver obtains and renews it with certbot inside that \
                 container), so dpwizard makes no {} certificate on the host; remove it from \
                 the answers",
                front.service,
                mode.key()
            ),
        });
    }
    let ws_port = answers
        .drawpile
        .websocket_port
        .map(|p| p.get())
        .or_else(|| svc.options.websocket_port_number().filter(|p| *p != 0))
        .unwrap_or(DEFAULT_WEBSOCKET_PORT);
    if ws_port < 1024 {
        return Err(PlanError::Answer {
            key: "drawpile.websocket_port",
            message: format!(
                "port {ws_port} is privileged: drawpile-srv runs unprivileged in its container; \
                 use a port above 1023 (drawpile's usual one is {DEFAULT_WEBSOCKET_PORT})"
            ),
        });
    }
    let mut plan = Plan::default();

    // 1. drawpile-srv's command and ports, in the override file.
    let over = super::compose_override::edit(
        snap,
        target,
        ws_port,
        Publish::Nowhere,
        "the nginx container",
    )?;
    plan.notes.extend(over.notes);
    let compose_changed = over.change.is_some();
    plan.changes.extend(over.change);

    // 2. The route, in the site file nginx reads through its bind mount.
    let spec = LocationSpec {
        upstream_host: svc.name.clone(),
        upstream_port: ws_port,
        extra_origins: answers
            .proxy
            .extra_origins
            .iter()
            .map(|o| o.to_string())
            .collect(),
        revert_switches: server
            .proxy_directives
            .iter()
            .filter(|x| {
                REVERTIBLE_SWITCHES.contains(&x.name.as_str())
                    && x.args.first().is_some_and(|a| a == "off")
            })
            .map(|x| x.name.clone())
            .collect(),
    };
    let site = super::compose_override::real(snap, &server.file).to_string();
    let old = snap
        .get(&site)
        .ok_or_else(|| PlanError::Missing(format!("{site} could not be read")))?;
    let text = String::from_utf8_lossy(old);
    let new = match edit_server_block(&text, server.line, &spec) {
        Ok(new) => new,
        Err(e) if e.starts_with(HAND_WRITTEN) => {
            // Judged as the audit judges it, with the container's own http-level settings.
            let problems = super::nginx_site::hand_written_problems(
                crate::proxy::Kind::ContainerNginx,
                &front.config.http_proxy_directives,
                server,
                &spec,
                answers.site.domain.as_str(),
            );
            if problems.is_empty() {
                text.to_string()
            } else {
                plan.notes.push(format!(
                    "{site}: the location /drawpile-web/ws written by hand is replaced by the \
                     documented one (see the diff), because: {}",
                    problems.join("; ")
                ));
                replace_hand_written_location(&text, server.line, &spec)
                    .map_err(|e| PlanError::Conflict(format!("{site}: {e}")))?
            }
        }
        Err(e) => return Err(PlanError::Conflict(format!("{site}: {e}"))),
    };
    let site_changed = new.as_bytes() != old;
    if site_changed {
        plan.changes.push(Change::Write {
            path: site.clone(),
            old: Some(old.to_vec()),
            new: new.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "location /drawpile-web/ws in the TLS server (line {}) nginx of compose service \
                 {} reads through its bind mount, proxying to {}:{ws_port} over the compose \
                 network; between dpwizard markers, every other byte stays",
                server.line, front.service, svc.name
            ),
        });
    }
    if plan.changes.is_empty() {
        return Ok(plan);
    }

    // 3. Commands: the changed service re-created, nginx's configuration checked in its
    // container before anything runs, then reloaded (also after a re-creation: nginx looks
    // the upstream's name up when it loads, and a new container may have a new address).
    let files = over.files;
    // Without a daemon to ask (another root, no permission), it is taken to be running, as
    // the project is meant to be; a daemon that lists it stopped decides otherwise.
    let running = facts.runtime.docker.daemon_reachable != Some(true)
        || facts.runtime.docker.containers.iter().any(|c| {
            c.state == "running"
                && c.compose_service.as_deref() == Some(front.service.as_str())
                && c.compose_project.as_deref() == Some(front.project_name.as_str())
        });
    plan.check.push(crate::proxy::Kind::ContainerNginx);
    plan.validate.push(if running {
        Action {
            argv: compose_argv(
                target,
                &files,
                &["exec", "-T", &front.service, "nginx", "-t"],
            ),
            why: format!(
                "nginx in compose service {} checks the new site",
                front.service
            ),
        }
    } else {
        Action {
            argv: compose_argv(
                target,
                &files,
                &[
                    "run",
                    "--rm",
                    "--no-deps",
                    "-T",
                    "--entrypoint",
                    "nginx",
                    &front.service,
                    "-t",
                ],
            ),
            why: format!(
                "compose service {} is not running: a throwaway container of it, with the same \
                 mounts, checks the new site",
                front.service
            ),
        }
    });
    if compose_changed {
        plan.actions.push(Action {
            argv: compose_argv(target, &files, &["up", "-d", &svc.name]),
            why: format!(
                "re-creates service {} with its new command (only this service)",
                svc.name
            ),
        });
    }
    plan.actions.push(if running {
        Action {
            argv: compose_argv(
                target,
                &files,
                &["exec", "-T", &front.service, "nginx", "-s", "reload"],
            ),
            why: format!(
                "nginx in compose service {} serves the new configuration (a reload drops no \
                 connection)",
                front.service
            ),
        }
    } else {
        Action {
            argv: compose_argv(target, &files, &["up", "-d", &front.service]),
            why: format!(
                "compose service {} is not running: it starts with the new site",
                front.service
            ),
        }
    });
    plan.notes.push(format!(
        "the certificate is the nginx container's own (compose service {}; dpserver obtains and \
         renews it with certbot inside that container, USE_CERTBOT in .env): dpwizard installs \
         nothing on the host and runs no certbot here",
        front.service
    ));
    plan.verify = Some(VerifySpec {
        domain: answers.site.domain.to_string(),
        websocket: format!("{}:{ws_port}", svc.name),
        // `nginx -s reload` in the container returns before its new workers serve.
        retry_not_found: true,
    });
    Ok(plan)
}
