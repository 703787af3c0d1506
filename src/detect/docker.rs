//! Docker: the CLI, whether the daemon answers (and why not), containers running
//! drawpile-srv (its images old and new, or images built from them) with their ports and
//! arguments, and which image is which drawpile-srv. Compose projects are detect::compose.
//! Parsers are pure and tested on recorded output of both Docker CLIs found on Debian 12
//! machines (20.10 and 28.x).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::Ctx;
use super::args::DrawpileArgs;
// Compose projects used to live here: their types and readers keep their old paths.
pub use super::compose::*;
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
    /// Other containers that publish port 443 on the host, as `NAME (IMAGE)`: the web server
    /// in front may be one of them.
    pub publishing_443: Vec<String>,
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
    /// Which drawpile-srv the image is (by name, or by its entrypoint for images built
    /// from drawpile's).
    pub drawpile: Option<DrawpileImage>,
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

/// drawpile-srv in an image: the official name (old or new), or an image built from one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DrawpileImage {
    /// The image the service or container runs (interpolated).
    pub image: String,
    /// How it was recognised: `official image`, `former official image`, `built FROM <image>`
    /// or `image entrypoint`.
    pub recognised_by: String,
    /// The drawpile-srv version, from the tag, the image label or the base image's tag.
    pub version: Option<String>,
    /// What the version means for the browser client, e.g. "2.1 is too old for WebSockets
    /// (they arrived in 2.2.1)".
    pub note: Option<String>,
}

/// Docker Hub names drawpile-srv was published under: the current one first, then
/// Drawpile's earlier images (the 2.0/2.1 era, and the 2.2 images of January 2024 before
/// dpserver moved to the drawpile organisation, drawpile/dpserver commit b5c62af).
pub const DRAWPILE_IMAGES: &[&str] = &[
    "drawpile/drawpile-srv",
    "callaa/drawpile-srv",
    "askmeaboutloom/drawpile-srv",
];

/// (name, tag) of an image reference: the tag is the first `:` after the last `/` (a
/// registry port comes before a `/`), so `x/y:${V:-2.3}` keeps its whole tag; the digest
/// is dropped; Docker Hub prefixes are removed from the name.
pub fn split_image(image: &str) -> (String, Option<String>) {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rfind('/').map(|p| p + 1).unwrap_or(0);
    let (name, tag) = match no_digest[last..].find(':') {
        Some(p) => (
            &no_digest[..last + p],
            Some(no_digest[last + p + 1..].to_string()),
        ),
        None => (no_digest, None),
    };
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    (name.to_string(), tag)
}

/// True for drawpile-srv's official images, old and new, with any Docker Hub prefix, tag
/// or digest.
pub fn is_drawpile_image(image: &str) -> bool {
    DRAWPILE_IMAGES.contains(&split_image(image).0.as_str())
}

/// The tag of an image reference, if it has one.
pub fn image_tag(image: &str) -> Option<String> {
    split_image(image).1
}

/// The leading `X.Y[.Z]` of a tag or version string, as numbers.
fn version_numbers(v: &str) -> Option<[u32; 3]> {
    let core = v.trim_start_matches('v').split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u32>().ok());
    let major = it.next()??;
    let minor = it.next()??;
    let patch = it.next().flatten().unwrap_or(0);
    Some([major, minor, patch])
}

/// What a version means for the browser client (None when it is fine).
pub fn version_note(version: &str) -> Option<String> {
    let v = version_numbers(version)?;
    (v < [2, 2, 1]).then(|| {
        format!("{version} is too old for WebSockets (they arrived in 2.2.1), so the browser client cannot join")
    })
}

/// drawpile-srv recognised by the image name (an interpolated reference).
pub fn drawpile_image(image: &str) -> Option<DrawpileImage> {
    let (name, tag) = split_image(image);
    let pos = DRAWPILE_IMAGES.iter().position(|n| *n == name)?;
    let version = tag.filter(|t| version_numbers(t).is_some());
    let mut note = version.as_deref().and_then(version_note);
    if note.is_none() && version.is_none() && name == "callaa/drawpile-srv" {
        note = Some(
            "callaa/drawpile-srv was Drawpile's image before 2.2: without a version tag it is \
             most likely too old for WebSockets (they arrived in 2.2.1)"
                .into(),
        );
    }
    Some(DrawpileImage {
        image: image.to_string(),
        recognised_by: if pos == 0 {
            "official image".into()
        } else {
            "former official image".into()
        },
        version,
        note,
    })
}

