//! The human-readable detect report. Pure: Facts in, text out (the JSON is the complete
//! view; this one says what matters for putting drawpile-srv behind a WebSocket proxy).

use std::fmt::Write;

use super::style::Style;
use crate::detect::{Facts, ProbeStatus};

/// `1 file`, `3 files`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Whether the build has the web admin: a property of the build, not whether it is on
/// (that is `--web-admin-port`).
fn built_in(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "built in",
        Some(false) => "not built in",
        None => "unknown",
    }
}

struct Out<'a> {
    text: String,
    s: &'a Style,
}

impl Out<'_> {
    fn section(&mut self, title: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let _ = writeln!(self.text, "{}", self.s.bold(title));
    }
    fn line(&mut self, indent: usize, text: impl AsRef<str>) {
        let _ = writeln!(self.text, "{}{}", "  ".repeat(indent), text.as_ref());
    }
    fn warn(&mut self, indent: usize, text: impl AsRef<str>) {
        let mark = self.s.warn("!");
        self.line(indent, format!("{mark} {}", text.as_ref()));
    }
}

pub fn detect_report(f: &Facts, s: &Style, verbose: u8) -> String {
    let mut o = Out {
        text: String::new(),
        s,
    };
    system(&mut o, f);
    drawpile(&mut o, f);
    runtime(&mut o, f);
    web(&mut o, f);
    tls(&mut o, f);
    network(&mut o, f);
    probes(&mut o, f, verbose);
    o.text
}

fn system(o: &mut Out, f: &Facts) {
    let os = &f.os;
    o.section("System");
    o.line(
        1,
        format!(
            "{}{}",
            os.pretty_name.as_deref().unwrap_or("unknown distribution"),
            os.package_manager
                .as_deref()
                .map(|p| format!(", package manager {p}"))
                .unwrap_or_default()
        ),
    );
    o.line(
        1,
        format!(
            "systemd {}{}",
            if os.systemd_running {
                "running (PID 1)"
            } else {
                "not running"
            },
            os.container
                .as_deref()
                .map(|c| format!(", inside a {c} container"))
                .unwrap_or_default()
        ),
    );
    for l in &os.limits {
        o.warn(1, l);
    }
}

fn drawpile(o: &mut Out, f: &Facts) {
    o.section("drawpile-srv");
    if f.drawpile.binaries.is_empty() {
        // A container's binary is in its image, not on the host: "not found" would read as
        // "no drawpile-srv at all" (an old image is judged under How it runs).
        let in_image = f
            .runtime
            .compose
            .files
            .iter()
            .any(|c| !c.services.is_empty())
            || f.runtime
                .docker
                .containers
                .iter()
                .any(|c| c.drawpile.is_some());
        o.line(
            1,
            if in_image {
                "no binary on the host: it runs from an image (see How it runs)"
            } else {
                "not found"
            },
        );
    }
    for b in &f.drawpile.binaries {
        let ws = match b.websocket.supported {
            Some(true) => o.s.good("WebSocket: yes"),
            Some(false) => o.s.bad("WebSocket: no"),
            None => o.s.warn("WebSocket: unknown"),
        };
        o.line(
            1,
            format!(
                "{} {}{}",
                b.path,
                b.version.as_deref().unwrap_or("(version unknown)"),
                if b.appimage { " (AppImage)" } else { "" }
            ),
        );
        o.line(2, format!("{ws} — {}", b.websocket.reason));
        o.line(
            2,
            format!(
                "web admin: {}, found via {}, {}",
                built_in(b.web_admin),
                b.found_via.join(", "),
                match &b.probed_as {
                    Some(user) => format!("probed as {user}"),
                    None => "not probed".to_string(),
                }
            ),
        );
        if let Some(note) = &b.probe_note {
            o.line(2, note.clone());
        }
        if let Some(e) = &b.error
            && *e != b.websocket.reason
        {
            o.warn(2, e);
        }
    }
}

