//! Facts + Answers (+ the bytes of the files to edit, read once at the edge) → Plan.
//! Pure: it reads nothing, so `plan`, `apply --dry-run` and the tests see the same thing.
//! Covered so far: drawpile-srv as a systemd service behind nginx, with an existing or a
//! self-signed certificate. Other runtimes, proxies and certbot say so plainly.

use std::collections::BTreeMap;

use super::nginx::{BEGIN_MARKER, END_MARKER, LocationSpec, REVERTIBLE_SWITCHES, render_location};
use super::{Action, Change, FileMode, Plan};
use crate::answers::{Answers, ProxyServer, Runtime, SiteFile, TlsMode};
use crate::detect::Facts;
use crate::detect::args::DrawpileArgs;
use crate::detect::nginx::NginxServer;
use crate::detect::runtime::RuntimeKind;
use crate::detect::systemd::{ServiceUnit, SocketUnit};
use crate::formats::nginx::{Config, Node, child_indent, insertion_point, line_start};

/// The current bytes of the files a plan may change (absent: the file does not exist).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub files: BTreeMap<String, Vec<u8>>,
    /// Config files that are symlinks (Debian's sites-enabled → sites-available): the path
    /// the link resolves to on the machine. Edits go to the real file, never through a link.
    pub real_paths: BTreeMap<String, String>,
    /// Paths in `files` that are symbolic links (their bytes are the link's target).
    pub symlinks: std::collections::BTreeSet<String>,
    /// Directory listings (the browser client's directory: web_client::read_directory).
    pub dirs: BTreeMap<String, Vec<String>>,
}

impl Snapshot {
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An explicit answer that cannot be honoured: named by its key so the message can point
    /// at the line of the answers file.
    #[error("[{key}] {message}")]
    Answer { key: &'static str, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Conflict(String),
}

/// Where certbot's http-01 challenges are served from (the port-80 server of dpwizard's site).
pub const ACME_WEBROOT: &str = "/var/www/dpwizard-acme";

/// Where self-signed certificates go.
pub fn self_signed_paths(domain: &str) -> (String, String) {
    (
        format!("/etc/ssl/dpwizard/{}", file_name(domain, "", ".crt")),
        format!("/etc/ssl/dpwizard/{}", file_name(domain, "", ".key")),
    )
}

/// The name of dpwizard's own site file for a domain.
pub fn site_file_name(domain: &str) -> String {
    file_name(domain, "dpwizard-", ".conf")
}

/// `PREFIX DOMAIN SUFFIX` as a file name. A domain may be 253 characters, a file name only
/// 255 bytes (and a temp name beside it needs room): a long domain is shortened with a hash
/// of it, so every name stays well within NAME_MAX and is still one per domain.
fn file_name(domain: &str, prefix: &str, suffix: &str) -> String {
    const MAX: usize = 180;
    if prefix.len() + domain.len() + suffix.len() <= MAX {
        return format!("{prefix}{domain}{suffix}");
    }
    let hash = crate::apply::journal::sha256(domain.as_bytes());
    let keep = MAX - prefix.len() - suffix.len() - 17;
    format!("{prefix}{}~{}{suffix}", &domain[..keep], &hash[..16])
}

/// What to do about a drawpile socket unit.
#[derive(Debug, Clone, Copy)]
enum SocketPlan<'a> {
    None,
    /// Mask the socket and move its ports to arguments; the service is enabled on its own.
    /// 2.3.0 removed socket activation, and a 2.2.x server under its socket stops when its
    /// last client leaves, after which systemd fails the socket (POLLHUP) and restarts the
    /// service without it: no WebSocket port, no web admin (drawpile-real.md). The reason
    /// says which, for the review.
    Migrate(&'a crate::detect::systemd::SocketUnit, MigrateReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MigrateReason {
    /// 2.3.0+: any passed socket makes the server exit.
    Removed,
    /// 2.2.x: the socket fails for good after the first autostop.
    Autostop,
    /// A build without web admin cannot take the WebSocket socket in its slot.
    NoWebAdminSlot,
}

impl MigrateReason {
    fn why(self) -> &'static str {
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

use crate::detect::systemd::{listen_addr as slot_addr, listen_port as slot_port};

/// The decisions a plan rests on, each from an answer or from detection.
#[derive(Debug, Clone)]
struct Decisions<'a> {
    /// The unit to change, or (new_service) the one to create.
    unit: ServiceUnit,
    new_service: bool,
    /// Run the official image from a new unit (docker CLI path, image).
    new_container: Option<(String, String)>,
    /// An existing plain container to re-create by hand (it has no file to edit).
    docker_run: Option<&'a crate::detect::docker::Container>,
    /// A compose service to edit in place: (file, service, compose command).
    compose: Option<(
        &'a crate::detect::docker::ComposeFile,
        &'a crate::detect::docker::ComposeService,
        Vec<String>,
    )>,
    socket: SocketPlan<'a>,
    ws_port: u16,
    ws_listen: String,
    domain: String,
    /// The web server in front (nginx unless Apache or Caddy serves 443 or was asked for).
    front: ProxyServer,
    server: Option<&'a NginxServer>,
    cert: String,
    key: String,
    self_signed: bool,
    /// The certificate must first be obtained with certbot (a first pass).
    certbot: Option<Vec<String>>,
    /// Debian packages to install first (a first pass); the plan is made again after.
    packages: Vec<&'static str>,
}

fn pick_unit<'a>(facts: &'a Facts, answers: &Answers) -> Result<&'a ServiceUnit, PlanError> {
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
            return Err(PlanError::Missing(
                "no drawpile-srv service found: install drawpile-srv (https://drawpile.net/download) \
                 and its systemd unit, then run dpwizard again; nothing was changed"
                    .into(),
            ));
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
fn unit_program(unit: &ServiceUnit) -> String {
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

fn check_binary<'a>(
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
fn refuse_existing_unit(facts: &Facts, ours: bool, message: String) -> Result<(), PlanError> {
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
fn new_service_unit(
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

fn decide<'a>(
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
        refuse_answers(
            answers,
            &["binary", "user", "tcp_port", "web_admin_port"],
            "dpwizard changes only the WebSocket port of a Compose service (edit its command: \
             for the rest)",
        )?;
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
fn refuse_answers(answers: &Answers, keys: &[&str], why: &str) -> Result<(), PlanError> {
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

/// The nginx TLS server that already serves `domain` on 443 (in `site_file`, when given):
/// the location goes there instead of a new site.
pub fn tls_server<'a>(
    facts: &'a Facts,
    domain: &str,
    site_file: Option<&SiteFile>,
) -> Option<&'a NginxServer> {
    match site_file {
        Some(SiteFile::Path(p)) => facts.nginx.servers.iter().find(|s| {
            &*s.file == p.as_str() && s.ssl && s.server_names.iter().any(|n| n == domain)
        }),
        _ => facts.nginx.servers.iter().find(|s| {
            s.ssl
                && s.listen.iter().any(|l| l.port == Some(443))
                && s.server_names
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(domain))
        }),
    }
}

/// The TLS server for `domain` in the file the answers name: the file nginx reads, or the
/// file a link nginx reads points to (Debian's sites-available/x behind sites-enabled/x).
/// A file that holds no such server is refused, never silently replaced by a new site.
fn named_site<'a>(
    facts: &'a Facts,
    snap: &Snapshot,
    domain: &str,
    path: &str,
) -> Result<&'a NginxServer, PlanError> {
    let is_file = |s: &NginxServer| {
        &*s.file == path || snap.real_paths.get(&*s.file).is_some_and(|r| r == path)
    };
    let serves = |s: &NginxServer| {
        s.ssl
            && s.server_names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(domain))
    };
    if let Some(s) = facts.nginx.servers.iter().find(|s| is_file(s) && serves(s)) {
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
        .filter(|s| serves(s))
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
fn proxy_and_tls<'a>(
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
    let front = super::front::choose(facts, answers)?;
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

/// A compose service: its `command:` and `ports:` are edited in place, keeping the file's
/// comments; the WebSocket port is published on the host's loopback for nginx.
fn decide_compose<'a>(
    facts: &'a Facts,
    answers: &Answers,
    snap: &Snapshot,
) -> Result<Decisions<'a>, PlanError> {
    let t = compose_target(facts)?;
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
fn compose_target(facts: &Facts) -> Result<super::compose_front::Target<'_>, PlanError> {
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

