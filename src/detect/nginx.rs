//! nginx's configuration as nginx itself reads it: from nginx.conf through every `include`
//! (globs sorted, relative paths against the directory of nginx.conf), every `server` block
//! of the http context with its file:line, listen directives, names, certificates (inherited
//! from http level), locations with the directives inside them, and server-level `proxy_*`
//! directives. The list of files read agrees with `nginx -T` (tested against the real nginx).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::Ctx;
use crate::formats::nginx::{Config, Node};

const DEFAULT_CONF_PATHS: &[&str] = &[
    "/etc/nginx/nginx.conf",
    "/usr/local/nginx/conf/nginx.conf",
    "/usr/local/etc/nginx/nginx.conf",
];

/// Include nesting deeper than this is a loop (nginx itself would recurse until it fails).
const MAX_INCLUDE_DEPTH: usize = 32;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxFacts {
    /// nginx.conf on the target machine, null when nginx is not configured.
    pub conf_path: Option<String>,
    /// How conf_path was found: `nginx -V` or `default location`.
    pub conf_source: Option<String>,
    /// Every configuration file read, in the order nginx reads them (as `nginx -T` lists them).
    pub files: Vec<String>,
    /// Every `server` block of the http context.
    pub servers: Vec<NginxServer>,
    /// `proxy_*` directives at http level (inherited by every server and location).
    pub http_proxy_directives: Vec<NginxDirective>,
    /// Problems that make nginx refuse the configuration (syntax, missing include), with
    /// file:line:column.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxServer {
    /// The file the `server {` is in.
    pub file: Arc<str>,
    /// Its line number.
    pub line: usize,
    pub server_names: Vec<String>,
    /// Listen directives (`listen 80;` is assumed when there is none).
    pub listen: Vec<NginxListen>,
    /// Any listen has `ssl` (or the old `ssl on;`).
    pub ssl: bool,
    /// `ssl_certificate`, from the server or inherited from http level; relative paths
    /// resolved against nginx.conf's directory.
    pub ssl_certificate: Option<String>,
    pub ssl_certificate_key: Option<String>,
    /// Where ssl_certificate was set (file:line).
    pub ssl_certificate_at: Option<String>,
    pub locations: Vec<NginxLocation>,
    /// `proxy_*` directives directly in the server block (inherited by its locations).
    pub proxy_directives: Vec<NginxDirective>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxListen {
    /// As written, e.g. `[::]:443 ssl http2`.
    pub raw: String,
    /// Address part, null for "all addresses" (`listen 443`); `unix:/path` for sockets.
    pub address: Option<String>,
    pub port: Option<u16>,
    pub ssl: bool,
    pub http2: bool,
    pub default_server: bool,
    pub file: Arc<str>,
    pub line: usize,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxLocation {
    /// `=`, `~`, `~*`, `^~`, or empty for a prefix match.
    pub modifier: String,
    /// The path or regex (or `@name`).
    pub path: String,
    pub file: Arc<str>,
    pub line: usize,
    /// The directives inside, nested blocks (`if`, inner `location`) included.
    pub directives: Vec<NginxDirective>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxDirective {
    pub name: String,
    /// Arguments with quotes removed.
    pub args: Vec<String>,
    pub file: Arc<str>,
    pub line: usize,
    /// The directives of its block; absent when the directive has no block.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block: Vec<NginxDirective>,
}

/// Finds nginx.conf: what `nginx -V` says when nginx is installed, else the defaults.
async fn find_conf(ctx: &Ctx) -> Option<(PathBuf, String)> {
    if ctx.host.which("nginx").is_some() && !ctx.host.runs_target_programs() {
        ctx.probes.skipped(
            "nginx -V",
            "not run: it belongs to the tree under --root; nginx.conf is looked for in the \
             default places",
        );
    } else if let Some(bin) = ctx.host.which("nginx") {
        let out = ctx.host.run(ctx.host.command(&bin).arg("-V")).await;
        ctx.probes.command("nginx -V", &out, &[0]);
        if out.success() {
            let text = out.stderr_str() + &out.stdout_str();
            if let Some(p) = configure_arg(&text, "--conf-path=") {
                let p = PathBuf::from(p);
                if ctx.host.is_file(&p) {
                    return Some((p, "nginx -V".into()));
                }
            }
            if let Some(prefix) = configure_arg(&text, "--prefix=") {
                let p = Path::new(&prefix).join("conf/nginx.conf");
                if ctx.host.is_file(&p) {
                    return Some((p, "nginx -V (prefix)".into()));
                }
            }
        }
    }
    DEFAULT_CONF_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| ctx.host.is_file(p))
        .map(|p| (p, "default location".into()))
}

/// A `--name=value` from nginx -V's `configure arguments:` line.
fn configure_arg(text: &str, name: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .map(|v| v.trim_matches('\'').to_string())
}

/// A directive with the file it came from: includes are spliced in, so a block's children
/// can come from several files.
#[derive(Debug, Clone)]
struct Located {
    file: Arc<str>,
    name: String,
    args: Vec<String>,
    line: usize,
    has_block: bool,
    /// Children with includes resolved.
    children: Vec<Located>,
}

/// A file read and parsed (or why not), before its includes are followed.
enum Loaded {
    Parsed(Result<Config, crate::formats::nginx::ParseError>),
    Unreadable(std::io::Error),
}

fn load(ctx: &Ctx, path: &Path) -> Loaded {
    match ctx.host.read_to_string(path) {
        Ok(text) => Loaded::Parsed(Config::parse_owned(text)),
        Err(e) => Loaded::Unreadable(e),
    }
}

struct Reader<'a> {
    ctx: &'a Ctx,
    conf_dir: PathBuf,
    /// For nginx in a container: (path in the container, path on the host) of its bind
    /// mounts, longest first. Empty for nginx on the host.
    mounts: Vec<(String, String)>,
    /// Container paths nginx reads that are not on the host (inside the image or a volume).
    in_image: Vec<String>,
    files: Vec<String>,
    seen: HashSet<String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn resolve(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            PathBuf::from(p)
        } else {
            self.conf_dir.join(p)
        }
    }

    /// The host path of a path nginx reads: itself on the host, through the bind mounts in
    /// a container (None when it lives inside the image).
    fn on_host(&self, p: &Path) -> Option<PathBuf> {
        if self.mounts.is_empty() {
            return Some(p.to_path_buf());
        }
        to_host(&self.mounts, &p.display().to_string()).map(PathBuf::from)
    }

    /// Reads a file and returns its directives with includes resolved.
    fn read_file(&mut self, path: &Path, depth: usize) -> Vec<Located> {
        let loaded = load(self.ctx, path);
        self.read_loaded(path, loaded, depth)
    }

    /// Reads many files (a glob include): loading and parsing run on worker threads, the
    /// includes are then resolved in order, so the result is as if read one by one.
    fn read_files(&mut self, paths: Vec<PathBuf>, depth: usize) -> Vec<Located> {
        const PARALLEL_FROM: usize = 32;
        if paths.len() < PARALLEL_FROM {
            return paths
                .iter()
                .flat_map(|p| self.read_file(p, depth))
                .collect();
        }
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8);
        let chunk = paths.len().div_ceil(workers);
        let ctx = self.ctx;
        let loaded: Vec<Loaded> = std::thread::scope(|scope| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || part.iter().map(|p| load(ctx, p)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut out = Vec::new();
        for (p, l) in paths.iter().zip(loaded) {
            out.extend(self.read_loaded(p, l, depth));
        }
        out
    }

    fn read_loaded(&mut self, path: &Path, loaded: Loaded, depth: usize) -> Vec<Located> {
        let name = path.display().to_string();
        if depth > MAX_INCLUDE_DEPTH {
            self.errors.push(format!(
                "{name}: includes nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)"
            ));
            return Vec::new();
        }
        let parsed = match loaded {
            Loaded::Parsed(r) => r,
            // A glob can match a directory; nginx would fail on it, say so plainly.
            Loaded::Unreadable(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
                self.errors.push(format!(
                    "{name}: is a directory, matched by an include glob"
                ));
                return Vec::new();
            }
            Loaded::Unreadable(e) => {
                self.errors.push(format!("{name}: cannot read: {e}"));
                return Vec::new();
            }
        };
        if self.seen.insert(name.clone()) {
            self.files.push(name.clone());
        }
        match parsed {
            Ok(cfg) => {
                let file: Arc<str> = Arc::from(name.as_str());
                self.resolve_nodes(&file, cfg.nodes, depth)
            }
            Err(e) => {
                self.errors
                    .push(format!("{name}:{}:{}: {}", e.line, e.column, e.message));
                Vec::new()
            }
        }
    }

    /// Follows includes; consumes the parsed nodes so their strings move, not copy.
    fn resolve_nodes(&mut self, file: &Arc<str>, nodes: Vec<Node>, depth: usize) -> Vec<Located> {
        let mut out = Vec::new();
        for n in nodes {
            let Node::Directive(d) = n else { continue };
            if d.name.value == "include" && d.block.is_none() {
                let Some(arg) = d.arg(0) else {
                    self.errors
                        .push(format!("{file}:{}: include without a file", d.line));
                    continue;
                };
                let in_nginx = self.resolve(arg);
                let Some(target) = self.on_host(&in_nginx) else {
                    // A glob over a directory of the image can still match files mounted
                    // one by one (`./site.conf:/etc/nginx/conf.d/default.conf`).
                    let mounted = mounted_matches(&self.mounts, &in_nginx.display().to_string());
                    if mounted.is_empty() {
                        // Inside the image (e.g. /etc/nginx/mime.types): nothing to read.
                        self.in_image.push(in_nginx.display().to_string());
                    } else {
                        out.extend(self.read_files(mounted, depth + 1));
                    }
                    continue;
                };
                let pattern = target.display().to_string();
                if pattern.contains(['*', '?', '[']) {
                    let paths = self.ctx.host.glob(&pattern);
                    out.extend(self.read_files(paths, depth + 1));
                } else if self.ctx.host.is_file(&target) {
                    out.extend(self.read_file(&target, depth + 1));
                } else {
                    self.errors.push(format!(
                        "{file}:{}: include {pattern}: no such file (nginx -t fails)",
                        d.line
                    ));
                }
                continue;
            }
            let has_block = d.block.is_some();
            let children = match d.block {
                Some(b) if !b.raw => self.resolve_nodes(file, b.children, depth),
                _ => Vec::new(),
            };
            out.push(Located {
                file: file.clone(),
                name: d.name.value,
                args: d.args.into_iter().map(|a| a.value).collect(),
                line: d.line,
                has_block,
                children,
            });
        }
        out
    }
}

/// Converts (consuming: the strings move) a resolved directive into its reported form.
fn to_directive(l: Located) -> NginxDirective {
    NginxDirective {
        name: l.name,
        args: l.args,
        file: l.file.clone(),
        line: l.line,
        block: l.children.into_iter().map(to_directive).collect(),
    }
}

/// Parses a listen directive's arguments.
pub fn parse_listen(args: &[String]) -> (Option<String>, Option<u16>, bool, bool, bool) {
    let Some(first) = args.first() else {
        return (None, None, false, false, false);
    };
    let (address, port) = if first.starts_with("unix:") {
        (Some(first.clone()), None)
    } else if let Some(rest) = first.strip_prefix('[') {
        // [::]:443 or [::1]
        match rest.split_once(']') {
            Some((addr, tail)) => (
                Some(format!("[{addr}]")),
                tail.strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .or(Some(80)),
            ),
            None => (Some(first.clone()), None),
        }
    } else if let Ok(p) = first.parse::<u16>() {
        (None, Some(p))
    } else {
        match first.rsplit_once(':') {
            Some((addr, p)) => ((addr != "*").then(|| addr.to_string()), p.parse().ok()),
            None => ((first != "*").then(|| first.clone()), Some(80)),
        }
    };
    let has = |f: &str| args.iter().skip(1).any(|a| a == f);
    (
        address,
        port,
        has("ssl"),
        has("http2"),
        has("default_server") || has("default"),
    )
}

fn server_facts(
    s: Located,
    http_cert: Option<(String, String)>,
    http_key: Option<String>,
    conf_dir: &Path,
) -> NginxServer {
    let abs = |p: &str| -> String {
        if p.starts_with('/') || p.starts_with("data:") || p.starts_with("engine:") {
            p.to_string()
        } else {
            conf_dir.join(p).display().to_string()
        }
    };
    let mut srv = NginxServer {
        file: s.file.clone(),
        line: s.line,
        ..Default::default()
    };
    let mut ssl_on = false;
    for c in s.children {
        if c.name == "location" {
            srv.locations.extend(locations(c));
            continue;
        }
        if c.name.starts_with("proxy_") {
            srv.proxy_directives.push(to_directive(c));
            continue;
        }
        let args = c.args;
        match c.name.as_str() {
            "listen" => {
                let (address, port, ssl, http2, default_server) = parse_listen(&args);
                srv.listen.push(NginxListen {
                    raw: args.join(" "),
                    address,
                    port,
                    ssl,
                    http2,
                    default_server,
                    file: c.file.clone(),
                    line: c.line,
                });
            }
            "server_name" => srv.server_names.extend(args),
            "ssl_certificate" => {
                srv.ssl_certificate = args.first().map(|p| abs(p));
                srv.ssl_certificate_at = Some(format!("{}:{}", c.file, c.line));
            }
            "ssl_certificate_key" => srv.ssl_certificate_key = args.first().map(|p| abs(p)),
            "ssl" => ssl_on = args.first().is_some_and(|a| a == "on"),
            _ => {}
        }
    }
    if srv.listen.is_empty() {
        // nginx listens on *:80 when a server has no listen (as root).
        srv.listen.push(NginxListen {
            raw: "(none: *:80)".into(),
            address: None,
            port: Some(80),
            file: s.file.clone(),
            line: s.line,
            ..Default::default()
        });
    }
    if ssl_on {
        for l in &mut srv.listen {
            l.ssl = true;
        }
    }
    srv.ssl = srv.listen.iter().any(|l| l.ssl);
    if srv.ssl_certificate.is_none()
        && let Some((cert, at)) = http_cert
    {
        srv.ssl_certificate = Some(abs(&cert));
        srv.ssl_certificate_at = Some(at);
    }
    if srv.ssl_certificate_key.is_none() {
        srv.ssl_certificate_key = http_key.map(|k| abs(&k));
    }
    srv
}

/// A location and the locations nested in it.
fn locations(l: Located) -> Vec<NginxLocation> {
    let (modifier, path) = match l.args.as_slice() {
        [m, p, ..] if ["=", "~", "~*", "^~"].contains(&m.as_str()) => (m.clone(), p.clone()),
        [p, ..] => (String::new(), p.clone()),
        [] => (String::new(), String::new()),
    };
    // Nested locations are reported twice: inside their parent and on their own.
    let nested: Vec<Located> = l
        .children
        .iter()
        .filter(|c| c.name == "location")
        .cloned()
        .collect();
    let mut out = vec![NginxLocation {
        modifier,
        path,
        file: l.file.clone(),
        line: l.line,
        directives: l.children.into_iter().map(to_directive).collect(),
    }];
    for c in nested {
        out.extend(locations(c));
    }
    out
}

/// The http-level proxy directives and every server block of a resolved tree.
fn collect(facts: &mut NginxFacts, top: Vec<Located>, conf_dir: &Path) {
    for http in top.into_iter().filter(|d| d.name == "http" && d.has_block) {
        let mut http_cert = None;
        let mut http_key = None;
        let mut servers = Vec::new();
        for c in http.children {
            if c.name == "server" && c.has_block {
                servers.push(c);
                continue;
            }
            if c.name.starts_with("proxy_") {
                facts.http_proxy_directives.push(to_directive(c));
                continue;
            }
            match c.name.as_str() {
                "ssl_certificate" => {
                    http_cert = c
                        .args
                        .first()
                        .map(|p| (p.clone(), format!("{}:{}", c.file, c.line)))
                }
                "ssl_certificate_key" => http_key = c.args.first().cloned(),
                _ => {}
            }
        }
        // Servers come after the http-level scan: a certificate set at http level after a
        // server block is still inherited by it.
        for s in servers {
            facts.servers.push(server_facts(
                s,
                http_cert.clone(),
                http_key.clone(),
                conf_dir,
            ));
        }
    }
}

pub async fn detect(ctx: &Ctx) -> NginxFacts {
    let mut facts = NginxFacts::default();
    let Some((conf, source)) = find_conf(ctx).await else {
        ctx.probes
            .skipped("nginx configuration", "no nginx.conf found");
        return facts;
    };
    let start = Instant::now();
    let conf_dir = conf.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut reader = Reader {
        ctx,
        conf_dir: conf_dir.clone(),
        mounts: Vec::new(),
        in_image: Vec::new(),
        files: Vec::new(),
        seen: HashSet::new(),
        errors: Vec::new(),
    };
    let top = reader.read_file(&conf, 0);
    collect(&mut facts, top, &conf_dir);
    facts.conf_path = Some(conf.display().to_string());
    facts.conf_source = Some(source);
    facts.files = reader.files;
    facts.errors = reader.errors;
    let took = start.elapsed();
    if facts.errors.is_empty() {
        ctx.probes.ok("nginx configuration", took);
    } else {
        ctx.probes
            .failed("nginx configuration", took, facts.errors.join("; "));
    }
    facts
}

/// nginx running in a container of a Compose project (drawpile/dpserver's layout): its
/// site files are on the host through bind mounts, read here with host file:line.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxContainer {
    /// The compose file (the project's main file) and the service.
    pub compose_file: String,
    pub project_name: String,
    pub project_dir: String,
    pub service: String,
    /// The service's line (in `service_file`).
    pub line: Option<usize>,
    pub service_file: String,
    /// `image:`, or the image its Dockerfile builds FROM.
    pub image: String,
    /// Built from a Dockerfile (dpserver builds its nginx FROM nginx:alpine).
    pub built: bool,
    /// Ports it publishes on the host.
    pub ports: Vec<super::docker::PublishedPort>,
    /// It publishes container port 443 (80) on the host.
    pub publishes_443: bool,
    pub publishes_80: bool,
    /// The compose networks it joins (a proxy reaches drawpile-srv by service name on a
    /// shared one).
    pub networks: Vec<String>,
    /// `network_mode:` (`host`: it proxies like nginx on the host, through published ports).
    pub network_mode: Option<String>,
    /// The Docker names of its networks (see ComposeFile::networks_on_host).
    pub network_names: Vec<String>,
    /// Bind mounts into /etc/nginx: where its configuration comes from on the host.
    pub config_mounts: Vec<super::docker::ComposeMount>,
    /// Container paths nginx reads that are not on the host (inside the image or a named
    /// volume: the image's nginx.conf, mime.types, certificates made in the container …).
    pub paths_in_container: Vec<String>,
    /// Its configuration read as nginx reads it; files and lines are host paths.
    pub config: NginxFacts,
}

