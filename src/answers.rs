//! The answers file (TOML): what the admin wants, as typed values. Loading reports every
//! problem at once, each as `FILE:LINE:COLUMN: [key] message`; nothing unvalidated gets out.
//! What needs the machine (busy ports, defaults from the existing setup) is decided later,
//! when the plan is made from Facts + Answers.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::model::*;

/// The commented template (`dpwizard answers --template`).
pub const TEMPLATE: &str = include_str!("../assets/answers-template.toml");

/// The template's `site.domain`, which stands for the admin's own: `answers --check`
/// refuses a file that still has it.
pub const TEMPLATE_DOMAIN: &str = "draw.example.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    SystemdService,
    Docker,
    Compose,
    Appimage,
    NewService,
    NewContainer,
}

impl Runtime {
    pub const ALL: [Runtime; 6] = [
        Runtime::SystemdService,
        Runtime::Docker,
        Runtime::Compose,
        Runtime::Appimage,
        Runtime::NewService,
        Runtime::NewContainer,
    ];

    /// The value in an answers file.
    pub fn key(self) -> &'static str {
        match self {
            Runtime::SystemdService => "systemd-service",
            Runtime::Docker => "docker",
            Runtime::Compose => "compose",
            Runtime::Appimage => "appimage",
            Runtime::NewService => "new-service",
            Runtime::NewContainer => "new-container",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Certbot,
    Existing,
    SelfSigned,
}

impl TlsMode {
    pub const ALL: [TlsMode; 3] = [TlsMode::Certbot, TlsMode::Existing, TlsMode::SelfSigned];

