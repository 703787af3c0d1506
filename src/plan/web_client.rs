//! Hosting the Drawpile browser client (`[web_client]`, off by default, discouraged): the
//! built client directory served at the root of the site that already carries the WebSocket
//! route, by whichever web server is in front (nginx on the host or in a Compose container,
//! Apache 2.4, Caddy 2). One renderer per front end; each writes only between its own
//! markers, so every other byte of the file (and dpwizard's WebSocket block) stays. Pure:
//! the directory's listing comes from the [`Snapshot`], read once at the edge.

use super::make::{PlanError, Snapshot};
use super::{Action, Change, FileMode, Plan};
use crate::answers::{Answers, ProxyServer};
use crate::detect::Facts;
use crate::model::{ClientDir, Origin};
use crate::proxy::Kind;

/// Marker lines around the client's block inside the TLS site. They must not contain the
/// WebSocket block's `# BEGIN dpwizard`, which its editors find by substring.
pub const BEGIN: &str = "# >>> dpwizard web client";
pub const END: &str = "# <<< dpwizard web client";
/// Marker lines around a site of its own for the client (`web_client.domain`), at the end of
/// the file that holds the main site (whose certificate settings it copies).
pub const BEGIN_SITE: &str = "# >>> dpwizard web client site";
pub const END_SITE: &str = "# <<< dpwizard web client site";
/// Marker lines around the HTTP → HTTPS redirect site, when the domain had none.
pub const BEGIN_HTTP: &str = "# >>> dpwizard web client: HTTP to HTTPS";
pub const END_HTTP: &str = "# <<< dpwizard web client: HTTP to HTTPS";

/// The WebSocket route that must keep working next to the client.
const WS_PATH: &str = "/drawpile-web/ws";

/// The headers every response of the client carries: without COOP and COEP the page is not
/// cross-origin isolated (no secure context for its threads), and it cannot run.
pub const ISOLATION_HEADERS: [(&str, &str); 3] = [
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Cross-Origin-Resource-Policy", "same-site"),
];
/// Cache-Control for everything but HTML (the build's files change names with their content).
pub const LONG_CACHE: &str = "public, max-age=31536000";
pub const HTML_CACHE: &str = "no-store";

/// The answers with the client's own origin (https:// + web_client.domain, else site.domain)
/// allowed by the WebSocket route's Origin check when the client is hosted: the page connects
/// with that Origin, which the documented check (empty, web.drawpile.net, its mirror) would
/// refuse with a 403.
pub fn with_own_origin(answers: &Answers) -> std::borrow::Cow<'_, Answers> {
    let host = answers
        .web_client
        .domain
        .as_ref()
        .unwrap_or(&answers.site.domain);
    let own = Origin::parse(&format!("https://{host}"));
    match own {
        Ok(o)
            if answers.web_client.hosted().is_some()
                && !answers.proxy.extra_origins.contains(&o) =>
        {
            let mut a = answers.clone();
            a.proxy.extra_origins.push(o);
            std::borrow::Cow::Owned(a)
        }
        _ => std::borrow::Cow::Borrowed(answers),
    }
}

/// A directory that holds no client is refused before anything is planned.
fn check_directory(dir: &ClientDir, snap: &Snapshot) -> Result<(), PlanError> {
    let answer = |message: String| PlanError::Answer {
        key: "web_client.directory",
        message,
    };
    let Some(names) = snap.dirs.get(dir.as_str()) else {
        return Err(answer(format!(
            "{dir} is not a directory dpwizard can read: build the Drawpile browser client \
             (or unpack a release of it) there first"
        )));
    };
    let mut missing = Vec::new();
    if !names.iter().any(|n| n == "index.html") {
        missing.push("index.html");
    }
    if !names.iter().any(|n| n.ends_with(".wasm")) {
        missing.push("a .wasm file");
    }
    if !missing.is_empty() {
        return Err(answer(format!(
            "{dir} holds no built browser client: {} missing there (a built client has \
             index.html and its .wasm files side by side)",
            missing.join(" and ")
        )));
    }
    Ok(())
}

/// The web server's own text for the block, indented by `indent`.
fn render(front: Kind, dir: &str, host: &str, indent: &str) -> String {
    let body = match front {
        Kind::HostNginx | Kind::ContainerNginx => nginx_block(dir),
        Kind::Apache => apache_block(dir),
        Kind::Caddy => caddy_block(dir),
    };
    // One level more is the file's own unit: a tab where it indents with tabs (Caddy's style,
    // dpserver's nginx site, Debian's Apache sites), else four spaces.
    let unit = if front == Kind::Caddy || indent.ends_with('\t') {
        "\t"
    } else {
        "    "
    };
    let mut out = format!(
        "{indent}{BEGIN}\n{indent}# The Drawpile browser client from {dir} at https://{host}/ (self-hosted; \
         the official one is https://web.drawpile.net).\n"
    );
    for line in body.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            // The renderers indent with four spaces per level; Caddy's style is tabs.
            let depth = line.len() - line.trim_start().len();
            out.push_str(indent);
            out.push_str(&unit.repeat(depth / 4));
            out.push_str(line.trim_start());
            out.push('\n');
        }
    }
    out.push_str(&format!("{indent}{END}\n"));
    out
}