/// The official nginx image's /etc/nginx/nginx.conf (the parts that decide what is read):
/// used when nginx.conf itself is not bind-mounted from the host.
const IMAGE_NGINX_CONF: &str = "events {}\nhttp {\n    include /etc/nginx/mime.types;\n    include /etc/nginx/conf.d/*.conf;\n}\n";

/// The host path of a container path through bind mounts (container prefix, host path),
/// longest prefix first.
fn to_host(mounts: &[(String, String)], p: &str) -> Option<String> {
    mounts.iter().find_map(|(inside, host)| {
        let rest = p.strip_prefix(inside.as_str())?;
        (rest.is_empty() || rest.starts_with('/') || inside.ends_with('/'))
            .then(|| format!("{}{rest}", host.trim_end_matches('/')))
    })
}

/// Host files of single-file bind mounts whose container path matches an include glob,
/// in the order nginx reads a glob (sorted by container path).
fn mounted_matches(mounts: &[(String, String)], pattern: &str) -> Vec<PathBuf> {
    let Ok(p) = glob::Pattern::new(pattern) else {
        return Vec::new();
    };
    let mut hits: Vec<&(String, String)> = mounts
        .iter()
        .filter(|(inside, _)| p.matches(inside))
        .collect();
    hits.sort();
    hits.into_iter()
        .map(|(_, host)| PathBuf::from(host))
        .collect()
}

