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

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeFacts {
    /// Compose files that define a drawpile/drawpile-srv service.
    pub files: Vec<ComposeFile>,
    /// Other Compose projects with a service that publishes port 443: the web server in
    /// front may live there (a reverse-proxy project beside drawpile's).
    pub web_projects: Vec<ComposeFile>,
    /// Compose files that could not be read or parsed.
    pub errors: Vec<String>,
}

impl ComposeFacts {
    /// Every service of every project read, with its project (drawpile's and web projects).
    pub fn all_services(&self) -> impl Iterator<Item = (&ComposeFile, &ComposeService)> {
        self.files.iter().chain(&self.web_projects).flat_map(|f| {
            f.services
                .iter()
                .chain(&f.other_services)
                .map(move |s| (f, s))
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeFile {
    pub path: String,
    /// How it was found: `--compose-file`, `usual place`, `container labels`.
    pub found_via: String,
    /// The services running drawpile-srv (any of its images, or an image built from one).
    pub services: Vec<ComposeService>,
    /// The project directory (relative paths in the files are resolved against it).
    pub project_dir: String,
    /// The project name Compose uses (COMPOSE_PROJECT_NAME, else the directory's name).
    pub project_name: String,
    /// Every file Compose reads for the project, in merge order: the main file, then
    /// `docker-compose.override.yaml` (or the files COMPOSE_FILE names).
    pub config_files: Vec<String>,
    /// The `.env` file the variables came from, when there is one.
    pub env_file: Option<String>,
    /// Variables used without a value (Compose substitutes an empty string).
    pub undefined_variables: Vec<String>,
    /// Top-level networks and named volumes.
    pub networks: Vec<String>,
    pub named_volumes: Vec<String>,
    /// Each network the services join, with the name Docker gives it (`PROJECT_KEY`, its
    /// `name:`, or the external network's own name): services of two projects only reach
    /// each other by name on a network with the same Docker name.
    pub networks_on_host: Vec<ComposeNetwork>,
    /// The project's other services (a web server, a list server, …).
    pub other_services: Vec<ComposeService>,
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
    /// The file `line` is in (the override file when the service is defined only there).
    pub file: String,
    /// `image:` as written, before interpolation.
    pub image_as_written: Option<String>,
    /// `build:`, with the context resolved against the project directory.
    pub build: Option<ComposeBuild>,
    /// `container_name:`, when set.
    pub container_name: Option<String>,
    /// `network_mode:` (`host`, `none`, `service:NAME` …), when set.
    pub network_mode: Option<String>,
    /// Networks the service joins (`default` when it names none).
    pub networks: Vec<String>,
    /// Bind mounts and volumes, short and long syntax alike; bind sources are absolute.
    pub mounts: Vec<ComposeMount>,
    /// `command:` as written: `list`, `string` (a plain or quoted scalar), `folded` (`>`),
    /// `literal` (`|`), or null without one.
    pub command_style: Option<String>,
    /// Which drawpile-srv the image is, when it is one.
    pub drawpile: Option<DrawpileImage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ComposeNetwork {
    /// The key services use (`dpserver`, `default`).
    pub key: String,
    /// The network's name in Docker.
    pub name: String,
    pub external: bool,
}

impl ComposeFile {
    /// The Docker name of the network a service calls `key`.
    pub fn network_name(&self, key: &str) -> String {
        self.networks_on_host
            .iter()
            .find(|n| n.key == key)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| format!("{}_{key}", self.project_name))
    }
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeBuild {
    /// The build context on the host (absolute).
    pub context: String,
    pub dockerfile: String,
    /// The image of the Dockerfile's last `FROM` (read on the host), when readable.
    pub from: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ComposeMount {
    /// `bind`, `volume` (named) or `tmpfs`; `anonymous` for a volume without a name.
    pub kind: String,
    /// Host path (bind, absolute) or volume name.
    pub source: Option<String>,
    /// Path inside the container.
    pub target: String,
    pub read_only: bool,
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
pub fn drawpile_image_from_inspect(v: &Value) -> Option<DrawpileImage> {
    let config = v.get("Config")?;
    let words = |k: &str| -> Vec<String> {
        config
            .get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
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
    let tags: Vec<String> = v
        .get("RepoTags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
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

fn docker_cmd(ctx: &Ctx, cli: &Path) -> Cmd {
    let mut cmd = ctx.host.command(cli);
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
    let (version, v1, v2) = tokio::join!(
        run(
            ctx,
            &cli,
            &["version", "--format", "{{json .}}"],
            "docker version"
        ),
        async {
            match &compose_v1 {
                Some(p) => compose_v1_version(ctx, p).await,
                None => None,
            }
        },
        ctx.host
            .run(docker_cmd(ctx, &cli).args(["compose", "version"])),
    );
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
    // The JSON carries the client part even when the daemon is down.
    if let Ok(v) = serde_json::from_str::<Value>(version.stdout_str().trim()) {
        facts.cli_version = v
            .pointer("/Client/Version")
            .and_then(Value::as_str)
            .map(String::from);
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
        &cli,
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
        &cli,
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
        let out = run(ctx, &cli, &args, "docker image inspect").await;
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&out.stdout_str()) {
            built = items
                .iter()
                .filter_map(|i| {
                    let d = drawpile_image_from_inspect(i)?;
                    let mut names: Vec<String> = i
                        .get("RepoTags")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
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
    let inspect = run(ctx, &cli, &args, "docker inspect").await;
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
pub fn parse_compose_port(v: &yaml_serde::Value) -> Vec<PublishedPort> {
    use yaml_serde::Value as Y;
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

fn yaml_str(v: &yaml_serde::Value) -> Option<String> {
    use yaml_serde::Value as Y;
    match v {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `./x` or `x` against the project directory; absolute paths stay.
fn project_path(dir: &str, p: &str) -> String {
    if p.starts_with('/') {
        return p.to_string();
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// One `volumes:` entry of a service, short or long syntax.
pub fn parse_compose_mount(dir: &str, v: &yaml_serde::Value) -> Option<ComposeMount> {
    use yaml_serde::Value as Y;
    let is_path = |s: &str| s.starts_with('/') || s.starts_with('.') || s.starts_with('~');
    match v {
        Y::String(s) => {
            let (src, target, mode) = crate::formats::compose_project::parse_short_volume(s)?;
            let read_only = mode
                .as_deref()
                .is_some_and(|m| m.split(',').any(|o| o == "ro"));
            Some(match src {
                None => ComposeMount {
                    kind: "anonymous".into(),
                    source: None,
                    target,
                    read_only,
                },
                Some(src) if is_path(&src) => ComposeMount {
                    kind: "bind".into(),
                    source: Some(project_path(dir, &src)),
                    target,
                    read_only,
                },
                Some(src) => ComposeMount {
                    kind: "volume".into(),
                    source: Some(src),
                    target,
                    read_only,
                },
            })
        }
        Y::Mapping(m) => {
            let kind = m.get("type").and_then(Y::as_str).unwrap_or("volume");
            let source = m.get("source").and_then(Y::as_str);
            Some(ComposeMount {
                kind: match (kind, source) {
                    ("volume", None) => "anonymous".into(),
                    (k, _) => k.to_string(),
                },
                source: source.map(|s| {
                    if kind == "bind" {
                        project_path(dir, s)
                    } else {
                        s.to_string()
                    }
                }),
                target: m.get("target").and_then(Y::as_str)?.to_string(),
                read_only: m.get("read_only").and_then(Y::as_bool).unwrap_or(false),
            })
        }
        _ => None,
    }
}

/// How `command:` is written in the service's block: `folded` (`>`), `literal` (`|`),
/// `list` (flow or block) or `string`.
pub fn command_style(text: &str, service: &str) -> Option<String> {
    let value = crate::formats::compose::key_value_text(text, service, "command")?;
    let first = value.trim_start();
    Some(
        if first.starts_with('>') {
            "folded"
        } else if first.starts_with('|') {
            "literal"
        } else if first.starts_with('[') || first.starts_with("- ") {
            "list"
        } else {
            "string"
        }
        .into(),
    )
}

/// One service of a merged, interpolated project document. `file` and `line` say where it
/// is defined; `raw` is the same service before interpolation.
pub fn compose_service(
    name: &str,
    svc: &yaml_serde::Value,
    raw: Option<&yaml_serde::Value>,
    dir: &str,
    file: &str,
    line: Option<usize>,
) -> ComposeService {
    use yaml_serde::Value as Y;
    let image = svc.get("image").and_then(Y::as_str).unwrap_or("");
    let command = match svc.get("command") {
        Some(Y::String(s)) => split_command(s),
        Some(Y::Sequence(items)) => items
            .iter()
            .map(|i| yaml_str(i).unwrap_or_default())
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
    let build = svc.get("build").map(|b| {
        let (context, dockerfile) = match b {
            Y::String(c) => (c.clone(), "Dockerfile".to_string()),
            _ => (
                b.get("context")
                    .and_then(Y::as_str)
                    .unwrap_or(".")
                    .to_string(),
                b.get("dockerfile")
                    .and_then(Y::as_str)
                    .unwrap_or("Dockerfile")
                    .to_string(),
            ),
        };
        ComposeBuild {
            context: project_path(dir, &context),
            dockerfile,
            from: None,
        }
    });
    let networks = match svc.get("networks") {
        Some(Y::Sequence(items)) => items.iter().filter_map(yaml_str).collect(),
        Some(Y::Mapping(m)) => m.keys().filter_map(yaml_str).collect(),
        _ if svc.get("network_mode").is_some() => Vec::new(),
        _ => vec!["default".to_string()],
    };
    let volumes_seq = svc.get("volumes").and_then(Y::as_sequence);
    ComposeService {
        name: name.to_string(),
        line,
        image: image.to_string(),
        options: DrawpileArgs::parse(&command),
        command,
        ports: svc
            .get("ports")
            .and_then(Y::as_sequence)
            .map(|s| s.iter().flat_map(parse_compose_port).collect())
            .unwrap_or_default(),
        volumes: volumes_seq
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        env,
        restart: svc.get("restart").and_then(Y::as_str).map(String::from),
        file: file.to_string(),
        image_as_written: raw
            .and_then(|r| r.get("image"))
            .and_then(Y::as_str)
            .map(String::from),
        build,
        container_name: svc
            .get("container_name")
            .and_then(Y::as_str)
            .map(String::from),
        network_mode: svc
            .get("network_mode")
            .and_then(Y::as_str)
            .map(String::from),
        networks,
        mounts: volumes_seq
            .map(|s| {
                s.iter()
                    .filter_map(|v| parse_compose_mount(dir, v))
                    .collect()
            })
            .unwrap_or_default(),
        command_style: None,
        drawpile: drawpile_image(image),
    }
}

/// The texts of a project's files, in merge order, and its `.env` variables.
#[derive(Debug, Clone, Default)]
pub struct ProjectTexts {
    pub dir: String,
    pub env: crate::formats::compose_project::Env,
    pub env_file: Option<String>,
    /// (path, text) of every compose file, main first.
    pub files: Vec<(String, String)>,
}

/// Reads a project from its texts (pure): merged and interpolated as Compose does. Errors
/// name the file and the line or value.
pub fn compose_project(t: &ProjectTexts) -> Result<ComposeFile, String> {
    use crate::formats::compose_project as cp;
    use yaml_serde::Value as Y;
    let mut undefined = Vec::new();
    let mut doc = Y::Null;
    let mut raw_doc = Y::Null;
    let mut lines: Vec<(&str, std::collections::BTreeMap<String, usize>)> = Vec::new();
    for (path, text) in &t.files {
        let parsed = cp::parse_file(text, &t.env, &mut undefined).map_err(|e| {
            if path.is_empty() {
                e
            } else {
                format!("{path}:{e}")
            }
        })?;
        cp::merge(&mut doc, parsed);
        // The same file before interpolation (it parsed above, so this cannot fail on syntax).
        if let Ok(mut raw) = yaml_serde::from_str::<Y>(text) {
            let _ = raw.apply_merge();
            cp::merge(&mut raw_doc, raw);
        }
        lines.push((path.as_str(), cp::service_lines(text)));
    }
    undefined.sort();
    undefined.dedup();
    let names = |k: &str| -> Vec<String> {
        doc.get(k)
            .and_then(Y::as_mapping)
            .map(|m| m.keys().filter_map(yaml_str).collect())
            .unwrap_or_default()
    };
    let mut file = ComposeFile {
        path: t.files.first().map(|f| f.0.clone()).unwrap_or_default(),
        project_dir: t.dir.clone(),
        // COMPOSE_PROJECT_NAME, else Compose v2's top-level `name:`, else the directory.
        project_name: match doc.get("name").and_then(Y::as_str) {
            Some(n) if !t.env.contains_key("COMPOSE_PROJECT_NAME") => n.to_lowercase(),
            _ => cp::project_name(&t.dir, &t.env),
        },
        config_files: t.files.iter().map(|f| f.0.clone()).collect(),
        env_file: t.env_file.clone(),
        undefined_variables: undefined,
        networks: names("networks"),
        named_volumes: names("volumes"),
        ..Default::default()
    };
    let declared = doc.get("networks").and_then(Y::as_mapping);
    let mut keys: Vec<String> = names("networks");
    if !keys.iter().any(|k| k == "default") {
        keys.push("default".into());
    }
    for key in keys {
        let n = declared.and_then(|d| d.get(key.as_str()));
        // `external: true`, or the version-3 form `external: {name: X}`.
        let ext = n.and_then(|n| n.get("external"));
        let external = match ext {
            Some(Y::Bool(b)) => *b,
            Some(Y::Mapping(_)) => true,
            _ => false,
        };
        let name = n
            .and_then(|n| n.get("name"))
            .and_then(Y::as_str)
            .or_else(|| ext.and_then(|e| e.get("name")).and_then(Y::as_str))
            .map(String::from)
            .unwrap_or_else(|| {
                if external {
                    key.clone()
                } else {
                    format!("{}_{key}", file.project_name)
                }
            });
        file.networks_on_host.push(ComposeNetwork {
            key,
            name,
            external,
        });
    }
    if let Some(services) = doc.get("services").and_then(Y::as_mapping) {
        for (name, svc) in services {
            let Some(name) = yaml_str(name) else { continue };
            let (f, line) = lines
                .iter()
                .find_map(|(f, l)| l.get(&name).map(|n| (*f, Some(*n))))
                .unwrap_or((file.path.as_str(), None));
            let raw = raw_doc.get("services").and_then(|s| s.get(name.as_str()));
            let s = compose_service(&name, svc, raw, &t.dir, f, line);
            if s.drawpile.is_some() {
                file.services.push(s);
            } else {
                file.other_services.push(s);
            }
        }
    }
    file.set_command_styles(t);
    Ok(file)
}

impl ComposeFile {
    /// set_command_styles, reading the files again (for a service recognised after reading).
    fn set_command_styles_from_disk(&mut self, ctx: &Ctx) {
        let files = self
            .config_files
            .iter()
            .filter_map(|p| Some((p.clone(), ctx.host.read_to_string(p).ok()?)))
            .collect();
        self.set_command_styles(&ProjectTexts {
            files,
            ..Default::default()
        });
    }

    /// The override file where customisations belong (dpserver's README: so that `git pull`
    /// keeps working): the one Compose already reads, else the default-named file next to the
    /// main file, which Compose will read once it exists. Err when COMPOSE_FILE in `.env`
    /// decides the files (a new file would not be read unless added there).
    pub fn override_path(&self) -> Result<String, String> {
        if let Some(o) = self.config_files.iter().skip(1).find(|f| {
            f.rsplit('/')
                .next()
                .is_some_and(|n| n.contains(".override."))
        }) {
            return Ok(o.clone());
        }
        let main = self.config_files.first().unwrap_or(&self.path);
        let name = main.rsplit('/').next().unwrap_or(main);
        let dir = self.project_dir.trim_end_matches('/');
        match name {
            "docker-compose.yml" | "docker-compose.yaml" if self.config_files.len() == 1 => {
                Ok(format!("{dir}/docker-compose.override.yaml"))
            }
            "compose.yml" | "compose.yaml" if self.config_files.len() == 1 => {
                Ok(format!("{dir}/compose.override.yaml"))
            }
            _ => Err(format!(
                "Compose reads {} (COMPOSE_FILE or a file that is not default-named): an override \
                 file would have to be added to that list",
                self.config_files.join(", ")
            )),
        }
    }

    /// How each drawpile service's `command:` is written, as the last file that sets it
    /// writes it (a text scan per service: only for drawpile's, so thousands of other
    /// services cost nothing).
    fn set_command_styles(&mut self, t: &ProjectTexts) {
        for s in &mut self.services {
            s.command_style = t
                .files
                .iter()
                .rev()
                .find_map(|(_, text)| command_style(text, &s.name));
        }
    }
}

/// Parses a single compose file without `.env`; returns the drawpile services.
pub fn parse_compose(text: &str) -> Result<Vec<ComposeService>, String> {
    let t = ProjectTexts {
        dir: "/".into(),
        files: vec![(String::new(), text.to_string())],
        ..Default::default()
    };
    compose_project(&t).map(|f| f.services)
}

/// Reads the project a compose file belongs to: its `.env`, its override file (or the
/// COMPOSE_FILE list), every file merged. `files` overrides the file list (from container
/// labels, which name exactly what Compose used).
fn read_project(ctx: &Ctx, main: &Path, files: Option<Vec<String>>) -> Result<ComposeFile, String> {
    use crate::formats::compose_project as cp;
    let dir = main
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "/".into());
    let env_path = format!("{}/.env", dir.trim_end_matches('/'));
    let (env, env_file) = if ctx.host.exists(&env_path) {
        let text = ctx.host.read_to_string(&env_path).map_err(|e| {
            format!("{env_path}: cannot read: {e} (Compose reads its variables from it)")
        })?;
        (
            cp::parse_dotenv(&text).map_err(|e| format!("{env_path}: {e}"))?,
            Some(env_path),
        )
    } else {
        (cp::Env::new(), None)
    };
    let main_s = main.display().to_string();
    let list =
        files.unwrap_or_else(|| cp::project_files(&dir, &main_s, &env, &|p| ctx.host.is_file(p)));
    let mut texts = Vec::new();
    for f in &list {
        let text = ctx
            .host
            .read_to_string(f)
            .map_err(|e| format!("{f}: cannot read: {e}"))?;
        texts.push((f.clone(), text));
    }
    let texts = ProjectTexts {
        dir,
        env,
        env_file,
        files: texts,
    };
    let mut file = compose_project(&texts)?;
    // Services built from a Dockerfile: the FROM line says which image they extend.
    let mut built = Vec::new();
    for (i, s) in file.other_services.iter_mut().enumerate() {
        if let Some(b) = &mut s.build {
            let df = project_path(&b.context, &b.dockerfile);
            // `docker build` falls back to a lower-case `dockerfile` for the default name.
            let lower =
                (b.dockerfile == "Dockerfile").then(|| project_path(&b.context, "dockerfile"));
            b.from = std::iter::once(df)
                .chain(lower)
                .find_map(|p| ctx.host.read_to_string(&p).ok())
                .as_deref()
                .and_then(dockerfile_from);
            if let Some(d) = b.from.as_deref().and_then(drawpile_image) {
                s.drawpile = Some(DrawpileImage {
                    recognised_by: format!("built FROM {}", d.image),
                    image: if s.image.is_empty() {
                        format!("{}_{}", file.project_name, s.name)
                    } else {
                        s.image.clone()
                    },
                    ..d
                });
                built.push(i);
            }
        }
    }
    if !built.is_empty() {
        for i in built.into_iter().rev() {
            let s = file.other_services.remove(i);
            file.services.push(s);
        }
        file.set_command_styles(&texts);
    }
    Ok(file)
}

/// A service that may be the web server in front: it publishes port 443, or it is nginx on
/// the host's network.
fn may_serve_https(s: &ComposeService) -> bool {
    let nginx = super::nginx::is_nginx_image(&s.image)
        || s.build
            .as_ref()
            .and_then(|b| b.from.as_deref())
            .is_some_and(super::nginx::is_nginx_image);
    s.ports.iter().any(|p| p.container_port == 443)
        || (nginx && s.network_mode.as_deref() == Some("host"))
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
        if let Err(e) = ctx.host.metadata(&path) {
            if via == "--compose-file" {
                facts.errors.push(format!("{}: {e}", path.display()));
            }
            continue;
        }
        match read_project(ctx, &path, None) {
            Ok(f) if !f.services.is_empty() => facts.files.push(ComposeFile {
                found_via: via.to_string(),
                ..f
            }),
            Ok(f) if f.other_services.iter().any(may_serve_https) => {
                facts.web_projects.push(ComposeFile {
                    found_via: via.to_string(),
                    ..f
                })
            }
            Ok(_) => {}
            Err(e) => facts.errors.push(e),
        }
    }
    facts
}

/// Adds the compose files named by running containers' labels (once Docker was asked).
pub fn add_files_from_containers(ctx: &Ctx, compose: &mut ComposeFacts, docker: &DockerFacts) {
    for c in &docker.containers {
        let Some(main) = c.compose_files.first() else {
            continue;
        };
        let known = compose.files.iter().any(|cf| {
            cf.config_files
                .iter()
                .any(|f| ctx.host.canonical(f).ok() == ctx.host.canonical(main).ok())
        });
        if known {
            continue;
        }
        if let Err(e) = ctx.host.metadata(main) {
            compose
                .errors
                .push(format!("{main} (named by container {}): {e}", c.name));
            continue;
        }
        match read_project(ctx, Path::new(main), Some(c.compose_files.clone())) {
            Ok(mut f) => {
                // Docker knows the container runs drawpile-srv (by its image's entrypoint)
                // even when the file's image name does not say so.
                if let (Some(svc), Some(d)) = (&c.compose_service, &c.drawpile)
                    && let Some(i) = f.other_services.iter().position(|s| &s.name == svc)
                {
                    let mut s = f.other_services.remove(i);
                    s.drawpile = Some(d.clone());
                    f.services.push(s);
                    f.set_command_styles_from_disk(ctx);
                }
                if f.services.is_empty() {
                    continue;
                }
                compose.web_projects.retain(|w| w.path != f.path);
                compose.files.push(ComposeFile {
                    found_via: "container labels".into(),
                    ..f
                });
            }
            Err(e) => compose.errors.push(e),
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
    fn a_compose_service_docker_knows_runs_drawpile_is_one_whatever_its_image_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("opt/custom")).unwrap();
        std::fs::write(
            dir.path().join("opt/custom/docker-compose.yml"),
            "services:\n  dp:\n    image: myorg/drawing-server:prod\n    command: >\n      --websocket-port 27771\n",
        )
        .unwrap();
        let ctx = Ctx::new(
            crate::host::Host::new(
                dir.path(),
                std::time::Duration::from_secs(1),
                crate::host::Clock::System,
            ),
            Default::default(),
        );
        let docker = DockerFacts {
            containers: vec![Container {
                name: "custom_dp_1".into(),
                compose_service: Some("dp".into()),
                compose_files: vec!["/opt/custom/docker-compose.yml".into()],
                drawpile: Some(DrawpileImage {
                    image: "myorg/drawing-server:prod".into(),
                    recognised_by: "image entrypoint".into(),
                    version: Some("2.3.0".into()),
                    note: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut compose = ComposeFacts::default();
        add_files_from_containers(&ctx, &mut compose, &docker);
        let s = &compose.files[0].services[0];
        assert_eq!(compose.files[0].found_via, "container labels");
        assert_eq!(s.name, "dp");
        assert_eq!(
            s.drawpile.as_ref().unwrap().version.as_deref(),
            Some("2.3.0")
        );
        assert_eq!(s.options.websocket_port.as_deref(), Some("27771"));
        assert_eq!(s.command_style.as_deref(), Some("folded"));
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
    fn the_override_file_to_write() {
        let f = |files: &[&str]| ComposeFile {
            project_dir: "/root/dpserver".into(),
            config_files: files.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            f(&["/root/dpserver/docker-compose.yaml"]).override_path(),
            Ok("/root/dpserver/docker-compose.override.yaml".into())
        );
        assert_eq!(
            f(&["/root/dpserver/compose.yml"]).override_path(),
            Ok("/root/dpserver/compose.override.yaml".into())
        );
        assert_eq!(
            f(&[
                "/root/dpserver/docker-compose.yaml",
                "/root/dpserver/docker-compose.override.yml"
            ])
            .override_path(),
            Ok("/root/dpserver/docker-compose.override.yml".into())
        );
        assert!(
            f(&[
                "/root/dpserver/docker-compose.yaml",
                "/root/dpserver/extra.yml"
            ])
            .override_path()
            .unwrap_err()
            .contains("COMPOSE_FILE")
        );
        assert!(f(&["/srv/dp.yml"]).override_path().is_err());
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

    #[test]
    fn compose_ports_short_and_long() {
        let y: yaml_serde::Value = yaml_serde::from_str(
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