    /// The value in an answers file.
    pub fn key(self) -> &'static str {
        match self {
            TlsMode::Certbot => "certbot",
            TlsMode::Existing => "existing",
            TlsMode::SelfSigned => "self-signed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyServer {
    Nginx,
    /// Apache 2.4 in front (Debian layout): a marked block in the domain's 443 vhost.
    Apache,
    /// Caddy 2 with a Caddyfile: a marked `handle` in the domain's site.
    Caddy,
}

impl ProxyServer {
    /// The answers-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyServer::Nginx => "nginx",
            ProxyServer::Apache => "apache",
            ProxyServer::Caddy => "caddy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum SiteFile {
    Auto,
    Path(AbsPath),
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DrawpileAnswers {
    pub binary: Option<AbsPath>,
    pub runtime: Option<Runtime>,
    pub image: Option<ImageRef>,
    pub unit: Option<UnitName>,
    pub user: Option<UserName>,
    pub websocket_port: Option<Port>,
    pub websocket_listen: Option<ListenAddress>,
    pub tcp_port: Option<Port>,
    pub web_admin_port: Option<Port>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SiteAnswers {
    pub domain: DomainName,
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TlsAnswers {
    pub mode: Option<TlsMode>,
    pub certificate: Option<AbsPath>,
    pub key: Option<AbsPath>,
    pub acme_server: Option<HttpsUrl>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ProxyAnswers {
    pub server: Option<ProxyServer>,
    pub site_file: Option<SiteFile>,
    pub extra_origins: Vec<Origin>,
}

/// Hosting the browser client on this server (discouraged: the official one at
/// https://web.drawpile.net works with every properly configured server). Off by default;
/// `enabled` needs `directory` and `acknowledged`, so no script turns it on unknowingly.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WebClientAnswers {
    pub enabled: bool,
    /// The built client files (index.html and the .wasm files).
    pub directory: Option<ClientDir>,
    /// A dedicated site for the client; by default the client is served at the root of
    /// `site.domain`, next to the WebSocket route.
    pub domain: Option<DomainName>,
    /// The admin read the warning (the official client works; self-hosting only as a backup
    /// or where it is unreachable; the GPL applies to modified builds).
    pub acknowledged: bool,
}

/// What the admin must accept before hosting the client: the Drawpile page's own warning.
pub const WEB_CLIENT_WARNING: &str = "The official web client at https://web.drawpile.net \
works with every properly configured server. Host your own copy only as a backup or where \
web.drawpile.net is unreachable. The client is licensed under the GPL: if you change it, you \
must offer your users its source code under the same licence.";

impl WebClientAnswers {
    /// The directory to serve when hosting is on (validation guarantees it is set then).
    pub fn hosted(&self) -> Option<&ClientDir> {
        self.directory.as_ref().filter(|_| self.enabled)
    }
}

/// A validated answers file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answers {
    pub drawpile: DrawpileAnswers,
    pub site: SiteAnswers,
    pub tls: TlsAnswers,
    pub proxy: ProxyAnswers,
    pub web_client: WebClientAnswers,
}

/// One problem in an answers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError {
    pub line: usize,
    pub column: usize,
    /// `section.key`, empty when the problem is not about one key.
    pub key: String,
    pub message: String,
}

/// All the problems of a file, printable as `FILE:LINE:COL: [key] message` lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct AnswerErrors {
    pub file: String,
    pub errors: Vec<AnswerError>,
}

impl AnswerErrors {
    pub fn render(&self) -> String {
        self.errors
            .iter()
            .map(|e| {
                let key = if e.key.is_empty() {
                    String::new()
                } else {
                    format!("[{}] ", e.key)
                };
                format!("{}:{}:{}: {key}{}", self.file, e.line, e.column, e.message)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    drawpile: Option<RawDrawpile>,
    site: Option<Spanned<RawSite>>,
    tls: Option<RawTls>,
    proxy: Option<RawProxy>,
    web_client: Option<Spanned<RawWebClient>>,
}

type S<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrawpile {
    binary: S<String>,
    runtime: S<String>,
    image: S<String>,
    unit: S<String>,
    user: S<String>,
    websocket_port: S<i64>,
    websocket_listen: S<String>,
    tcp_port: S<i64>,
    web_admin_port: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    domain: S<String>,
    email: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    mode: S<String>,
    certificate: S<String>,
    key: S<String>,
    acme_server: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    server: S<String>,
    site_file: S<String>,
    extra_origins: S<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebClient {
    enabled: S<bool>,
    directory: S<String>,
    domain: S<String>,
    acknowledged: S<bool>,
}

/// 1-based line and column (in characters) of a byte offset.
/// Where `section.key` is written in an answers file (its value), for errors found after
/// loading (the planner refusing an explicit answer). (1, 1) when it is not there.
pub fn locate(text: &str, key: &str) -> (usize, usize) {
    type Section = std::collections::BTreeMap<String, Spanned<toml::Value>>;
    let Some((section, name)) = key.split_once('.') else {
        return (1, 1);
    };
    let Ok(doc) = toml::from_str::<std::collections::BTreeMap<String, Spanned<Section>>>(text)
    else {
        return (1, 1);
    };
    match doc.get(section) {
        Some(sec) => match sec.get_ref().get(name) {
            Some(v) => line_col(text, v.span().start),
            None => line_col(text, sec.span().start),
        },
        None => (1, 1),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

struct Collector<'a> {
    text: &'a str,
    errors: Vec<AnswerError>,
}

impl Collector<'_> {
    fn push(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(AnswerError {
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Validates an optional spanned value with `parse`, recording the error at its span.
    fn take<R, T>(
        &mut self,
        v: S<R>,
        key: &str,
        parse: impl Fn(&R) -> Result<T, Invalid>,
    ) -> Option<T> {
        let v = v?;
        let span = v.span();
        match parse(v.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.push(span, key, e.0);
                None
            }
        }
    }
}

fn choice<T: Copy>(options: &[(&str, T)], what: &str) -> impl Fn(&String) -> Result<T, Invalid> {
    let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let options: Vec<(String, T)> = options.iter().map(|(n, t)| (n.to_string(), *t)).collect();
    let what = what.to_string();
    move |s: &String| {
        options
            .iter()
            .find(|(n, _)| n == s)
            .map(|(_, t)| *t)
            .ok_or_else(|| Invalid(format!("{what} {s:?} is not one of {}", names.join(", "))))
    }
}

/// One more extra origin after `so_far`: an origin, not an official one (always allowed),
/// not listed twice. The wizard's origins field uses the same rule.
pub fn extra_origin(s: &str, so_far: &[Origin]) -> Result<Origin, Invalid> {
    let origin = Origin::parse(s)?;
    if origin.is_official() {
        return Err(Invalid(format!("{origin} is always allowed: leave it out")));
    }
    if so_far.contains(&origin) {
        return Err(Invalid(format!("{origin} is listed twice")));
    }
    Ok(origin)
}

/// Parses and validates an answers file's text. `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Answers, AnswerErrors> {
    let fail = |errors: Vec<AnswerError>| AnswerErrors {
        file: file.to_string(),
        errors,
    };
    // The TOML reader stops at its first error; every error is wanted at once. So the lines
    // of an error are blanked (same length: later positions stay right) and the file read
    // again, until it reads; the values that remain are then validated as usual.
    let mut blanked = text.to_string();
    let mut errors = Vec::new();
    let mut blanked_keys = Vec::new();
    let raw: Raw = loop {
        let e = match toml::from_str(&blanked) {
            Ok(r) => break r,
            Err(e) => e,
        };
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        errors.push(AnswerError {
            line,
            column,
            key: e.span().map(|s| key_at(text, s.start)).unwrap_or_default(),
            message: e.message().trim().replace('\n', " "),
        });
        match e.span().and_then(|s| blank_lines(&mut blanked, s)) {
            Some(keys) if errors.len() < 100 => blanked_keys.extend(keys),
            _ => return Err(fail(errors)),
        }
    };
    let mut c = Collector {
        text,
        errors: Vec::new(),
    };
    let port = |n: &i64| Port::new(*n);
    let text_of = |s: &String| Ok::<String, Invalid>(s.clone());
    let _ = text_of;

    let drawpile = match raw.drawpile {
        None => DrawpileAnswers::default(),
        Some(d) => DrawpileAnswers {
            binary: c.take(d.binary, "drawpile.binary", |s| AbsPath::parse(s)),
            runtime: c.take(
                d.runtime,
                "drawpile.runtime",
                choice(&Runtime::ALL.map(|r| (r.key(), r)), "runtime"),
            ),
            image: c.take(d.image, "drawpile.image", |s| ImageRef::parse(s)),
            unit: c.take(d.unit, "drawpile.unit", |s| UnitName::parse(s)),
            user: c.take(d.user, "drawpile.user", |s| UserName::parse(s)),
            websocket_port: c.take(d.websocket_port, "drawpile.websocket_port", port),
            websocket_listen: c.take(d.websocket_listen, "drawpile.websocket_listen", |s| {
                ListenAddress::parse(s)
            }),
            tcp_port: c.take(d.tcp_port, "drawpile.tcp_port", port),
            web_admin_port: c.take(d.web_admin_port, "drawpile.web_admin_port", port),
        },
    };

    let (site_span, raw_site) = match raw.site {
        Some(s) => {
            let span = s.span();
            (span, Some(s.into_inner()))
        }
        None => (0..0, None),
    };
    let (domain_field, email_field) = match raw_site {
        Some(s) => (s.domain, s.email),
        None => (None, None),
    };
    if domain_field.is_none() {
        c.push(
            site_span,
            "site.domain",
            "site.domain is required: the host name people use for your server",
        );
    }
    let domain = c.take(domain_field, "site.domain", |s| DomainName::parse(s));
    let email = c.take(email_field, "site.email", |s| EmailAddress::parse(s));

    let mut cert_span = None;
    let tls = match raw.tls {
        None => TlsAnswers::default(),
        Some(t) => {
            let mode_span = t.mode.as_ref().map(|m| m.span());
            cert_span = t
                .certificate
                .as_ref()
                .map(|x| x.span())
                .or_else(|| t.key.as_ref().map(|x| x.span()));
            let answers = TlsAnswers {
                mode: c.take(
                    t.mode,
                    "tls.mode",
                    choice(&TlsMode::ALL.map(|m| (m.key(), m)), "TLS mode"),
                ),
                certificate: c.take(t.certificate, "tls.certificate", |s| AbsPath::parse(s)),
                key: c.take(t.key, "tls.key", |s| AbsPath::parse(s)),
                acme_server: c.take(t.acme_server, "tls.acme_server", |s| HttpsUrl::parse(s)),
            };
            let _ = mode_span;
            answers
        }
    };

    let proxy = match raw.proxy {
        None => ProxyAnswers::default(),
        Some(p) => {
            let server = c.take(p.server, "proxy.server", |s: &String| match s.as_str() {
                "nginx" => Ok(ProxyServer::Nginx),
                "apache" => Ok(ProxyServer::Apache),
                "caddy" => Ok(ProxyServer::Caddy),
                other => Err(Invalid(format!(
                    "proxy server {other:?} is not one of \"nginx\", \"apache\", \"caddy\""
                ))),
            });
            let site_file = c.take(p.site_file, "proxy.site_file", |s: &String| {
                if s == "auto" {
                    Ok(SiteFile::Auto)
                } else {
                    AbsPath::parse(s).map(SiteFile::Path)
                }
            });
            let mut extra = Vec::new();
            if let Some(list) = p.extra_origins {
                for o in list.into_inner() {
                    let span = o.span();
                    match extra_origin(o.get_ref(), &extra) {
                        Ok(origin) => extra.push(origin),
                        Err(e) => c.push(span, "proxy.extra_origins", e.0),
                    }
                }
            }
            ProxyAnswers {
                server,
                site_file,
                extra_origins: extra,
            }
        }
    };

    let web_client = match raw.web_client {
        None => WebClientAnswers::default(),
        Some(w) => {
            let span = w.span();
            let w = w.into_inner();
            let enabled_span = w.enabled.as_ref().map_or(span.clone(), |e| e.span());
            let enabled = w.enabled.as_ref().is_some_and(|e| *e.get_ref());
            let acknowledged = w.acknowledged.as_ref().is_some_and(|e| *e.get_ref());
            let has_directory = w.directory.is_some();
            let answers = WebClientAnswers {
                enabled,
                directory: c.take(w.directory, "web_client.directory", |s| ClientDir::parse(s)),
                domain: c.take(w.domain, "web_client.domain", |s| DomainName::parse(s)),
                acknowledged,
            };
            if enabled && !has_directory {
                c.push(
                    enabled_span.clone(),
                    "web_client.directory",
                    "web_client.enabled = true needs web_client.directory: the directory of \
                     the built client files (index.html and its .wasm files)",
                );
            }
            if enabled && !acknowledged {
                c.push(
                    enabled_span,
                    "web_client.acknowledged",
                    format!(
                        "web_client.enabled = true needs web_client.acknowledged = true, which \
                         says you read this: {WEB_CLIENT_WARNING}"
                    ),
                );
            }
            answers
        }
    };

    // Cross-field rules that need no machine.
    if tls.certificate.is_some() != tls.key.is_some() {
        c.push(
            cert_span.clone().unwrap_or(0..0),
            "tls.certificate",
            "tls.certificate and tls.key go together: give both or neither",
        );
    }
    if tls.certificate.is_some() && matches!(tls.mode, Some(TlsMode::Certbot | TlsMode::SelfSigned))
    {
        c.push(
            cert_span.unwrap_or(0..0),
            "tls.certificate",
            "tls.certificate and tls.key are only used with tls.mode = \"existing\"",
        );
    }
    let ports = [
        ("drawpile.websocket_port", drawpile.websocket_port),
        ("drawpile.tcp_port", drawpile.tcp_port),
        ("drawpile.web_admin_port", drawpile.web_admin_port),
    ];
    for (i, (a, pa)) in ports.iter().enumerate() {
        for (b, pb) in &ports[i + 1..] {
            if let (Some(x), Some(y)) = (pa, pb)
                && x == y
            {
                let (line, column) = find_key(text, b.rsplit('.').next().unwrap_or(b));
                c.errors.push(AnswerError {
                    line,
                    column,
                    key: b.to_string(),
                    message: format!("{b} = {y} is the same port as {a}: each needs its own"),
                });
            }
        }
    }

    // A key whose line was blanked for a TOML error is not also "required".
    c.errors.retain(|e| {
        !blanked_keys
            .iter()
            .any(|k| e.key.rsplit('.').next() == Some(k.as_str()))
    });
    c.errors.extend(errors);
    if !c.errors.is_empty() {
        c.errors.sort_by_key(|e| (e.line, e.column));
        c.errors.dedup();
        return Err(fail(c.errors));
    }
    let Some(domain) = domain else {
        return Err(fail(c.errors));
    };
    Ok(Answers {
        drawpile,
        site: SiteAnswers { domain, email },
        tls,
        proxy,
        web_client,
    })
}

/// Renders answers as an answers file that `parse` reads back to the same value: one line
/// per key that is set, each preceded by `comments` for it when given (`section.key` → text).
/// Values were validated on the way in, but are quoted by the TOML writer all the same.
pub fn to_toml(a: &Answers, header: &str, comments: &dyn Fn(&str) -> Option<String>) -> String {
    fn q(s: &str) -> String {
        toml::Value::String(s.to_string()).to_string()
    }
    let mut out = String::new();
    for l in header.lines() {
        out.push_str(&format!("# {l}\n").replace("# \n", "#\n"));
    }
    let mut section = |name: &str, keys: Vec<(&str, Option<String>)>| {
        out.push_str(&format!("\n[{name}]\n"));
        for (k, v) in keys {
            let Some(v) = v else { continue };
            if let Some(c) = comments(&format!("{name}.{k}")) {
                for l in c.lines() {
                    out.push_str(&format!("# {l}\n"));
                }
            }
            out.push_str(&format!("{k} = {v}\n"));
        }
    };
    let d = &a.drawpile;
    let runtime = d.runtime.map(Runtime::key);
    section(
        "drawpile",
        vec![
            ("binary", d.binary.as_ref().map(|v| q(v.as_str()))),
            ("runtime", runtime.map(q)),
            ("image", d.image.as_ref().map(|v| q(v.as_str()))),
            ("unit", d.unit.as_ref().map(|v| q(v.as_str()))),
            ("user", d.user.as_ref().map(|v| q(v.as_str()))),
            (
                "websocket_port",
                d.websocket_port.map(|p| p.get().to_string()),
            ),
            (
                "websocket_listen",
                d.websocket_listen.map(|l| q(&l.to_string())),
            ),
            ("tcp_port", d.tcp_port.map(|p| p.get().to_string())),
            (
                "web_admin_port",
                d.web_admin_port.map(|p| p.get().to_string()),
            ),
        ],
    );
    section(
        "site",
        vec![
            ("domain", Some(q(a.site.domain.as_str()))),
            ("email", a.site.email.as_ref().map(|v| q(v.as_str()))),
        ],
    );
    let mode = a.tls.mode.map(TlsMode::key);
    section(
        "tls",
        vec![
            ("mode", mode.map(q)),
            (
                "certificate",
                a.tls.certificate.as_ref().map(|v| q(v.as_str())),
            ),
            ("key", a.tls.key.as_ref().map(|v| q(v.as_str()))),
            (
                "acme_server",
                a.tls.acme_server.as_ref().map(|v| q(v.as_str())),
            ),
        ],
    );
    let site_file = a.proxy.site_file.as_ref().map(|f| match f {
        SiteFile::Auto => q("auto"),
        SiteFile::Path(p) => q(p.as_str()),
    });
    let origins = (!a.proxy.extra_origins.is_empty()).then(|| {
        let list: Vec<String> = a
            .proxy
            .extra_origins
            .iter()
            .map(|o| q(o.as_str()))
            .collect();
        format!("[{}]", list.join(", "))
    });
    section(
        "proxy",
        vec![
            ("server", a.proxy.server.map(|s| q(s.as_str()))),
            ("site_file", site_file),
            ("extra_origins", origins),
        ],
    );
    let w = &a.web_client;
    if *w != WebClientAnswers::default() {
        section(
            "web_client",
            vec![
                ("enabled", Some(w.enabled.to_string())),
                ("directory", w.directory.as_ref().map(|v| q(v.as_str()))),
                ("domain", w.domain.as_ref().map(|v| q(v.as_str()))),
                ("acknowledged", w.acknowledged.then(|| "true".to_string())),
            ],
        );
    }
    out
}

/// The `table.key` (or `table`, on a header) written on the line of `offset`, for errors
/// the TOML reader gives without one.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| {
        l.strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .map(|n| n.trim().to_string())
    };
    if line.starts_with('[') {
        return header(line).unwrap_or_default();
    }
    let Some((key, _)) = line.split_once('=') else {
        return String::new();
    };
    let table = text[..start]
        .lines()
        .rev()
        .find_map(|l| header(l.trim()).filter(|_| l.trim_start().starts_with('[')));
    match table {
        Some(t) if !t.is_empty() => format!("{t}.{}", key.trim()),
        _ => key.trim().to_string(),
    }
}

/// Replaces the lines `span` touches with spaces (a table header: its whole table), keeping
/// every byte offset; returns the keys blanked, or None when nothing changed (no progress).
fn blank_lines(text: &mut String, span: Range<usize>) -> Option<Vec<String>> {
    let bytes = text.as_bytes();
    let start = bytes[..span.start.min(bytes.len())]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line_end = |from: usize| {
        bytes[from.min(bytes.len())..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| from + i)
    };
    let mut end = line_end(span.end.max(start));
    if text[start..end].trim_start().starts_with('[') {
        // A table header: its keys would otherwise land in the table before it.
        while end < bytes.len() && !text[end + 1..].trim_start().starts_with('[') {
            end = line_end(end + 1);
        }
    }
    let region = &text[start..end];
    if region.trim().is_empty() {
        return None;
    }
    let keys = region
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .collect();
    let spaces: String = region
        .bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    text.replace_range(start..end, &spaces);
    Some(keys)
}

/// Where `key =` is written (for errors about a combination of keys).
fn find_key(text: &str, key: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with(key) && t[key.len()..].trim_start().starts_with('=') {
            return (i + 1, line.len() - t.len() + 1);
        }
    }
    (1, 1)
}

/// Reads and validates an answers file from the filesystem (the admin's own path, not a
/// path under `--root`).
pub fn load(path: &std::path::Path) -> Result<Answers, AnswerErrors> {
    let file = path.display().to_string();
    let one = |message: String| AnswerErrors {
        file: file.clone(),
        errors: vec![AnswerError {
            line: 1,
            column: 1,
            key: String::new(),
            message,
        }],
    };
    let bytes = crate::host::confined::read_local(path, crate::host::ReadKind::Answers)
        .map_err(|e| one(format!("cannot read the answers file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        one(format!(
            "not UTF-8 text (invalid byte at offset {}): save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(&file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_with_a_domain_is_valid_and_names_every_key() {
        let a = parse("t.toml", TEMPLATE).unwrap();
        assert_eq!(a.site.domain.as_str(), "draw.example.com");
        // Every key of the public interface appears in the template (commented or not).
        for key in [
            "binary",
            "runtime",
            "image",
            "unit",
            "user",
            "websocket_port",
            "websocket_listen",
            "tcp_port",
            "web_admin_port",
            "domain",
            "email",
            "mode",
            "certificate",
            "key",
            "acme_server",
            "server",
            "site_file",
            "extra_origins",
            "enabled",
            "directory",
            "acknowledged",
        ] {
            assert!(
                TEMPLATE
                    .lines()
                    .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} ="))),
                "{key} missing from the template"
            );
        }
        // Uncommenting every example still validates (with mode "existing", since the
        // example certificate and key only go with that mode).
        let is_example = |l: &str| {
            l.strip_prefix("# ").is_some_and(|r| {
                let k = r.split(" = ").next().unwrap_or("");
                r.contains(" = ") && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        };
        let all: String = TEMPLATE
            .lines()
            .map(|l| if is_example(l) { &l[2..] } else { l })
            .collect::<Vec<_>>()
            .join("\n")
            .replace("mode = \"certbot\"", "mode = \"existing\"");
        let a = parse("all.toml", &all).unwrap_or_else(|e| panic!("{e}\n{all}"));
        assert_eq!(a.drawpile.websocket_port.map(Port::get), Some(27751));
        assert_eq!(a.proxy.extra_origins.len(), 1);
    }

    #[test]
    fn to_toml_reads_back_to_the_same_answers() {
        let all = "[drawpile]\nbinary = \"/usr/bin/drawpile-srv\"\nruntime = \"new-container\"\n\
            image = \"drawpile/drawpile-srv:2.3\"\nunit = \"dp.service\"\nuser = \"dp\"\n\
            websocket_port = 27755\nwebsocket_listen = \"::1\"\ntcp_port = 27750\nweb_admin_port = 27780\n\
            [site]\ndomain = \"draw.example.com\"\nemail = \"a@example.com\"\n\
            [tls]\nmode = \"existing\"\ncertificate = \"/c.pem\"\nkey = \"/k.pem\"\n\
            [proxy]\nserver = \"nginx\"\nsite_file = \"/etc/nginx/sites-available/x\"\n\
            extra_origins = [\"https://a.example.org\", \"https://b.example.org:8443\"]\n";
        let a = parse("a.toml", all).unwrap();
        let text = to_toml(&a, "made by a test\n\nsecond line", &|k| {
            (k == "site.domain").then(|| "the name".to_string())
        });
        assert!(
            text.starts_with("# made by a test\n#\n# second line\n"),
            "{text}"
        );
        assert!(
            text.contains("# the name\ndomain = \"draw.example.com\"\n"),
            "{text}"
        );
        assert_eq!(parse("b.toml", &text).unwrap(), a, "{text}");
        // Only the keys that are set are written.
        let min = parse("m.toml", "[site]\ndomain = \"d.example.com\"\n").unwrap();
        let text = to_toml(&min, "", &|_| None);
        assert_eq!(
            text.lines().filter(|l| l.contains(" = ")).count(),
            1,
            "{text}"
        );
        assert_eq!(parse("m2.toml", &text).unwrap(), min);
        // Every front end reads back as itself.
        for server in ["nginx", "apache", "caddy"] {
            let t = format!("[site]\ndomain = \"d.example.com\"\n[proxy]\nserver = \"{server}\"\n");
            let a = parse("p.toml", &t).unwrap();
            assert_eq!(a.proxy.server.map(ProxyServer::as_str), Some(server));
            assert_eq!(parse("p2.toml", &to_toml(&a, "", &|_| None)).unwrap(), a);
        }
    }

    #[test]
    fn every_error_is_reported_at_once_even_toml_ones() {
        let text = "[site]\ndomain = 5\nemail = \"-oops@example.com\"\n[drawpile]\n\
                    websocket_port = \"x\"\nunit = \"--user\"\nimage = \"-x\"\n[bogus]\na = 1\n\
                    [tls]\nmode = \"nope\"\n";
        let e = parse("a.toml", text).unwrap_err();
        let at: Vec<(usize, usize)> = e.errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(
            at,
            [(2, 10), (3, 9), (5, 18), (6, 8), (7, 9), (8, 2), (11, 8)],
            "{}",
            e.render()
        );
        let r = e.render();
        assert!(
            r.contains(
                "a.toml:3:9: [site.email] e-mail address \"-oops@example.com\" starts with '-'"
            ),
            "{r}"
        );
        assert!(
            r.contains("a.toml:6:8: [drawpile.unit] unit \"--user\" starts with '-'"),
            "{r}"
        );
        assert!(
            r.contains("a.toml:2:10: [site.domain] invalid type: integer `5`"),
            "{r}"
        );
        assert!(
            r.contains("a.toml:5:18: [drawpile.websocket_port] invalid type"),
            "{r}"
        );
        assert!(
            r.contains("a.toml:8:2: [bogus] unknown field `bogus`"),
            "{r}"
        );
        assert!(!r.contains("required"), "{r}");
    }

    #[test]
    fn the_web_client_is_off_by_default_and_needs_a_directory_and_the_acknowledgement() {
        let base = "[site]\ndomain = \"d.example.com\"\n";
        assert_eq!(
            parse("a.toml", base).unwrap().web_client,
            WebClientAnswers::default()
        );
        assert_eq!(parse("a.toml", base).unwrap().web_client.hosted(), None);
        let text = format!("{base}[web_client]\nenabled = true\n");
        let r = parse("w.toml", &text).unwrap_err().render();
        assert!(
            r.contains("w.toml:4:11: [web_client.directory] web_client.enabled = true needs"),
            "{r}"
        );
        assert!(
            r.contains(
                "w.toml:4:11: [web_client.acknowledged] web_client.enabled = true needs \
                 web_client.acknowledged = true"
            ),
            "{r}"
        );
        assert!(r.contains("https://web.drawpile.net"), "{r}");
        let text = format!(
            "{base}[web_client]\nenabled = true\ndirectory = \"/etc/web\"\n\
             domain = \"203.0.113.4\"\nacknowledged = true\n"
        );
        let r = parse("w.toml", &text).unwrap_err().render();
        assert!(
            r.contains("w.toml:5:13: [web_client.directory] \"/etc/web\" is under /etc"),
            "{r}"
        );
        assert!(
            r.contains("w.toml:6:10: [web_client.domain] \"203.0.113.4\" is an IP address"),
            "{r}"
        );
        let text = format!(
            "{base}[web_client]\nenabled = true\ndirectory = \"/srv/web/\"\n\
             domain = \"Web.Example.com\"\nacknowledged = true\n"
        );
        let a = parse("w.toml", &text).unwrap();
        assert_eq!(
            a.web_client.hosted().map(ClientDir::as_str),
            Some("/srv/web")
        );
        assert_eq!(
            a.web_client.domain.as_ref().map(DomainName::as_str),
            Some("web.example.com")
        );
        assert_eq!(parse("b.toml", &to_toml(&a, "", &|_| None)).unwrap(), a);
        // A typo is an unknown key, named where it is.
        let text = format!("{base}[web_client]\nenable = true\n");
        let r = parse("w.toml", &text).unwrap_err().render();
        assert!(
            r.contains("w.toml:4:1: [web_client.enable] unknown field"),
            "{r}"
        );
    }

    #[test]
    fn errors_name_line_column_and_key() {
        let text = "[site]\ndomain = \"203.0.113.9\"\n[drawpile]\nwebsocket_port = 70000\n";
        let e = parse("a.toml", text).unwrap_err();
        let r = e.render();
        assert!(r.contains("a.toml:2:10: [site.domain]"), "{r}");
        assert!(
            r.contains("a.toml:4:18: [drawpile.websocket_port] port 70000"),
            "{r}"
        );
    }
}
