//! Compose projects as Compose reads them, from the machine: where their files usually are,
//! the project each main file belongs to (its `.env`, override files or COMPOSE_FILE, all
//! merged by formats::compose_project), its services with their images, commands, ports,
//! mounts and networks, and which of them run drawpile-srv (any of its images, an image
//! built FROM one, or a container Docker says runs it). Everything else is pure and tested
//! against the real `docker-compose config`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;
use super::args::DrawpileArgs;
use super::docker::{DockerFacts, DrawpileImage, PublishedPort, dockerfile_from, drawpile_image};

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
    /// When some compose files could not be read: which and why, for a message that says
    /// drawpile-srv may be in one of them (a `${VAR:?err}`, an unreadable `.env` …) instead of
    /// "not found".
    pub fn unread(&self) -> Option<String> {
        (!self.errors.is_empty()).then(|| {
            format!(
                "these Compose files could not be read, and drawpile-srv may be in one of them \
                 (`docker-compose config` in its directory refuses it too): {}",
                self.errors.join("; ")
            )
        })
    }

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
    use crate::detect::docker::Container;

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
