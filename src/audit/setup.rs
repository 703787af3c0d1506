//! What the machine's setup *is*, read from the facts: which drawpile-srv instance the
//! audit judges, the WebSocket port it effectively listens on, and the nginx server and
//! location that front it. Shared by the checks and by `answers --from-machine`.

use crate::detect::Facts;
use crate::detect::args::DrawpileArgs;
use crate::detect::docker::{
    ComposeFile, ComposeService, Container, PublishedPort, parse_compose_port,
};
use crate::detect::drawpile::DrawpileBinary;
use crate::detect::nginx::{NginxContainer, NginxDirective, NginxLocation, NginxServer};
use crate::detect::runtime::RuntimeKind;
use crate::detect::systemd::{ServiceUnit, SocketUnit, listen_port};
use crate::detect::tls::{CertInfo, Lineage};

pub use crate::proxy::WS_PATH;

/// The drawpile-srv instance being audited.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub kind: RuntimeKind,
    /// Where it is configured, for evidence: `drawpile-srv.service (/etc/…/x.conf:3)`.
    pub described: String,
    pub args: DrawpileArgs,
    pub unit: Option<&'a ServiceUnit>,
    /// The socket unit that feeds it (enabled or active).
    pub socket: Option<&'a SocketUnit>,
    pub container: Option<&'a Container>,
    pub compose: Option<(&'a ComposeFile, &'a ComposeService)>,
    pub binary: Option<&'a DrawpileBinary>,
    /// The version, from the binary or the image tag.
    pub version: Option<[u32; 3]>,
    pub version_text: Option<String>,
    /// Ports a `docker run` unit publishes (its container is not running to ask).
    pub unit_ports: Vec<PublishedPort>,
    /// What the image's version means, when it matters (e.g. too old for WebSockets).
    pub image_note: Option<String>,
}

impl Instance<'_> {
    pub fn in_container(&self) -> bool {
        matches!(self.kind, RuntimeKind::Docker | RuntimeKind::Compose)
    }

    /// Published ports (containers).
    pub fn ports(&self) -> &[PublishedPort] {
        if let Some(c) = self.container {
            &c.ports
        } else if let Some((_, s)) = self.compose {
            &s.ports
        } else {
            &self.unit_ports
        }
    }

    /// Evidence lines for each publication of container `port` on every host address.
    pub fn published_publicly(&self, port: u16, what: &str) -> Vec<String> {
        self.ports()
            .iter()
            .filter(|p| p.container_port == port && p.is_public())
            .map(|p| {
                let ip = if p.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &p.host_ip
                };
                format!(
                    "{}: publishes {what} {port} as {ip}:{}",
                    self.described,
                    p.host_port.unwrap_or(port)
                )
            })
            .collect()
    }

    /// The container shares the host's network (`--network host`, `network_mode: host`):
    /// its ports are the host's, nothing is published, its 127.0.0.1 is the host's.
    pub fn host_network(&self) -> bool {
        self.container
            .and_then(|c| c.network_mode.as_deref())
            .or_else(|| self.compose.and_then(|(_, s)| s.network_mode.as_deref()))
            .is_some_and(|m| m == "host")
    }

    /// The socket passes file descriptors, so the port arguments are ignored (2.2.x).
    pub fn socket_active(&self) -> bool {
        self.socket.is_some() && self.version.is_none_or(|v| v < [2, 3, 0])
    }

    /// The WebSocket port drawpile-srv listens on, and where that was read.
    pub fn ws_port(&self) -> Option<(u16, String)> {
        if self.socket_active() {
            let s = self.socket?;
            let v = s.slots.websocket.as_deref()?;
            return Some((
                listen_port(v)?,
                format!("{}: third ListenStream={v}", s.path),
            ));
        }
        let p = self.args.websocket_port_number()?;
        Some((p, format!("{}: --websocket-port {p}", self.described)))
    }

    /// The TCP port (default 27750).
    pub fn tcp_port(&self) -> u16 {
        if self.socket_active()
            && let Some(p) = self
                .socket
                .and_then(|s| s.slots.tcp.as_deref())
                .and_then(listen_port)
        {
            return p;
        }
        self.args
            .port
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(27750)
    }

    /// Where, on this host, the WebSocket port is reached: (address, port). For a container,
    /// the host side of the published port.
    pub fn ws_endpoint(&self) -> Option<(String, u16)> {
        let (port, _) = self.ws_port()?;
        if self.in_container() {
            if self.host_network() {
                return Some(("127.0.0.1".into(), port));
            }
            let p = self.ports().iter().find(|p| p.container_port == port)?;
            let addr = match p.host_ip.as_str() {
                "" | "0.0.0.0" => "127.0.0.1".to_string(),
                "::" => "::1".to_string(),
                a => a.to_string(),
            };
            return Some((addr, p.host_port.unwrap_or(port)));
        }
        let addr = match self.args.websocket_listen.as_deref() {
            None | Some("0.0.0.0") | Some("") => "127.0.0.1".to_string(),
            Some("::") => "::1".to_string(),
            Some(a) => a.to_string(),
        };
        Some((addr, port))
    }
}