/// The plan when the web server in front is nginx in a container of the drawpile service's
/// own Compose project (dpserver): none of the host-nginx decisions apply.
fn compose_front_plan(
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
) -> Result<Option<Plan>, PlanError> {
    if facts.runtime.kind != RuntimeKind::Compose
        || !matches!(answers.drawpile.runtime, None | Some(Runtime::Compose))
    {
        return Ok(None);
    }
    let Ok(t) = compose_target(facts) else {
        return Ok(None); // decide_compose says why
    };
    match super::compose_front::front(facts, answers, &t) {
        Some(front) => {
            super::compose_front::refuse_answers(answers, t.service)?;
            super::compose_front::make(facts, answers, snap, &t, front).map(Some)
        }
        None => Ok(None),
    }
}

/// A plain `docker run` container: the proxy is configured; the container must be
/// re-created with the WebSocket port (the plan prints the exact commands).
fn decide_docker_run<'a>(
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

/// The `docker run` that re-creates `c` with the WebSocket port published on loopback.
pub fn docker_run_command(c: &crate::detect::docker::Container, ws_port: u16) -> Vec<String> {
    let mut cmd = vec![
        "docker".to_string(),
        "run".into(),
        "-d".into(),
        "--name".into(),
        c.name.clone(),
    ];
    if let Some(r) = &c.restart_policy {
        cmd.extend(["--restart".to_string(), r.clone()]);
    }
    if let Some(n) = c
        .network_mode
        .as_deref()
        .filter(|n| !matches!(*n, "default" | "bridge"))
    {
        cmd.extend(["--network".to_string(), n.to_string()]);
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &c.ports {
        if p.container_port == ws_port {
            continue;
        }
        let host_ip = if p.is_public() {
            String::new()
        } else {
            format!("{}:", p.host_ip)
        };
        let spec = format!(
            "{host_ip}{}:{}{}",
            p.host_port.map(|h| h.to_string()).unwrap_or_default(),
            p.container_port,
            if p.protocol == "tcp" {
                String::new()
            } else {
                format!("/{}", p.protocol)
            }
        );
        if seen.insert(spec.clone()) {
            cmd.extend(["-p".to_string(), spec]);
        }
    }
    cmd.extend(["-p".to_string(), format!("127.0.0.1:{ws_port}:{ws_port}")]);
    for m in &c.mounts {
        cmd.extend(["-v".to_string(), format!("{}:{}", m.source, m.destination)]);
    }
    for e in &c.env {
        // Values are not shown by detection (they may be secrets): pass them through.
        cmd.extend(["-e".to_string(), e.clone()]);
    }
    cmd.push(c.image.clone());
    cmd.extend(
        with_websocket(
            &std::iter::once(String::new())
                .chain(c.args.iter().cloned())
                .collect::<Vec<_>>(),
            ws_port,
            None,
        )
        .into_iter()
        .skip(1),
    );
    cmd
}

/// `new-container`: the official image run by a new systemd unit; the WebSocket port is
/// published on the host's loopback for nginx (never `--websocket-listen` inside).
fn decide_container<'a>(
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

fn check_certificate(facts: &Facts, cert: &str, domain: &str) -> Result<(), PlanError> {
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

/// The ExecStart= words for `argv`: a word kept from the unit's own command line (`orig`,
/// written as `raw`) is repeated as written, so `%i`, `%%` and quoting keep their meaning;
/// a word dpwizard adds is quoted.
fn exec_line(argv: &[String], orig: &[String], raw: &[String]) -> String {
    let mut next = 0;
    argv.iter()
        .map(|a| {
            // Kept words stay in order (only WebSocket options are dropped, only added at
            // the end), so the next match at or after the last one is this word's origin.
            let found = (next..orig.len().min(raw.len())).find(|&k| orig[k] == *a);
            match found {
                Some(k) => {
                    next = k + 1;
                    raw[k].clone()
                }
                None => exec_quote(a),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes an argument for ExecStart= when it needs it (systemd.service(5), Command lines).
fn exec_quote(arg: &str) -> String {
    let escaped = arg.replace('%', "%%");
    if escaped.is_empty()
        || escaped
            .chars()
            .any(|c| c.is_whitespace() || "\"'\\;$".contains(c))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// One option of drawpile-srv as its command line spells it: the long name and the short
/// letter (QCommandLineParser accepts `--name v`, `--name=v`, `-x v`, `-xv` and `-x=v`).
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
}

pub const OPT_PORT: Opt = Opt {
    long: "port",
    short: Some('p'),
};
pub const OPT_WEB_ADMIN_PORT: Opt = Opt {
    long: "web-admin-port",
    short: None,
};
pub const OPT_WEBSOCKET_PORT: Opt = Opt {
    long: "websocket-port",
    short: None,
};
pub const OPT_WEBSOCKET_LISTEN: Opt = Opt {
    long: "websocket-listen",
    short: None,
};

/// `argv` (program first) with each option of `set` given exactly once with its value
/// (None: removed). An option already given once with that value stays as it is written,
/// where it is; otherwise every occurrence goes and it is added at the end. Every other
/// argument keeps its place and spelling, so rendering twice gives the same line.
pub fn set_options(argv: &[String], set: &[(Opt, Option<String>)]) -> Vec<String> {
    // (option index in `set`, position, how many arguments, value) of every occurrence.
    let mut found: Vec<(usize, usize, usize, Option<String>)> = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        let hit = set.iter().enumerate().find_map(|(k, (o, _))| {
            if let Some(rest) = a.strip_prefix("--") {
                match rest.split_once('=') {
                    Some((n, v)) if n == o.long => Some((k, 1, Some(v.to_string()))),
                    None if rest == o.long => Some((k, 2, argv.get(i + 1).cloned())),
                    _ => None,
                }
            } else if let (Some(c), Some(rest)) = (o.short, a.strip_prefix('-')) {
                let mut chars = rest.chars();
                if chars.next() != Some(c) || rest.starts_with('-') {
                    return None;
                }
                let inline = chars.as_str();
                Some(if inline.is_empty() {
                    (k, 2, argv.get(i + 1).cloned())
                } else {
                    (k, 1, Some(inline.trim_start_matches('=').to_string()))
                })
            } else {
                None
            }
        });
        match hit {
            Some((k, n, v)) => {
                found.push((k, i, n, v));
                i += n;
            }
            None => i += 1,
        }
    }
    let keep = |k: usize| {
        let mine: Vec<_> = found.iter().filter(|f| f.0 == k).collect();
        matches!(mine.as_slice(), [one] if one.3.is_some() && one.3 == set[k].1)
    };
    let mut out: Vec<String> = argv.iter().take(1).cloned().collect();
    let mut i = 1;
    while i < argv.len() {
        match found.iter().find(|f| f.1 == i) {
            Some(&(k, _, n, _)) => {
                if keep(k) {
                    out.extend(argv[i..(i + n).min(argv.len())].iter().cloned());
                }
                i += n;
            }
            None => {
                out.push(argv[i].clone());
                i += 1;
            }
        }
    }
    for (k, (o, v)) in set.iter().enumerate() {
        if let Some(v) = v
            && !keep(k)
        {
            out.push(format!("--{}", o.long));
            out.push(v.clone());
        }
    }
    out
}

/// The unit's effective argv with the WebSocket options set exactly once.
pub fn with_websocket(argv: &[String], port: u16, listen: Option<&str>) -> Vec<String> {
    set_options(
        argv,
        &[
            (OPT_WEBSOCKET_PORT, Some(port.to_string())),
            (OPT_WEBSOCKET_LISTEN, listen.map(str::to_string)),
        ],
    )
}

/// What drawpile-srv must end up running with: the decisions, and every explicit answer
/// (an explicit value always wins over what the unit says now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Wanted {
    binary: Option<String>,
    user: Option<String>,
    tcp_port: Option<u16>,
    web_admin_port: Option<u16>,
}

impl Wanted {
    fn from_answers(answers: &Answers) -> Wanted {
        Wanted {
            binary: answers.drawpile.binary.as_ref().map(|b| b.to_string()),
            user: answers.drawpile.user.as_ref().map(|u| u.to_string()),
            tcp_port: answers.drawpile.tcp_port.map(|p| p.get()),
            web_admin_port: answers.drawpile.web_admin_port.map(|p| p.get()),
        }
    }
}

/// Two listen addresses mean the same (`127.0.0.1` and `127.000.000.001` do not parse alike
/// as text, but drawpile-srv reads both as an IP).
fn same_address(a: &str, b: &str) -> bool {
    match (
        a.trim_matches(['[', ']']).parse::<std::net::IpAddr>(),
        b.trim_matches(['[', ']']).parse::<std::net::IpAddr>(),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// True when the unit already runs drawpile-srv the way the plan wants: its options as
/// drawpile-srv reads them (long or short, `=` or a space, any order, the last of a repeated
/// one), not its command line as text. Then no drop-in is written and nothing restarts.
fn effective_matches(unit: &ServiceUnit, d: &Decisions, want: &Wanted) -> bool {
    let Some(argv) = unit.exec_start.as_ref() else {
        return false;
    };
    let o = &unit.options;
    let num = |v: &Option<String>| v.as_deref().and_then(|p| p.parse::<u16>().ok());
    o.websocket_port_number() == Some(d.ws_port)
        && o.websocket_listen
            .as_deref()
            .is_some_and(|l| same_address(l, &d.ws_listen))
        && want.binary.as_ref().is_none_or(|b| argv.first() == Some(b))
        && want
            .tcp_port
            .is_none_or(|p| num(&o.port).unwrap_or(DEFAULT_TCP_PORT) == p)
        && want
            .web_admin_port
            .is_none_or(|p| num(&o.web_admin_port) == Some(p))
        && want
            .user
            .as_ref()
            .is_none_or(|u| unit.user.as_ref() == Some(u))
}

/// A drop-in name that sorts after every existing drop-in of the unit.
fn dropin_name(unit: &ServiceUnit) -> String {
    let mut name = "zz-dpwizard.conf".to_string();
    while unit
        .dropins
        .iter()
        .filter_map(|d| d.rsplit('/').next())
        .any(|existing| existing > name.as_str() && !existing.ends_with(&name))
    {
        name.insert(0, 'z');
    }
    name
}

/// The drop-in's text. `previous` is dpwizard's own drop-in from an earlier run: settings it
/// made then show up as the unit's now, and must be written again, not dropped.
fn render_dropin(
    unit: &ServiceUnit,
    d: &Decisions,
    want: &Wanted,
    notify_ok: bool,
    previous: Option<&[u8]>,
) -> String {
    let mut base: Vec<String> = unit.exec_start.clone().unwrap_or_default();
    if let (Some(b), Some(first)) = (&want.binary, base.first_mut()) {
        *first = b.clone();
    }
    if let SocketPlan::Migrate(sock, _) = d.socket {
        // The socket's ports become arguments, unless the unit already sets them.
        let o = &unit.options;
        if let Some(tcp) = sock.slots.tcp.as_deref() {
            if o.port.is_none()
                && let Some(p) = slot_port(tcp).filter(|p| *p != 27750)
            {
                base.extend(["--port".to_string(), p.to_string()]);
            }
            if o.listen.is_none()
                && let Some(a) = slot_addr(tcp)
            {
                base.extend(["--listen".to_string(), a]);
            }
        }
        // A two-line socket from a build without web admin meant its second line for
        // WebSockets: that port is the WebSocket port now, not a web admin.
        if o.web_admin_port.is_none()
            && let Some(p) = sock.slots.web_admin.as_deref().and_then(slot_port)
            && p != d.ws_port
        {
            base.extend(["--web-admin-port".to_string(), p.to_string()]);
        }
    }
    let mut set = vec![
        (OPT_WEBSOCKET_PORT, Some(d.ws_port.to_string())),
        (OPT_WEBSOCKET_LISTEN, Some(d.ws_listen.clone())),
    ];
    if let Some(p) = want.tcp_port {
        set.push((OPT_PORT, Some(p.to_string())));
    }
    if let Some(p) = want.web_admin_port {
        set.push((OPT_WEB_ADMIN_PORT, Some(p.to_string())));
    }
    let argv = set_options(&base, &set);
    let mut text = format!(
        "# Written by dpwizard: drawpile-srv's WebSocket listener for the reverse proxy at\n\
         # https://{}/drawpile-web/ws. Remove this file and run `systemctl daemon-reload` to undo.\n\
         [Service]\nExecStart=\nExecStart={}{}\n",
        d.domain,
        unit.exec_start_prefixes,
        exec_line(
            &argv,
            unit.exec_start.as_deref().unwrap_or_default(),
            &unit.exec_start_raw
        )
    );
    let had = |line: &str| {
        previous.is_some_and(|p| String::from_utf8_lossy(p).lines().any(|l| l == line))
    };
    if !notify_ok && (unit.type_.as_deref() == Some("notify") || had("Type=simple")) {
        text.push_str(
            "# This build never reports readiness: Type=notify would hang at start.\nType=simple\n",
        );
    }
    let user = match &want.user {
        Some(u) if unit.user.as_ref() != Some(u) || had(&format!("User={u}")) => Some(u.as_str()),
        Some(_) => None,
        None if unit.user.as_deref().is_none_or(|u| u == "root" || u == "0")
            || (had("User=nobody") && unit.user.as_deref() == Some("nobody")) =>
        {
            Some("nobody")
        }
        None => None,
    };
    match user {
        Some("nobody") if want.user.is_none() => {
            text.push_str("# drawpile-srv refuses to run as root.\nUser=nobody\n")
        }
        Some(u) => text.push_str(&format!("User={u}\n")),
        None => {}
    }
    text
}

/// A link in a `<target>.wants/` directory: it enables a unit, it changes nothing a running
/// service reads, so it needs a daemon-reload but no restart.
fn is_enablement_link(path: &str) -> bool {
    path.rsplit_once('/')
        .is_some_and(|(dir, _)| dir.ends_with(".wants") || dir.ends_with(".requires"))
}

/// Why drawpile-srv restarts, and what it ends: a restart drops every session in memory, so
/// the review says how many users are on the server now when the server told systemd.
fn restart_why(unit: &ServiceUnit, new: bool) -> String {
    if new {
        return "starts drawpile-srv (enabled above, so it also starts at every boot)".into();
    }
    let now = unit
        .live
        .as_ref()
        .filter(|l| l.active_state.as_deref() == Some("active"))
        .and_then(|l| l.status_text.as_deref())
        .filter(|t| !t.trim().is_empty());
    match now {
        Some(status) => format!(
            "drawpile-srv restarts with the new settings: this ends what is on the server now \
             ({}; sessions not saved to disk are lost)",
            status
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
        ),
        None => "drawpile-srv restarts with the new settings (sessions in memory end)".into(),
    }
}

/// Moves a socket unit out of the way: its dpwizard drop-in and enablement links go, a real
/// unit file in /etc is removed (its bytes stay in the run's backup, and the review shows the
/// removal) and the name is masked, so `Also=` or a package cannot bring it back.
fn migrate_socket(plan: &mut Plan, snap: &Snapshot, sock: &SocketUnit, reason: MigrateReason) {
    let ours = format!("/etc/systemd/system/{}.d/zz-dpwizard.conf", sock.name);
    if let Some(old) = snap.get(&ours) {
        plan.changes.push(Change::Remove {
            path: ours,
            old: old.to_vec(),
            why: "dpwizard's earlier socket slots are no longer used".into(),
        });
    }
    for via in &sock.enabled_via {
        let link = format!("/etc/systemd/system/{via}/{}", sock.name);
        if let Some(old) = snap.get(&link) {
            plan.changes.push(Change::Remove {
                path: link,
                old: old.to_vec(),
                why: format!("disables {}", sock.name),
            });
        }
    }
    let mask = format!("/etc/systemd/system/{}", sock.name);
    match snap.get(&mask) {
        Some(b"/dev/null") => {}
        Some(old) if !snap.symlinks.contains(&mask) => {
            plan.changes.push(Change::Remove {
                path: mask.clone(),
                old: old.to_vec(),
                why: format!(
                    "moves the socket unit {} aside (the run's backup keeps it; rollback puts it \
                     back) before masking the name",
                    sock.name
                ),
            });
            plan.changes.push(mask_change(mask, sock, reason));
        }
        _ => plan.changes.push(mask_change(mask, sock, reason)),
    }
    plan.actions.push(Action {
        argv: vec!["systemctl".into(), "stop".into(), sock.name.clone()],
        why: "stops the socket before drawpile-srv restarts with its own listeners".into(),
    });
}

fn mask_change(path: String, sock: &SocketUnit, reason: MigrateReason) -> Change {
    Change::Symlink {
        path,
        target: "/dev/null".into(),
        why: format!(
            "masks {}: {}; its ports move to drawpile-srv's arguments",
            sock.name,
            reason.why()
        ),
    }
}

/// Enables the service the way `systemctl enable` would (a link in each `WantedBy=` target's
/// `.wants/`), as a journalled change that rollback undoes. A service left disabled by an
/// installer that used socket activation would otherwise be off after the next reboot.
fn enable_service(plan: &mut Plan, snap: &Snapshot, unit: &ServiceUnit) {
    if unit.masked {
        return;
    }
    // A unit without [Install] (static) is started by something else on purpose.
    if unit.wanted_by.is_empty() {
        plan.notes.push(format!(
            "{} is not enabled and has no WantedBy=: nothing starts it at boot unless another \
             unit does (add WantedBy=multi-user.target to its [Install] section and enable it)",
            unit.name
        ));
        return;
    }
    let targets = unit.wanted_by.clone();
    for t in targets {
        let link = format!("/etc/systemd/system/{t}.wants/{}", unit.name);
        if snap.get(&link).is_none() {
            plan.changes.push(Change::Symlink {
                path: link,
                target: unit.path.clone(),
                why: format!(
                    "enables {} ({t}), so drawpile-srv starts at every boot on its own",
                    unit.name
                ),
            });
        }
    }
}

/// Inserts or replaces the marked location inside the server block at `line` of `text`.
/// How `edit_server_block` starts its error about a location it did not write.
pub(super) const HAND_WRITTEN: &str =
    "a location /drawpile-web/ws not written by dpwizard is already there";

pub fn edit_server_block(text: &str, line: usize, spec: &LocationSpec) -> Result<String, String> {
    edit_server_block_with(text, line, spec, false)
}

/// Like [`edit_server_block`], but a location written by hand is replaced by the marked one
/// (whole lines): for a location the audit judged unsound, shown as a diff before apply.
pub fn replace_hand_written_location(
    text: &str,
    line: usize,
    spec: &LocationSpec,
) -> Result<String, String> {
    edit_server_block_with(text, line, spec, true)
}

fn edit_server_block_with(
    text: &str,
    line: usize,
    spec: &LocationSpec,
    replace: bool,
) -> Result<String, String> {
    let cfg = Config::parse(text).map_err(|e| format!("{}:{}: {}", e.line, e.column, e.message))?;
    fn find(nodes: &[Node], line: usize) -> Option<&crate::formats::nginx::Directive> {
        for n in nodes {
            if let Node::Directive(d) = n {
                if d.name.value == "server" && d.line == line && d.block.is_some() {
                    return Some(d);
                }
                if let Some(b) = &d.block
                    && let Some(found) = find(&b.children, line)
                {
                    return Some(found);
                }
            }
        }
        None
    }
    let server = find(&cfg.nodes, line).ok_or_else(|| format!("no server block at line {line}"))?;
    let indent = child_indent(text, server);
    let block = render_location(spec, &indent);
    let body = &text[server.span.clone()];
    if let (Some(b), Some(e)) = (body.find(BEGIN_MARKER), body.find(END_MARKER)) {
        // Replace our earlier block, whole lines from the BEGIN line to the END line.
        let start = line_start(text, server.span.start + b);
        let end_marker = server.span.start + e;
        let end = text[end_marker..]
            .find('\n')
            .map(|i| end_marker + i + 1)
            .unwrap_or(text.len());
        return Ok(format!("{}{}{}", &text[..start], block, &text[end..]));
    }
    if let Some(other) = server.children().find(|c| {
        c.name.value == "location" && c.args.iter().any(|a| a.value == "/drawpile-web/ws")
    }) {
        if replace {
            let start = line_start(text, other.span.start);
            let end = text[other.span.end..]
                .find('\n')
                .map(|i| other.span.end + i + 1)
                .unwrap_or(text.len());
            return Ok(format!("{}{}{}", &text[..start], block, &text[end..]));
        }
        return Err(format!(
            "{HAND_WRITTEN} (line {}): remove it, or let `dpwizard audit` judge it",
            other.line
        ));
    }
    let at = insertion_point(text, server).ok_or("the server block has no body")?;
    let mut out = String::with_capacity(text.len() + block.len() + 1);
    out.push_str(&text[..at]);
    if !text[..at].ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&block);
    out.push_str(&text[at..]);
    Ok(out)
}

/// The port-80 server alone: what certbot needs before the certificate exists.
fn http_only_site(d: &Decisions) -> String {
    format!(
        "# Written by dpwizard for {domain}: HTTP only until certbot has the certificate;\n\
         # the next step adds the HTTPS server with the Drawpile WebSocket proxy.\n\
         server {{\n    listen 80;\n    listen [::]:80;\n    server_name {domain};\n\
         \x20   location /.well-known/acme-challenge/ {{\n        root {ACME_WEBROOT};\n    }}\n\
         \x20   location / {{\n        return 301 https://$host$request_uri;\n    }}\n}}\n",
        domain = d.domain
    )
}

fn new_site(d: &Decisions, spec: &LocationSpec) -> String {
    format!(
        "# Written by dpwizard for {domain}: the Drawpile WebSocket proxy.\n\
         server {{\n    listen 80;\n    listen [::]:80;\n    server_name {domain};\n\
         \n    # Certificate renewals (ACME http-01) keep working over plain HTTP.\n\
         \x20   location /.well-known/acme-challenge/ {{\n        root {ACME_WEBROOT};\n    }}\n\
         \x20   location / {{\n        return 301 https://$host$request_uri;\n    }}\n}}\n\n\
         server {{\n    listen 443 ssl;\n    listen [::]:443 ssl;\n    server_name {domain};\n\
         \x20   ssl_certificate {cert};\n    ssl_certificate_key {key};\n\n{location}\n\
         \x20   location / {{\n        return 404;\n    }}\n}}\n",
        domain = d.domain,
        cert = d.cert,
        key = d.key,
        location = render_location(spec, "    ")
    )
}

/// What is missing comes first: the packages are installed (Debian and Ubuntu, with apt),
/// then apply plans again with them there. Elsewhere the admin installs them.
fn install_first(facts: &Facts, packages: &[&'static str]) -> Result<Plan, PlanError> {
    let list = packages.join(" ");
    if facts.os.package_manager.as_deref() != Some("apt") {
        let hint = match facts.os.package_manager.as_deref() {
            Some("dnf") | Some("yum") => format!(
                "`{} install {}`",
                facts.os.package_manager.as_deref().unwrap_or("dnf"),
                list.replace("docker.io", "docker")
            ),
            _ => format!("your package manager ({list})"),
        };
        return Err(PlanError::Missing(format!(
            "this setup needs {list}, which is not installed: install it with {hint}, then run \
             dpwizard again (dpwizard installs packages itself only on Debian and Ubuntu); \
             nothing was changed"
        )));
    }
    let mut install = vec![
        "apt-get".to_string(),
        "install".into(),
        "-y".into(),
        "--no-install-recommends".into(),
    ];
    install.extend(packages.iter().map(|p| p.to_string()));
    Ok(Plan {
        actions: vec![
            Action {
                argv: vec!["apt-get".into(), "update".into()],
                why: "fresh package lists (a new VPS often has none)".into(),
            },
            Action {
                argv: install,
                why: format!("installs {list}, which this setup needs"),
            },
        ],
        notes: vec![format!(
            "{list} is installed first; then dpwizard plans the rest with it there and shows it \
             (apply does both steps)"
        )],
        then_replan: true,
        ..Default::default()
    })
}

/// Builds the plan. `now_unix` decides validity of a generated certificate.
pub fn make(
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
    now_unix: i64,
) -> Result<Plan, PlanError> {
    let answers = &super::web_client::with_own_origin(answers);
    let plan = make_route(facts, answers, snap, now_unix)?;
    super::web_client::extend(plan, facts, answers, snap)
}

/// The plan for the WebSocket route (and everything it needs), before the browser client.
fn make_route(
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
    now_unix: i64,
) -> Result<Plan, PlanError> {
    if let Some(plan) = compose_front_plan(facts, answers, snap)? {
        return Ok(plan);
    }
    let mut d = decide(facts, answers, snap)?;
    if d.certbot.is_some() && facts.tls.certbot.is_none() {
        d.packages.push("certbot");
    }
    if !d.packages.is_empty() {
        return install_first(facts, &d.packages);
    }
    let mut plan = Plan::default();
    let notify_ok = facts
        .drawpile
        .binaries
        .iter()
        .find(|b| {
            b.found_via
                .iter()
                .any(|v| v == &format!("unit {}", d.unit.name))
        })
        .is_some_and(|b| b.systemd_support.supported != Some(false));

    // 1. The socket unit, if drawpile-srv is socket-activated: its ports move to arguments
    // and the service is enabled on its own, so it comes back after a reboot.
    if let SocketPlan::Migrate(sock, reason) = d.socket {
        migrate_socket(&mut plan, snap, sock, reason);
    }

    // 2. The service drop-in (not with 2.2.x sockets: the arguments would be ignored).
    let dropin = format!(
        "/etc/systemd/system/{}.d/{}",
        d.unit.name,
        dropin_name(&d.unit)
    );
    let want = Wanted::from_answers(answers);
    let dropin_text = render_dropin(&d.unit, &d, &want, notify_ok, snap.get(&dropin));
    let service_dropin = !d.new_service
        && d.new_container.is_none()
        && d.docker_run.is_none()
        && d.compose.is_none();
    if let Some((file, svc, tool)) = &d.compose {
        let old = snap
            .get(&file.path)
            .ok_or_else(|| PlanError::Missing(format!("{} could not be read", file.path)))?;
        let argv = with_websocket(
            &std::iter::once(String::new())
                .chain(svc.command.iter().cloned())
                .collect::<Vec<_>>(),
            d.ws_port,
            None,
        )
        .into_iter()
        .skip(1)
        .collect::<Vec<_>>();
        let mapping = format!("127.0.0.1:{0}:{0}", d.ws_port);
        let new = crate::formats::compose::edit_service(
            &String::from_utf8_lossy(old),
            &svc.name,
            &argv,
            d.ws_port,
            &mapping,
        )
        .map_err(|e| PlanError::Conflict(format!("{}: {e}", file.path)))?;
        let changed = new.as_bytes() != old;
        if changed {
            plan.changes.push(Change::Write {
            path: file.path.clone(),
            old: Some(old.to_vec()),
            new: new.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "service {}: --websocket-port {} (never --websocket-listen inside a container) and \
                 the port published on 127.0.0.1 only; comments and the rest stay",
                svc.name, d.ws_port
            ),
        });
            // Every file Compose reads (`-f` alone would leave the override file out).
            let target = super::compose_front::Target {
                file,
                service: svc,
                tool: tool.clone(),
            };
            let files = if file.config_files.is_empty() {
                vec![file.path.clone()]
            } else {
                file.config_files.clone()
            };
            let up = super::compose_front::compose_argv(&target, &files, &["up", "-d", &svc.name]);
            plan.actions.push(Action {
                argv: up,
                why: "re-creates the service with the new command and ports".into(),
            });
        }
    }
    if let Some(c) = d.docker_run {
        let wants = c.options.websocket_port_number() == Some(d.ws_port)
            && c.options.websocket_listen.is_none()
            && c.ports
                .iter()
                .any(|p| p.container_port == d.ws_port && p.host_ip == "127.0.0.1");
        if !wants {
            let run = docker_run_command(c, d.ws_port);
            plan.manual
                .push(format!("docker stop {0} && docker rm {0}", c.name));
            plan.manual.push(crate::ui::shell::join(&run));
            plan.notes.push(format!(
                "container {} was started by hand (no file says how): re-create it with the \
                 commands above (its volumes keep the data; -e names pass the current \
                 environment values through, set them in your shell first)",
                c.name
            ));
        }
    }
    if let Some((docker, image)) = &d.new_container {
        let text = super::systemd::render_new_container(&super::systemd::NewContainer {
            docker: docker.clone(),
            image: image.clone(),
            container_name: "drawpile-srv".into(),
            volume: "drawpile-srv-data".into(),
            args: super::systemd::ServerArgs {
                tcp_port: answers.drawpile.tcp_port.map(|p| p.get()).unwrap_or(27750),
                websocket_port: d.ws_port,
                websocket_listen: None,
                web_admin_port: answers.drawpile.web_admin_port.map(|p| p.get()),
            },
        });
        plan.changes.push(Change::Write {
            old: snap.get(&d.unit.path).map(<[u8]>::to_vec),
            path: d.unit.path.clone(),
            new: text.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "runs {image} with the WebSocket port published on 127.0.0.1:{} for nginx \
                 (inside the container it listens on all of its interfaces)",
                d.ws_port
            ),
        });
    }
    if d.new_service {
        let user = d.unit.user.clone().unwrap_or_else(|| "drawpile".into());
        let binary = d
            .unit
            .exec_start
            .as_ref()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        let unit_text = super::systemd::render_new_service(&super::systemd::NewService {
            binary,
            user: user.clone(),
            args: super::systemd::ServerArgs {
                tcp_port: answers.drawpile.tcp_port.map(|p| p.get()).unwrap_or(27750),
                websocket_port: d.ws_port,
                websocket_listen: Some(d.ws_listen.clone()),
                web_admin_port: answers.drawpile.web_admin_port.map(|p| p.get()),
            },
            // Type=notify only with evidence the build sends READY=1; simple is always safe.
            notify: false,
        });
        plan.changes.push(Change::Write {
            old: snap.get(&d.unit.path).map(<[u8]>::to_vec),
            path: d.unit.path.clone(),
            new: unit_text.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "a hardened unit running {} as the system user {user}, WebSocket on {}:{}",
                d.unit
                    .exec_start
                    .as_ref()
                    .and_then(|a| a.first())
                    .map(String::as_str)
                    .unwrap_or("?"),
                d.ws_listen,
                d.ws_port
            ),
        });
        let sysusers = "/etc/sysusers.d/drawpile-srv.conf".to_string();
        plan.changes.push(Change::Write {
            old: snap.get(&sysusers).map(<[u8]>::to_vec),
            path: sysusers,
            new: super::systemd::render_sysusers(&user).into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!("the dedicated system user {user} (systemd-sysusers creates it)"),
        });
    }
    // A unit whose effective settings already are the ones dpwizard would write (set by
    // hand, e.g. in override.conf) needs no drop-in: adding one would change nothing.
    let already = snap.get(&dropin).is_none()
        && matches!(d.socket, SocketPlan::None)
        && effective_matches(&d.unit, &d, &want)
        && (notify_ok || d.unit.type_.as_deref() != Some("notify"))
        && d.unit
            .user
            .as_deref()
            .is_some_and(|u| u != "root" && u != "0");
    if service_dropin && !already {
        plan.changes.push(Change::Write {
            old: snap.get(&dropin).map(<[u8]>::to_vec),
            path: dropin,
            new: dropin_text.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "makes {} listen for WebSockets on {}:{} (sorts after every other drop-in, so its \
             ExecStart is the effective one)",
                d.unit.name, d.ws_listen, d.ws_port
            ),
        });
    }

    // The service starts at boot on its own (after its unit file, for the review's order).
    if !d.unit.enabled && d.compose.is_none() && d.docker_run.is_none() {
        enable_service(&mut plan, snap, &d.unit);
    }

    // 3. TLS material.
    if d.self_signed {
        let have = snap
            .get(&d.cert)
            .zip(snap.get(&d.key))
            .is_some_and(|(c, _)| {
                crate::detect::tls::parse_cert_pem(c, now_unix).is_ok_and(|i| {
                    !i.expired && i.days_left > 30 && i.names.iter().any(|n| n == &d.domain)
                })
            });
        if !have {
            let s = super::selfsigned::generate(&d.domain, now_unix, 365)
                .map_err(|e| PlanError::Conflict(format!("cannot make a certificate: {e:#}")))?;
            plan.changes.push(Change::Write {
                path: d.cert.clone(),
                old: snap.get(&d.cert).map(<[u8]>::to_vec),
                new: s.cert_pem.into_bytes(),
                mode: FileMode::CONFIG,
                secret: false,
                why: "a self-signed certificate (browsers need an exception for it)".into(),
            });
            plan.changes.push(Change::Write {
                path: d.key.clone(),
                old: snap.get(&d.key).map(<[u8]>::to_vec),
                new: s.key_pem.into_bytes(),
                mode: FileMode::SECRET,
                secret: true,
                why: "its private key (0600)".into(),
            });
            plan.notes.push(format!(
                "{} is self-signed: browsers show a warning until users add an exception, and \
                 the web client cannot connect before that. Use a real certificate for a public server.",
                d.cert
            ));
        }
    }

    // 4. nginx.
    let revert: Vec<String> = d
        .server
        .map(|s| {
            s.proxy_directives
                .iter()
                .filter(|x| {
                    REVERTIBLE_SWITCHES.contains(&x.name.as_str())
                        && x.args.first().is_some_and(|a| a == "off")
                })
                .map(|x| x.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let spec = LocationSpec {
        upstream_host: if d.ws_listen == "0.0.0.0" || d.ws_listen == "::" {
            "127.0.0.1".into()
        } else {
            d.ws_listen.clone()
        },
        upstream_port: d.ws_port,
        extra_origins: answers
            .proxy
            .extra_origins
            .iter()
            .map(|o| o.to_string())
            .collect(),
        revert_switches: revert,
    };
    // Apache or Caddy in front: their own planners; nginx's section below is skipped.
    let front_up = super::front_apache::Upstream {
        host: spec.upstream_host.clone(),
        port: spec.upstream_port,
        extra_origins: spec.extra_origins.clone(),
    };
    let front_reload = match d.front {
        ProxyServer::Nginx => None,
        ProxyServer::Apache => {
            super::front_apache::plan(&mut plan, facts, snap, &d.domain, &front_up)?
        }
        ProxyServer::Caddy => {
            super::front_caddy::plan(&mut plan, facts, snap, &d.domain, &front_up)?
        }
    };
    match (d.front, d.server) {
        (ProxyServer::Apache | ProxyServer::Caddy, _) => {}
        (ProxyServer::Nginx, Some(s)) => {
            let real = snap
                .real_paths
                .get(&*s.file)
                .cloned()
                .unwrap_or_else(|| s.file.to_string());
            let old = snap
                .get(&real)
                .ok_or_else(|| PlanError::Missing(format!("{} could not be read", s.file)))?;
            let text = String::from_utf8_lossy(old);
            let new = match edit_server_block(&text, s.line, &spec) {
                Ok(new) => new,
                // A location written by hand is kept when it already does what dpwizard
                // would write (judged as the audit judges it); otherwise the admin decides.
                Err(e) if e.starts_with(HAND_WRITTEN) => {
                    let problems = crate::audit::checks::location_problems(
                        facts,
                        s,
                        &spec.upstream_host,
                        spec.upstream_port,
                        &spec.extra_origins,
                    );
                    if problems.is_empty() {
                        plan.notes.push(format!(
                            "{}: the location /drawpile-web/ws written by hand already does what \
                             dpwizard would write; it is kept as it is",
                            s.file
                        ));
                        text.to_string()
                    } else {
                        plan.notes.push(format!(
                            "{}: the location /drawpile-web/ws written by hand is replaced by the \
                             documented one (see the diff), because: {}",
                            s.file,
                            problems.join("; ")
                        ));
                        replace_hand_written_location(&text, s.line, &spec)
                            .map_err(|e| PlanError::Conflict(format!("{}: {e}", s.file)))?
                    }
                }
                Err(e) => return Err(PlanError::Conflict(format!("{}: {e}", s.file))),
            };
            if new.as_bytes() != old {
                plan.changes.push(Change::Write {
                path: real,
                old: Some(old.to_vec()),
                new: new.into_bytes(),
                mode: FileMode::CONFIG,
                secret: false,
                why: format!(
                    "adds location /drawpile-web/ws to the server for {} on 443 (line {}), between \
                     dpwizard markers; every other byte stays",
                    d.domain, s.line
                ),
            });
            }
        }
        (ProxyServer::Nginx, None) => {
            let debian = facts
                .nginx
                .files
                .iter()
                .any(|f| f.starts_with("/etc/nginx/sites-enabled/"))
                || snap.files.contains_key("/etc/nginx/sites-available/");
            let name = site_file_name(&d.domain);
            let (path, link) = if debian {
                (
                    format!("/etc/nginx/sites-available/{name}"),
                    Some(format!("/etc/nginx/sites-enabled/{name}")),
                )
            } else {
                (format!("/etc/nginx/conf.d/{name}"), None)
            };
            let content = if d.certbot.is_some() {
                http_only_site(&d)
            } else {
                new_site(&d, &spec)
            };
            plan.changes.push(Change::Write {
                old: snap.get(&path).map(<[u8]>::to_vec),
                path: path.clone(),
                new: content.into_bytes(),
                mode: FileMode::CONFIG,
                secret: false,
                why: format!(
                    "a site for {}: HTTPS with the WebSocket location, HTTP redirected",
                    d.domain
                ),
            });
            if let Some(link) = link
                && snap.get(&link).is_none_or(|t| t != path.as_bytes())
            {
                plan.changes.push(Change::Symlink {
                    path: link,
                    target: path,
                    why: "enables the site".into(),
                });
            }
        }
    }
    if d.certbot.is_some() {
        let readme = format!("{ACME_WEBROOT}/README");
        plan.changes.push(Change::Write {
            old: snap.get(&readme).map(<[u8]>::to_vec),
            path: readme,
            new: b"nginx serves ACME http-01 challenges for certbot from here (dpwizard).\n"
                .to_vec(),
            mode: FileMode::CONFIG,
            secret: false,
            why: "the webroot certbot answers its challenges from".into(),
        });
        plan.notes.push(format!(
            "certbot obtains the certificate for {} over HTTP first; then dpwizard writes the \
             HTTPS server (apply does both steps)",
            d.domain
        ));
    }
    let mut plan = plan.without_noops();
    plan.then_replan = d.certbot.is_some();
    plan.verify = (!plan.then_replan).then(|| super::VerifySpec {
        domain: d.domain.clone(),
        websocket: if spec.upstream_host.contains(':') {
            format!("[{}]:{}", spec.upstream_host, spec.upstream_port)
        } else {
            format!("{}:{}", spec.upstream_host, spec.upstream_port)
        },
        retry_not_found: d.front != ProxyServer::Nginx,
    });
    if !plan.manual.is_empty() {
        plan.verify = None; // the container must be re-created first
    }
    let certbot_action = d.certbot.clone().map(|argv| Action {
        argv,
        why: "obtains the certificate (webroot: nginx keeps running); its deploy hook reloads \
              nginx after every renewal"
            .into(),
    });

    // 4. Commands, only for what changed.
    let unit_changed = plan
        .changes
        .iter()
        .any(|c| c.path().starts_with("/etc/systemd/"));
    let nginx_changed = plan
        .changes
        .iter()
        .any(|c| c.path().starts_with("/etc/nginx/") || c.path().starts_with("/etc/ssl/dpwizard/"));
    if let (true, Some((docker, image))) = (unit_changed, &d.new_container) {
        // An image already here (preloaded, or a machine without registry access) is used
        // as it is; pulling it again is the admin's call.
        let tagged = if image.rsplit('/').next().is_some_and(|n| n.contains(':')) {
            image.clone()
        } else {
            format!("{image}:latest")
        };
        let present = facts
            .runtime
            .docker
            .images
            .iter()
            .any(|i| i == &tagged || i.strip_prefix("docker.io/") == Some(tagged.as_str()));
        if present {
            plan.notes.push(format!(
                "{image} is already on this machine: not pulled (`docker pull {image}` updates it)"
            ));
        } else {
            plan.actions.push(Action {
                argv: vec![docker.clone(), "pull".into(), image.clone()],
                why: "fetches the official image".into(),
            });
        }
    }
    if unit_changed && d.new_service {
        plan.actions.push(Action {
            argv: vec!["systemd-sysusers".into()],
            why: "creates the system user".into(),
        });
    }
    if unit_changed {
        plan.actions.push(Action {
            argv: vec!["systemctl".into(), "daemon-reload".into()],
            why: "systemd reads the new unit files".into(),
        });
        let config_changed = plan
            .changes
            .iter()
            .any(|c| c.path().starts_with("/etc/systemd/") && !is_enablement_link(c.path()));
        let running = d
            .unit
            .live
            .as_ref()
            .is_some_and(|l| l.active_state.as_deref() == Some("active"));
        if config_changed || d.new_service || d.new_container.is_some() {
            plan.actions.push(Action {
                argv: vec!["systemctl".into(), "restart".into(), d.unit.name.clone()],
                why: restart_why(&d.unit, d.new_service || d.new_container.is_some()),
            });
        } else if !running {
            plan.actions.push(Action {
                argv: vec!["systemctl".into(), "start".into(), d.unit.name.clone()],
                why: "starts drawpile-srv (it was enabled above, so it also starts at every boot)"
                    .into(),
            });
        }
    }
    if nginx_changed {
        // nginx installed but not running (nothing listens on 80 or 443): a reload would
        // fail, so it is started with the new configuration.
        let stopped = facts
            .web_servers
            .iter()
            .find(|w| w.name == "nginx")
            .is_some_and(|w| w.listens_80 == Some(false) && w.listens_443 == Some(false));
        plan.actions.push(if stopped {
            Action {
                argv: vec!["systemctl".into(), "start".into(), "nginx".into()],
                why: "nginx is not running: it starts with the new configuration".into(),
            }
        } else {
            Action {
                argv: vec!["systemctl".into(), "reload".into(), "nginx".into()],
                why: "nginx serves the new location (a reload drops no connection)".into(),
            }
        });
    }
    plan.actions.extend(front_reload);
    // 5. The firewall the machine already uses lets browsers (80, 443) and the apps (the TCP
    // port) in. Before certbot: its challenge comes in on port 80.
    let tcp_port = answers
        .drawpile
        .tcp_port
        .map(|p| p.get())
        .or_else(|| d.unit.options.port.as_deref().and_then(|p| p.parse().ok()))
        .unwrap_or(DEFAULT_TCP_PORT);
    let http = d.certbot.is_some() || d.server.is_none();
    let (files, rules, notes) = firewall_rules(&facts.network.firewall, snap, tcp_port, http);
    plan.changes.extend(files);
    plan.actions.extend(rules);
    // Said with a change, not on every run of an unchanged machine.
    if !plan.changes.is_empty() || !plan.actions.is_empty() {
        plan.notes.extend(notes);
    }
    plan.actions.extend(certbot_action);
    Ok(plan)
}

/// The rules the firewall in use needs, with the tool the machine already uses (ufw, else
/// firewalld); nftables rules are not edited (what to add is said). A cloud firewall cannot
/// be seen from the machine: what to open there is said too.
fn firewall_rules(
    fw: &crate::detect::network::Firewall,
    snap: &Snapshot,
    tcp_port: u16,
    http: bool,
) -> (Vec<Change>, Vec<Action>, Vec<String>) {
    use crate::detect::network::{HTTP_NAMES, HTTPS_NAMES};
    let mut wanted: Vec<(u16, &[&str], &str)> =
        vec![(443, HTTPS_NAMES, "browsers reach the proxy (HTTPS)")];
    if http {
        wanted.push((
            80,
            HTTP_NAMES,
            "HTTP: the redirect to HTTPS and certbot's challenge",
        ));
    }
    wanted.push((
        tcp_port,
        &[],
        "the desktop and mobile apps connect to drawpile-srv directly",
    ));
    let missing: Vec<&(u16, &[&str], &str)> = wanted
        .iter()
        .filter(|(p, names, _)| !fw.allows(*p, names))
        .collect();
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let ports = wanted
        .iter()
        .map(|(p, _, _)| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if fw.ufw_enabled == Some(true) {
        for (p, _, why) in &missing {
            actions.push(Action {
                argv: vec!["ufw".into(), "allow".into(), format!("{p}/tcp")],
                why: format!("ufw is active: {why}"),
            });
        }
    } else if fw.firewalld_present {
        for (p, _, why) in &missing {
            let arg = match p {
                443 => "--add-service=https".to_string(),
                80 => "--add-service=http".to_string(),
                p => format!("--add-port={p}/tcp"),
            };
            actions.push(Action {
                argv: vec!["firewall-cmd".into(), "--permanent".into(), arg],
                why: format!("firewalld is configured: {why}"),
            });
        }
        if !missing.is_empty() {
            actions.push(Action {
                argv: vec!["firewall-cmd".into(), "--reload".into()],
                why: "firewalld applies the permanent rules".into(),
            });
        }
    } else if fw.nftables_input_drops && !missing.is_empty() {
        let want: Vec<String> = missing.iter().map(|(p, _, _)| p.to_string()).collect();
        match snap
            .get(NFTABLES_CONF)
            .and_then(|old| nftables_with_accept(&String::from_utf8_lossy(old), &want))
        {
            Some(new) => {
                files.push(Change::Write {
                    path: NFTABLES_CONF.into(),
                    old: snap.get(NFTABLES_CONF).map(<[u8]>::to_vec),
                    new: new.into_bytes(),
                    mode: FileMode::CONFIG,
                    secret: false,
                    why: format!(
                        "nftables' input chain drops what it does not accept: one rule accepts \
                         TCP {} (browsers and the Drawpile apps); every other byte stays",
                        want.join(", ")
                    ),
                });
                actions.push(Action {
                    argv: vec!["nft".into(), "-f".into(), NFTABLES_CONF.into()],
                    why: "nftables loads the rules (a refusal rolls the run back)".into(),
                });
            }
            None => notes.push(format!(
                "{NFTABLES_CONF} is not in a shape dpwizard edits: make its input chain accept \
                 tcp dport {{ {ports} }}"
            )),
        }
    }
    notes.push(format!(
        "a cloud provider's firewall (security group) cannot be seen from this machine: open \
         TCP {ports} there too"
    ));
    (files, actions, notes)
}

pub const NFTABLES_CONF: &str = "/etc/nftables.conf";

/// `text` with a rule accepting TCP `ports` right after the `type filter hook input` line of
/// its input chain, indented like it; None when there is no such line to anchor on.
fn nftables_with_accept(text: &str, ports: &[String]) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 80);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.contains("hook input") && line.trim_start().starts_with("type ") {
            let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!(
                "{indent}tcp dport {{ {} }} accept comment \"dpwizard: browsers and the Drawpile apps\"\n",
                ports.join(", ")
            ));
            done = true;
        }
    }
    done.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LocationSpec {
        LocationSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 27751,
            extra_origins: vec![],
            revert_switches: vec![],
        }
    }

    const SITE: &str = "# my site\nserver {\n\tlisten 443 ssl; # tls\n\tserver_name a.example.com;\n\n\tlocation / {\n\t\troot /srv;\n\t}\n}\n\nserver {\n\tlisten 80;\n}\n";

    #[test]
    fn inserting_keeps_every_other_byte_and_a_second_run_changes_nothing() {
        let once = edit_server_block(SITE, 2, &spec()).unwrap();
        // Everything before the insertion and after it is the original text.
        let at = SITE.find("}\n\nserver {\n\tlisten 80").unwrap();
        assert!(once.starts_with(&SITE[..at]));
        assert!(once.ends_with(&SITE[at..]));
        assert!(
            once.contains("\t# BEGIN dpwizard\n\tlocation /drawpile-web/ws {\n"),
            "{once}"
        );
        let twice = edit_server_block(&once, 2, &spec()).unwrap();
        assert_eq!(once, twice);
        // A changed port replaces the block instead of adding a second one.
        let mut s = spec();
        s.upstream_port = 27755;
        let changed = edit_server_block(&once, 2, &s).unwrap();
        assert_eq!(changed.matches("location /drawpile-web/ws").count(), 1);
        assert!(changed.contains("proxy_pass http://127.0.0.1:27755;"));
        assert!(Config::parse(&changed).is_ok());
    }

    #[test]
    fn a_hand_written_location_is_not_duplicated() {
        let text = "server {\n  listen 443 ssl;\n  location /drawpile-web/ws { proxy_pass http://x; }\n}\n";
        let e = edit_server_block(text, 1, &spec()).unwrap_err();
        assert!(e.contains("not written by dpwizard"), "{e}");
    }

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nftables_gets_one_accept_rule_in_its_input_chain_and_every_other_byte_stays() {
        let conf = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tiif lo accept\n\t\ttcp dport 22 accept\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter;\n\t}\n}\n";
        let (drops, ports) = crate::detect::network::parse_nftables(conf);
        assert!(drops);
        assert_eq!(ports, vec![22]);
        let new = nftables_with_accept(conf, &["443".into(), "27750".into()]).unwrap();
        assert_eq!(
            new,
            conf.replace(
                "policy drop;\n",
                "policy drop;\n\t\ttcp dport { 443, 27750 } accept comment \"dpwizard: browsers and the Drawpile apps\"\n"
            )
        );
        let (_, ports) = crate::detect::network::parse_nftables(&new);
        assert_eq!(ports, vec![443, 27750, 22]);
        assert!(nftables_with_accept("table inet x {}\n", &["443".into()]).is_none());
        // Debian's default: accepts everything, nothing to add.
        let (drops, _) = crate::detect::network::parse_nftables(
            "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n",
        );
        assert!(!drops);
    }

    #[test]
    fn a_restart_says_what_it_ends_when_the_server_told_systemd() {
        let mut unit = ServiceUnit::default();
        assert!(restart_why(&unit, false).contains("sessions in memory end"));
        unit.live = Some(crate::detect::systemd::LiveState {
            active_state: Some("active".into()),
            status_text: Some("3 users and 1 sessions\u{1b}[2J".into()),
            ..Default::default()
        });
        let why = restart_why(&unit, false);
        assert!(why.contains("(3 users and 1 sessions[2J;"), "{why}");
        assert!(
            !why.contains('\u{1b}'),
            "no escape reaches the terminal: {why}"
        );
        assert!(restart_why(&unit, true).starts_with("starts drawpile-srv"));
    }

    #[test]
    fn options_are_set_in_every_spelling_and_kept_in_place_when_already_right() {
        // Short, inline, `=` and repeated forms are all the same option to drawpile-srv.
        let argv = v(&["srv", "-p27000", "--x", "-p", "1", "--port=2", "-d", "/db"]);
        assert_eq!(
            set_options(&argv, &[(OPT_PORT, Some("27750".into()))]),
            v(&["srv", "--x", "-d", "/db", "--port", "27750"])
        );
        // Given once with the wanted value: not moved, not respelled.
        let argv = v(&[
            "srv",
            "-p",
            "27750",
            "--websocket-port=27751",
            "--websocket-listen",
            "127.0.0.1",
            "-d",
            "/db",
        ]);
        assert_eq!(with_websocket(&argv, 27751, Some("127.0.0.1")), argv);
        assert_eq!(
            set_options(&argv, &[(OPT_PORT, Some("27750".into()))]),
            argv
        );
        // None removes; `-d` is not `-p`, `--ports` is not `--port`.
        let argv = v(&[
            "srv",
            "--ports",
            "1",
            "--websocket-listen",
            "0.0.0.0",
            "-d",
            "/p",
        ]);
        assert_eq!(
            with_websocket(&argv, 27751, None),
            v(&[
                "srv",
                "--ports",
                "1",
                "-d",
                "/p",
                "--websocket-port",
                "27751"
            ])
        );
    }

    #[test]
    fn the_effective_configuration_is_compared_as_drawpile_reads_it() {
        let argv = v(&[
            "/usr/bin/drawpile-srv",
            "--websocket-listen=127.0.0.1",
            "-p",
            "27750",
            "--websocket-port",
            "27751",
        ]);
        let unit = ServiceUnit {
            options: DrawpileArgs::parse(&argv[1..]),
            exec_start: Some(argv.clone()),
            user: Some("drawpile".into()),
            ..Default::default()
        };
        let d = Decisions {
            unit: unit.clone(),
            new_service: false,
            new_container: None,
            docker_run: None,
            compose: None,
            socket: SocketPlan::None,
            ws_port: 27751,
            ws_listen: "127.0.0.1".into(),
            domain: "x.example".into(),
            front: ProxyServer::Nginx,
            server: None,
            cert: String::new(),
            key: String::new(),
            self_signed: false,
            certbot: None,
            packages: Vec::new(),
        };
        assert!(effective_matches(&unit, &d, &Wanted::default()));
        let want = |f: fn(&mut Wanted)| {
            let mut w = Wanted::default();
            f(&mut w);
            w
        };
        assert!(effective_matches(
            &unit,
            &d,
            &want(|w| w.tcp_port = Some(27750))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.tcp_port = Some(27760))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.web_admin_port = Some(27780))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.user = Some("nobody".into()))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.binary = Some("/opt/srv".into()))
        ));
        let other_port = Decisions {
            ws_port: 27752,
            ..d.clone()
        };
        assert!(!effective_matches(&unit, &other_port, &Wanted::default()));
        let other_listen = Decisions {
            ws_listen: "0.0.0.0".into(),
            ..d
        };
        assert!(!effective_matches(&unit, &other_listen, &Wanted::default()));
    }

    #[test]
    fn websocket_options_are_set_exactly_once() {
        let argv: Vec<String> = [
            "/usr/bin/drawpile-srv",
            "--port",
            "27750",
            "--websocket-port",
            "1",
            "--websocket-listen=0.0.0.0",
            "-d",
            "/var/lib/db",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = with_websocket(&argv, 27751, Some("127.0.0.1"));
        assert_eq!(
            out,
            vec![
                "/usr/bin/drawpile-srv",
                "--port",
                "27750",
                "-d",
                "/var/lib/db",
                "--websocket-port",
                "27751",
                "--websocket-listen",
                "127.0.0.1"
            ]
        );
        assert_eq!(exec_quote("my dir"), "\"my dir\"");
        assert_eq!(exec_quote("100%"), "100%%");
    }

    #[test]
    fn words_kept_from_the_unit_are_written_as_they_were() {
        let line = "/usr/bin/drawpile-srv --database /var/lib/dp/%i.db --motd \"100%% fun\" \
                    --websocket-port 1";
        let cmd = crate::formats::systemd_unit::split_exec(line).unwrap();
        let argv = with_websocket(&cmd.argv, 27751, Some("127.0.0.1"));
        assert_eq!(
            exec_line(&argv, &cmd.argv, &cmd.raw),
            "/usr/bin/drawpile-srv --database /var/lib/dp/%i.db --motd \"100%% fun\" \
             --websocket-port 27751 --websocket-listen 127.0.0.1"
        );
    }
}
