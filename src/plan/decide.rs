//! The decisions a plan rests on, each from an answer or from detection: which drawpile-srv
//! (unit, container, Compose service) to change, its ports, the web server in front and the
//! site that serves the domain (asked of the seam, `proxy`), the certificate. Pure; every
//! refusal names the answer key it comes from.

use super::make::ACME_WEBROOT;
use super::make::{PlanError, Snapshot, self_signed_paths};
use crate::answers::{Answers, ProxyServer, Runtime, SiteFile, TlsMode};
use crate::detect::Facts;
use crate::detect::args::DrawpileArgs;
use crate::detect::nginx::NginxServer;
use crate::detect::runtime::RuntimeKind;
use crate::detect::systemd::listen_port as slot_port;
use crate::detect::systemd::{ServiceUnit, SocketUnit};

/// What to do about a drawpile socket unit.
#[derive(Debug, Clone, Copy)]
pub(super) enum SocketPlan<'a> {
    None,
    /// Mask the socket and move its ports to arguments; the service is enabled on its own.
    /// 2.3.0 removed socket activation, and a 2.2.x server under its socket stops when its
    /// last client leaves, after which systemd fails the socket (POLLHUP) and restarts the
    /// service without it: no WebSocket port, no web admin (drawpile-real.md). The reason
    /// says which, for the review.
    Migrate(&'a crate::detect::systemd::SocketUnit, MigrateReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MigrateReason {
    /// 2.3.0+: any passed socket makes the server exit.
    Removed,
    /// 2.2.x: the socket fails for good after the first autostop.
    Autostop,
    /// A build without web admin cannot take the WebSocket socket in its slot.
    NoWebAdminSlot,
}

impl MigrateReason {
    pub(super) fn why(self) -> &'static str {
        match self {
            MigrateReason::Removed => {
                "from 2.3.0 any passed socket makes drawpile-srv exit (\"socket activation is no \
                 longer supported\")"
            }
            MigrateReason::Autostop => {
                "a 2.2.x server under its socket stops when its last client leaves; systemd then \
                 fails the socket (\"Got POLLHUP on a listening socket\") and restarts the \
                 service without it, so the WebSocket port and the web admin are gone for good"
            }
            MigrateReason::NoWebAdminSlot => {
                "this build has no web admin, so the WebSocket socket would land in the web \
                 admin's slot and be refused"
            }
        }
    }
}

/// The decisions a plan rests on, each from an answer or from detection.
#[derive(Debug, Clone)]
pub(super) struct Decisions<'a> {
    /// The unit to change, or (new_service) the one to create.
    pub(super) unit: ServiceUnit,
    pub(super) new_service: bool,
    /// Run the official image from a new unit (docker CLI path, image).
    pub(super) new_container: Option<(String, String)>,
    /// An existing plain container to re-create by hand (it has no file to edit).
    pub(super) docker_run: Option<&'a crate::detect::docker::Container>,
    /// A compose service whose changes go into the project's override file: (file, service,
    /// compose command).
    pub(super) compose: Option<(
        &'a crate::detect::docker::ComposeFile,
        &'a crate::detect::docker::ComposeService,
        Vec<String>,
    )>,
    pub(super) socket: SocketPlan<'a>,
    pub(super) ws_port: u16,
    pub(super) ws_listen: String,
    pub(super) domain: String,
    /// The web server in front (nginx unless Apache or Caddy serves 443 or was asked for).
    pub(super) front: ProxyServer,
    pub(super) server: Option<&'a NginxServer>,
    pub(super) cert: String,
    pub(super) key: String,
    pub(super) self_signed: bool,
    /// The certificate must first be obtained with certbot (a first pass).
    pub(super) certbot: Option<Vec<String>>,
    /// Debian packages to install first (a first pass); the plan is made again after.
    pub(super) packages: Vec<&'static str>,
}