/// nginx: regular-expression locations win over the site's prefix `location /` (dpwizard's
/// own `return 404`, or the admin's), and leave the WebSocket route out. `add_header` in a
/// block drops every inherited one, so each location repeats all of them, `always` (error
/// responses too). `types { }` empties the MIME map so `default_type` decides for .wasm
/// (nginx before 1.21 has no wasm type).
fn nginx_block(dir: &str) -> String {
    let location = |regex: &str, extra: &str, cache: &str| {
        let mut s = format!(
            "location ~ {regex} {{\n    root {dir};\n{extra}    limit_except GET {{\n        deny all;\n    }}\n"
        );
        for (h, v) in ISOLATION_HEADERS {
            s.push_str(&format!("    add_header {h} \"{v}\" always;\n"));
        }
        s.push_str(&format!(
            "    add_header Cache-Control \"{cache}\" always;\n}}\n"
        ));
        s
    };
    let not_ws = "^/(?!drawpile-web/ws)";
    [
        location(
            &format!("{not_ws}.*\\.wasm$"),
            "    types { }\n    default_type application/wasm;\n",
            LONG_CACHE,
        ),
        location(
            &format!("{not_ws}(.*/|.*\\.html?)?$"),
            "    index index.html;\n",
            HTML_CACHE,
        ),
        location(not_ws, "", LONG_CACHE),
    ]
    .join("")
}

/// Apache: `Alias /` maps the site's root to the directory (ProxyPass, which Apache applies
/// first, keeps the WebSocket route); GET (and HEAD, which Apache counts as GET) only.
fn apache_block(dir: &str) -> String {
    let mut s = format!(
        "Alias \"/\" \"{dir}/\"\n<Directory \"{dir}\">\n    Require all granted\n    \
         Options -Indexes\n    AllowOverride None\n    DirectoryIndex index.html\n    \
         AddType application/wasm .wasm\n    <LimitExcept GET>\n        Require all denied\n    \
         </LimitExcept>\n    Header always set Cache-Control \"{LONG_CACHE}\"\n    \
         <FilesMatch \"\\.html?$\">\n        Header always set Cache-Control \"{HTML_CACHE}\"\n    \
         </FilesMatch>\n</Directory>\n"
    );
    for (h, v) in ISOLATION_HEADERS {
        s.push_str(&format!("Header always set {h} \"{v}\"\n"));
    }
    s
}

/// Caddy: a `handle` without a matcher sorts after `handle /drawpile-web/ws`, so it takes
/// everything else; `header` runs before `respond` and `file_server` in Caddy's order.
fn caddy_block(dir: &str) -> String {
    let mut s = format!("handle {{\n    root * {dir}\n");
    for (h, v) in ISOLATION_HEADERS {
        s.push_str(&format!("    header {h} {v}\n"));
    }
    s.push_str(&format!(
        "    @dpw_html path / */ *.html *.htm\n    header @dpw_html Cache-Control {HTML_CACHE}\n    \
         @dpw_other not path / */ *.html *.htm\n    header @dpw_other Cache-Control \"{LONG_CACHE}\"\n    \
         @dpw_wasm path *.wasm\n    header @dpw_wasm Content-Type application/wasm\n    \
         @dpw_not_get not method GET HEAD\n    respond @dpw_not_get 405\n    file_server\n}}\n"
    ));
    s
}

/// The port-80 site that sends browsers to HTTPS, for a domain that has none.
fn http_redirect(front: Kind, domain: &str) -> String {
    let body = match front {
        Kind::HostNginx | Kind::ContainerNginx => format!(
            "server {{\n    listen 80;\n    listen [::]:80;\n    server_name {domain};\n    \
             return 301 https://$host$request_uri;\n}}\n"
        ),
        Kind::Apache => format!(
            "<VirtualHost *:80>\n    ServerName {domain}\n    Redirect permanent / https://{domain}/\n\
             </VirtualHost>\n"
        ),
        // Caddy redirects HTTP to HTTPS itself for a site with a host name.
        Kind::Caddy => return String::new(),
    };
    format!("{BEGIN_HTTP}\n{body}{END_HTTP}\n")
}

/// `text` with the port-80 redirect site at its end when the domain has no port-80 site
/// (`has_http`), or refreshed when dpwizard wrote it before.
fn with_http_redirect(text: String, front: Kind, domain: &str, has_http: bool) -> String {
    if has_http && marked(&text, 0..text.len(), BEGIN_HTTP, END_HTTP).is_none() {
        return text;
    }
    let end = text.len();
    set_region(
        &text,
        0..end,
        end,
        (BEGIN_HTTP, END_HTTP),
        &http_redirect(front, domain),
    )
}

/// The byte range of the whole lines from `begin` through `end` (marker lines compared
/// trimmed) inside `within`, if both are there.
fn marked(
    text: &str,
    within: std::ops::Range<usize>,
    begin: &str,
    end: &str,
) -> Option<std::ops::Range<usize>> {
    let mut at = within.start;
    let mut start = None;
    for line in text[within.clone()].split_inclusive('\n') {
        let t = line.trim();
        if t == begin && start.is_none() {
            start = Some(at);
        } else if t == end
            && let Some(s) = start
        {
            return Some(s..at + line.len());
        }
        at += line.len();
    }
    None
}

/// `text` with the marked region inside `within` replaced by `block`, or `block` inserted
/// at `insert_at` (the start of a line). Every other byte is kept.
fn set_region(
    text: &str,
    within: std::ops::Range<usize>,
    insert_at: usize,
    (begin, end): (&str, &str),
    block: &str,
) -> String {
    let range = marked(text, within, begin, end).unwrap_or(insert_at..insert_at);
    crate::formats::splice_block(text, range, block)
}

/// The file to edit and its current text: the plan's new bytes when the plan already writes
/// it, else the snapshot's.
fn current(plan: &Plan, snap: &Snapshot, path: &str) -> Option<String> {
    plan.changes
        .iter()
        .find_map(|c| match c {
            Change::Write { path: p, new, .. } if p == path => {
                Some(String::from_utf8_lossy(new).into_owned())
            }
            _ => None,
        })
        .or_else(|| {
            snap.get(path)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        })
}

