//! Docker: the CLI, whether the daemon answers (and why not), containers of the official
//! image `drawpile/drawpile-srv` with their ports and arguments, and compose files that
//! define such a service. Parsers are pure and tested on recorded output of both Docker
//! CLIs found on Debian 12 machines (20.10 and 28.x) and of docker-compose 1.29.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::Ctx;
use super::args::DrawpileArgs;
use crate::host::{Cmd, CmdOutput, CmdStatus};

/// Environment variables that tell the docker CLI which daemon to talk to.
const DOCKER_ENV: &[&str] = &[
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
];

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct DockerFacts {
    /// Path of the docker CLI, null when not installed.
    pub cli: Option<String>,
    pub cli_version: Option<String>,
    pub server_version: Option<String>,
    /// true when the daemon answered, false when it did not, null when not asked.
    pub daemon_reachable: Option<bool>,
    /// Why the daemon could not be reached: `not-running`, `permission-denied`,
    /// `timeout` or `other`.
    pub daemon_problem: Option<String>,
    /// The daemon error as docker printed it (first line).
    pub daemon_error: Option<String>,
    /// Containers of drawpile/drawpile-srv, in any state.
    pub containers: Vec<Container>,
    /// drawpile/drawpile-srv images already on this machine, as `repository:tag`.
    pub images: Vec<String>,
    /// `docker-compose` (v1) version, when installed.
    pub compose_v1: Option<String>,
    /// `docker compose` (v2 plugin) version, when it works.
    pub compose_v2: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The image as the container was created from, e.g. `drawpile/drawpile-srv:2.3.0`.
    pub image: String,
    /// The tag (`2.3.0`), null for `latest`-by-default or a digest.
    pub image_tag: Option<String>,
    /// `running`, `exited`, `created`, `paused`, `restarting` or `dead`.
    pub state: String,
    /// `healthy`/`unhealthy`/`starting` when the image has a health check.
    pub health: Option<String>,
    pub exit_code: Option<i64>,
    pub restart_policy: Option<String>,
    /// `default` (bridge), `host`, `none` or a network name.
    pub network_mode: Option<String>,
    /// Published ports (configured; on a running container as bound).
    pub ports: Vec<PublishedPort>,
    /// Arguments after the entrypoint.
    pub args: Vec<String>,
    /// drawpile-srv options read from the arguments.
    pub options: DrawpileArgs,
    /// Names of the environment variables (values can be secrets).
    pub env: Vec<String>,
    pub mounts: Vec<Mount>,
    /// Compose project and service, from the labels compose sets.
    pub compose_project: Option<String>,
    pub compose_service: Option<String>,
    /// The compose files this container came from (absolute).
    pub compose_files: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PublishedPort {
    /// Host address; empty or `0.0.0.0`/`::` mean every address.
    pub host_ip: String,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

impl PublishedPort {
    /// Published on every address of the host (reachable from outside).
    pub fn is_public(&self) -> bool {
        matches!(self.host_ip.as_str(), "" | "0.0.0.0" | "::")
    }
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Mount {
    /// `volume` or `bind`.
    pub kind: String,
    /// Volume name or host path.
    pub source: String,
    pub destination: String,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeFacts {
    /// Compose files that define a drawpile/drawpile-srv service.
    pub files: Vec<ComposeFile>,
    /// Compose files that could not be read or parsed.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeFile {
    pub path: String,
    /// How it was found: `--compose-file`, `usual place`, `container labels`.
    pub found_via: String,
    pub services: Vec<ComposeService>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeService {
    pub name: String,
    /// Line of the service's key in the file.
    pub line: Option<usize>,
    pub image: String,
    /// `command:` as a list of arguments.
    pub command: Vec<String>,
    pub options: DrawpileArgs,
    pub ports: Vec<PublishedPort>,
    pub volumes: Vec<String>,
    pub env: Vec<String>,
    pub restart: Option<String>,
}

/// True for `drawpile/drawpile-srv` with any registry prefix of Docker Hub, tag or digest.
pub fn is_drawpile_image(image: &str) -> bool {
    let no_digest = image.split('@').next().unwrap_or(image);
    // A tag is a `:` after the last `/` (a registry port has a `/` after it).
    let name = match no_digest.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => no_digest,
    };
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    name == "drawpile/drawpile-srv"
}

/// The tag of an image reference, if it has one.
pub fn image_tag(image: &str) -> Option<String> {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => Some(tag.to_string()),
        _ => None,
    }
}

/// One line of `docker ps --format '{{json .}}'` (CLI 20 and 28 differ only in fields
/// dpwizard does not need): (id, image).
/// One line of `docker image ls --format '{{json .}}'`: `repository:tag` (untagged
/// `<none>` images are skipped).
pub fn parse_image_line(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    let repo = v.get("Repository")?.as_str()?;
    let tag = v.get("Tag")?.as_str()?;
    (repo != "<none>" && tag != "<none>").then(|| format!("{repo}:{tag}"))
}

pub fn parse_ps_line(line: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    Some((
        v.get("ID")?.as_str()?.to_string(),
        v.get("Image")?.as_str()?.to_string(),
    ))
}

/// Classifies a daemon error from docker's stderr.
pub fn classify_daemon_error(stderr: &str) -> (&'static str, String) {
    let first = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("# rc="))
        .unwrap_or("")
        .to_string();
    let kind = if stderr.contains("permission denied while trying to connect") {
        "permission-denied"
    } else if stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("Is the docker daemon running")
    {
        "not-running"
    } else {
        "other"
    };
    (kind, first)
}

fn port_key(key: &str) -> (u16, String) {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    (p.parse().unwrap_or(0), proto.to_string())
}

fn ports_from_map(map: Option<&Value>) -> Vec<PublishedPort> {
    let mut out = Vec::new();
    let Some(obj) = map.and_then(Value::as_object) else {
        return out;
    };
    for (key, bindings) in obj {
        let (container_port, protocol) = port_key(key);
        for b in bindings.as_array().into_iter().flatten() {
            out.push(PublishedPort {
                host_ip: b
                    .get("HostIp")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                host_port: b
                    .get("HostPort")
                    .and_then(Value::as_str)
                    .and_then(|p| p.parse().ok()),
                container_port,
                protocol: protocol.clone(),
            });
        }
    }
    out.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    out
}

/// Parses one container from `docker inspect` JSON.
pub fn parse_inspect(c: &Value) -> Option<Container> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let config = c.get("Config");
    let host = c.get("HostConfig");
    let state = c.get("State");
    let image = s(config.and_then(|x| x.get("Image"))).unwrap_or_default();
    let args: Vec<String> = c
        .get("Args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let labels = config.and_then(|x| x.get("Labels"));
    let label = |k: &str| s(labels.and_then(|l| l.get(k)));
    // Running containers show what is bound; others only what is configured.
    let mut ports = ports_from_map(c.get("NetworkSettings").and_then(|n| n.get("Ports")));
    if ports.is_empty() {
        ports = ports_from_map(host.and_then(|h| h.get("PortBindings")));
    }
    let compose_files = match (
        label("com.docker.compose.project.working_dir"),
        label("com.docker.compose.project.config_files"),
    ) {
        (dir, Some(files)) => files
            .split(',')
            .map(|f| {
                let p = Path::new(f);
                if p.is_absolute() {
                    f.to_string()
                } else {
                    Path::new(dir.as_deref().unwrap_or("/"))
                        .join(p)
                        .display()
                        .to_string()
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Container {
        id: s(c.get("Id"))?,
        name: s(c.get("Name"))
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image_tag: image_tag(&image),
        image,
        state: s(state.and_then(|x| x.get("Status"))).unwrap_or_default(),
        health: s(state
            .and_then(|x| x.get("Health"))
            .and_then(|h| h.get("Status"))),
        exit_code: state
            .and_then(|x| x.get("ExitCode"))
            .and_then(Value::as_i64),
        restart_policy: s(host
            .and_then(|h| h.get("RestartPolicy"))
            .and_then(|r| r.get("Name")))
        .filter(|p| !p.is_empty()),
        network_mode: s(host.and_then(|h| h.get("NetworkMode"))),
        ports,
        options: DrawpileArgs::parse(&args),
        args,
        env: config
            .and_then(|x| x.get("Env"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str()?.split('=').next().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        mounts: c
            .get("Mounts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|m| Mount {
                        kind: s(m.get("Type")).unwrap_or_default(),
                        source: s(m.get("Name"))
                            .or_else(|| s(m.get("Source")))
                            .unwrap_or_default(),
                        destination: s(m.get("Destination")).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        compose_project: label("com.docker.compose.project"),
        compose_service: label("com.docker.compose.service"),
        compose_files,
    })
}

/// A docker CLI: the target's own (live machine), or this machine's asking the daemon
/// DOCKER_HOST names (under `--root`, where the tree's CLI is never run).
fn docker_cmd(ctx: &Ctx, cli: &Path) -> Cmd {
    let mut cmd = if ctx.host.runs_target_programs() {
        ctx.host.command(cli)
    } else {
        Cmd::new(cli).timeout(ctx.host.timeout())
    };
    for k in DOCKER_ENV {
        if let Some(v) = std::env::var_os(k) {
            cmd = cmd.env(*k, v);
        }
    }
    cmd
}

async fn run(ctx: &Ctx, cli: &Path, args: &[&str], label: &str) -> CmdOutput {
    let out = ctx
        .host
        .run(docker_cmd(ctx, cli).args(args.iter().copied()))
        .await;
    ctx.probes.command(label, &out, &[0]);
    out
}

pub async fn detect(ctx: &Ctx) -> DockerFacts {
    if !ctx.host.runs_target_programs() {
        return detect_in_tree(ctx).await;
    }
    let mut facts = DockerFacts::default();
    let Some(cli) = ctx.host.which("docker") else {
        ctx.probes
            .skipped("docker", "the docker CLI is not installed");
        if let Some(v1) = ctx.host.which("docker-compose") {
            facts.compose_v1 = compose_v1_version(ctx, &v1).await;
        }
        return facts;
    };
    facts.cli = Some(cli.display().to_string());
    let compose_v1 = ctx.host.which("docker-compose");
    let (facts, v1, v2) = tokio::join!(
        daemon(ctx, &cli, facts),
        async {
            match &compose_v1 {
                Some(p) => compose_v1_version(ctx, p).await,
                None => None,
            }
        },
        ctx.host
            .run(docker_cmd(ctx, &cli).args(["compose", "version"])),
    );
    let mut facts = facts;
    facts.compose_v1 = v1;
    // Without the plugin, `docker compose` is an unknown command: a fact, not a failure.
    if v2.success() {
        ctx.probes.command("docker compose version", &v2, &[0]);
        facts.compose_v2 = v2
            .stdout_str()
            .lines()
            .find_map(|l| l.trim().strip_prefix("Docker Compose version "))
            .map(|v| v.trim_start_matches('v').to_string());
    } else {
        ctx.probes.skipped(
            "docker compose version",
            format!("the Compose v2 plugin is not installed ({})", v2.describe()),
        );
    }
    facts
}

/// Under `--root`: the tree's docker and docker-compose are never run (they are whatever
/// the image holds); their versions come from its package database. The daemon is asked
/// only when `DOCKER_HOST` names one, through this machine's own docker CLI: the daemon
/// this machine talks to by default is not the tree's.
async fn detect_in_tree(ctx: &Ctx) -> DockerFacts {
    use super::packages::{not_run, packages_of};
    let mut facts = DockerFacts::default();
    let packages = ctx.packages();
    if let Some(v1) = ctx.host.which("docker-compose") {
        ctx.probes.skipped(
            format!("docker-compose version ({})", v1.display()),
            not_run("docker-compose", packages),
        );
        facts.compose_v1 = packages.upstream_version(packages_of("docker-compose"));
    }
    let Some(cli) = ctx.host.which("docker") else {
        ctx.probes
            .skipped("docker", "the docker CLI is not installed");
        return facts;
    };
    facts.cli = Some(cli.display().to_string());
    facts.cli_version = packages.upstream_version(packages_of("docker"));
    facts.compose_v2 = packages.upstream_version(packages_of("docker-compose-plugin"));
    ctx.probes.skipped(
        format!("docker version ({})", cli.display()),
        not_run("docker", packages),
    );
    let own_cli = which::which("docker")
        .ok()
        .filter(|p| !p.starts_with(ctx.host.root()));
    match (std::env::var_os("DOCKER_HOST"), own_cli) {
        (Some(_), Some(own)) => daemon(ctx, &own, facts).await,
        (named, _) => {
            ctx.probes.skipped(
                "docker daemon",
                if named.is_some() {
                    "not asked: DOCKER_HOST is set but this machine has no docker CLI to ask it"
                } else {
                    "not asked: under --root the daemon this machine reaches is not the tree's \
                     (set DOCKER_HOST to the tree's daemon)"
                },
            );
            facts
        }
    }
}

/// What the daemon says: versions, then drawpile images and containers.
async fn daemon(ctx: &Ctx, cli: &Path, mut facts: DockerFacts) -> DockerFacts {
    let version = run(
        ctx,
        cli,
        &["version", "--format", "{{json .}}"],
        "docker version",
    )
    .await;
    // The JSON carries the client part even when the daemon is down.
    if let Ok(v) = serde_json::from_str::<Value>(version.stdout_str().trim()) {
        if facts.cli_version.is_none() {
            facts.cli_version = v
                .pointer("/Client/Version")
                .and_then(Value::as_str)
                .map(String::from);
        }
        facts.server_version = v
            .pointer("/Server/Version")
            .and_then(Value::as_str)
            .map(String::from);
    }
    match &version.status {
        CmdStatus::Exited(0) if facts.server_version.is_some() => {
            facts.daemon_reachable = Some(true)
        }
        CmdStatus::TimedOut(_) => {
            facts.daemon_reachable = Some(false);
            facts.daemon_problem = Some("timeout".into());
            facts.daemon_error = Some(version.describe());
            return facts;
        }
        _ => {
            let (kind, first) = classify_daemon_error(&version.stderr_str());
            facts.daemon_reachable = Some(false);
            facts.daemon_problem = Some(kind.into());
            facts.daemon_error = Some(if first.is_empty() {
                version.describe()
            } else {
                first
            });
            return facts;
        }
    }

    let images = run(
        ctx,
        cli,
        &["image", "ls", "--format", "{{json .}}"],
        "docker image ls",
    )
    .await;
    if images.success() {
        facts.images = images
            .stdout_str()
            .lines()
            .filter_map(parse_image_line)
            .filter(|i| is_drawpile_image(i))
            .collect();
    }
    let ps = run(
        ctx,
        cli,
        &["ps", "-a", "--no-trunc", "--format", "{{json .}}"],
        "docker ps",
    )
    .await;
    if !ps.success() {
        return facts;
    }
    let ids: Vec<String> = ps
        .stdout_str()
        .lines()
        .filter_map(parse_ps_line)
        .filter(|(_, image)| is_drawpile_image(image))
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return facts;
    }
    let mut args = vec!["inspect"];
    args.extend(ids.iter().map(String::as_str));
    let inspect = run(ctx, cli, &args, "docker inspect").await;
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&inspect.stdout_str()) {
        facts.containers = items.iter().filter_map(parse_inspect).collect();
    }
    facts
}

async fn compose_v1_version(ctx: &Ctx, bin: &Path) -> Option<String> {
    let out = ctx.host.run(docker_cmd(ctx, bin).arg("version")).await;
    ctx.probes.command("docker-compose version", &out, &[0]);
    let text = out.stdout_str();
    let first = text.lines().next()?;
    // `docker-compose version 1.29.2, build unknown`
    first
        .strip_prefix("docker-compose version ")
        .map(|v| v.split(',').next().unwrap_or(v).trim().to_string())
}

/// Where compose files usually are (bounded: a huge /home must not slow detection).
const COMPOSE_NAMES: &[&str] = &[
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.yml",
    "compose.yaml",
];
const COMPOSE_DIRS: &[&str] = &[
    "/opt/*",
    "/srv/*",
    "/root",
    "/root/*",
    "/home/*",
    "/home/*/*",
    "/etc/drawpile*",
];
const MAX_COMPOSE_CANDIDATES: usize = 200;

/// Splits a compose `command:` string the way compose does (shell-like words).
pub fn split_command(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', None) | ('\\', Some('"')) => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (q @ ('"' | '\''), None) => {
                quote = Some(q);
                in_word = true;
            }
            (q, Some(open)) if q == open => quote = None,
            (c, None) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (c, _) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Parses one `ports:` entry (short or long syntax).
pub fn parse_compose_port(v: &serde_yaml::Value) -> Vec<PublishedPort> {
    use serde_yaml::Value as Y;
    match v {
        Y::String(_) | Y::Number(_) => {
            let text = match v {
                Y::String(s) => s.clone(),
                Y::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let (spec, protocol) = text
                .rsplit_once('/')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .unwrap_or((text.clone(), "tcp".into()));
            // [host_ip:]host_port:container_port, or container_port alone; IPv6 in [].
            let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
                match r.split_once("]:") {
                    Some((ip, rest)) => (ip.to_string(), rest.to_string()),
                    None => (String::new(), spec.clone()),
                }
            } else {
                let parts: Vec<&str> = spec.split(':').collect();
                if parts.len() == 3 {
                    (parts[0].to_string(), format!("{}:{}", parts[1], parts[2]))
                } else {
                    (String::new(), spec.clone())
                }
            };
            let (host, container) = match rest.split_once(':') {
                Some((h, c)) => (Some(h.to_string()), c.to_string()),
                None => (None, rest),
            };
            let range = |r: &str| -> Vec<u16> {
                match r.split_once('-') {
                    Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
                        (Ok(a), Ok(b)) if a <= b && b - a < 1000 => (a..=b).collect(),
                        _ => Vec::new(),
                    },
                    None => r.parse().into_iter().collect(),
                }
            };
            let cports = range(&container);
            let hports: Vec<Option<u16>> = match &host {
                Some(h) if !h.is_empty() => range(h).into_iter().map(Some).collect(),
                _ => vec![None; cports.len()],
            };
            cports
                .into_iter()
                .zip(hports.into_iter().chain(std::iter::repeat(None)))
                .map(|(c, h)| PublishedPort {
                    host_ip: ip.clone(),
                    host_port: h,
                    container_port: c,
                    protocol: protocol.clone(),
                })
                .collect()
        }
        Y::Mapping(m) => {
            let get = |k: &str| m.get(Y::String(k.into()));
            let num = |x: Option<&Y>| -> Option<u16> {
                match x? {
                    Y::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                    Y::String(s) => s.parse().ok(),
                    _ => None,
                }
            };
            let Some(target) = num(get("target")) else {
                return Vec::new();
            };
            vec![PublishedPort {
                host_ip: get("host_ip").and_then(Y::as_str).unwrap_or("").to_string(),
                host_port: num(get("published")),
                container_port: target,
                protocol: get("protocol")
                    .and_then(Y::as_str)
                    .unwrap_or("tcp")
                    .to_string(),
            }]
        }
        _ => Vec::new(),
    }
}

/// Parses a compose file; returns the drawpile services.
pub fn parse_compose(text: &str) -> Result<Vec<ComposeService>, String> {
    use serde_yaml::Value as Y;
    let doc: Y = serde_yaml::from_str(text).map_err(|e| match e.location() {
        Some(l) => format!("{}:{}: {e}", l.line(), l.column()),
        None => e.to_string(),
    })?;
    let Some(services) = doc.get("services").and_then(Y::as_mapping) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, svc) in services {
        let Some(name) = name.as_str() else { continue };
        let image = svc.get("image").and_then(Y::as_str).unwrap_or("");
        if !is_drawpile_image(image) {
            continue;
        }
        let command = match svc.get("command") {
            Some(Y::String(s)) => split_command(s),
            Some(Y::Sequence(items)) => items
                .iter()
                .map(|i| match i {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    _ => String::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let env = match svc.get("environment") {
            Some(Y::Sequence(items)) => items
                .iter()
                .filter_map(|i| i.as_str()?.split('=').next().map(String::from))
                .collect(),
            Some(Y::Mapping(m)) => m
                .keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        out.push(ComposeService {
            name: name.to_string(),
            line: service_line(text, name),
            image: image.to_string(),
            options: DrawpileArgs::parse(&command),
            command,
            ports: svc
                .get("ports")
                .and_then(Y::as_sequence)
                .map(|s| s.iter().flat_map(parse_compose_port).collect())
                .unwrap_or_default(),
            volumes: svc
                .get("volumes")
                .and_then(Y::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            env,
            restart: svc.get("restart").and_then(Y::as_str).map(String::from),
        });
    }
    Ok(out)
}

/// The line of `  name:` under `services:` (a text scan: the YAML parser keeps no lines).
fn service_line(text: &str, name: &str) -> Option<usize> {
    let mut in_services = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("services:") {
            in_services = true;
            continue;
        }
        if in_services {
            if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
                in_services = false;
                continue;
            }
            let t = line.trim_start();
            if line.len() - t.len() > 0
                && (t.starts_with(&format!("{name}:")) || t.starts_with(&format!("\"{name}\":")))
            {
                return Some(i + 1);
            }
        }
    }
    None
}

pub async fn detect_compose(ctx: &Ctx) -> ComposeFacts {
    let mut facts = ComposeFacts::default();
    let mut candidates: Vec<(PathBuf, &'static str)> = ctx
        .opts
        .compose_files
        .iter()
        .map(|p| (p.clone(), "--compose-file"))
        .collect();
    'dirs: for dir in COMPOSE_DIRS {
        for d in ctx.host.glob(dir) {
            for name in COMPOSE_NAMES {
                let p = d.join(name);
                if ctx.host.is_file(&p) {
                    candidates.push((p, "usual place"));
                }
                if candidates.len() >= MAX_COMPOSE_CANDIDATES {
                    break 'dirs;
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    for (path, via) in candidates {
        let key = ctx.host.canonical(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        let text = match ctx.host.read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                if via == "--compose-file" {
                    facts.errors.push(format!("{}: {e}", path.display()));
                }
                continue;
            }
        };
        match parse_compose(&text) {
            Ok(services) if !services.is_empty() => facts.files.push(ComposeFile {
                path: path.display().to_string(),
                found_via: via.to_string(),
                services,
            }),
            Ok(_) => {}
            Err(e) => facts.errors.push(format!("{}:{e}", path.display())),
        }
    }
    facts
}

/// Adds the compose files named by running containers' labels (once Docker was asked).
pub fn add_files_from_containers(ctx: &Ctx, compose: &mut ComposeFacts, docker: &DockerFacts) {
    for c in &docker.containers {
        for f in &c.compose_files {
            let known = compose
                .files
                .iter()
                .any(|cf| ctx.host.canonical(&cf.path).ok() == ctx.host.canonical(f).ok());
            if known {
                continue;
            }
            match ctx.host.read_to_string(f) {
                Ok(text) => match parse_compose(&text) {
                    Ok(services) if !services.is_empty() => compose.files.push(ComposeFile {
                        path: f.clone(),
                        found_via: "container labels".into(),
                        services,
                    }),
                    Ok(_) => {}
                    Err(e) => compose.errors.push(format!("{f}:{e}")),
                },
                Err(e) => compose
                    .errors
                    .push(format!("{f} (named by container {}): {e}", c.name)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        for yes in [
            "drawpile/drawpile-srv",
            "drawpile/drawpile-srv:2.3",
            "docker.io/drawpile/drawpile-srv:2.3.0-beta.4",
            "drawpile/drawpile-srv@sha256:abcd",
        ] {
            assert!(is_drawpile_image(yes), "{yes}");
        }
        for no in [
            "drawpile/other",
            "nginx:latest",
            "ghcr.io/drawpile/drawpile-srv",
            "localhost:5000/x",
        ] {
            assert!(!is_drawpile_image(no), "{no}");
        }
        assert_eq!(
            image_tag("drawpile/drawpile-srv:2.3").as_deref(),
            Some("2.3")
        );
        assert_eq!(image_tag("localhost:5000/drawpile/drawpile-srv"), None);
    }

    #[test]
    fn compose_ports_short_and_long() {
        let y: serde_yaml::Value = serde_yaml::from_str(
            "- \"127.0.0.1:27751:27751\"\n- \"27750:27750\"\n- 27780\n- \"[::1]:8080:80/udp\"\n- target: 27751\n  published: \"9000\"\n  host_ip: 127.0.0.1\n",
        )
        .unwrap();
        let ports: Vec<PublishedPort> = y
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(parse_compose_port)
            .collect();
        assert_eq!(ports[0].host_ip, "127.0.0.1");
        assert_eq!(
            (ports[0].host_port, ports[0].container_port),
            (Some(27751), 27751)
        );
        assert!(ports[1].is_public());
        assert_eq!((ports[2].host_port, ports[2].container_port), (None, 27780));
        assert_eq!(
            (ports[3].host_ip.as_str(), ports[3].protocol.as_str()),
            ("::1", "udp")
        );
        assert_eq!(
            (ports[4].host_port, ports[4].host_ip.as_str()),
            (Some(9000), "127.0.0.1")
        );
    }

    #[test]
    fn compose_command_strings_split_like_a_shell() {
        assert_eq!(
            split_command("--websocket-port 27751 --local-host 'my host' \"a b\""),
            vec![
                "--websocket-port",
                "27751",
                "--local-host",
                "my host",
                "a b"
            ]
        );
    }

    #[test]
    fn broken_yaml_says_where() {
        let e = parse_compose("services:\n  a: [\n").unwrap_err();
        assert!(e.starts_with("3:") || e.starts_with("2:"), "{e}");
    }
}