pub(super) fn pick_unit<'a>(
    facts: &'a Facts,
    answers: &Answers,
) -> Result<&'a ServiceUnit, PlanError> {
    let runtime = answers.drawpile.runtime;
    match (runtime, facts.runtime.kind) {
        (Some(Runtime::SystemdService) | None, RuntimeKind::SystemdService) => {}
        (Some(Runtime::SystemdService) | None, RuntimeKind::SystemdSocket) => {}
        // An AppImage `--server` unit is a service whose binary never notifies systemd.
        (Some(Runtime::Appimage) | None, RuntimeKind::Appimage) => {}
        (Some(other), _) if other != Runtime::SystemdService && other != Runtime::Appimage => {
            return Err(PlanError::Unsupported(format!(
                "drawpile.runtime = {:?} is not supported by this version yet (systemd-service is)",
                serde_json::to_string(&other)
                    .unwrap_or_default()
                    .trim_matches('"')
            )));
        }
        (_, RuntimeKind::None) => {
            let what = match facts.runtime.compose.unread() {
                Some(unread) => format!("{unread}; fix that"),
                None => "install drawpile-srv (https://drawpile.net/download) and its systemd \
                         unit"
                    .into(),
            };
            return Err(PlanError::Missing(format!(
                "no drawpile-srv service found: {what}, then run dpwizard again; nothing was \
                 changed"
            )));
        }
        (_, other) => {
            return Err(PlanError::Unsupported(format!(
                "drawpile-srv runs as {}: not supported by this version yet (systemd-service is)",
                other.as_str()
            )));
        }
    }
    let units: Vec<&ServiceUnit> = facts.runtime.units.iter().filter(|u| !u.masked).collect();
    let unit = match &answers.drawpile.unit {
        Some(name) => units
            .iter()
            .find(|u| u.name == name.as_str())
            .copied()
            .ok_or_else(|| {
                PlanError::Missing(format!("drawpile.unit = {name}: no such unit found"))
            })?,
        None => match units.as_slice() {
            [one] => *one,
            [] => return Err(PlanError::Missing("no drawpile systemd unit found".into())),
            many => {
                return Err(PlanError::Conflict(format!(
                    "several drawpile units ({}): say which one with drawpile.unit",
                    many.iter()
                        .map(|u| u.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
    };
    if unit.exec_start.is_none() {
        return Err(PlanError::Missing(format!(
            "{} has no ExecStart= to extend",
            unit.name
        )));
    }
    Ok(unit)
}

/// The program a unit's ExecStart runs.
pub(super) fn unit_program(unit: &ServiceUnit) -> String {
    unit.exec_start
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default()
}

/// The drawpile-srv binary a unit runs (its ExecStart program, or found through the unit).
pub fn unit_binary<'a>(
    facts: &'a Facts,
    unit: &ServiceUnit,
) -> Option<&'a crate::detect::drawpile::DrawpileBinary> {
    let program = unit_program(unit);
    facts.drawpile.binaries.iter().find(|b| {
        b.path == program
            || b.canonical == program
            || b.found_via
                .iter()
                .any(|v| v == &format!("unit {}", unit.name))
    })
}

pub(super) fn check_binary<'a>(
    facts: &'a Facts,
    unit: &ServiceUnit,
) -> Result<&'a crate::detect::drawpile::DrawpileBinary, PlanError> {
    let program = unit_program(unit);
    let bin = unit_binary(facts, unit);
    match bin.map(|b| {
        (
            b,
            b.websocket.supported,
            &b.websocket.reason,
            b.version.as_deref(),
        )
    }) {
        Some((b, Some(true), _, _)) => Ok(b),
        Some((_, Some(false), reason, v)) => Err(PlanError::Conflict(format!(
            "{program} ({}) has no WebSocket support ({reason}): install drawpile-srv 2.3 or a build \
             with QtWebSockets; nothing was changed",
            v.unwrap_or("unknown version")
        ))),
        Some((_, None, reason, _)) => Err(PlanError::Conflict(format!(
            "cannot tell whether {program} supports WebSockets ({reason})"
        ))),
        None => Err(PlanError::Missing(format!(
            "{program} (from {}) was not found",
            unit.name
        ))),
    }
}

/// A new unit must not replace one dpwizard did not write.
pub(super) fn refuse_existing_unit(
    facts: &Facts,
    ours: bool,
    message: String,
) -> Result<(), PlanError> {
    let exists = facts
        .runtime
        .units
        .iter()
        .any(|u| !u.masked && u.name == "drawpile-srv.service");
    if exists && !ours {
        return Err(PlanError::Conflict(message));
    }
    Ok(())
}

/// For `new-service`: the unit dpwizard will create for an installed binary.
pub(super) fn new_service_unit(
    facts: &Facts,
    answers: &Answers,
    ours: bool,
) -> Result<ServiceUnit, PlanError> {
    refuse_existing_unit(
        facts,
        ours,
        "drawpile.runtime = \"new-service\" but drawpile-srv.service already exists: use \
             \"systemd-service\" to change it"
            .into(),
    )?;
    let binary = match &answers.drawpile.binary {
        Some(b) => b.to_string(),
        None => facts
            .drawpile
            .binaries
            .iter()
            .find(|b| b.websocket.supported == Some(true) && !b.appimage)
            .map(|b| b.path.clone())
            .ok_or_else(|| {
                PlanError::Missing(
                    "no drawpile-srv with WebSocket support is installed: install drawpile-srv \
                     2.3 (https://drawpile.net/download), or use runtime = \"new-container\" \
                     with Docker; nothing was changed"
                        .into(),
                )
            })?,
    };
    Ok(ServiceUnit {
        name: "drawpile-srv.service".into(),
        path: "/etc/systemd/system/drawpile-srv.service".into(),
        // As rendered by plan::systemd: enabled by a link in multi-user.target.wants.
        wanted_by: vec!["multi-user.target".into()],
        exec_start: Some(vec![binary]),
        user: Some(
            answers
                .drawpile
                .user
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_else(|| "drawpile".into()),
        ),
        ..Default::default()
    })
}

pub(super) fn decide<'a>(
    facts: &'a Facts,
    answers: &Answers,
    snap: &Snapshot,
) -> Result<Decisions<'a>, PlanError> {
    // A unit dpwizard created earlier is re-rendered (so a second apply is a no-op), not
    // extended with a drop-in.
    let ours = snap
        .get("/etc/systemd/system/drawpile-srv.service")
        .is_some_and(|b| b.starts_with(b"# Written by dpwizard"));
    let ours_container = snap
        .get("/etc/systemd/system/drawpile-srv.service")
        .is_some_and(|b| {
            b.starts_with(b"# Written by dpwizard") && b.windows(11).any(|w| w == b" run --rm -")
        });
    let wants_container = answers.drawpile.runtime == Some(Runtime::NewContainer)
        || (ours_container && answers.drawpile.runtime.is_none());
    if wants_container {
        refuse_answers(
            answers,
            &["binary", "user"],
            "the official image brings its own binary and user",
        )?;
        return decide_container(facts, answers, snap, ours_container);
    }
    if facts.runtime.kind == RuntimeKind::Docker
        && matches!(answers.drawpile.runtime, None | Some(Runtime::Docker))
    {
        refuse_answers(
            answers,
            &["binary", "user", "tcp_port", "web_admin_port"],
            "dpwizard changes only the WebSocket port of a container started by hand",
        )?;
        return decide_docker_run(facts, answers, snap);
    }
    if facts.runtime.kind == RuntimeKind::Compose
        && matches!(answers.drawpile.runtime, None | Some(Runtime::Compose))
    {
        return decide_compose(facts, answers, snap);
    }
    let wants_new = ours
        || answers.drawpile.runtime == Some(Runtime::NewService)
        || (answers.drawpile.runtime.is_none()
            && facts.runtime.kind == RuntimeKind::None
            && facts
                .drawpile
                .binaries
                .iter()
                .any(|b| b.websocket.supported == Some(true) && !b.appimage));
    let (unit, new_service) = if wants_new {
        (new_service_unit(facts, answers, ours)?, true)
    } else {
        (pick_unit(facts, answers)?.clone(), false)
    };
    // A new service's user is made by systemd-sysusers; an existing unit needs one that is there.
    if let (false, Some(u), Some(passwd)) =
        (new_service, &answers.drawpile.user, snap.get("/etc/passwd"))
        && !crate::host::passwd::parse_passwd(&String::from_utf8_lossy(passwd))
            .iter()
            .any(|x| x.name == u.as_str())
    {
        return Err(PlanError::Answer {
            key: "drawpile.user",
            message: format!(
                "there is no user {u} on this machine: create it first (useradd --system \
                 --no-create-home {u}) or leave the key out"
            ),
        });
    }
    let binary = match (&answers.drawpile.binary, new_service) {
        // An explicit binary for an existing unit replaces its program: it must be one
        // detection knows to be a drawpile-srv with WebSocket support.
        (Some(b), false) => {
            let mut probe = unit.clone();
            probe.name = String::new();
            if let Some(first) = probe.exec_start.as_mut().and_then(|a| a.first_mut()) {
                *first = b.to_string();
            }
            check_binary(facts, &probe).map_err(|e| PlanError::Answer {
                key: "drawpile.binary",
                message: e.to_string(),
            })?
        }
        _ => check_binary(facts, &unit)?,
    };
    let socket = facts.runtime.sockets.iter().find(|s| {
        !s.masked
            && s.service == unit.name
            && (s.enabled
                || s.live
                    .as_ref()
                    .is_some_and(|l| l.active_state.as_deref() == Some("active")))
    });
    // Socket activation is never kept: see MigrateReason.
    let socket_plan = match socket {
        None => SocketPlan::None,
        Some(s) => SocketPlan::Migrate(
            s,
            if binary.version_number.is_some_and(|v| v >= [2, 3, 0]) {
                MigrateReason::Removed
            } else if binary.web_admin == Some(false) {
                MigrateReason::NoWebAdminSlot
            } else {
                MigrateReason::Autostop
            },
        ),
    };
    let mut d = proxy_and_tls(facts, answers, snap, unit, socket_plan)?;
    d.new_service = new_service;
    let _ = binary;
    Ok(d)
}