/// Candidate files: the detected ones (at their real paths), and those the plan writes
/// under `dir` (a site dpwizard writes new).
fn candidates(
    plan: &Plan,
    snap: &Snapshot,
    dir: &str,
    detected: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let detected: Vec<String> = detected
        .into_iter()
        .map(|f| snap.real_paths.get(&f).cloned().unwrap_or(f))
        .collect();
    let mut out: Vec<String> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Write { path, .. } if path.starts_with(dir) || detected.contains(path) => {
                Some(path.clone())
            }
            _ => None,
        })
        .collect();
    out.extend(detected);
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// Every nginx server detection read: on the host and in Compose containers (their files are
/// host paths through the bind mounts).
pub fn all_nginx_servers(
    facts: &Facts,
) -> impl Iterator<Item = &crate::detect::nginx::NginxServer> {
    facts.nginx.servers.iter().chain(
        facts
            .nginx_containers
            .iter()
            .flat_map(|c| c.config.servers.iter()),
    )
}

/// What one front end's editor made of a file.
struct Edited {
    front: Kind,
    new: String,
    /// The line of the site the client went into (or next to).
    line: usize,
    /// Where the site served its own content at / (now behind the client), if it did.
    shadowed: Option<String>,
    /// The certificate a site of its own copies from the main site: its file (to check that
    /// it names the client's host), or None when the web server gets one itself (Caddy).
    cert: Option<String>,
}
/// An editor for one candidate file (path, current text).
type Editor<'a> = dyn Fn(&str, &str) -> Result<Option<Edited>, PlanError> + 'a;

/// Where the client goes: the file, its current text, the new text.
struct Edit {
    path: String,
    old: Option<Vec<u8>>,
    edited: Edited,
}

/// What is wanted: the client's directory, the main site's domain, and the client's own
/// host name when it gets a site of its own.
#[derive(Clone, Copy)]
struct Want<'a> {
    dir: &'a str,
    domain: &'a str,
    own: Option<&'a str>,
}

fn nginx_server_names(d: &crate::formats::nginx::Directive) -> Vec<String> {
    d.children()
        .filter(|c| c.name.value == "server_name")
        .flat_map(|c| c.args.iter().map(|a| a.value.to_ascii_lowercase()))
        .collect()
}

fn nginx_servers(nodes: &[crate::formats::nginx::Node]) -> Vec<&crate::formats::nginx::Directive> {
    use crate::formats::nginx::Node;
    let mut out = Vec::new();
    for n in nodes {
        if let Node::Directive(d) = n {
            if d.name.value == "server" && d.block.is_some() {
                out.push(d);
            } else if let Some(b) = &d.block {
                out.extend(nginx_servers(&b.children));
            }
        }
    }
    out
}

/// `text` with the marked region inside `within` removed (nothing else changes).
fn without_region(text: &str, within: std::ops::Range<usize>, markers: (&str, &str)) -> String {
    match marked(text, within, markers.0, markers.1) {
        Some(r) => format!("{}{}", &text[..r.start], &text[r.end..]),
        None => text.to_string(),
    }
}

/// `text` with the client's own site (`site`, markers included) at its end, or replaced.
fn with_site(text: &str, site: &str) -> String {
    let end = text.len();
    set_region(text, 0..end, end, (BEGIN_SITE, END_SITE), site)
}

/// The nginx edit: the client inside the server block (for `domain`) that carries the
/// WebSocket route, and a port-80 redirect when no server for the domain listens on 80; or,
/// for a host of its own, a server of its own (with the main server's listen and
/// certificate lines) and its redirect, at the end of the file.
fn edit_nginx(
    front: Kind,
    path: &str,
    text: &str,
    want: Want,
    has_http_elsewhere: bool,
) -> Result<Option<Edited>, PlanError> {
    use crate::formats::nginx::{Config, child_indent, insertion_point};
    let domain = want.domain;
    let conflict = |m: String| PlanError::Conflict(format!("{path}: {m}"));
    let cfg = Config::parse(text)
        .map_err(|e| conflict(format!("{}:{}: {}", e.line, e.column, e.message)))?;
    let servers = nginx_servers(&cfg.nodes);
    // A server without a name (dpserver's) takes every name that reaches it.
    let serves = |s: &crate::formats::nginx::Directive| {
        let names = nginx_server_names(s);
        names.iter().any(|n| n == domain) || names.iter().all(|n| n == "_" || n.is_empty())
    };
    let routes = |s: &&&crate::formats::nginx::Directive| {
        s.children()
            .any(|c| c.name.value == "location" && c.args.iter().any(|a| a.value == WS_PATH))
    };
    let Some(server) = servers
        .iter()
        .filter(routes)
        .find(|s| nginx_server_names(s).iter().any(|n| n == domain))
        .or_else(|| servers.iter().filter(routes).find(|s| serves(s)))
    else {
        return Ok(None);
    };
    let cert = server
        .children()
        .filter(|c| c.name.value == "ssl_certificate")
        .last()
        .and_then(|c| c.arg(0))
        .map(str::to_string);
    if let Some(own) = want.own {
        // The main server's listen (address, port 443, ssl/http2: nothing a second server
        // may not repeat) and certificate lines.
        let mut lines = Vec::new();
        for c in server.children() {
            match c.name.value.as_str() {
                "listen" => {
                    let words: Vec<&str> = c
                        .args
                        .iter()
                        .map(|a| a.value.as_str())
                        .filter(|w| matches!(*w, "ssl" | "http2") || w.contains("443"))
                        .collect();
                    if words.iter().any(|w| w.contains("443")) {
                        lines.push(format!("listen {};", words.join(" ")));
                    }
                }
                "ssl_certificate" | "ssl_certificate_key" | "ssl_dhparam" | "include"
                    if c.name.value != "include" || c.arg(0).is_some_and(|a| a.contains("ssl")) =>
                {
                    let raw = &text[c.span.clone()];
                    lines.push(raw.trim_end_matches(';').to_string() + ";");
                }
                _ => {}
            }
        }
        let mut site = format!("{BEGIN_SITE}\nserver {{\n    server_name {own};\n");
        for l in lines {
            site.push_str(&format!("    {l}\n"));
        }
        site.push('\n');
        site.push_str(&render(front, want.dir, own, "    "));
        site.push_str(&format!(
            "}}\n\nserver {{\n    listen 80;\n    listen [::]:80;\n    server_name {own};\n    \
             return 301 https://$host$request_uri;\n}}\n{END_SITE}\n"
        ));
        let new = without_region(text, server.span.clone(), (BEGIN, END));
        return Ok(Some(Edited {
            front,
            new: with_site(&new, &site),
            line: server.line,
            shadowed: None,
            cert,
        }));
    }
    let indent = child_indent(text, server);
    let block = render(front, want.dir, domain, &indent);
    let at = insertion_point(text, server)
        .ok_or_else(|| conflict("the server block has no body".into()))?;
    let new = set_region(text, server.span.clone(), at, (BEGIN, END), &block);
    let new = without_region(&new, 0..new.len(), (BEGIN_SITE, END_SITE));
    let plain_http = |s: &&crate::formats::nginx::Directive| {
        let listens: Vec<&str> = s
            .children()
            .filter(|c| c.name.value == "listen")
            .filter_map(|c| c.arg(0))
            .collect();
        (listens.is_empty() || listens.iter().any(|l| l.rsplit(':').next() == Some("80")))
            && serves(s)
    };
    let http_here = servers.iter().any(plain_http);
    let new = with_http_redirect(new, front, domain, http_here || has_http_elsewhere);
    // What the server answered at / before is shadowed by the client's locations.
    let ours = marked(text, server.span.clone(), BEGIN, END);
    let own_root = server.children().find(|c| {
        ours.as_ref().is_none_or(|r| !r.contains(&c.span.start))
            && (c.name.value == "root"
                || (c.name.value == "location"
                    && c.args.len() == 1
                    && c.arg(0) == Some("/")
                    && !c
                        .children()
                        .all(|x| x.name.value == "return" && x.arg(0) == Some("404"))))
    });
    Ok(Some(Edited {
        front,
        new,
        line: server.line,
        shadowed: own_root.map(|c| format!("{}:{}", path, c.line)),
        cert,
    }))
}

