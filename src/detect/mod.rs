//! Detection: reads the machine once, through the host seam, and returns [`Facts`].
//!
//! Each area is one module with a `detect` function. They run concurrently on tokio;
//! every external command is bounded by a timeout and recorded as a [`ProbeReport`], so a
//! hung or broken tool shows up as a fact in the report instead of stalling detection.

pub mod apache;
pub mod args;
pub mod caddy;
pub mod compose;
pub mod docker;
pub mod drawpile;
pub mod network;
pub mod nginx;
pub mod os;
pub mod packages;
pub mod probe;
pub mod program;
pub mod runtime;
pub mod systemd;
pub mod tls;
pub mod webserver;

use std::path::PathBuf;

use serde::Serialize;

use crate::host::Host;
pub use probe::{ProbeLog, ProbeReport, ProbeStatus};

/// Version of the `--json` schema (docs/detect-schema.md). Bump on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything dpwizard learned about the machine. (`Default` is an empty machine, for tests
/// of the pure stages built on Facts.)
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Facts {
    /// Version of this schema (docs/detect-schema.md).
    pub schema_version: u32,
    /// The `--root` the facts were read from.
    pub root: PathBuf,
    /// The operating system and what dpwizard can see of it.
    pub os: os::OsFacts,
    /// drawpile-srv binaries.
    pub drawpile: drawpile::DrawpileFacts,
    /// How drawpile-srv runs: systemd units and sockets, containers, compose files.
    pub runtime: runtime::RuntimeFacts,
    /// Installed web servers and who serves :80 and :443.
    pub web_servers: Vec<webserver::WebServer>,
    /// nginx's configuration, read as nginx reads it.
    pub nginx: nginx::NginxFacts,
    /// nginx running in a container of a Compose project (drawpile/dpserver's layout), its
    /// configuration read from the host files bind-mounted into it.
    pub nginx_containers: Vec<nginx::NginxContainer>,
    /// Apache's modules and virtual hosts.
    pub apache: apache::ApacheFacts,
    /// Caddy's sites.
    pub caddy: caddy::CaddyFacts,
    /// Certificates, certbot and renewal.
    pub tls: tls::TlsFacts,
    /// Listening sockets and firewalls.
    pub network: network::NetworkFacts,
    /// Every probe run (commands and notable reads), sorted by name.
    pub probes: Vec<ProbeReport>,
}

/// What a detection run may be told beyond the host itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Compose files named with `--compose-file`, in addition to the usual places.
    pub compose_files: Vec<PathBuf>,
}

/// Shared by every detector: the host seam, the options, and the probe log.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub host: Host,
    pub opts: Options,
    pub probes: ProbeLog,
    /// The tree's package database, read on first use (only under `--root`).
    packages: std::sync::Arc<std::sync::OnceLock<packages::Packages>>,
}

impl Ctx {
    pub fn new(host: Host, opts: Options) -> Self {
        Ctx {
            host,
            opts,
            probes: ProbeLog::default(),
            packages: Default::default(),
        }
    }

    pub fn packages(&self) -> &packages::Packages {
        self.packages.get_or_init(|| packages::Packages::read(self))
    }
}

/// Bookkeeping shared by the config readers that follow includes (Apache, Caddy): the
/// files read in order, and the errors met.
#[derive(Debug, Default)]
pub struct IncludeLog {
    pub files: Vec<String>,
    seen: std::collections::HashSet<String>,
    pub errors: Vec<String>,
}

impl IncludeLog {
    /// Reads an included file, recording it; None (with the error recorded) when it cannot
    /// be read or includes nest deeper than `max_depth` (a loop).
    pub fn read(
        &mut self,
        ctx: &Ctx,
        path: &std::path::Path,
        depth: usize,
        max_depth: usize,
    ) -> Option<String> {
        let name = path.display().to_string();
        if depth > max_depth {
            self.errors.push(format!(
                "{name}: includes nested more than {max_depth} deep (a loop?)"
            ));
            return None;
        }
        match ctx.host.read_to_string(path) {
            Ok(t) => {
                if self.seen.insert(name.clone()) {
                    self.files.push(name);
                }
                Some(t)
            }
            Err(e) => {
                self.errors.push(format!("{name}: {e}"));
                None
            }
        }
    }
}

/// (certificate, key, file:line) for every certificate a web server config points at.
fn referenced_certificates(
    nginx: &nginx::NginxFacts,
    containers: &[nginx::NginxContainer],
    apache: &apache::ApacheFacts,
    caddy: &caddy::CaddyFacts,
) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    // A container's certificates count when they are on the host (bind-mounted).
    let on_host = containers.iter().flat_map(|c| {
        c.config.servers.iter().filter(|s| {
            s.ssl_certificate
                .as_ref()
                .is_some_and(|p| !c.paths_in_container.contains(p))
        })
    });
    for s in nginx.servers.iter().chain(on_host) {
        if let Some(c) = &s.ssl_certificate {
            let at = s
                .ssl_certificate_at
                .clone()
                .unwrap_or_else(|| format!("{}:{}", s.file, s.line));
            out.push((c.clone(), s.ssl_certificate_key.clone(), at));
        }
    }
    for v in &apache.vhosts {
        if let Some(c) = &v.ssl_certificate_file {
            out.push((
                c.clone(),
                v.ssl_certificate_key_file.clone(),
                format!("{}:{}", v.file, v.line),
            ));
        }
    }
    for s in &caddy.sites {
        if let Some([cert, key]) = s.tls.as_deref()
            && cert.starts_with('/')
        {
            out.push((
                cert.clone(),
                Some(key.clone()),
                format!("{}:{}", s.file, s.line),
            ));
        }
    }
    out
}

/// Runs every detector and assembles the facts.
pub async fn detect(host: Host, opts: Options) -> Facts {
    let ctx = Ctx::new(host, opts);

    // Unit files are plain reads and several detectors need them (drawpile binaries come
    // from ExecStart=, the runtime from units and sockets), so read them first.
    let os = os::detect(&ctx);
    let unit_files = systemd::read_units(&ctx);

    let (systemd, docker, compose, drawpile, web_servers, nginx, apache, caddy, tls, network) = tokio::join!(
        systemd::detect(&ctx, unit_files.clone(), os.systemd_running),
        docker::detect(&ctx),
        compose::detect_compose(&ctx),
        drawpile::detect(&ctx, &unit_files),
        webserver::detect(&ctx),
        nginx::detect(&ctx),
        apache::detect(&ctx),
        caddy::detect(&ctx),
        tls::detect(&ctx),
        network::detect(&ctx),
    );

    let mut web_servers = web_servers;
    webserver::attribute_listeners(&mut web_servers, &network, &nginx, &apache, &caddy);
    let mut compose = compose;
    compose::add_files_from_containers(&ctx, &mut compose, &docker);
    let nginx_containers = nginx::detect_in_compose(&ctx, &compose);
    let mut tls = tls;
    tls::add_referenced(
        &mut tls,
        &ctx,
        &referenced_certificates(&nginx, &nginx_containers, &apache, &caddy),
    );
    let runtime = runtime::RuntimeFacts::assemble(systemd, docker, compose);

    Facts {
        schema_version: SCHEMA_VERSION,
        root: ctx.host.root().to_path_buf(),
        os,
        drawpile,
        runtime,
        web_servers,
        nginx,
        nginx_containers,
        apache,
        caddy,
        tls,
        network,
        probes: ctx.probes.take(),
    }
}