/// The nginx side: the server block for the domain and its WebSocket location.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    pub server: &'a NginxServer,
    pub location: Option<&'a NginxLocation>,
    /// The Compose service nginx runs in; None for nginx on the host.
    pub container: Option<&'a NginxContainer>,
}

impl<'a> Site<'a> {
    /// `proxy_*` directives at http level, inherited by the site's locations.
    pub fn http_proxy_directives(&self, facts: &'a Facts) -> &'a [NginxDirective] {
        match self.container {
            Some(c) => &c.config.http_proxy_directives,
            None => &facts.nginx.http_proxy_directives,
        }
    }
    /// nginx on the host or in a container.
    pub fn kind(&self) -> crate::proxy::Kind {
        match self.container {
            Some(_) => crate::proxy::Kind::ContainerNginx,
            None => crate::proxy::Kind::HostNginx,
        }
    }

    /// The WebSocket route of the site, judged neutrally; None without one.
    pub fn route(&self, facts: &'a Facts) -> Option<crate::proxy::route::Route> {
        let loc = self.location?;
        Some(crate::proxy::nginx::route(
            self.kind(),
            self.http_proxy_directives(facts),
            self.server,
            loc,
        ))
    }
}

#[derive(Debug, Clone)]
pub struct Setup<'a> {
    pub instance: Option<Instance<'a>>,
    /// Every instance found (several units or containers), for evidence.
    pub others: Vec<String>,
    pub domain: Option<String>,
    /// Where the domain came from.
    pub domain_from: String,
    /// The TLS server on 443 for the domain.
    pub site: Option<Site<'a>>,
    /// Every location for the WebSocket path (or near misses) in any server: (server, location).
    pub ws_locations: Vec<(&'a NginxServer, &'a NginxLocation)>,
    /// nginx containers that publish port 443 on the host (they are the web server in front
    /// even when the host has no nginx).
    pub nginx_containers_443: Vec<&'a NginxContainer>,
    /// Apache or Caddy in front (set by [`Setup::with_front`] from their files).
    pub front: Option<Front>,
}

/// Apache or Caddy serving 443: its site for the domain and the route in it, read from its
/// files, or why there is none.
#[derive(Debug, Clone)]
pub struct Front {
    pub server: crate::answers::ProxyServer,
    pub site: Result<crate::proxy::FrontSite, FrontMissing>,
}

/// Why the front end's site for the domain was not judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontMissing {
    /// Its configuration is not read (Caddy configured in JSON): the reason.
    NotRead(String),
    /// Read, and no site serves the domain on 443.
    NoSite(String),
    /// No domain was given and no site has a route for the WebSocket path to take it from.
    NoDomain(String),
}

impl<'a> Setup<'a> {
    /// The route that serves the WebSocket path for the domain, judged neutrally, whichever
    /// web server is in front; None without one.
    pub fn route(&self, facts: &'a Facts) -> Option<crate::proxy::route::Route> {
        match &self.site {
            Some(site) => site.route(facts),
            None => self.front_site().map(|f| f.route.clone()),
        }
    }

    /// A site serves the domain on 443, whichever web server is in front (nginx's server,
    /// Apache's or Caddy's site): the machine is set up already, the wizard starts from the
    /// audit.
    pub fn has_site(&self) -> bool {
        self.site.is_some() || self.front_site().is_some()
    }

    /// Apache's or Caddy's site for the domain, when one of them is in front and has one.
    pub fn front_site(&self) -> Option<&crate::proxy::FrontSite> {
        self.front.as_ref()?.site.as_ref().ok()
    }