/// The Apache edit: the client inside the domain's 443 virtual host, at its end; or, for a
/// host of its own, a virtual host of its own (the main one's address and TLS lines) and
/// its redirect, at the end of the file.
fn edit_apache(
    path: &str,
    text: &str,
    want: Want,
    snap: &Snapshot,
    has_http: bool,
) -> Result<Option<Edited>, PlanError> {
    use crate::formats::apache::Config;
    let domain = want.domain;
    let include = |p: &str| snap.get(p).map(|b| String::from_utf8_lossy(b).into_owned());
    let cfg = Config::parse(text).map_err(|e| PlanError::Conflict(format!("{path}: {e}")))?;
    let Some(vhost) = cfg.tls_vhost_for(domain, &include) else {
        return Ok(None);
    };
    let cert = vhost
        .effective_directives()
        .into_iter()
        .rev()
        .find(|d| d.is("SSLCertificateFile"))
        .and_then(|d| d.arg(0))
        .map(str::to_string);
    if let Some(own) = want.own {
        let mut site = format!(
            "{BEGIN_SITE}\n{}\n    ServerName {own}\n",
            &text[vhost.open.clone()]
        );
        for d in vhost.directives().filter(|d| {
            [
                "SSLEngine",
                "SSLCertificateFile",
                "SSLCertificateKeyFile",
                "SSLCertificateChainFile",
            ]
            .iter()
            .any(|n| d.is(n))
                || (d.is("Include") && d.arg(0).is_some_and(|a| a.contains("ssl")))
        }) {
            site.push_str(&format!("    {}\n", text[d.span.clone()].trim()));
        }
        site.push('\n');
        site.push_str(&render(Kind::Apache, want.dir, own, "    "));
        site.push_str(&format!(
            "</VirtualHost>\n<VirtualHost *:80>\n    ServerName {own}\n    Redirect permanent / \
             https://{own}/\n</VirtualHost>\n{END_SITE}\n"
        ));
        let new = without_region(text, vhost.open.start..vhost.close.end, (BEGIN, END));
        return Ok(Some(Edited {
            front: Kind::Apache,
            new: with_site(&new, &site),
            line: vhost.line,
            shadowed: None,
            cert,
        }));
    }
    let indent = vhost.child_indent(text);
    let at = crate::formats::before_closer(text, vhost.close.start);
    let block = render(Kind::Apache, want.dir, domain, &indent);
    let new = set_region(
        text,
        vhost.open.start..vhost.close.end,
        at,
        (BEGIN, END),
        &block,
    );
    let new = without_region(&new, 0..new.len(), (BEGIN_SITE, END_SITE));
    let http_here = cfg
        .sections("VirtualHost")
        .iter()
        .any(|v| v.listens_on(80) && v.serves(domain));
    let new = with_http_redirect(new, Kind::Apache, domain, http_here || has_http);
    let ours = marked(text, vhost.open.start..vhost.close.end, BEGIN, END);
    let shadowed = vhost
        .directives()
        .find(|d| d.is("DocumentRoot") && ours.as_ref().is_none_or(|r| !r.contains(&d.span.start)))
        .map(|d| format!("{path}:{}", d.line));
    Ok(Some(Edited {
        front: Kind::Apache,
        new,
        line: vhost.line,
        shadowed,
        cert,
    }))
}