/// Explicit answers a runtime cannot honour are refused, never silently ignored.
pub(super) fn refuse_answers(answers: &Answers, keys: &[&str], why: &str) -> Result<(), PlanError> {
    let d = &answers.drawpile;
    let given = [
        ("binary", "drawpile.binary", d.binary.is_some()),
        ("user", "drawpile.user", d.user.is_some()),
        ("tcp_port", "drawpile.tcp_port", d.tcp_port.is_some()),
        (
            "web_admin_port",
            "drawpile.web_admin_port",
            d.web_admin_port.is_some(),
        ),
    ];
    match given.iter().find(|(k, _, set)| *set && keys.contains(k)) {
        Some((_, key, _)) => Err(PlanError::Answer {
            key,
            message: format!("cannot be honoured here: {why}; remove it from the answers"),
        }),
        None => Ok(()),
    }
}

/// drawpile-srv's WebSocket port when nothing says otherwise (its documentation's).
pub const DEFAULT_WEBSOCKET_PORT: u16 = 27751;

/// drawpile-srv's own default TCP port.
pub const DEFAULT_TCP_PORT: u16 = 27750;

/// Where the WebSocket listener listens when not asked: the proxy runs on this machine, so
/// nothing else needs to reach it.
pub const DEFAULT_WEBSOCKET_LISTEN: &str = "127.0.0.1";