fn runtime(o: &mut Out, f: &Facts) {
    let r = &f.runtime;
    o.section(&format!("How it runs: {}", r.kind.as_str()));
    for n in &r.notes {
        o.warn(1, n);
    }
    for u in &r.units {
        o.line(
            1,
            format!(
                "{} ({}{}{})",
                u.name,
                u.path,
                if u.masked { ", masked" } else { "" },
                if u.enabled { ", enabled" } else { "" }
            ),
        );
        for d in &u.dropins {
            o.line(2, format!("drop-in {d}"));
        }
        if let Some(argv) = &u.exec_start {
            o.line(2, format!("ExecStart: {}", argv.join(" ")));
        }
        o.line(
            2,
            format!(
                "WebSocket port {}, listen {}; Type={}, User={}",
                u.options.websocket_port.as_deref().unwrap_or("not set"),
                u.options.websocket_listen.as_deref().unwrap_or("all"),
                u.type_.as_deref().unwrap_or("simple"),
                u.user.as_deref().unwrap_or("(root)")
            ),
        );
        if let Some(l) = &u.live {
            o.line(
                2,
                format!(
                    "systemd: {} ({})",
                    l.active_state.as_deref().unwrap_or("?"),
                    l.sub_state.as_deref().unwrap_or("?")
                ),
            );
            if l.differs_from_files {
                o.warn(
                    2,
                    "the files differ from what systemd runs: a daemon-reload is due",
                );
            }
        }
        for e in &u.errors {
            o.warn(2, e);
        }
    }
    for sk in &r.sockets {
        o.line(
            1,
            format!(
                "{} ({}{}): {}",
                sk.name,
                sk.path,
                if sk.enabled { ", enabled" } else { "" },
                sk.listen_stream.join(", ")
            ),
        );
        for n in &sk.notes {
            o.warn(2, n);
        }
    }
    let d = &r.docker;
    if let Some(cli) = &d.cli {
        let daemon = match d.daemon_reachable {
            Some(true) => format!("daemon {}", d.server_version.as_deref().unwrap_or("up")),
            Some(false) => format!(
                "daemon not reachable: {}",
                d.daemon_error.as_deref().unwrap_or("?")
            ),
            None => "daemon not asked".into(),
        };
        o.line(1, format!("docker {cli}: {daemon}"));
    }
    for c in &d.containers {
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| {
                format!(
                    "{}:{}->{}",
                    if p.host_ip.is_empty() {
                        "*"
                    } else {
                        &p.host_ip
                    },
                    p.host_port.map(|x| x.to_string()).unwrap_or_default(),
                    p.container_port
                )
            })
            .collect();
        o.line(
            2,
            format!(
                "container {} ({}, {}) ports {} args {}",
                c.name,
                c.image,
                c.state,
                if ports.is_empty() {
                    "none".into()
                } else {
                    ports.join(" ")
                },
                c.args.join(" ")
            ),
        );
    }
    for cf in &r.compose.files {
        let mut project = format!("compose project {} in {}", cf.project_name, cf.project_dir);
        if cf.config_files.len() > 1 {
            project.push_str(&format!(" (files {})", cf.config_files.join(", ")));
        }
        if let Some(env) = &cf.env_file {
            project.push_str(&format!(", variables from {env}"));
        }
        o.line(1, project);
        for sv in &cf.services {
            o.line(
                1,
                format!(
                    "compose {}:{} service {} ({}) command {}",
                    sv.file,
                    sv.line.unwrap_or(0),
                    sv.name,
                    sv.image,
                    sv.command.join(" ")
                ),
            );
            if let Some(d) = &sv.drawpile {
                o.line(
                    2,
                    format!(
                        "drawpile-srv {} ({})",
                        d.version.as_deref().unwrap_or("version unknown"),
                        d.recognised_by
                    ),
                );
                if let Some(note) = &d.note {
                    o.warn(2, note);
                }
            }
        }
        if !cf.undefined_variables.is_empty() {
            o.warn(
                1,
                format!(
                    "variables without a value (Compose uses an empty string): {}",
                    cf.undefined_variables.join(", ")
                ),
            );
        }
    }
    for e in &r.compose.errors {
        o.warn(1, e);
    }
}