/// The Caddy edit: a catch-all `handle` in the domain's site (another catch-all `handle`,
/// first in file order among equals, would hide it: refused); or, for a host of its own, a
/// site of its own with the main site's `tls` line (none: Caddy's automatic HTTPS, which
/// also redirects HTTP).
fn edit_caddy(path: &str, text: &str, want: Want) -> Result<Option<Edited>, PlanError> {
    use crate::formats::caddyfile::Caddyfile;
    let domain = want.domain;
    let c = Caddyfile::parse(text).map_err(|e| PlanError::Conflict(format!("{path}: {e}")))?;
    let Some(site) = c.site_for(domain) else {
        return Ok(None);
    };
    let Some(b) = &site.block else {
        return Err(PlanError::Conflict(format!(
            "{path}:{}: the site for {domain} has no braces; write it as `{domain} {{ … }}`; \
             nothing was changed",
            site.line
        )));
    };
    let tls = site.children().find(|d| d.name() == Some("tls"));
    // `tls CERT KEY`: a file to check; `tls internal`, an e-mail or none: Caddy's own.
    let cert = tls
        .filter(|t| t.words.len() == 3)
        .and_then(|t| t.arg(0))
        .map(str::to_string);
    if let Some(own) = want.own {
        let mut new_site = format!("{BEGIN_SITE}\n{own} {{\n");
        if let Some(t) = tls {
            new_site.push_str(&format!("\t{}\n", text[t.span.clone()].trim()));
        }
        new_site.push_str(&render(Kind::Caddy, want.dir, own, "\t"));
        new_site.push_str(&format!("}}\n{END_SITE}\n"));
        let new = without_region(text, b.open..b.close, (BEGIN, END));
        return Ok(Some(Edited {
            front: Kind::Caddy,
            new: with_site(&new, &new_site),
            line: site.line,
            shadowed: None,
            cert,
        }));
    }
    let ours = marked(text, b.open..b.close, BEGIN, END);
    if let Some(other) = site.children().find(|d| {
        matches!(
            d.name(),
            Some("handle" | "file_server" | "respond" | "reverse_proxy")
        ) && d.words.len() == 1
            && ours.as_ref().is_none_or(|r| !r.contains(&d.span.start))
    }) {
        return Err(PlanError::Conflict(format!(
            "{path}:{}: the site for {domain} already answers every path (`{}` without a \
             matcher), so the client would be hidden or would hide it; serve the client under a \
             host name of its own (web_client.domain), or narrow that directive, then run \
             again; nothing was changed",
            other.line,
            other.name().unwrap_or("?")
        )));
    }
    let block = render(Kind::Caddy, want.dir, domain, &site.child_indent(text));
    let at = crate::formats::before_closer(text, b.close);
    let new = set_region(text, b.open..b.close + 1, at, (BEGIN, END), &block);
    Ok(Some(Edited {
        front: Kind::Caddy,
        new: without_region(&new, 0..new.len(), (BEGIN_SITE, END_SITE)),
        line: site.line,
        shadowed: None,
        cert,
    }))
}

/// Adds the client's changes to a finished plan (nothing when `[web_client]` is off; an
/// existing block is then left as it is, so a `--from-machine` export never removes it).
pub fn extend(
    mut plan: Plan,
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
) -> Result<Plan, PlanError> {
    let Some(dir) = answers.web_client.hosted() else {
        return Ok(plan);
    };
    check_directory(dir, snap)?;
    let domain = answers.site.domain.as_str();
    let own = answers
        .web_client
        .domain
        .as_ref()
        .map(|d| d.as_str())
        .filter(|d| *d != domain);
    let host = own.unwrap_or(domain);
    let want = Want {
        dir: dir.as_str(),
        domain,
        own,
    };
    let front = crate::proxy::front::choose(facts, answers)?;
    let container_files: Vec<String> = facts
        .nginx_containers
        .iter()
        .flat_map(|c| c.config.servers.iter().map(|s| s.file.to_string()))
        .collect();
    // The first candidate file whose site for the domain takes the client.
    let first = |files: Vec<String>, edit: &Editor| -> Result<Option<Edit>, PlanError> {
        for f in files {
            let Some(text) = current(&plan, snap, &f) else {
                continue;
            };
            if let Some(edited) = edit(&f, &text)? {
                let old = snap.get(&f).map(<[u8]>::to_vec);
                return Ok(Some(Edit {
                    path: f,
                    old,
                    edited,
                }));
            }
        }
        Ok(None)
    };
    let found = match front {
        ProxyServer::Nginx => {
            let files = candidates(
                &plan,
                snap,
                "/etc/nginx/",
                all_nginx_servers(facts)
                    .filter(|s| s.ssl)
                    .map(|s| s.file.to_string()),
            );
            first(files, &|f, text| {
                let kind = if container_files.iter().any(|c| c == f) {
                    Kind::ContainerNginx
                } else {
                    Kind::HostNginx
                };
                let servers: &[crate::detect::nginx::NginxServer] = if kind == Kind::HostNginx {
                    &facts.nginx.servers
                } else {
                    facts
                        .nginx_containers
                        .iter()
                        .find(|c| c.config.servers.iter().any(|s| *s.file == *f))
                        .map_or(&[], |c| &c.config.servers)
                };
                let elsewhere = servers.iter().any(|s| {
                    *s.file != *f
                        && !s.ssl
                        && (s
                            .server_names
                            .iter()
                            .any(|n| crate::proxy::nginx::name_match(n, domain).is_some())
                            || crate::proxy::nginx::is_catch_all(s))
                        && (s.listen.is_empty() || s.listen.iter().any(|l| l.port == Some(80)))
                });
                edit_nginx(kind, f, text, want, elsewhere)
            })?
        }
        ProxyServer::Apache => {
            let files = candidates(
                &plan,
                snap,
                super::front_apache::DEBIAN_ROOT,
                facts.apache.files.iter().cloned(),
            );
            first(files.clone(), &|f, text| {
                // A port-80 host for the domain in another file counts too.
                let http_elsewhere = files.iter().any(|g| {
                    g != f
                        && current(&plan, snap, g).is_some_and(|t| {
                            crate::formats::apache::Config::parse(&t).is_ok_and(|c| {
                                c.sections("VirtualHost")
                                    .iter()
                                    .any(|v| v.listens_on(80) && v.serves(domain))
                            })
                        })
                });
                edit_apache(f, text, want, snap, http_elsewhere)
            })?
        }
        ProxyServer::Caddy => {
            let files = candidates(
                &plan,
                snap,
                "/etc/caddy/",
                std::iter::once(super::front_caddy::CADDYFILE.to_string())
                    .chain(facts.caddy.files.iter().cloned()),
            );
            first(files, &|f, text| edit_caddy(f, text, want))?
        }
    };
    let Some(edit) = found else {
        if plan.then_replan {
            // certbot first: the HTTPS site (and the client in it) comes with the next round.
            return Ok(plan);
        }
        return Err(PlanError::Missing(format!(
            "no HTTPS site for {domain} with the WebSocket route {WS_PATH} was found to serve the \
             browser client from; nothing was changed"
        )));
    };
    let Edited {
        front,
        new,
        line,
        shadowed,
        cert,
    } = edit.edited;
    if let Some(own) = own {
        check_certificate(facts, cert.as_deref(), own, domain)?;
    }
    let mut changed = false;
    let why = format!(
        "serves the Drawpile browser client from {dir} at https://{host}/ (application/wasm, \
         the three Cross-Origin headers on every response, no-store for HTML, long expiry for \
         the rest, GET only{}), {}, between dpwizard web client markers; the WebSocket route \
         and every other byte stay",
        if front == Kind::Caddy {
            ""
        } else {
            ", HTTP redirected to HTTPS"
        },
        match own {
            Some(own) => format!(
                "in a site of its own for {own} with the certificate settings of the site at \
                 line {line}"
            ),
            None => format!("in the site at line {line}"),
        }
    );
    if let Some(Change::Write { new: n, why: w, .. }) =
        plan.changes.iter_mut().find(|c| c.path() == edit.path)
    {
        if *n != new.as_bytes() {
            *n = new.into_bytes();
            w.push_str(&format!("; {why}"));
            changed = true;
        }
    } else if edit.old.as_deref() != Some(new.as_bytes()) {
        plan.changes.push(Change::Write {
            path: edit.path.clone(),
            old: edit.old,
            new: new.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why,
        });
        changed = true;
    }
    if front == Kind::ContainerNginx {
        changed |= mount_into_container(&mut plan, facts, snap, &edit.path, dir, changed)?;
    }
    if let (true, Some(at)) = (changed, &shadowed) {
        plan.notes.push(format!(
            "https://{domain}/ now serves the browser client: what the site served there before \
             ({at}) is no longer reachable at that address"
        ));
    }
    if changed {
        plan.notes.push(format!(
            "the browser client is self-hosted at https://{host}/ (discouraged: the official one \
             at https://web.drawpile.net works with every properly configured server; the GPL \
             applies to modified builds)"
        ));
        if own.is_some() {
            plan.notes.push(format!(
                "DNS: {host} must point at this machine, as {domain} does"
            ));
        }
        reload(&mut plan, facts, front);
    }
    Ok(plan)
}