    /// With Apache or Caddy in front (and no nginx site for the domain), reads its site and
    /// route from `files` (the front end's configuration, read by the caller). A domain not
    /// known yet comes from the site whose route serves the WebSocket path.
    pub fn with_front(mut self, facts: &Facts, files: &crate::proxy::Files) -> Self {
        use crate::answers::ProxyServer;
        let server = crate::proxy::front::in_front(facts);
        if self.site.is_some() || server == ProxyServer::Nginx {
            return self;
        }
        if server == ProxyServer::Caddy && facts.caddy.caddyfile.is_none() {
            self.front = Some(Front {
                server,
                site: Err(FrontMissing::NotRead(
                    "Caddy serves port 443 without /etc/caddy/Caddyfile: it is configured in \
                     JSON (a config file or the admin API), which dpwizard reads neither to \
                     audit nor to edit; the live probes judge what it does"
                        .into(),
                )),
            });
            return self;
        }
        let apache = crate::proxy::apache::Server::of(facts);
        let root = facts.apache.config_root.as_deref();
        if self.domain.is_none() {
            let found = match server {
                ProxyServer::Apache => crate::proxy::apache::domain_with_route(files, root),
                _ => crate::proxy::caddy::domain_with_route(files),
            };
            if let Some((d, from)) = found {
                self.domain = Some(d);
                self.domain_from = from;
            }
        }
        let site = match &self.domain {
            None => Err(FrontMissing::NoDomain(format!(
                "no {} site on 443 has a route for {WS_PATH}, so the domain is unknown",
                match server {
                    ProxyServer::Apache => "Apache",
                    _ => "Caddy",
                }
            ))),
            Some(d) => match server {
                ProxyServer::Apache => crate::proxy::apache::site(files, root, d, apache)
                    .ok_or_else(|| {
                        FrontMissing::NoSite(format!(
                            "Apache has no <VirtualHost> on 443 with SSLEngine on for {d} \
                             (ServerName or ServerAlias) in {}",
                            if facts.apache.files.is_empty() {
                                "any file read".to_string()
                            } else {
                                facts.apache.files.join(", ")
                            }
                        ))
                    }),
                _ => crate::proxy::caddy::site(files, d).ok_or_else(|| {
                    FrontMissing::NoSite(format!(
                        "the Caddyfile has no site for {d} on 443 ({})",
                        files
                            .0
                            .iter()
                            .map(|(p, _)| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
            },
        };
        self.front = Some(Front { server, site });
        self
    }
}

/// The certificate the domain's TLS server names (`ssl_certificate`).
#[derive(Debug, Clone)]
pub struct SiteCert<'a> {
    pub path: &'a str,
    /// The certbot lineage the file belongs to.
    pub lineage: Option<&'a Lineage>,
    /// What detection read of it (from the reference, else the lineage), or why it could not.
    pub info: Result<CertInfo, String>,
}

/// The certificate of the domain's TLS site (nginx's server, or the site of Apache or Caddy
/// in front); None without such a site or without a certificate file in it. Shared by the TLS checks and the metrics.
pub fn site_certificate<'a>(facts: &'a Facts, s: &'a Setup<'a>) -> Option<SiteCert<'a>> {
    let path = match (&s.site, &s.front) {
        (Some(site), _) => site.server.ssl_certificate.as_deref()?,
        (None, Some(Front { site: Ok(f), .. })) => match &f.certificate {
            crate::proxy::SiteCertificate::File { path, .. } => path.as_str(),
            _ => return None,
        },
        _ => return None,
    };
    let referenced = facts.tls.referenced.iter().find(|r| r.path == path);
    let lineage = facts
        .tls
        .lineages
        .iter()
        .find(|l| l.fullchain_path == path || l.cert_path == path);
    let info = referenced
        .and_then(|r| r.certificate.clone())
        .or_else(|| lineage.and_then(|l| l.certificate.clone()))
        .ok_or_else(|| {
            referenced
                .and_then(|r| r.error.clone())
                .unwrap_or_else(|| "it could not be read".into())
        });
    Some(SiteCert {
        path,
        lineage,
        info,
    })
}

pub use crate::proxy::nginx::{is_catch_all, listens_tls_443, near_miss, serves_ws_path};

/// Containers that serve the host's port 443 and are not nginx read by dpwizard, described
/// (`caddy:2 in compose service proxy (/opt/proxy/compose.yaml:3)`, `npm (jc21/…)`): the
/// web server in front is one of them, and a host web server would clash with it.
pub fn other_containers_on_443(facts: &Facts) -> Vec<String> {
    let compose = &facts.runtime.compose;
    let is_nginx = |f: &ComposeFile, s: &ComposeService| {
        facts
            .nginx_containers
            .iter()
            .any(|n| n.compose_file == f.path && n.service == s.name)
    };
    let mut out: Vec<String> = compose
        .all_services()
        .filter(|(f, s)| {
            !is_nginx(f, s)
                && s.ports
                    .iter()
                    .any(|p| p.container_port == 443 && p.host_port.is_none_or(|h| h == 443))
        })
        .map(|(_, s)| {
            format!(
                "{} in compose service {} ({}:{})",
                if s.image.is_empty() {
                    "a built image"
                } else {
                    &s.image
                },
                s.name,
                s.file,
                s.line.unwrap_or(1)
            )
        })
        .collect();
    // Containers started otherwise (docker run), unless they are a project's read above
    // (Compose names them PROJECT_SERVICE_N or PROJECT-SERVICE-N, or container_name).
    let known: Vec<(String, String, Option<String>)> = compose
        .all_services()
        .map(|(f, s)| {
            (
                f.project_name.clone(),
                s.name.clone(),
                s.container_name.clone(),
            )
        })
        .collect();
    for c in &facts.runtime.docker.publishing_443 {
        let name = c.split(" (").next().unwrap_or(c);
        let from_project = known.iter().any(|(p, s, cn)| {
            cn.as_deref() == Some(name)
                || [format!("{p}_{s}_"), format!("{p}-{s}-")]
                    .iter()
                    .any(|pre| {
                        name.strip_prefix(pre.as_str())
                            .is_some_and(|n| n.parse::<u32>().is_ok())
                    })
        });
        if !from_project {
            out.push(format!("container {c}"));
        }
    }
    out
}

/// The container publishes its port 443 as the host's port 443.
pub fn publishes_https(c: &NginxContainer) -> bool {
    c.network_mode.as_deref() == Some("host")
        || c.ports
            .iter()
            .any(|p| p.container_port == 443 && p.host_port.is_none_or(|h| h == 443))
}

pub use crate::detect::tls::name_covers;

fn version_from_tag(tag: &str) -> Option<[u32; 3]> {
    let core = tag.split('-').next()?;
    let mut it = core.split('.').map(|p| p.parse::<u32>().ok());
    let major = it.next()??;
    let minor = it.next()??;
    let patch = it.next().flatten().unwrap_or(0);
    Some([major, minor, patch])
}

/// The version an image says it is: what detection recognised (a label, the base image's
/// tag), else the tag itself.
fn image_version<'a>(
    d: Option<&'a crate::detect::docker::DrawpileImage>,
    tag: Option<&'a str>,
) -> Option<&'a str> {
    d.and_then(|d| d.version.as_deref()).or(tag)
}