/// drawpile-srv recognised in a `docker image inspect` entry of an image with another name
/// (one built `FROM` drawpile's image, or by hand): its entrypoint or command runs
/// drawpile-srv. The version comes from the `org.opencontainers.image.version` label, else
/// from a tag of the image that looks like a version.
/// A JSON array of strings (`RepoTags`, `Args`, `Cmd`) as strings; anything else: empty.
fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn drawpile_image_from_inspect(v: &Value) -> Option<DrawpileImage> {
    let config = v.get("Config")?;
    let words = |k: &str| -> Vec<String> { string_list(config.get(k)) };
    // The program itself, or the first word of a shell command (`sh -c "drawpile-srv …"`,
    // as images built for hosting services do).
    let runs_it = words("Entrypoint")
        .iter()
        .chain(words("Cmd").iter())
        .take(4)
        .any(|w| {
            w.split_whitespace()
                .next()
                .and_then(|first| first.rsplit('/').next())
                == Some("drawpile-srv")
        });
    if !runs_it {
        return None;
    }
    let tags: Vec<String> = string_list(v.get("RepoTags"));
    let image = tags.first().cloned().unwrap_or_else(|| {
        v.get("Id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    });
    let version = config
        .get("Labels")
        .and_then(|l| l.get("org.opencontainers.image.version"))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| {
            tags.iter()
                .filter_map(|t| image_tag(t))
                .find(|t| version_numbers(t).is_some())
        });
    Some(DrawpileImage {
        note: version.as_deref().and_then(version_note),
        image,
        recognised_by: "image entrypoint".into(),
        version,
    })
}

/// The image of a Dockerfile's last `FROM` (the stage that is run), with `--platform` and
/// `AS name` dropped; build args in it are left as written.
pub fn dockerfile_from(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .rfind(|l| l.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("FROM ")))
        .and_then(|l| {
            l[5..]
                .split_whitespace()
                .find(|w| !w.starts_with("--"))
                .map(String::from)
        })
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

/// `NAME (IMAGE)` of a `docker ps --format '{{json .}}'` line whose container publishes
/// port 443 on the host (`Ports` like `0.0.0.0:443->443/tcp`).
pub fn parse_ps_publishing_443(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let ports = v.get("Ports")?.as_str()?;
    let on_443 = ports.split(", ").any(|p| {
        p.split_once("->")
            .is_some_and(|(host, _)| host.rsplit(':').next() == Some("443"))
    });
    on_443.then(|| {
        format!(
            "{} ({})",
            v.get("Names").and_then(Value::as_str).unwrap_or("?"),
            v.get("Image").and_then(Value::as_str).unwrap_or("?")
        )
    })
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
    let args: Vec<String> = string_list(c.get("Args"));
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
    let drawpile = drawpile_image(&image);
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
        drawpile,
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
    let listed: Vec<(String, String)> = ps.stdout_str().lines().filter_map(parse_ps_line).collect();
    facts.publishing_443 = ps
        .stdout_str()
        .lines()
        .filter(|l| parse_ps_line(l).is_some_and(|(_, image)| !is_drawpile_image(&image)))
        .filter_map(parse_ps_publishing_443)
        .collect();
    // Images with other names may be built from drawpile's: their entrypoint tells (one
    // read-only `docker image inspect` for all of them, bounded).
    const MAX_OTHER_IMAGES: usize = 32;
    let mut others: Vec<&str> = listed
        .iter()
        .map(|(_, image)| image.as_str())
        .filter(|image| !is_drawpile_image(image))
        .collect();
    others.sort_unstable();
    others.dedup();
    others.truncate(MAX_OTHER_IMAGES);
    let mut built: Vec<(Vec<String>, DrawpileImage)> = Vec::new();
    if !others.is_empty() {
        let mut args = vec!["image", "inspect"];
        args.extend(others.iter().copied());
        let out = run(ctx, cli, &args, "docker image inspect").await;
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&out.stdout_str()) {
            built = items
                .iter()
                .filter_map(|i| {
                    let d = drawpile_image_from_inspect(i)?;
                    let mut names: Vec<String> = string_list(i.get("RepoTags"));
                    names.extend(i.get("Id").and_then(Value::as_str).map(String::from));
                    Some((names, d))
                })
                .collect();
        }
    }
    let built_for = |image: &str| -> Option<&DrawpileImage> {
        built.iter().find_map(|(names, d)| {
            names
                .iter()
                .any(|n| {
                    n == image
                        || n.strip_suffix(":latest") == Some(image)
                        || n.strip_prefix("sha256:")
                            .is_some_and(|h| image.starts_with(&h[..12.min(h.len())]))
                })
                .then_some(d)
        })
    };
    let ids: Vec<String> = listed
        .iter()
        .filter(|(_, image)| is_drawpile_image(image) || built_for(image).is_some())
        .map(|(id, _)| id.clone())
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
    for c in &mut facts.containers {
        if c.drawpile.is_none() {
            c.drawpile = built_for(&c.image).cloned();
        }
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
    fn containers_publishing_443() {
        let line = |ports: &str| {
            format!(
                r#"{{"ID":"a","Image":"jc21/nginx-proxy-manager:latest","Names":"npm","Ports":"{ports}"}}"#
            )
        };
        assert_eq!(
            parse_ps_publishing_443(&line(
                "0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp, :::443->443/tcp"
            ))
            .as_deref(),
            Some("npm (jc21/nginx-proxy-manager:latest)")
        );
        assert_eq!(
            parse_ps_publishing_443(&line("0.0.0.0:8443->443/tcp, 443/tcp")),
            None
        );
        assert_eq!(parse_ps_publishing_443(&line("")), None);
    }

    #[test]
    fn drawpile_in_any_image() {
        // dpserver's image line, uninterpolated: the tag is the whole `${…}`.
        assert_eq!(
            split_image("drawpile/drawpile-srv:${DP_VERSION:-2.3}"),
            (
                "drawpile/drawpile-srv".to_string(),
                Some("${DP_VERSION:-2.3}".to_string())
            )
        );
        assert_eq!(
            split_image("localhost:5000/drawpile/drawpile-srv"),
            ("localhost:5000/drawpile/drawpile-srv".to_string(), None)
        );
        let d = drawpile_image("callaa/drawpile-srv:2.1.17").unwrap();
        assert_eq!(d.recognised_by, "former official image");
        assert_eq!(d.version.as_deref(), Some("2.1.17"));
        assert!(d.note.unwrap().contains("too old for WebSockets"));
        let d = drawpile_image("callaa/drawpile-srv").unwrap();
        assert_eq!(d.version, None);
        assert!(d.note.unwrap().contains("before 2.2"));
        let d = drawpile_image("docker.io/askmeaboutloom/drawpile-srv:2.2").unwrap();
        assert_eq!((d.version.as_deref(), d.note), (Some("2.2"), Some("2.2 is too old for WebSockets (they arrived in 2.2.1), so the browser client cannot join".to_string())));
        let d = drawpile_image("drawpile/drawpile-srv:2.3").unwrap();
        assert_eq!((d.recognised_by.as_str(), d.note), ("official image", None));
        assert_eq!(
            drawpile_image("drawpile/drawpile-srv:latest")
                .unwrap()
                .version,
            None
        );
        assert!(drawpile_image("nginx:alpine").is_none());
        assert_eq!(
            dockerfile_from("# x\nFROM --platform=linux/amd64 golang AS b\nRUN x\nfrom callaa/drawpile-srv:2.1\n")
                .as_deref(),
            Some("callaa/drawpile-srv:2.1")
        );
        assert_eq!(dockerfile_from("FROM\n"), None);
    }
}