/// A site of its own copies the main site's certificate: when detection read that
/// certificate and it does not name the client's host, browsers would refuse it: refused.
fn check_certificate(
    facts: &Facts,
    cert: Option<&str>,
    own: &str,
    domain: &str,
) -> Result<(), PlanError> {
    let Some(path) = cert else {
        return Ok(()); // the web server gets its own (Caddy's automatic HTTPS)
    };
    let names = facts
        .tls
        .referenced
        .iter()
        .find(|r| r.path == path)
        .and_then(|r| r.certificate.as_ref())
        .map(|c| c.names.clone())
        .or_else(|| {
            facts
                .tls
                .lineages
                .iter()
                .find(|l| l.fullchain_path == path || l.cert_path == path)
                .map(|l| l.names.clone())
        });
    let Some(names) = names else {
        return Err(PlanError::Answer {
            key: "web_client.domain",
            message: format!(
                "the site of its own for {own} would use the certificate of {domain} ({path}), \
                 which dpwizard could not read: make sure it exists and names {own}, or leave \
                 web_client.domain out to serve the client at https://{domain}/"
            ),
        });
    };
    let covers = names
        .iter()
        .any(|n| crate::detect::tls::name_covers(n, own));
    if !covers {
        return Err(PlanError::Answer {
            key: "web_client.domain",
            message: format!(
                "the site of its own for {own} would use the certificate of {domain} ({path}), \
                 which names only {}: get a certificate that also names {own} (e.g. `certbot \
                 --expand -d {domain} -d {own}`), or leave web_client.domain out to serve the \
                 client at https://{domain}/",
                names.join(", ")
            ),
        });
    }
    Ok(())
}

/// The reload of the front end, when the plan has none yet.
fn reload(plan: &mut Plan, facts: &Facts, front: Kind) {
    // nginx in a container has no unit: mount_into_container re-creates or reloads it.
    let Some(unit) = front.unit() else {
        return;
    };
    if !plan.check.contains(&front) {
        plan.check.push(front);
    }
    if plan.actions.iter().any(|a| {
        a.argv.first().is_some_and(|c| c == "systemctl") && a.argv.last().is_some_and(|u| u == unit)
    }) {
        return;
    }
    // Before certbot and the firewall's own commands is not needed: a reload is independent.
    plan.actions.extend(crate::proxy::front::reload_or_start(
        facts,
        front,
        &format!("{unit} serves the browser client (a graceful reload: open connections finish)"),
    ));
}