fn binary_for<'a>(facts: &'a Facts, unit: &ServiceUnit) -> Option<&'a DrawpileBinary> {
    let program = unit.exec_start.as_ref()?.first()?;
    facts.drawpile.binaries.iter().find(|b| {
        &b.path == program
            || &b.canonical == program
            || b.found_via
                .iter()
                .any(|v| v == &format!("unit {}", unit.name))
    })
}

/// What a unit running `docker run …` runs (dpwizard's new-container unit, or one written
/// by hand).
#[derive(Debug, Clone)]
struct DockerRun {
    name: Option<String>,
    image: String,
    args: Vec<String>,
    ports: Vec<PublishedPort>,
}

fn docker_run_unit(u: &ServiceUnit) -> Option<DockerRun> {
    let argv = u.exec_start.as_ref()?;
    let program = argv.first()?;
    if !(program == "docker" || program.ends_with("/docker")) {
        return None;
    }
    let run = argv.iter().position(|a| a == "run")?;
    // `docker run` options that take a value (the rest are flags).
    const VALUED: &[&str] = &[
        "-p",
        "--publish",
        "-v",
        "--volume",
        "-e",
        "--env",
        "--name",
        "--restart",
        "--network",
        "--net",
        "-u",
        "--user",
        "--mount",
        "--env-file",
        "-w",
        "--workdir",
        "--entrypoint",
        "-l",
        "--label",
        "-h",
        "--hostname",
        "--log-driver",
        "--log-opt",
        "--cpus",
        "-m",
        "--memory",
        "--pull",
        "--platform",
    ];
    let mut out = DockerRun {
        name: None,
        image: String::new(),
        args: Vec::new(),
        ports: Vec::new(),
    };
    let mut i = run + 1;
    while i < argv.len() {
        let a = &argv[i];
        if !a.starts_with('-') {
            out.image = a.clone();
            out.args = argv[i + 1..].to_vec();
            break;
        }
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) => (o, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let value = if VALUED.contains(&opt) && inline.is_none() {
            i += 1;
            argv.get(i).cloned()
        } else {
            inline
        };
        match (opt, value) {
            ("--name", Some(v)) => out.name = Some(v),
            ("-p" | "--publish", Some(v)) => out
                .ports
                .extend(parse_compose_port(&yaml_serde::Value::String(v))),
            _ => {}
        }
        i += 1;
    }
    (!out.image.is_empty()).then_some(out)
}

