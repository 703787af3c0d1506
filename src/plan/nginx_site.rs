//! nginx on the host: the WebSocket location inserted into the server that serves the
//! domain (between markers, every other byte kept), or a new site when none does.

use super::decide::Decisions;
use super::make::ACME_WEBROOT;
use super::make::{PlanError, Snapshot, site_file_name};
use super::nginx::{BEGIN_MARKER, END_MARKER, LocationSpec, render_location};
use super::{Change, FileMode, Plan};
use crate::detect::Facts;
use crate::detect::nginx::NginxServer;
use crate::formats::nginx::{Config, Node, child_indent, insertion_point, line_start};

/// What is wrong with the server's hand-written WebSocket location, judged as the audit
/// judges it (empty: it already does what dpwizard would write).
pub fn hand_written_problems(
    kind: crate::proxy::Kind,
    http_ds: &[crate::detect::nginx::NginxDirective],
    server: &NginxServer,
    spec: &LocationSpec,
    domain: &str,
) -> Vec<String> {
    match crate::proxy::nginx::ws_location(server) {
        Some(loc) => crate::audit::checks::route_problems(
            &crate::proxy::nginx::route(kind, http_ds, server, loc),
            &spec.upstream_host,
            spec.upstream_port,
            &spec.extra_origins,
            domain,
        ),
        None => vec!["no location /drawpile-web/ws".into()],
    }
}

/// How `edit_server_block` starts its error about a location it did not write.
pub(super) const HAND_WRITTEN: &str =
    "a location /drawpile-web/ws not written by dpwizard is already there";

/// Inserts or replaces the marked location inside the server block at `line` of `text`.
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

pub(super) fn edit_server_block_with(
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
pub(super) fn http_only_site(d: &Decisions) -> String {
    format!(
        "# Written by dpwizard for {domain}: HTTP only until certbot has the certificate;\n\
         # the next step adds the HTTPS server with the Drawpile WebSocket proxy.\n\
         server {{\n    listen 80;\n    listen [::]:80;\n    server_name {domain};\n\
         \x20   location /.well-known/acme-challenge/ {{\n        root {ACME_WEBROOT};\n    }}\n\
         \x20   location / {{\n        return 301 https://$host$request_uri;\n    }}\n}}\n",
        domain = d.domain
    )
}

pub(super) fn new_site(d: &Decisions, spec: &LocationSpec) -> String {
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

/// nginx on the host in front: the location goes into the server that serves the domain
/// (a location written by hand is kept when it already does the job), else into a new site.
pub(super) fn plan(
    plan: &mut Plan,
    facts: &Facts,
    snap: &Snapshot,
    d: &Decisions,
    spec: &LocationSpec,
) -> Result<(), PlanError> {
    match d.server {
        Some(s) => {
            let real = snap
                .real_paths
                .get(&*s.file)
                .cloned()
                .unwrap_or_else(|| s.file.to_string());
            let old = snap
                .get(&real)
                .ok_or_else(|| PlanError::Missing(format!("{} could not be read", s.file)))?;
            let text = String::from_utf8_lossy(old);
            let new = match edit_server_block(&text, s.line, spec) {
                Ok(new) => new,
                // A location written by hand is kept when it already does what dpwizard
                // would write (judged as the audit judges it); otherwise the admin decides.
                Err(e) if e.starts_with(HAND_WRITTEN) => {
                    let problems = hand_written_problems(
                        crate::proxy::Kind::HostNginx,
                        &facts.nginx.http_proxy_directives,
                        s,
                        spec,
                        &d.domain,
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
                        replace_hand_written_location(&text, s.line, spec)
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
        None => {
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
                http_only_site(d)
            } else {
                new_site(d, spec)
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
    Ok(())
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
}