/// nginx in a container reads the client through a read-only bind mount at the same path
/// (so the site's `root` is the same inside and out), added to the project's override file;
/// the service is re-created with it (`up -d`), after its configuration is checked.
fn mount_into_container(
    plan: &mut Plan,
    facts: &Facts,
    snap: &Snapshot,
    site: &str,
    dir: &ClientDir,
    site_changed: bool,
) -> Result<bool, PlanError> {
    let Some(c) = facts
        .nginx_containers
        .iter()
        .find(|c| c.config.servers.iter().any(|s| *s.file == *site))
    else {
        return Ok(false);
    };
    let Some(file) = facts
        .runtime
        .compose
        .files
        .iter()
        .find(|f| f.project_dir.trim_end_matches('/') == c.project_dir.trim_end_matches('/'))
    else {
        return Err(PlanError::Missing(format!(
            "the Compose project of nginx service {} ({}) was not found: mount {dir} into it by \
             hand; nothing was changed",
            c.service, c.project_dir
        )));
    };
    let override_path = file
        .override_path()
        .map_err(|e| PlanError::Unsupported(format!("{}: {e}", file.path)))?;
    let old = current(plan, snap, &override_path);
    let text = old.clone().unwrap_or_else(|| {
        "# Customisations of this Compose project (its README: they survive `git pull`); \
         written by dpwizard.\n"
            .into()
    });
    let mount = format!("{dir}:{dir}:ro");
    let new = crate::formats::compose::add_volume(&text, &c.service, &mount)
        .map_err(|e| PlanError::Conflict(format!("{override_path}: {e}")))?;
    let mut files = if file.config_files.is_empty() {
        vec![file.path.clone()]
    } else {
        file.config_files.clone()
    };
    if !files.contains(&override_path) {
        files.push(override_path.clone());
    }
    let tool = match (
        &facts.runtime.docker.compose_v1,
        &facts.runtime.docker.compose_v2,
    ) {
        (_, Some(_)) => vec!["docker".to_string(), "compose".into()],
        _ => vec!["docker-compose".to_string()],
    };
    let mut argv = tool;
    argv.extend(["--project-directory".to_string(), file.project_dir.clone()]);
    for f in &files {
        argv.extend(["-f".to_string(), f.clone()]);
    }
    let mounted = old.as_deref() == Some(new.as_str());
    if !mounted {
        match plan
            .changes
            .iter_mut()
            .find(|ch| ch.path() == override_path)
        {
            Some(Change::Write { new: n, why, .. }) => {
                *n = new.into_bytes();
                why.push_str(&format!(
                    "; {dir} mounted read-only into service {}",
                    c.service
                ));
            }
            _ => plan.changes.push(Change::Write {
                path: override_path.clone(),
                old: snap.get(&override_path).map(<[u8]>::to_vec),
                new: new.into_bytes(),
                mode: FileMode::CONFIG,
                secret: false,
                why: format!(
                    "mounts the browser client {dir} read-only into nginx service {} (same path \
                     inside), in the override file; the project's own files stay",
                    c.service
                ),
            }),
        }
    }
    if mounted && !site_changed {
        return Ok(false);
    }
    // The configuration is checked (in a throwaway container with the same mounts, unless
    // compose's own plan checks it already), then the service is re-created with the mount,
    // or, mounted already, reloaded.
    if !plan.check.contains(&Kind::ContainerNginx) {
        plan.check.push(Kind::ContainerNginx);
    }
    if plan.validate.is_empty() {
        let mut check = argv.clone();
        check.extend(
            [
                "run",
                "--rm",
                "--no-deps",
                "-T",
                "--entrypoint",
                "nginx",
                &c.service,
                "-t",
            ]
            .map(String::from),
        );
        plan.validate.push(Action {
            argv: check,
            why: format!(
                "nginx of compose service {} checks the site with the client",
                c.service
            ),
        });
    }
    let (rest, why): (Vec<&str>, String) = if mounted {
        (
            vec!["exec", "-T", &c.service, "nginx", "-s", "reload"],
            format!(
                "nginx in compose service {} serves the client (a reload drops no connection)",
                c.service
            ),
        )
    } else {
        (
            vec!["up", "-d", &c.service],
            format!(
                "re-creates compose service {} with the client mounted (it serves the new site)",
                c.service
            ),
        )
    };
    let mut action = argv;
    action.extend(rest.into_iter().map(String::from));
    if !plan
        .actions
        .iter()
        .any(|a| a.argv.ends_with(&action[action.len() - 3..]))
    {
        plan.actions.push(Action { argv: action, why });
    }
    Ok(true)
}