/// The WebSocket port drawpile-srv is already configured with: its arguments, else the
/// socket unit's WebSocket slot (0 means disabled, so not a port to keep).
pub fn configured_websocket_port(
    options: &DrawpileArgs,
    socket: Option<&SocketUnit>,
) -> Option<u16> {
    options
        .websocket_port_number()
        .filter(|p| *p != 0)
        .or_else(|| {
            socket
                .and_then(|s| s.slots.websocket.as_deref())
                .and_then(slot_port)
        })
}

/// Why `port` cannot be drawpile's WebSocket port: it is already its TCP or web admin port
/// (from `options`), or another program listens on it. None when it can.
pub fn websocket_port_problem(facts: &Facts, options: &DrawpileArgs, port: u16) -> Option<String> {
    let tcp_port: u16 = options
        .port
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_TCP_PORT);
    let admin: Option<u16> = options
        .web_admin_port
        .as_deref()
        .and_then(|p| p.parse().ok());
    if port < 1024 {
        let whose = match port {
            80 => "the web server's HTTP port",
            443 => "the web server's HTTPS port, where the proxy itself listens",
            22 => "SSH's port",
            _ => "a privileged port",
        };
        return Some(format!(
            "port {port} is {whose}: drawpile-srv runs unprivileged and only the proxy on this \
             machine connects to it, so use a port above 1023 (drawpile's usual one is \
             {DEFAULT_WEBSOCKET_PORT})"
        ));
    }
    if port == tcp_port || Some(port) == admin {
        return Some(format!(
            "WebSocket port {port} is already drawpile's TCP or web admin port: choose another"
        ));
    }
    // Docker publishes a container's port through docker-proxy: that is drawpile-srv when a
    // drawpile container publishes this very port.
    let published_by_drawpile = facts
        .runtime
        .docker
        .containers
        .iter()
        .any(|c| c.ports.iter().any(|p| p.host_port == Some(port)));
    // A drawpile socket unit listens through systemd itself (PID 1).
    let socket_of_drawpile = facts
        .runtime
        .sockets
        .iter()
        .any(|s| !s.masked && s.listen_stream.iter().any(|v| slot_port(v) == Some(port)));
    let ours = |process: &str| {
        process == "drawpile-srv"
            || (process == "docker-proxy" && published_by_drawpile)
            || (process == "systemd" && socket_of_drawpile)
    };
    if facts.network.visible
        && let Some(l) = facts
            .network
            .listeners
            .iter()
            .find(|l| l.port == port && l.process.as_deref().is_some_and(|p| !ours(p)))
    {
        return Some(format!(
            "port {port} is busy ({} listens on {}): choose another drawpile.websocket_port",
            l.process.as_deref().unwrap_or("?"),
            l.address
        ));
    }
    None
}