/// Where a unit's effective ExecStart is written: `file:line`, else the unit file.
fn exec_start_at(u: &ServiceUnit) -> String {
    u.exec_start_origin
        .as_ref()
        .map(|o| format!("{}:{}", o.file, o.line))
        .unwrap_or_else(|| u.path.clone())
}

/// The image run by a unit whose ExecStart is `docker run …`, if any unit does.
pub fn container_unit_image(facts: &Facts) -> Option<String> {
    facts
        .runtime
        .units
        .iter()
        .filter(|u| !u.masked)
        .find_map(docker_run_unit)
        .map(|r| r.image)
}

fn instance(facts: &Facts) -> (Option<Instance<'_>>, Vec<String>) {
    let mut all: Vec<Instance> = Vec::new();
    for u in facts.runtime.units.iter().filter(|u| !u.masked) {
        if let Some(run) = docker_run_unit(u) {
            // The container the unit runs speaks for it when docker lists it.
            let listed = run
                .name
                .as_ref()
                .is_some_and(|n| facts.runtime.docker.containers.iter().any(|c| &c.name == n));
            if listed {
                continue;
            }
            let tag = run.image.rsplit_once(':').map(|(_, t)| t.to_string());
            all.push(Instance {
                kind: RuntimeKind::Docker,
                described: format!("{} running {} ({})", u.name, run.image, exec_start_at(u)),
                args: DrawpileArgs::parse(&run.args),
                unit: None,
                socket: None,
                container: None,
                compose: None,
                binary: None,
                version: tag.as_deref().and_then(version_from_tag),
                version_text: tag,
                unit_ports: run.ports,
                image_note: None,
            });
            continue;
        }
        let binary = binary_for(facts, u);
        let socket = facts.runtime.sockets.iter().find(|s| {
            !s.masked
                && s.service == u.name
                && (s.enabled
                    || s.live
                        .as_ref()
                        .is_some_and(|l| l.active_state.as_deref() == Some("active")))
        });
        let at = exec_start_at(u);
        all.push(Instance {
            kind: if u.appimage {
                RuntimeKind::Appimage
            } else if socket.is_some() {
                RuntimeKind::SystemdSocket
            } else {
                RuntimeKind::SystemdService
            },
            described: format!("{} ({at})", u.name),
            args: u.options.clone(),
            unit: Some(u),
            socket,
            container: None,
            compose: None,
            binary,
            version: binary.and_then(|b| b.version_number),
            version_text: binary.and_then(|b| b.version.clone()),
            unit_ports: Vec::new(),
            image_note: None,
        });
    }
    for c in &facts.runtime.docker.containers {
        if c.compose_service.is_some() && !facts.runtime.compose.files.is_empty() {
            continue; // described by its compose file below
        }
        all.push(Instance {
            kind: RuntimeKind::Docker,
            described: format!("container {} ({})", c.name, c.image),
            args: c.options.clone(),
            unit: None,
            socket: None,
            container: Some(c),
            compose: None,
            binary: None,
            version: image_version(c.drawpile.as_ref(), c.image_tag.as_deref())
                .and_then(version_from_tag),
            version_text: image_version(c.drawpile.as_ref(), c.image_tag.as_deref())
                .map(String::from),
            unit_ports: Vec::new(),
            image_note: c.drawpile.as_ref().and_then(|d| d.note.clone()),
        });
    }
    for f in &facts.runtime.compose.files {
        for s in &f.services {
            let tag = image_version(
                s.drawpile.as_ref(),
                crate::detect::docker::image_tag(&s.image).as_deref(),
            )
            .map(String::from);
            all.push(Instance {
                kind: RuntimeKind::Compose,
                described: format!(
                    "compose service {} ({}:{})",
                    s.name,
                    // The line is in the file that defines the service (maybe the override).
                    if s.file.is_empty() { &f.path } else { &s.file },
                    s.line.unwrap_or(1)
                ),
                args: s.options.clone(),
                unit: None,
                socket: None,
                container: None,
                compose: Some((f, s)),
                binary: None,
                version: tag.as_deref().and_then(version_from_tag),
                version_text: tag,
                unit_ports: Vec::new(),
                image_note: s.drawpile.as_ref().and_then(|d| d.note.clone()),
            });
        }
    }
    // The runtime detection already chose the kind that is in use; prefer it.
    let wanted = facts.runtime.kind;
    let pick = all
        .iter()
        .position(|i| i.kind == wanted)
        .or_else(|| (!all.is_empty()).then_some(0));
    let others = all.iter().map(|i| i.described.clone()).collect();
    (pick.map(|i| all.swap_remove(i)), others)
}