/// The nginx block as written for `host` (for the audit's tests, which read it back).
#[cfg(test)]
pub fn tests_render(dir: &str, host: &str) -> String {
    render(Kind::HostNginx, dir, host, "    ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_carry_every_header_and_the_markers() {
        for front in [Kind::HostNginx, Kind::Apache, Kind::Caddy] {
            let b = render(front, "/srv/web", "d.example.com", "    ");
            assert!(b.starts_with(&format!("    {BEGIN}\n")), "{b}");
            assert!(b.ends_with(&format!("    {END}\n")), "{b}");
            assert!(!b.contains(crate::formats::BEGIN_MARKER), "{b}");
            for (h, v) in ISOLATION_HEADERS {
                assert!(b.contains(h) && b.contains(v), "{front:?}: {h}\n{b}");
            }
            assert!(b.contains("application/wasm"), "{b}");
            assert!(b.contains(HTML_CACHE) && b.contains(LONG_CACHE), "{b}");
        }
        // nginx: every location repeats every header (add_header in a block drops the
        // inherited ones), with `always`.
        let n = nginx_block("/srv/web");
        assert_eq!(n.matches("location ~").count(), 3, "{n}");
        assert_eq!(n.matches("always;").count(), 12, "{n}");
        assert_eq!(n.matches("deny all;").count(), 3, "{n}");
        // Caddy indents with tabs.
        assert!(
            render(Kind::Caddy, "/srv/web", "d.example.com", "\t")
                .contains("\n\t\troot * /srv/web\n")
        );
    }

    #[test]
    fn the_site_s_own_origin_is_allowed_only_when_the_client_is_hosted() {
        let text = "[site]\ndomain = \"d.example.com\"\n";
        let off = crate::answers::parse("a.toml", text).unwrap();
        assert!(matches!(
            with_own_origin(&off),
            std::borrow::Cow::Borrowed(_)
        ));
        let on = crate::answers::parse(
            "a.toml",
            &format!(
                "{text}[web_client]\nenabled = true\ndirectory = \"/srv/w\"\nacknowledged = true\n"
            ),
        )
        .unwrap();
        let with = with_own_origin(&on);
        assert_eq!(
            with.proxy
                .extra_origins
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>(),
            ["https://d.example.com"]
        );
        // Once is enough.
        assert_eq!(with_own_origin(&with).proxy.extra_origins.len(), 1);
    }

    /// The three editors on small sites, for the client at the domain's root and on a host
    /// of its own (reviewed snapshots: the markers, the copied TLS lines, the redirects).
    #[test]
    fn each_front_end_s_edit_reads_as_intended() {
        let nginx = "server {\n    listen 443 ssl http2 default_server;\n    server_name d.example.com;\n    \
                     ssl_certificate /c.pem;\n    ssl_certificate_key /k.pem;\n    \
                     location /drawpile-web/ws {\n        proxy_pass http://127.0.0.1:27751;\n    }\n}\n";
        let apache = "<VirtualHost *:443>\n\tServerName d.example.com\n\tDocumentRoot /var/www\n\t\
                      SSLEngine on\n\tSSLCertificateFile /c.pem\n\tSSLCertificateKeyFile /k.pem\n\
                      </VirtualHost>\n<VirtualHost *:80>\n\tServerName d.example.com\n</VirtualHost>\n";
        let caddy = "d.example.com {\n\ttls /c.pem /k.pem\n\thandle /drawpile-web/ws {\n\t\t\
                     reverse_proxy 127.0.0.1:27751\n\t}\n}\n";
        let mut out = String::new();
        for own in [None, Some("web.example.com")] {
            let want = Want {
                dir: "/srv/web",
                domain: "d.example.com",
                own,
            };
            let n = edit_nginx(Kind::HostNginx, "n", nginx, want, false)
                .unwrap()
                .unwrap();
            let a = edit_apache("a", apache, want, &Snapshot::default(), false)
                .unwrap()
                .unwrap();
            let c = edit_caddy("c", caddy, want).unwrap().unwrap();
            for (name, e) in [("nginx", n), ("apache", a), ("caddy", c)] {
                out.push_str(&format!(
                    "==== {name}, own host {own:?}, site line {}, shadowed {:?}, cert {:?}\n{}",
                    e.line, e.shadowed, e.cert, e.new
                ));
            }
            // Applying twice changes nothing.
            let again = edit_nginx(
                Kind::HostNginx,
                "n",
                &edit_nginx(Kind::HostNginx, "n", nginx, want, false)
                    .unwrap()
                    .unwrap()
                    .new,
                want,
                false,
            )
            .unwrap()
            .unwrap();
            assert_eq!(
                again.new,
                edit_nginx(Kind::HostNginx, "n", nginx, want, false)
                    .unwrap()
                    .unwrap()
                    .new
            );
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn a_site_of_its_own_needs_a_certificate_that_names_it() {
        let mut facts = Facts::default();
        facts
            .tls
            .referenced
            .push(crate::detect::tls::ReferencedCert {
                path: "/c.pem".into(),
                certificate: Some(crate::detect::tls::CertInfo {
                    names: vec!["draw.example.com".into(), "*.web.example.com".into()],
                    ..Default::default()
                }),
                ..Default::default()
            });
        let ok = |own: &str, cert: Option<&str>| {
            check_certificate(&facts, cert, own, "draw.example.com").map_err(|e| e.to_string())
        };
        assert_eq!(ok("a.web.example.com", Some("/c.pem")), Ok(()));
        assert_eq!(ok("anything.example.org", None), Ok(()), "Caddy's own");
        let e = ok("web.example.com", Some("/c.pem")).unwrap_err();
        assert!(
            e.starts_with(
                "[web_client.domain] the site of its own for web.example.com would use \
                 the certificate of draw.example.com (/c.pem), which names only draw.example.com, \
                 *.web.example.com"
            ),
            "{e}"
        );
        let e = ok("web.example.com", Some("/other.pem")).unwrap_err();
        assert!(e.contains("which dpwizard could not read"), "{e}");
    }

    #[test]
    fn a_directory_without_a_client_is_refused_by_key() {
        let dir = ClientDir::parse("/srv/web").unwrap();
        let mut snap = Snapshot::default();
        let e = check_directory(&dir, &snap).unwrap_err().to_string();
        assert!(
            e.starts_with("[web_client.directory] /srv/web is not a directory"),
            "{e}"
        );
        snap.dirs.insert("/srv/web".into(), vec!["app.js".into()]);
        let e = check_directory(&dir, &snap).unwrap_err().to_string();
        assert!(
            e.contains(
                "/srv/web holds no built browser client: index.html and a .wasm file missing"
            ),
            "{e}"
        );
        snap.dirs.insert(
            "/srv/web".into(),
            vec!["index.html".into(), "x.wasm".into()],
        );
        assert_eq!(check_directory(&dir, &snap), Ok(()));
    }

    #[test]
    fn regions_are_replaced_in_place_and_other_bytes_kept() {
        let text = "a\n  # >>> dpwizard web client\n  old\n  # <<< dpwizard web client\nb\n";
        let out = set_region(text, 0..text.len(), 0, (BEGIN, END), "  NEW\n");
        assert_eq!(out, "a\n  NEW\nb\n");
        let out = set_region("a\nb\n", 0..4, 2, (BEGIN, END), "X\n");
        assert_eq!(out, "a\nX\nb\n");
    }
}