/// The nginx TLS server that already serves `domain` on 443 (in `site_file`, when given),
/// as nginx chooses it: the location goes there instead of a new site.
pub fn tls_server<'a>(
    facts: &'a Facts,
    domain: &str,
    site_file: Option<&SiteFile>,
) -> Option<&'a NginxServer> {
    let servers = facts.nginx.servers.iter();
    match site_file {
        Some(SiteFile::Path(p)) => {
            crate::proxy::nginx::site_for(servers.filter(|s| &*s.file == p.as_str()), domain)
        }
        _ => crate::proxy::nginx::site_for(servers, domain),
    }
    .map(|(s, _)| s)
}

/// The TLS server for `domain` in the file the answers name: the file nginx reads, or the
/// file a link nginx reads points to (Debian's sites-available/x behind sites-enabled/x).
/// A file that holds no such server is refused, never silently replaced by a new site.
pub(super) fn named_site<'a>(
    facts: &'a Facts,
    snap: &Snapshot,
    domain: &str,
    path: &str,
) -> Result<&'a NginxServer, PlanError> {
    let is_file = |s: &NginxServer| {
        &*s.file == path || snap.real_paths.get(&*s.file).is_some_and(|r| r == path)
    };
    let serves =
        |s: &&NginxServer| crate::proxy::nginx::sites_named(std::iter::once(*s), domain).len() == 1;
    if let Some((s, _)) =
        crate::proxy::nginx::site_for(facts.nginx.servers.iter().filter(|s| is_file(s)), domain)
    {
        return Ok(s);
    }
    let why = if facts.nginx.servers.iter().any(is_file) {
        format!("{path} has no TLS server block for {domain}")
    } else {
        format!("{path} is not a file nginx reads a server block from")
    };
    let candidates: Vec<String> = facts
        .nginx
        .servers
        .iter()
        .filter(serves)
        .map(|s| match snap.real_paths.get(&*s.file) {
            Some(r) => format!("{r} (via {})", s.file),
            None => s.file.to_string(),
        })
        .collect();
    Err(PlanError::Answer {
        key: "proxy.site_file",
        message: format!(
            "{why}: {}",
            if candidates.is_empty() {
                "use \"auto\" (dpwizard writes a new site)".to_string()
            } else {
                format!("the server for {domain} is in {}", candidates.join(", "))
            }
        ),
    })
}