/// Reads the setup. `domain` (from `--domain`) wins over what the nginx config suggests.
pub fn read<'a>(facts: &'a Facts, domain: Option<&str>) -> Setup<'a> {
    let (instance, others) = instance(facts);
    let nginx_containers_443: Vec<&NginxContainer> = facts
        .nginx_containers
        .iter()
        .filter(|c| publishes_https(c))
        .collect();
    // nginx on the host first, then nginx in containers that publish 443.
    let all_servers = || {
        facts.nginx.servers.iter().chain(
            nginx_containers_443
                .iter()
                .flat_map(|c| c.config.servers.iter()),
        )
    };
    let ws_locations: Vec<(&NginxServer, &NginxLocation)> = all_servers()
        .flat_map(|s| {
            s.locations
                .iter()
                .filter(|l| serves_ws_path(l) || near_miss(l))
                .map(move |l| (s, l))
        })
        .collect();
    let is_name = |n: &&String| !n.is_empty() && n.as_str() != "_" && !n.starts_with('~');
    let (domain, domain_from) = match domain {
        Some(d) => (Some(d.to_string()), "--domain".to_string()),
        None => {
            // The server that serves the WebSocket path: TLS on 443 first.
            let mut candidates: Vec<&(&NginxServer, &NginxLocation)> = ws_locations
                .iter()
                .filter(|(_, l)| serves_ws_path(l))
                .collect();
            candidates.sort_by_key(|(s, _)| !listens_tls_443(s));
            let from_server = candidates
                .iter()
                .find_map(|(s, _)| s.server_names.iter().find(is_name).map(|n| (s, n)));
            // Else the name drawpile-srv announces (dpserver passes --local-host ${DOMAIN}).
            let from_local_host = instance.as_ref().and_then(|i| {
                let h = i.args.local_host.as_deref()?;
                crate::model::DomainName::parse(h).ok()?;
                Some((h.to_string(), format!("--local-host of {}", i.described)))
            });
            match (from_server, from_local_host) {
                (Some((s, n)), _) => (
                    Some(n.clone()),
                    format!("server_name at {}:{}", s.file, s.line),
                ),
                (None, Some((h, from))) if !candidates.is_empty() => (Some(h), from),
                _ => (None, String::new()),
            }
        }
    };
    let site = domain.as_deref().and_then(|d| {
        let (server, container) = match crate::proxy::nginx::site_for(facts.nginx.servers.iter(), d)
        {
            Some((s, _)) => (s, None),
            None => nginx_containers_443.iter().find_map(|c| {
                crate::proxy::nginx::site_for(c.config.servers.iter(), d)
                    .map(|(s, _)| (s, Some(*c)))
            })?,
        };
        Some(Site {
            server,
            location: crate::proxy::nginx::ws_location(server),
            container,
        })
    });
    Setup {
        instance,
        others,
        domain,
        domain_from,
        site,
        ws_locations,
        nginx_containers_443,
        front: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_give_versions() {
        assert_eq!(version_from_tag("2.3"), Some([2, 3, 0]));
        assert_eq!(version_from_tag("2.2.2"), Some([2, 2, 2]));
        assert_eq!(version_from_tag("2.3.0-beta.4"), Some([2, 3, 0]));
        assert_eq!(version_from_tag("latest"), None);
    }
}