fn web(o: &mut Out, f: &Facts) {
    o.section("Web servers");
    if f.web_servers.is_empty() {
        o.line(1, "none found");
    }
    for w in &f.web_servers {
        let live = |v: Option<bool>, by: bool| match v {
            Some(true) => "listening".to_string(),
            Some(false) if by => "configured, not listening".into(),
            Some(false) => "no".into(),
            None if by => "configured".into(),
            None => "no".into(),
        };
        o.line(
            1,
            format!(
                "{} {} — :80 {}, :443 {}",
                w.name,
                match (&w.version, &w.binary) {
                    (Some(v), _) => v.as_str(),
                    (None, None) => "(configured, binary not found)",
                    (None, Some(_)) => "(version unknown)",
                },
                live(w.listens_80, w.serves_80_by_config),
                live(w.listens_443, w.serves_443_by_config)
            ),
        );
    }
    let n = &f.nginx;
    if let Some(conf) = &n.conf_path {
        o.line(
            1,
            format!(
                "nginx: {conf}, {}, {}",
                count(n.files.len(), "file", "files"),
                count(n.servers.len(), "server block", "server blocks")
            ),
        );
        for srv in n.servers.iter().filter(|x| x.ssl) {
            o.line(
                2,
                format!(
                    "TLS server {} at {}:{} (certificate {})",
                    srv.server_names.join(" "),
                    srv.file,
                    srv.line,
                    srv.ssl_certificate.as_deref().unwrap_or("none")
                ),
            );
            if let Some(loc) = srv.locations.iter().find(|l| l.path == "/drawpile-web/ws") {
                o.line(
                    3,
                    format!("location /drawpile-web/ws at {}:{}", loc.file, loc.line),
                );
            }
        }
        for e in &n.errors {
            o.warn(2, e);
        }
    }
    for c in &f.nginx_containers {
        let ports: Vec<String> = c
            .ports
            .iter()
            .filter_map(|p| p.host_port.map(|h| format!("{h}->{}", p.container_port)))
            .collect();
        o.line(
            1,
            format!(
                "nginx in compose service {} ({}:{}), {}{}, ports {}",
                c.service,
                c.service_file,
                c.line.unwrap_or(0),
                if c.built { "built FROM " } else { "" },
                c.image,
                if ports.is_empty() {
                    "none".into()
                } else {
                    ports.join(" ")
                }
            ),
        );
        for m in &c.config_mounts {
            o.line(
                2,
                format!("{} → {}", m.source.as_deref().unwrap_or("?"), m.target),
            );
        }
        for srv in c.config.servers.iter().filter(|x| x.ssl) {
            o.line(
                2,
                format!(
                    "TLS server {} at {}:{}",
                    if srv.server_names.is_empty() {
                        "(any name)".to_string()
                    } else {
                        srv.server_names.join(" ")
                    },
                    srv.file,
                    srv.line
                ),
            );
            if let Some(loc) = srv.locations.iter().find(|l| l.path == "/drawpile-web/ws") {
                o.line(
                    3,
                    format!("location /drawpile-web/ws at {}:{}", loc.file, loc.line),
                );
            }
        }
        for e in &c.config.errors {
            o.warn(2, e);
        }
    }
    for v in f.apache.vhosts.iter().filter(|v| v.port == Some(443)) {
        o.line(
            1,
            format!(
                "apache vhost {} at {}:{}",
                v.server_name.as_deref().unwrap_or("(no ServerName)"),
                v.file,
                v.line
            ),
        );
    }
    if f.apache.conf_path.is_some() && !f.apache.missing_modules.is_empty() {
        o.warn(
            1,
            format!(
                "apache modules not enabled: {}",
                f.apache.missing_modules.join(", ")
            ),
        );
    }
    for site in &f.caddy.sites {
        o.line(
            1,
            format!(
                "caddy site {} at {}:{}",
                site.addresses.join(", "),
                site.file,
                site.line
            ),
        );
    }
}