/// The TLS mode when the answers name none: keep a certificate that is already there (the
/// server's, a certbot lineage, or one given), else obtain one with certbot.
pub fn default_tls_mode(
    facts: &Facts,
    domain: &str,
    server: Option<&NginxServer>,
    certificate_given: bool,
) -> TlsMode {
    let lineage = facts
        .tls
        .lineages
        .iter()
        .any(|l| l.names.iter().any(|n| n == domain));
    if server.is_some_and(|s| s.ssl_certificate.is_some()) || lineage || certificate_given {
        TlsMode::Existing
    } else {
        TlsMode::Certbot
    }
}

/// The decisions shared by every runtime: ports, the proxy's server block, the certificate.
pub(super) fn proxy_and_tls<'a>(
    facts: &'a Facts,
    answers: &Answers,
    snap: &Snapshot,
    unit: ServiceUnit,
    socket_plan: SocketPlan<'a>,
) -> Result<Decisions<'a>, PlanError> {
    let socket = match socket_plan {
        SocketPlan::Migrate(s, _) => Some(s),
        SocketPlan::None => None,
    };
    let ws_port = answers
        .drawpile
        .websocket_port
        .map(|p| p.get())
        .or_else(|| configured_websocket_port(&unit.options, socket))
        .unwrap_or(DEFAULT_WEBSOCKET_PORT);
    if let Some(problem) = websocket_port_problem(facts, &unit.options, ws_port) {
        return Err(PlanError::Conflict(problem));
    }
    let ws_listen = answers
        .drawpile
        .websocket_listen
        .map(|a| a.to_string())
        .unwrap_or_else(|| DEFAULT_WEBSOCKET_LISTEN.into());
    let domain = answers.site.domain.to_string();
    // Apache or Caddy in front: their own site and certificate stay (plan/front_*.rs).
    let front = crate::proxy::front::choose(facts, answers)?;
    if front != ProxyServer::Nginx {
        return Ok(Decisions {
            unit,
            new_service: false,
            new_container: None,
            docker_run: None,
            compose: None,
            socket: socket_plan,
            ws_port,
            ws_listen,
            domain,
            front,
            server: None,
            cert: String::new(),
            key: String::new(),
            self_signed: false,
            certbot: None,
            packages: Vec::new(),
        });
    }

    let mut packages = Vec::new();
    if facts.nginx.conf_path.is_none() {
        // Never a second web server that would fight the one there for 443.
        let others: Vec<&str> = facts
            .web_servers
            .iter()
            .filter(|w| {
                w.name != "nginx" && (w.listens_443 == Some(true) || w.serves_443_by_config)
            })
            .map(|w| w.name.as_str())
            .collect();
        if !others.is_empty() {
            return Err(PlanError::Conflict(format!(
                "{} serves port 443 here: dpwizard does not install nginx next to it (they would \
                 fight for the port); for Apache or Caddy leave proxy.server out and dpwizard \
                 adds the route to it, for another set up its WebSocket route by hand from \
                 Drawpile's documentation; nothing was changed",
                others.join(", ")
            )));
        }
        packages.push("nginx");
    }
    let server = match &answers.proxy.site_file {
        Some(SiteFile::Path(p)) => Some(named_site(facts, snap, &domain, p.as_str())?),
        _ => tls_server(facts, &domain, None),
    };
    let lineage = facts
        .tls
        .lineages
        .iter()
        .find(|l| l.names.iter().any(|n| n == &domain));
    let mode = answers.tls.mode.unwrap_or_else(|| {
        default_tls_mode(facts, &domain, server, answers.tls.certificate.is_some())
    });
    let mut certbot = None;
    let (cert, key, self_signed) =
        match mode {
            TlsMode::Certbot => match lineage {
                // Already obtained (a previous run, or certbot by hand): use it.
                Some(l) => (l.fullchain_path.clone(), l.key_path.clone(), false),
                None if server.is_some() => {
                    return Err(PlanError::Conflict(format!(
                        "the server for {domain} on 443 has its own certificate: use tls.mode = \
                         \"existing\" (or remove it from that server first)"
                    )));
                }
                None => {
                    let mut argv: Vec<String> = [
                        "certbot",
                        "certonly",
                        "--webroot",
                        "-w",
                        ACME_WEBROOT,
                        "-d",
                        domain.as_str(),
                        "--non-interactive",
                        "--agree-tos",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                    match &answers.site.email {
                        Some(e) => argv.extend(["-m".to_string(), e.to_string()]),
                        None => argv.push("--register-unsafely-without-email".into()),
                    }
                    if let Some(url) = &answers.tls.acme_server {
                        argv.extend(["--server".to_string(), url.to_string()]);
                    }
                    argv.extend([
                        "--deploy-hook".to_string(),
                        "systemctl reload nginx".to_string(),
                    ]);
                    certbot = Some(argv);
                    (
                        format!("/etc/letsencrypt/live/{domain}/fullchain.pem"),
                        format!("/etc/letsencrypt/live/{domain}/privkey.pem"),
                        false,
                    )
                }
            },
            TlsMode::SelfSigned => {
                let (c, k) = self_signed_paths(&domain);
                (c, k, true)
            }
            TlsMode::Existing => {
                let from_answers = answers
                    .tls
                    .certificate
                    .as_ref()
                    .zip(answers.tls.key.as_ref())
                    .map(|(c, k)| (c.to_string(), k.to_string()));
                let from_server = server
                    .and_then(|s| s.ssl_certificate.clone().zip(s.ssl_certificate_key.clone()));
                let from_lineage = lineage.map(|l| (l.fullchain_path.clone(), l.key_path.clone()));
                let (c, k) = from_answers.or(from_server).or(from_lineage).ok_or_else(|| {
                PlanError::Missing(format!(
                    "tls.mode = \"existing\" but no certificate for {domain} was found: give \
                     tls.certificate and tls.key, or use \"self-signed\""
                ))
            })?;
                check_certificate(facts, &c, &domain)?;
                (c, k, false)
            }
        };
    Ok(Decisions {
        unit,
        new_service: false,
        new_container: None,
        docker_run: None,
        compose: None,
        socket: socket_plan,
        ws_port,
        ws_listen,
        domain,
        front,
        server,
        cert,
        key,
        self_signed,
        certbot,
        packages,
    })
}