/// An image that is nginx: `nginx`, `nginx:alpine`, `nginxinc/nginx-unprivileged`,
/// `jonasal/nginx-certbot`, `lscr.io/linuxserver/nginx` …
pub fn is_nginx_image(image: &str) -> bool {
    let (name, _) = super::docker::split_image(image);
    name.rsplit('/')
        .next()
        .is_some_and(|n| n == "nginx" || n.starts_with("nginx-"))
}

/// Reads the nginx containers of the compose projects found (a service whose image, or the
/// image its Dockerfile builds from, is nginx).
pub fn detect_in_compose(ctx: &Ctx, compose: &super::docker::ComposeFacts) -> Vec<NginxContainer> {
    let mut out = Vec::new();
    for f in compose.files.iter().chain(&compose.web_projects) {
        for svc in f.services.iter().chain(&f.other_services) {
            let from = svc.build.as_ref().and_then(|b| b.from.clone());
            let image = match (&from, svc.image.is_empty()) {
                (Some(fr), _) if is_nginx_image(fr) => fr.clone(),
                (_, false) if is_nginx_image(&svc.image) => svc.image.clone(),
                _ => continue,
            };
            out.push(read_container(ctx, f, svc, image, from.is_some()));
        }
    }
    out
}

fn read_container(
    ctx: &Ctx,
    f: &super::docker::ComposeFile,
    svc: &super::docker::ComposeService,
    image: String,
    built: bool,
) -> NginxContainer {
    let start = Instant::now();
    let mut mounts: Vec<(String, String)> = svc
        .mounts
        .iter()
        .filter(|m| m.kind == "bind")
        .filter_map(|m| Some((m.target.clone(), m.source.clone()?)))
        .collect();
    mounts.sort_by_key(|(inside, _)| std::cmp::Reverse(inside.len()));
    let mut reader = Reader {
        ctx,
        conf_dir: PathBuf::from("/etc/nginx"),
        mounts: mounts.clone(),
        in_image: Vec::new(),
        files: Vec::new(),
        seen: HashSet::new(),
        errors: Vec::new(),
    };
    let mut facts = NginxFacts::default();
    let conf = "/etc/nginx/nginx.conf";
    let top = match to_host(&mounts, conf) {
        Some(host_conf) => {
            facts.conf_path = Some(host_conf.clone());
            facts.conf_source = Some(format!("bind-mounted on {conf}"));
            reader.read_file(Path::new(&host_conf), 0)
        }
        None => {
            reader.in_image.push(conf.to_string());
            facts.conf_source = Some(format!("{conf} of the image (not on the host)"));
            match Config::parse(IMAGE_NGINX_CONF) {
                Ok(cfg) => {
                    let file: Arc<str> = Arc::from(format!("{conf} (in the image)").as_str());
                    reader.resolve_nodes(&file, cfg.nodes, 0)
                }
                Err(_) => Vec::new(),
            }
        }
    };
    collect(&mut facts, top, Path::new("/etc/nginx"));
    // Certificates: host paths when bind-mounted, else they live in the container.
    for s in &mut facts.servers {
        for p in [&mut s.ssl_certificate, &mut s.ssl_certificate_key]
            .into_iter()
            .flatten()
        {
            match to_host(&mounts, p) {
                Some(h) => *p = h,
                None => reader.in_image.push(p.clone()),
            }
        }
    }
    facts.files = reader.files;
    facts.errors = reader.errors;
    let mut in_image = reader.in_image;
    in_image.sort();
    in_image.dedup();
    let label = format!("nginx in compose service {}", svc.name);
    if facts.errors.is_empty() {
        ctx.probes.ok(&label, start.elapsed());
    } else {
        ctx.probes
            .failed(&label, start.elapsed(), facts.errors.join("; "));
    }
    NginxContainer {
        compose_file: f.path.clone(),
        project_name: f.project_name.clone(),
        project_dir: f.project_dir.clone(),
        service: svc.name.clone(),
        line: svc.line,
        service_file: svc.file.clone(),
        image,
        built,
        publishes_443: svc.ports.iter().any(|p| p.container_port == 443),
        publishes_80: svc.ports.iter().any(|p| p.container_port == 80),
        ports: svc.ports.clone(),
        networks: svc.networks.clone(),
        network_mode: svc.network_mode.clone(),
        network_names: svc.networks.iter().map(|k| f.network_name(k)).collect(),
        config_mounts: svc
            .mounts
            .iter()
            .filter(|m| m.kind == "bind" && m.target.starts_with("/etc/nginx"))
            .cloned()
            .collect(),
        paths_in_container: in_image,
        config: facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_map_through_bind_mounts() {
        let m = vec![
            (
                "/etc/nginx/conf.d".to_string(),
                "/root/dpserver/nginx-config".to_string(),
            ),
            ("/etc/nginx".to_string(), "/srv/ngx/".to_string()),
        ];
        assert_eq!(
            to_host(&m, "/etc/nginx/conf.d/default.conf").as_deref(),
            Some("/root/dpserver/nginx-config/default.conf")
        );
        assert_eq!(
            to_host(&m, "/etc/nginx/nginx.conf").as_deref(),
            Some("/srv/ngx/nginx.conf")
        );
        assert_eq!(to_host(&m, "/etc/nginxfoo"), None);
        assert_eq!(
            to_host(&m, "/usr/share/nginx/certificates/fullchain.pem"),
            None
        );
        for yes in [
            "nginx",
            "nginx:alpine",
            "docker.io/library/nginx:1.27",
            "nginxinc/nginx-unprivileged",
            "jonasal/nginx-certbot:latest",
            "lscr.io/linuxserver/nginx",
        ] {
            assert!(is_nginx_image(yes), "{yes}");
        }
        for no in [
            "drawpile/drawpile-srv",
            "nginxproxy/acme-companion",
            "caddy",
        ] {
            assert!(!is_nginx_image(no), "{no}");
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen(&s(&["443", "ssl"])),
            (None, Some(443), true, false, false)
        );
        assert_eq!(
            parse_listen(&s(&["[::]:443", "ssl", "http2", "default_server"])),
            (Some("[::]".into()), Some(443), true, true, true)
        );
        assert_eq!(
            parse_listen(&s(&["127.0.0.1:8080"])),
            (Some("127.0.0.1".into()), Some(8080), false, false, false)
        );
        assert_eq!(
            parse_listen(&s(&["*:80"])),
            (None, Some(80), false, false, false)
        );
        assert_eq!(
            parse_listen(&s(&["localhost"])),
            (Some("localhost".into()), Some(80), false, false, false)
        );
        assert_eq!(
            parse_listen(&s(&["unix:/run/x.sock"])).0.as_deref(),
            Some("unix:/run/x.sock")
        );
    }

    #[test]
    fn configure_args_are_read_from_nginx_v() {
        let v = "nginx version: nginx/1.22.1\nconfigure arguments: --with-cc-opt='-g' --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --http-log-path=/var/log/nginx/access.log";
        assert_eq!(
            configure_arg(v, "--conf-path=").as_deref(),
            Some("/etc/nginx/nginx.conf")
        );
        assert_eq!(
            configure_arg(v, "--prefix=").as_deref(),
            Some("/usr/share/nginx")
        );
    }
}