fn tls(o: &mut Out, f: &Facts) {
    let t = &f.tls;
    o.section("TLS");
    o.line(
        1,
        match &t.certbot {
            Some(p) => format!(
                "certbot {} ({p}); renewal {}",
                t.certbot_version.as_deref().unwrap_or("?"),
                match t.renewal_scheduled {
                    Some(true) => t.renewal_schedule.join("; "),
                    Some(false) => "not scheduled".into(),
                    None => "schedule not visible".into(),
                }
            ),
            None => "certbot not installed".into(),
        },
    );
    for l in &t.lineages {
        let days = l
            .certificate
            .as_ref()
            .map(|c| format!("{} days left", c.days_left))
            .unwrap_or_default();
        o.line(
            1,
            format!(
                "lineage {}: {} until {} ({days})",
                l.name,
                l.names.join(", "),
                l.not_after.as_deref().unwrap_or("?")
            ),
        );
        for e in &l.errors {
            o.warn(2, e);
        }
    }
    for r in &t.referenced {
        match (&r.certificate, &r.error) {
            (Some(c), _) => {
                let mut notes = Vec::new();
                if c.expired {
                    notes.push("EXPIRED".to_string());
                }
                if c.key_matches == Some(false) {
                    notes.push("key does not match".into());
                }
                if c.self_signed {
                    notes.push("self-signed".into());
                }
                o.line(
                    1,
                    format!(
                        "{} for {} until {}{} (used at {})",
                        r.path,
                        c.names.join(", "),
                        c.not_after,
                        if notes.is_empty() {
                            String::new()
                        } else {
                            format!(" — {}", notes.join(", "))
                        },
                        r.referenced_by
                    ),
                );
            }
            (None, Some(e)) => o.warn(1, format!("{e} (used at {})", r.referenced_by)),
            (None, None) => {}
        }
    }
}

fn network(o: &mut Out, f: &Facts) {
    let n = &f.network;
    o.section("Network");
    if !n.visible {
        o.line(
            1,
            format!(
                "listening sockets: unknown ({})",
                n.not_visible_because.as_deref().unwrap_or("not visible")
            ),
        );
    }
    for p in &n.interesting {
        o.line(
            1,
            format!(
                ":{} {}: {}",
                p.port,
                p.purpose,
                if p.listeners.is_empty() {
                    "free".into()
                } else {
                    p.listeners.join(", ")
                }
            ),
        );
    }
    let fw = &n.firewall;
    if let Some(enabled) = fw.ufw_enabled {
        o.line(
            1,
            format!(
                "ufw {}{}",
                if enabled { "enabled" } else { "disabled" },
                if fw.ufw_rules.is_empty() {
                    String::new()
                } else {
                    format!(": {}", fw.ufw_rules.join("; "))
                }
            ),
        );
    }
    if fw.firewalld_present {
        o.line(1, format!("firewalld: {}", fw.firewalld_allows.join("; ")));
    }
    if fw.nftables_conf {
        o.line(1, "nftables: /etc/nftables.conf present");
    }
}

fn probes(o: &mut Out, f: &Facts, verbose: u8) {
    let shown: Vec<_> = f
        .probes
        .iter()
        .filter(|p| verbose > 0 || matches!(p.status, ProbeStatus::Failed | ProbeStatus::Timeout))
        .collect();
    if shown.is_empty() {
        return;
    }
    o.section("Probes");
    for p in shown {
        let mark = match p.status {
            ProbeStatus::Ok => o.s.good("ok"),
            ProbeStatus::Skipped => o.s.dim("skipped"),
            ProbeStatus::Timeout => o.s.bad("timeout"),
            ProbeStatus::Failed => o.s.bad("failed"),
        };
        let line = format!(
            "{mark} {} ({} ms){}{}",
            p.name,
            p.duration_ms,
            p.ran_as
                .as_deref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default(),
            p.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
        o.line(1, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns_and_the_web_admin_says_built_in() {
        let mut f = Facts::default();
        f.nginx.conf_path = Some("/etc/nginx/nginx.conf".into());
        f.nginx.files.push(Default::default());
        f.nginx.servers.push(Default::default());
        f.drawpile
            .binaries
            .push(crate::detect::drawpile::DrawpileBinary {
                path: "/usr/bin/drawpile-srv".into(),
                web_admin: Some(true),
                ..Default::default()
            });
        let r = detect_report(&f, &Style::plain(), 0);
        assert!(
            r.contains("nginx: /etc/nginx/nginx.conf, 1 file, 1 server block\n"),
            "{r}"
        );
        assert!(r.contains("web admin: built in,"), "{r}");
        f.nginx.servers.push(Default::default());
        f.drawpile.binaries[0].web_admin = Some(false);
        let r = detect_report(&f, &Style::plain(), 0);
        assert!(r.contains("1 file, 2 server blocks"), "{r}");
        assert!(r.contains("web admin: not built in,"), "{r}");
    }
}