/// A compose service: its `command:` and `ports:` changes go into the project's override
/// file (compose_override); the WebSocket port is published on the host's loopback for the
/// web server on the host.
pub(super) fn decide_compose<'a>(
    facts: &'a Facts,
    answers: &Answers,
    snap: &Snapshot,
) -> Result<Decisions<'a>, PlanError> {
    let t = compose_target(facts)?;
    super::compose_front::refuse_answers(answers, t.service)?;
    super::compose_override::refuse_old_image(t.service)?;
    let unit = ServiceUnit {
        name: format!("compose service {}", t.service.name),
        options: t.service.options.clone(),
        ..Default::default()
    };
    let mut d = proxy_and_tls(facts, answers, snap, unit, SocketPlan::None)?;
    d.compose = Some((t.file, t.service, t.tool));
    Ok(d)
}

/// The one compose service running drawpile-srv, and how Compose is run here.
pub(super) fn compose_target(facts: &Facts) -> Result<super::compose_front::Target<'_>, PlanError> {
    let files = &facts.runtime.compose.files;
    let (file, service) = match files
        .iter()
        .flat_map(|f| f.services.iter().map(move |s| (f, s)))
        .collect::<Vec<_>>()
        .as_slice()
    {
        [one] => *one,
        [] => {
            return Err(PlanError::Missing(
                "no compose service runs drawpile/drawpile-srv".into(),
            ));
        }
        many => {
            return Err(PlanError::Conflict(format!(
                "several compose services run drawpile-srv ({}): not supported yet",
                many.iter()
                    .map(|(f, s)| format!("{}:{}", f.path, s.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let tool = match (
        &facts.runtime.docker.compose_v1,
        &facts.runtime.docker.compose_v2,
    ) {
        (_, Some(_)) => vec!["docker".to_string(), "compose".into()],
        (Some(_), None) => vec!["docker-compose".to_string()],
        (None, None) => vec!["docker-compose".to_string()],
    };
    Ok(super::compose_front::Target {
        file,
        service,
        tool,
    })
}

/// A plain `docker run` container: the proxy is configured; the container must be
/// re-created with the WebSocket port (the plan prints the exact commands).
pub(super) fn decide_docker_run<'a>(
    facts: &'a Facts,
    answers: &Answers,
    snap: &Snapshot,
) -> Result<Decisions<'a>, PlanError> {
    let containers = &facts.runtime.docker.containers;
    let c = containers
        .iter()
        .find(|c| c.state == "running" && c.compose_project.is_none())
        .or_else(|| containers.iter().find(|c| c.compose_project.is_none()))
        .ok_or_else(|| PlanError::Unsupported("the drawpile containers belong to Compose projects: editing compose files is not supported by this version yet".into()))?;
    let unit = ServiceUnit {
        name: format!("container {}", c.name),
        options: c.options.clone(),
        ..Default::default()
    };
    let mut d = proxy_and_tls(facts, answers, snap, unit, SocketPlan::None)?;
    d.docker_run = Some(c);
    Ok(d)
}

/// `new-container`: the official image run by a new systemd unit; the WebSocket port is
/// published on the host's loopback for nginx (never `--websocket-listen` inside).
pub(super) fn decide_container<'a>(
    facts: &'a Facts,
    answers: &Answers,
    snap: &Snapshot,
    ours: bool,
) -> Result<Decisions<'a>, PlanError> {
    refuse_existing_unit(
        facts,
        ours,
        "drawpile.runtime = \"new-container\" but drawpile-srv.service already exists".into(),
    )?;
    // Without Docker, Debian's docker.io is installed first (a first pass).
    let docker = facts
        .runtime
        .docker
        .cli
        .clone()
        .unwrap_or_else(|| "/usr/bin/docker".into());
    let image = answers
        .drawpile
        .image
        .as_ref()
        .map(|i| i.to_string())
        .unwrap_or_else(|| "drawpile/drawpile-srv:2.3".into());
    let unit = ServiceUnit {
        name: "drawpile-srv.service".into(),
        path: "/etc/systemd/system/drawpile-srv.service".into(),
        wanted_by: vec!["multi-user.target".into()],
        ..Default::default()
    };
    let mut d = proxy_and_tls(facts, answers, snap, unit, SocketPlan::None)?;
    if facts.runtime.docker.cli.is_none() {
        d.packages.push("docker.io");
    }
    d.new_container = Some((docker, image));
    Ok(d)
}

pub(super) fn check_certificate(facts: &Facts, cert: &str, domain: &str) -> Result<(), PlanError> {
    let info = facts
        .tls
        .referenced
        .iter()
        .find(|r| r.path == cert)
        .and_then(|r| r.certificate.clone())
        .or_else(|| {
            facts
                .tls
                .lineages
                .iter()
                .find(|l| l.fullchain_path == cert)
                .and_then(|l| l.certificate.clone())
        });
    let Some(info) = info else {
        return Ok(()); // not read by detection (e.g. given only in the answers): nginx -t checks it
    };
    let covers = info
        .names
        .iter()
        .any(|n| crate::detect::tls::name_covers(n, domain));
    if !covers {
        return Err(PlanError::Conflict(format!(
            "{cert} is for {} and does not cover {domain}",
            info.names.join(", ")
        )));
    }
    if info.expired {
        return Err(PlanError::Conflict(format!(
            "{cert} expired on {}",
            info.not_after
        )));
    }
    if info.key_matches == Some(false) {
        return Err(PlanError::Conflict(format!(
            "the key does not match {cert}"
        )));
    }
    Ok(())
}
