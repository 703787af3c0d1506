//! The checks, one function per area. Each takes the facts, the setup read from them and
//! what the probes observed, and gives every check of its area one verdict.

use super::catalogue::*;
use super::setup::{self, Instance, Setup, listens_tls_443, name_covers, serves_ws_path};
use super::{Observations, Verdicts};
use crate::detect::Facts;
use crate::detect::runtime::RuntimeKind;
use crate::proxy::reach::{Upstream, upstream_of};
use crate::proxy::route::{OriginRules, Route};

const WEB: &str = "https://web.drawpile.net";
const MIRROR: &str = "https://web.foxdice.cn";
const FOREIGN: &str = "https://evil.example";

fn is_loopback(addr: &str) -> bool {
    let a = addr.trim_matches(['[', ']']);
    a == "localhost" || a.starts_with("127.") || a == "::1"
}

fn is_wildcard(addr: &str) -> bool {
    matches!(addr.trim_matches(['[', ']']), "" | "0.0.0.0" | "::" | "*")
}

pub fn srv(facts: &Facts, s: &Setup, obs: &Observations, v: &mut Verdicts) {
    let Some(i) = &s.instance else {
        let mut ev = vec!["no drawpile-srv unit, container or compose service was found".into()];
        for b in &facts.drawpile.binaries {
            ev.push(format!(
                "{} ({}) is installed but no unit or container runs it",
                b.path,
                b.version.as_deref().unwrap_or("unknown version")
            ));
        }
        let unread = facts.runtime.compose.unread();
        ev.extend(unread.clone());
        let fix = if unread.is_some() {
            "Fix the Compose files named above (Compose refuses them too), then audit again."
                .to_string()
        } else if facts.drawpile.binaries.is_empty() {
            SRV_PRESENT.fix.to_string()
        } else {
            "Run `dpwizard` (or apply with drawpile.runtime = \"new-service\") to create a hardened unit for it.".into()
        };
        v.fail_fix(SRV_PRESENT, ev, fix);
        return;
    };
    v.pass_with(SRV_PRESENT, i.described.clone());
    let version_ev = || {
        let mut ev = vec![format!(
            "{}: version {}",
            i.described,
            i.version_text.as_deref().unwrap_or("unknown")
        )];
        ev.extend(i.image_note.clone());
        ev
    };
    match i.version {
        Some(ver) => {
            v.check(SRV_VERSION, ver >= [2, 2, 1], version_ev());
            v.check(SRV_CURRENT, ver >= [2, 3, 0], version_ev());
        }
        None => {
            let why = match i.binary {
                Some(b) => b
                    .error
                    .clone()
                    .unwrap_or_else(|| "its --version could not be read".into()),
                None if i.in_container() => i
                    .image_note
                    .clone()
                    .unwrap_or_else(|| "the image tag does not name a version".into()),
                None => "the binary the unit runs was not found".into(),
            };
            v.skip(SRV_VERSION, why.clone());
            v.skip(SRV_CURRENT, why);
        }
    }
    match i
        .binary
        .map(|b| (b.websocket.supported, &b.websocket.reason))
    {
        Some((Some(true), _)) => v.pass(SRV_WEBSOCKETS),
        Some((Some(false), reason)) => v.fail(
            SRV_WEBSOCKETS,
            vec![format!(
                "{}: {reason}",
                i.binary.map(|b| b.path.as_str()).unwrap_or("drawpile-srv")
            )],
        ),
        Some((None, reason)) => v.skip(SRV_WEBSOCKETS, reason.clone()),
        None if i.in_container() => v.skip(
            SRV_WEBSOCKETS,
            "the image is not run to ask; the live probe of the WebSocket port tells",
        ),
        None => v.skip(SRV_WEBSOCKETS, "the binary was not found"),
    }

    // Root: a system unit without User= (and without DynamicUser=) runs as root.
    if let Some(u) = i.unit {
        let user = u.user.as_deref();
        let root = match user {
            Some("root") | Some("0") => true,
            None => u.dynamic_user != Some(true),
            _ => false,
        };
        let ev = match user {
            Some(name) => format!("{}: User={name}", u.name),
            None => format!("{}: no User= (systemd runs it as root)", u.name),
        };
        v.check(SRV_NOT_ROOT, !root, vec![ev]);
    } else if i.in_container() {
        let user_flag = i.container.and_then(|c| {
            c.args
                .iter()
                .position(|a| a == "--user" || a == "-u")
                .and_then(|p| c.args.get(p + 1))
        });
        match user_flag {
            Some(u) if u == "root" || u == "0" || u.starts_with("0:") => {
                v.fail(SRV_NOT_ROOT, vec![format!("{}: --user {u}", i.described)])
            }
            _ => v.pass_with(SRV_NOT_ROOT, "the official image runs as user drawpile"),
        }
    }

    ws_listener(i, v);
    container_listen(s, i, v);
    notify(i, v);
    sockets(i, obs, v);
    starts_at_boot(i, v);
    web_admin(i, v);
    if let Some(live) = i.unit.and_then(|u| u.live.as_ref()) {
        v.check(
            SRV_NO_PENDING_RELOAD,
            !live.differs_from_files,
            vec![format!(
                "{}: the running ExecStart differs from the unit files: {}",
                i.described,
                live.exec_start
                    .as_ref()
                    .map(|a| a.join(" "))
                    .unwrap_or_default()
            )],
        );
    } else if i.unit.is_some() {
        v.skip(
            SRV_NO_PENDING_RELOAD,
            obs_reason(obs, "systemd's live state is not visible"),
        );
    }
}

fn obs_reason(_obs: &Observations, default: &str) -> String {
    default.to_string()
}

fn ws_listener(i: &Instance, v: &mut Verdicts) {
    if i.socket_active() {
        // 2.2.x with socket activation: only the third socket counts.
        match i.ws_port() {
            Some((_, from)) => v.pass_with(SRV_WS_ENABLED, from),
            None => {
                let s = i.socket.map(|s| s.path.clone()).unwrap_or_default();
                let mut ev = vec![format!(
                    "{s}: socket activation is on and passes no WebSocket socket"
                )];
                if let Some(p) = &i.args.websocket_port {
                    ev.push(format!(
                        "{}: --websocket-port {p} is ignored while sockets are passed",
                        i.described
                    ));
                }
                v.fail(SRV_WS_ENABLED, ev);
            }
        }
        return;
    }
    match i.ws_port() {
        Some((_, from)) => v.pass_with(SRV_WS_ENABLED, from),
        None => v.fail(
            SRV_WS_ENABLED,
            vec![format!(
                "{}: no --websocket-port in the arguments",
                i.described
            )],
        ),
    }
}

fn container_listen(s: &Setup, i: &Instance, v: &mut Verdicts) {
    let proxy_local = s
        .site
        .as_ref()
        .and_then(|site| site.location)
        .and_then(|l| crate::proxy::nginx::proxy_target(&l.directives))
        .is_some_and(|t| is_loopback(&t.host));
    if i.in_container() {
        match i.args.websocket_listen.as_deref() {
            _ if i.host_network() => v.skip(
                SRV_NO_LOOPBACK_IN_CONTAINER,
                "the container shares the host's network: its 127.0.0.1 is the host's",
            ),
            Some(a) if is_loopback(a) => v.fail(
                SRV_NO_LOOPBACK_IN_CONTAINER,
                vec![format!("{}: --websocket-listen {a}", i.described)],
            ),
            _ => v.pass(SRV_NO_LOOPBACK_IN_CONTAINER),
        }
        let Some((port, _)) = i.ws_port() else {
            v.skip(SRV_WS_LOCAL, "no WebSocket port configured");
            return;
        };
        // Published on every address it bypasses TLS and the Origin check, whatever proxy
        // is in front (a host nginx, or nginx in a container on the compose network).
        let public = if i.host_network() {
            match i.args.websocket_listen.as_deref() {
                Some(a) if is_loopback(a) => Vec::new(),
                _ => vec![format!(
                    "{}: shares the host's network and its WebSocket port {port} listens on every \
                     address (no --websocket-listen 127.0.0.1)",
                    i.described
                )],
            }
        } else {
            i.published_publicly(port, "the WebSocket port")
        };
        v.check(SRV_WS_LOCAL, public.is_empty(), public);
        return;
    }
    v.skip(
        SRV_NO_LOOPBACK_IN_CONTAINER,
        "drawpile-srv is not in a container",
    );
    if i.ws_port().is_none() {
        v.skip(SRV_WS_LOCAL, "no WebSocket listener");
        return;
    }
    if i.socket_active() {
        let Some(addr) = i.socket.and_then(|s| s.slots.websocket.clone()) else {
            v.skip(SRV_WS_LOCAL, "the socket passes no WebSocket socket");
            return;
        };
        let local = addr.rsplit_once(':').is_some_and(|(a, _)| is_loopback(a));
        if proxy_local {
            v.check(
                SRV_WS_LOCAL,
                local,
                vec![format!(
                    "third ListenStream={addr} listens on every address"
                )],
            );
        } else {
            v.skip(SRV_WS_LOCAL, "no local proxy forwards to it");
        }
        return;
    }
    match (&i.args.websocket_listen, proxy_local) {
        (_, false) => v.skip(SRV_WS_LOCAL, "no local proxy forwards to it"),
        (Some(a), true) if is_loopback(a) => v.pass(SRV_WS_LOCAL),
        (listen, true) => v.fail(
            SRV_WS_LOCAL,
            vec![format!(
                "{}: {}",
                i.described,
                match listen {
                    Some(a) => format!("--websocket-listen {a}"),
                    None =>
                        "no --websocket-listen: the WebSocket port listens on every address".into(),
                }
            )],
        ),
    }
}

fn notify(i: &Instance, v: &mut Verdicts) {
    let Some(u) = i.unit else {
        v.skip(SRV_NOTIFY, "not a systemd service");
        return;
    };
    let notify = u.type_.as_deref() == Some("notify");
    let no_support = u.appimage
        || i.binary
            .is_some_and(|b| b.systemd_support.supported == Some(false));
    if notify && no_support {
        let reason = i
            .binary
            .map(|b| b.systemd_support.reason.clone())
            .unwrap_or_else(|| "an AppImage never notifies systemd".into());
        v.fail(
            SRV_NOTIFY,
            vec![format!("{}: Type=notify, but {reason}", u.name)],
        );
    } else {
        v.pass(SRV_NOTIFY);
    }
}

fn sockets(i: &Instance, obs: &Observations, v: &mut Verdicts) {
    let Some(sock) = i.socket else {
        v.pass(SRV_NO_SOCKET_230);
        v.skip(SRV_SOCKET_SLOTS, "no socket unit in use");
        v.pass(SRV_NO_SOCKET_22X);
        v.skip(SRV_SOCKET_NOT_FAILED, "no socket unit in use");
        return;
    };
    // A failed socket, from systemd's state and its own words in the journal.
    let failed_state = sock.live.as_ref().filter(|l| {
        l.active_state.as_deref() == Some("failed")
            || l.result.as_deref().is_some_and(|r| r != "success")
    });
    let pollhup = obs
        .logs
        .server
        .as_ref()
        .map(|s| &s.socket_pollhup)
        .filter(|t| t.count > 0);
    if failed_state.is_some() || pollhup.is_some() {
        let mut ev = Vec::new();
        if let Some(l) = failed_state {
            ev.push(format!(
                "{}: {} (result: {})",
                sock.name,
                l.active_state.as_deref().unwrap_or("?"),
                l.result.as_deref().unwrap_or("?")
            ));
        }
        if let Some(t) = pollhup {
            ev.extend(t.evidence());
        }
        v.fail(SRV_SOCKET_NOT_FAILED, ev);
    } else if sock.live.is_some() {
        v.pass(SRV_SOCKET_NOT_FAILED);
    } else {
        v.skip(
            SRV_SOCKET_NOT_FAILED,
            obs_reason(obs, "systemd's live state is not visible"),
        );
    }
    let new = i.version.is_some_and(|ver| ver >= [2, 3, 0]);
    if new {
        v.fail(
            SRV_NO_SOCKET_230,
            vec![format!(
                "{} is {} beside drawpile-srv {}",
                sock.path,
                if sock.enabled { "enabled" } else { "active" },
                i.version_text.as_deref().unwrap_or("2.3")
            )],
        );
        v.skip(SRV_SOCKET_SLOTS, "2.3.0 and newer take no sockets");
        v.skip(SRV_NO_SOCKET_22X, "drawpile-srv is 2.3.0 or newer");
        return;
    }
    v.pass(SRV_NO_SOCKET_230);
    v.fail(
        SRV_NO_SOCKET_22X,
        vec![format!(
            "{} starts drawpile-srv {} ({})",
            sock.path,
            i.version_text.as_deref().unwrap_or("2.2.x"),
            if sock.enabled { "enabled" } else { "active" }
        )],
    );
    let n = sock.listen_stream.len();
    let ev = vec![format!(
        "{}: {n} ListenStream= line(s): {}",
        sock.path,
        sock.listen_stream.join(", ")
    )];
    v.check(SRV_SOCKET_SLOTS, n == 3, ev);
}

/// A systemd service nothing starts at boot: not enabled, and no enabled socket for it.
fn starts_at_boot(i: &Instance, v: &mut Verdicts) {
    let Some(u) = i.unit else {
        v.skip(
            SRV_STARTS_AT_BOOT,
            "drawpile-srv is not a systemd service here",
        );
        return;
    };
    let socket_enabled = i.socket.is_some_and(|s| s.enabled);
    if u.enabled || socket_enabled {
        v.pass(SRV_STARTS_AT_BOOT);
        return;
    }
    let state = u
        .live
        .as_ref()
        .and_then(|l| l.unit_file_state.clone())
        .unwrap_or_else(|| "not enabled".into());
    v.fail(
        SRV_STARTS_AT_BOOT,
        vec![format!(
            "{}: {state}, and no enabled socket starts it: it does not come back after a reboot",
            u.name
        )],
    );
}

fn web_admin(i: &Instance, v: &mut Verdicts) {
    let admin_port: Option<u16> = if i.socket_active() {
        i.socket
            .and_then(|s| s.slots.web_admin.as_deref())
            .and_then(crate::detect::systemd::listen_port)
    } else {
        i.args
            .web_admin_port
            .as_deref()
            .and_then(|p| p.parse().ok())
    };
    let Some(port) = admin_port else {
        v.skip(SRV_ADMIN_PRIVATE, "the web admin is off");
        v.skip(SRV_ADMIN_ACCESS_DOCKER, "the web admin is off");
        v.skip(SRV_ADMIN_ACCESS_HOST, "the web admin is off");
        return;
    };
    let access_all = i.args.web_admin_access.as_deref() == Some("all");
    if i.in_container() {
        let public = i.published_publicly(port, "the web admin port");
        v.check(SRV_ADMIN_PRIVATE, public.is_empty(), public);
        v.check(
            SRV_ADMIN_ACCESS_DOCKER,
            access_all,
            vec![format!(
                "{}: --web-admin-port {port} without --web-admin-access all",
                i.described
            )],
        );
        v.skip(SRV_ADMIN_ACCESS_HOST, "drawpile-srv is in a container");
    } else {
        v.skip(
            SRV_ADMIN_ACCESS_DOCKER,
            "drawpile-srv is not in a container",
        );
        v.check(
            SRV_ADMIN_ACCESS_HOST,
            !access_all,
            vec![format!("{}: --web-admin-access all", i.described)],
        );
        v.skip(
            SRV_ADMIN_PRIVATE,
            "outside a container the web admin only answers loopback unless --web-admin-access says otherwise",
        );
    }
}

/// Two TLS server blocks for one name on 443: nginx uses the first and warns "conflicting
/// server name" about the rest, whose locations are never used.
fn one_server(facts: &Facts, domain: &str, v: &mut Verdicts) {
    let servers = crate::proxy::nginx::sites_named(facts.nginx.servers.iter(), domain);
    if servers.len() < 2 {
        v.pass(PROXY_ONE_SERVER);
        return;
    }
    let mut ev = vec![format!(
        "{} TLS server blocks serve {domain} on 443; nginx uses the first ({}:{})",
        servers.len(),
        servers[0].file,
        servers[0].line
    )];
    ev.extend(
        servers[1..]
            .iter()
            .map(|s| format!("{}:{}: ignored (conflicting server name)", s.file, s.line)),
    );
    v.fail(PROXY_ONE_SERVER, ev);
}

pub fn proxy(facts: &Facts, s: &Setup, obs: &Observations, v: &mut Verdicts) {
    let proxy_checks = [
        PROXY_TLS_SERVER,
        PROXY_LOCATION,
        PROXY_EMPTY_ORIGIN,
        PROXY_OFFICIAL_ORIGIN,
        PROXY_MIRROR_ORIGIN,
        PROXY_FOREIGN_ORIGIN,
        PROXY_UPSTREAM,
        PROXY_HTTP11,
        PROXY_UPGRADE,
        PROXY_REAL_IP,
        PROXY_SWITCHES,
    ];
    let mut other_servers: Vec<String> = facts
        .web_servers
        .iter()
        .filter(|w| w.name != "nginx" && (w.listens_443 == Some(true) || w.serves_443_by_config))
        .map(|w| w.name.clone())
        .collect();
    other_servers.extend(setup::other_containers_on_443(facts));
    let nginx_present = facts.nginx.conf_path.is_some()
        || !facts.nginx.servers.is_empty()
        || !s.nginx_containers_443.is_empty();
    let in_container = s.site.as_ref().and_then(|site| site.container);
    // Apache or Caddy alone in front: its site and route, judged by the same checks.
    if let Some(front) = &s.front
        && s.site.is_none()
        && other_servers == [front.server.as_str()]
    {
        front_proxy(facts, s, obs, front, &proxy_checks, v);
        return;
    }
    if !other_servers.is_empty() && s.site.is_none() {
        let mut evidence = vec![format!("{} serves port 443", other_servers.join(", "))];
        if let Some(b) = &obs.front_block {
            evidence.push(b.evidence.clone());
        }
        v.fail(PROXY_SUPPORTED, evidence);
        for c in proxy_checks {
            v.skip(
                c,
                format!("{} is not audited yet", other_servers.join(", ")),
            );
        }
        v.skip(PROXY_SYNTAX, "nginx does not serve the domain");
        v.skip(PROXY_ONE_SERVER, "nginx does not serve the domain");
        return;
    }
    v.pass(PROXY_SUPPORTED);
    if let Some(c) = in_container {
        v.skip(
            PROXY_SYNTAX,
            format!(
                "nginx runs in compose service {} ({}): `nginx -t` runs inside its container, \
                 which the audit does not enter",
                c.service, c.compose_file
            ),
        );
    }
    match &obs.nginx_test {
        Some(Ok(())) => v.pass(PROXY_SYNTAX),
        Some(Err(e)) => v.fail(
            PROXY_SYNTAX,
            e.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect(),
        ),
        None if facts.nginx.conf_path.is_some() || !facts.nginx.servers.is_empty() => {
            v.skip(PROXY_SYNTAX, obs.why_not("nginx_test"))
        }
        None if nginx_present => v.skip(PROXY_SYNTAX, "nginx runs in a container"),
        None => v.skip(PROXY_SYNTAX, "nginx is not installed"),
    }
    let Some(domain) = &s.domain else {
        let mut ev: Vec<String> = s
            .ws_locations
            .iter()
            .map(|(_, l)| format!("{}:{}: location {} {}", l.file, l.line, l.modifier, l.path))
            .collect();
        if ev.is_empty() {
            ev.push(if nginx_present {
                "no server block has location /drawpile-web/ws".into()
            } else {
                "no web server configuration was found".into()
            });
        }
        v.fail_fix(
            PROXY_TLS_SERVER,
            ev.clone(),
            "Run `dpwizard` (or `dpwizard apply`) with your domain; to audit a given name, pass --domain.".into(),
        );
        v.fail(PROXY_LOCATION, ev);
        for c in &proxy_checks[2..] {
            v.skip(c, "no location /drawpile-web/ws to judge");
        }
        v.skip(PROXY_ONE_SERVER, "the domain is not known");
        return;
    };
    one_server(facts, domain, v);
    let Some(site) = &s.site else {
        let mut ev = vec![format!(
            "no server block listens on 443 with TLS for {domain}"
        )];
        for (srv, l) in &s.ws_locations {
            ev.push(format!(
                "{}:{}: location {} is in the server at {}:{} (listen {})",
                l.file,
                l.line,
                l.path,
                srv.file,
                srv.line,
                srv.listen
                    .iter()
                    .map(|l| l.raw.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        v.fail(PROXY_TLS_SERVER, ev.clone());
        v.fail(PROXY_LOCATION, ev);
        for c in &proxy_checks[2..] {
            v.skip(c, format!("no TLS server for {domain}"));
        }
        return;
    };
    v.pass_with(
        PROXY_TLS_SERVER,
        format!("{}:{}", site.server.file, site.server.line),
    );
    let in_server: Vec<_> = site
        .server
        .locations
        .iter()
        .filter(|l| serves_ws_path(l) || setup::near_miss(l))
        .collect();
    let exact: Vec<_> = in_server.iter().filter(|l| serves_ws_path(l)).collect();
    let Some(loc) = site.location else {
        let mut ev = vec![format!(
            "{}:{}: the TLS server for {domain} has no location /drawpile-web/ws",
            site.server.file, site.server.line
        )];
        for l in &in_server {
            ev.push(format!(
                "{}:{}: location {} {} does not get /drawpile-web/ws",
                l.file, l.line, l.modifier, l.path
            ));
        }
        for (srv, l) in s
            .ws_locations
            .iter()
            .filter(|(srv, _)| !listens_tls_443(srv))
        {
            ev.push(format!(
                "{}:{}: location {} is in a server without TLS on 443 ({}:{})",
                l.file, l.line, l.path, srv.file, srv.line
            ));
        }
        v.fail(PROXY_LOCATION, ev);
        for c in &proxy_checks[2..] {
            v.skip(c, "no location /drawpile-web/ws in the TLS server");
        }
        return;
    };
    v.check(
        PROXY_LOCATION,
        exact.len() == 1,
        exact
            .iter()
            .map(|l| format!("{}:{}: location {} {}", l.file, l.line, l.modifier, l.path))
            .collect(),
    );
    let upstream = s
        .instance
        .as_ref()
        .and_then(|i| upstream_of(facts, i, site.container));
    let route = crate::proxy::nginx::route(
        site.kind(),
        site.http_proxy_directives(facts),
        site.server,
        loc,
    );
    judge_route(&route, upstream.as_ref(), domain, v);
}

/// Apache or Caddy in front: its site for the domain (PROXY-001, PROXY-014), whether its
/// route for the WebSocket path is reached (PROXY-002), and the route itself (PROXY-003 to
/// PROXY-011) by [`judge_route`], with evidence in their own words.
fn front_proxy(
    facts: &Facts,
    s: &Setup,
    obs: &Observations,
    front: &setup::Front,
    proxy_checks: &[&'static CheckDef],
    v: &mut Verdicts,
) {
    use crate::answers::ProxyServer;
    let label = match front.server {
        ProxyServer::Apache => "Apache",
        _ => "Caddy",
    };
    let mut note = format!("{label} serves port 443; its configuration is audited");
    if let Some(b) = &obs.front_block {
        note.push_str(&format!(" ({})", b.evidence));
    }
    v.pass_with(PROXY_SUPPORTED, note);
    v.skip(
        PROXY_SYNTAX,
        match front.server {
            ProxyServer::Apache => {
                "the audit does not run `apache2ctl configtest` (apply runs it before every reload)"
            }
            _ => "the audit does not run `caddy validate` (apply runs it before every reload)",
        },
    );
    let site = match &front.site {
        Ok(site) => site,
        Err(setup::FrontMissing::NotRead(why)) => {
            for c in proxy_checks.iter().chain([&PROXY_ONE_SERVER]) {
                v.skip(c, why.clone());
            }
            return;
        }
        Err(missing @ (setup::FrontMissing::NoSite(why) | setup::FrontMissing::NoDomain(why))) => {
            let fix = match (missing, front.server) {
                (setup::FrontMissing::NoDomain(_), _) => {
                    "Run `dpwizard` (or `dpwizard apply`) with your domain; to audit a given name, pass --domain."
                }
                (_, ProxyServer::Apache) => {
                    "Create the HTTPS site first (e.g. `certbot --apache -d DOMAIN`), then run dpwizard."
                }
                _ => {
                    "Add a site block for the domain to the Caddyfile (Caddy gets its certificate), then run dpwizard."
                }
            };
            v.fail_fix(PROXY_TLS_SERVER, vec![why.clone()], fix.into());
            let kind = match front.server {
                ProxyServer::Apache => crate::proxy::Kind::Apache,
                _ => crate::proxy::Kind::Caddy,
            };
            fail_for(v, kind, PROXY_LOCATION, vec![why.clone()]);
            for c in &proxy_checks[2..] {
                v.skip(c, format!("no {label} site for the domain"));
            }
            v.skip(PROXY_ONE_SERVER, format!("no {label} site for the domain"));
            return;
        }
    };
    let domain = s.domain.as_deref().unwrap_or("");
    v.pass_with(PROXY_TLS_SERVER, site.at.clone());
    if site.ignored.is_empty() {
        v.pass(PROXY_ONE_SERVER);
    } else {
        let mut ev = vec![format!("{}: the site {label} uses for {domain}", site.at)];
        ev.extend(site.ignored.iter().cloned());
        fail_for(v, site.kind, PROXY_ONE_SERVER, ev);
    }
    let route = &site.route;
    if let Err(ev) = &route.reached {
        fail_for(v, route.kind, PROXY_LOCATION, ev.clone());
        for c in &proxy_checks[2..] {
            v.skip(
                c,
                format!(
                    "{label}'s route for {} is never reached (see DPW-PROXY-002)",
                    crate::proxy::WS_PATH
                ),
            );
        }
        return;
    }
    v.skip(
        PROXY_SWITCHES,
        format!("{label} has no inherited proxy_pass_* switches (an nginx setting)"),
    );
    if route.kind == crate::proxy::Kind::Caddy {
        if route.http11.is_ok() {
            v.pass_with(
                PROXY_HTTP11,
                "Caddy's reverse_proxy speaks HTTP/1.1 to the upstream by itself",
            );
        }
        if route.upgrade.is_ok() {
            v.pass_with(
                PROXY_UPGRADE,
                "Caddy's reverse_proxy passes the WebSocket upgrade by itself",
            );
        }
    }
    let upstream = s
        .instance
        .as_ref()
        .and_then(|i| upstream_of(facts, i, None));
    judge_route(route, upstream.as_ref(), domain, v);
}

/// A failure with the fix in the route's own web server's words (the catalogue's are
/// nginx's).
fn fail_for(v: &mut Verdicts, kind: crate::proxy::Kind, c: &'static CheckDef, ev: Vec<String>) {
    match front_fix(kind, c) {
        Some(fix) => v.fail_fix(c, ev, fix.into()),
        None => v.fail(c, ev),
    }
}

/// How Apache or Caddy fixes what a proxy check finds; `None` for nginx (the catalogue's).
fn front_fix(kind: crate::proxy::Kind, c: &'static CheckDef) -> Option<&'static str> {
    use crate::proxy::Kind;
    const APACHE_ORIGIN: &str = "Use the documented rule: `RewriteEngine On`, `RewriteCond %{HTTP:Origin} !^(https://web\\.(drawpile\\.net|foxdice\\.cn))?$` and `RewriteRule ^/drawpile-web/ws - [F]` in the virtual host, with mod_rewrite enabled (dpwizard writes it).";
    const CADDY_ORIGIN: &str = "Answer 403 only to a present Origin that is not allowed: `@bad { header_regexp Origin .+` + `not { header Origin https://web.drawpile.net` + `header Origin https://web.foxdice.cn } }` (one value per line) and `respond @bad 403` inside `handle /drawpile-web/ws` (dpwizard writes it).";
    let fix = match (kind, c.id) {
        (Kind::HostNginx | Kind::ContainerNginx, _) => return None,
        (Kind::Apache, "DPW-PROXY-002") => {
            "Put `ProxyPass /drawpile-web/ws ...` above the host's own `ProxyPass /` (Apache uses the first rule that matches), or exclude the path there; a ProxyPass outside every <VirtualHost> comes before each host's own, so move such a rule into the hosts that need it; dpwizard inserts its block before the host's rules."
        }
        (Kind::Apache, "DPW-PROXY-003" | "DPW-PROXY-004" | "DPW-PROXY-005" | "DPW-PROXY-006") => {
            APACHE_ORIGIN
        }
        (Kind::Apache, "DPW-PROXY-007") => {
            "Point the ProxyPass at ws://127.0.0.1:PORT/drawpile-web/ws (PORT: drawpile-srv's --websocket-port), with the modules enabled (Debian: `a2enmod proxy proxy_http proxy_wstunnel`; RHEL: their LoadModule lines in conf.modules.d)."
        }
        (Kind::Apache, "DPW-PROXY-008") => {
            "Remove `force-proxy-request-1.0` for the path: mod_proxy speaks HTTP/1.1 by default."
        }
        (Kind::Apache, "DPW-PROXY-009") => {
            "Apache 2.4.47+: `ProxyPass /drawpile-web/ws http://127.0.0.1:PORT/drawpile-web/ws upgrade=websocket`; older: ws://127.0.0.1:PORT/drawpile-web/ws with mod_proxy_wstunnel (Debian: `a2enmod proxy_wstunnel`; RHEL: its LoadModule line)."
        }
        (Kind::Apache, "DPW-PROXY-010") => {
            "Add `RequestHeader set X-Real-IP expr=%{REMOTE_ADDR}` to the virtual host, with mod_headers enabled (Debian: `a2enmod headers`; RHEL: its LoadModule line)."
        }
        (Kind::Apache, "DPW-PROXY-014") => {
            "Keep one <VirtualHost *:443> for the name and move the ProxyPass for /drawpile-web/ws into it."
        }
        (Kind::Caddy, "DPW-PROXY-002") => {
            "Narrow what Caddy runs first (a `redir`, `rewrite`, `try_files` or a `handle` that sorts first) so it leaves /drawpile-web/ws alone, and put `reverse_proxy` in `handle /drawpile-web/ws`."
        }
        (Kind::Caddy, "DPW-PROXY-003" | "DPW-PROXY-004" | "DPW-PROXY-005" | "DPW-PROXY-006") => {
            CADDY_ORIGIN
        }
        (Kind::Caddy, "DPW-PROXY-007") => {
            "Point `reverse_proxy` at 127.0.0.1:PORT (PORT: drawpile-srv's --websocket-port)."
        }
        (Kind::Caddy, "DPW-PROXY-008") => {
            "Let reverse_proxy speak HTTP/1.1 to drawpile-srv: drop the `versions` line without 1.1, or the h2c:// scheme."
        }
        (Kind::Caddy, "DPW-PROXY-009") => {
            "Remove the `header_up -Upgrade` / `-Connection` lines: Caddy passes the upgrade by itself."
        }
        (Kind::Caddy, "DPW-PROXY-010") => {
            "Add `header_up X-Real-IP {remote_host}` to the reverse_proxy block."
        }
        (Kind::Caddy, "DPW-PROXY-014") => {
            "Keep one site block for the name (Caddy refuses two) and put the route in it."
        }
        _ => return None,
    };
    Some(fix)
}

/// The web admin proxied by a server without TLS (port 80), host nginx or in a container.
pub fn web_admin_proxy(facts: &Facts, s: &Setup, v: &mut Verdicts) {
    let Some(i) = &s.instance else {
        v.skip(PROXY_ADMIN_PLAIN, "no drawpile-srv");
        return;
    };
    let Some(port) = i
        .args
        .web_admin_port
        .as_deref()
        .and_then(|p| p.parse::<u16>().ok())
    else {
        v.skip(PROXY_ADMIN_PLAIN, "the web admin is off");
        return;
    };
    // How a proxy names the web admin: this host's loopback or published port, or the
    // compose service (and its container_name) on the project's network.
    let published: Vec<u16> = i
        .ports()
        .iter()
        .filter(|p| p.container_port == port)
        .filter_map(|p| p.host_port)
        .collect();
    let mut names: Vec<String> = Vec::new();
    if let Some((_, svc)) = i.compose {
        names.push(svc.name.clone());
        names.extend(svc.container_name.clone());
    }
    let reaches_admin = |host: &str, p: u16| {
        if names.iter().any(|n| n == host) {
            p == port
        } else {
            is_loopback(host) && (published.contains(&p) || (!i.in_container() && p == port))
        }
    };
    let servers = facts.nginx.servers.iter().chain(
        facts
            .nginx_containers
            .iter()
            .flat_map(|c| c.config.servers.iter()),
    );
    let mut ev = Vec::new();
    for srv in servers.filter(|srv| !srv.ssl) {
        for l in &srv.locations {
            if let Some(t) = crate::proxy::nginx::proxy_target(&l.directives)
                && let Some(p) = t.port
                && reaches_admin(&t.host, p)
            {
                ev.push(format!(
                    "{} in location {} of a server without TLS ({}:{}, listen {})",
                    t.at,
                    l.path,
                    srv.file,
                    srv.line,
                    srv.listen
                        .iter()
                        .map(|x| x.raw.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    v.check(PROXY_ADMIN_PLAIN, ev.is_empty(), ev);
}

/// The checks of one route (PROXY-003 to PROXY-011), by meaning, whatever web server wrote
/// it. Plan uses them too, to keep a hand-written route that already does what dpwizard
/// would write.
pub fn judge_route(route: &Route, upstream_of: Option<&Upstream>, domain: &str, v: &mut Verdicts) {
    let oc = &route.origin;
    let rules_ev = || -> Vec<String> {
        oc.rules
            .iter()
            .map(|r| format!("{}: {}", r.at, r.shown))
            .chain(oc.unreadable.iter().cloned())
            .collect()
    };
    if !oc.is_present() && !oc.unreadable.is_empty() {
        for c in [
            PROXY_EMPTY_ORIGIN,
            PROXY_OFFICIAL_ORIGIN,
            PROXY_MIRROR_ORIGIN,
            PROXY_FOREIGN_ORIGIN,
        ] {
            v.skip(c, format!("cannot evaluate {}", oc.unreadable.join("; ")));
        }
    } else {
        let refused = |origin: &str, label: &str| -> Vec<String> {
            match oc.refused_by(origin) {
                Some(r) => vec![format!("{}: {} refuses {label}", r.at, r.shown)],
                None => vec![],
            }
        };
        let check = |v: &mut Verdicts, c: &'static CheckDef, ok: bool, e: Vec<String>| {
            if ok {
                v.pass(c)
            } else {
                fail_for(v, route.kind, c, e)
            }
        };
        let e = refused("", "the empty Origin (the desktop app)");
        check(v, PROXY_EMPTY_ORIGIN, e.is_empty(), e);
        let mut e = refused(WEB, WEB);
        if !e.is_empty()
            && let Some(d) = domain_origin_only(oc, domain)
        {
            e.push(d);
        }
        check(v, PROXY_OFFICIAL_ORIGIN, e.is_empty(), e);
        let e = refused(MIRROR, MIRROR);
        check(v, PROXY_MIRROR_ORIGIN, e.is_empty(), e);
        let mut e = rules_ev();
        if e.is_empty() {
            e.push(format!("{}: {}", route.at, no_origin_rule(route.kind)));
        } else {
            e.push(format!("a page at {FOREIGN} would be let through"));
        }
        check(v, PROXY_FOREIGN_ORIGIN, oc.refused_by(FOREIGN).is_some(), e);
    }

    // The target: the port (and, when drawpile-srv binds one address, that address).
    match (&route.target, upstream_of) {
        (None, _) => fail_for(v, route.kind, PROXY_UPSTREAM, route.no_target.clone()),
        (Some(_), None) => v.skip(
            PROXY_UPSTREAM,
            "drawpile-srv has no WebSocket port to compare with",
        ),
        (Some(t), Some(u)) => {
            let host = &t.host;
            let port_ok = t.port.unwrap_or(80) == u.port;
            let is_address = host.parse::<std::net::IpAddr>().is_ok() || host == "localhost";
            let host_ok = if !u.names.is_empty() {
                // On a compose network: an address is the proxy's container itself; another
                // service's name goes to that service.
                !is_address && !u.other_names.contains(host)
            } else if is_address {
                match &u.listen {
                    Some(l) if !is_wildcard(l) => {
                        *host == *l || (is_loopback(host) && is_loopback(l))
                    }
                    _ => is_loopback(host) || *host == u.addr,
                }
            } else {
                true // a name (upstream block, compose service): the live probe tells
            };
            let ev = vec![
                t.at.clone(),
                match &u.problem {
                    Some(p) => p.clone(),
                    None => format!(
                        "drawpile-srv's WebSocket listener is reached at {}:{} ({})",
                        u.addr, u.port, u.from
                    ),
                },
            ];
            if port_ok && host_ok && u.problem.is_none() {
                v.pass(PROXY_UPSTREAM);
            } else if let Some(svc) = u.names.first() {
                v.fail_fix(
                    PROXY_UPSTREAM,
                    ev,
                    format!(
                        "Point the {} at http://{svc}:{} (the compose service, on a network it \
                         shares with the proxy, and its --websocket-port).",
                        route.kind.route_word(),
                        u.port
                    ),
                );
            } else if u.problem.is_some() {
                v.fail_fix(
                    PROXY_UPSTREAM,
                    ev,
                    format!(
                        "Publish the WebSocket port on the host's loopback: add \
                         \"127.0.0.1:{0}:{0}\" to the service's ports (in \
                         docker-compose.override.yaml, so `git pull` keeps working), then \
                         `docker compose up -d` the service.",
                        u.port
                    ),
                );
            } else {
                fail_for(v, route.kind, PROXY_UPSTREAM, ev);
            }
        }
    }
    let judged = |v: &mut Verdicts, id, p: &crate::proxy::route::Property| match p {
        Ok(()) => v.pass(id),
        Err(ev) => fail_for(v, route.kind, id, ev.clone()),
    };
    // nginx's exact location always gets the path: its PROXY-002 is judged before.
    judged(v, PROXY_LOCATION, &route.reached);
    judged(v, PROXY_HTTP11, &route.http11);
    judged(v, PROXY_UPGRADE, &route.upgrade);
    judged(v, PROXY_REAL_IP, &route.real_ip);
    judged(v, PROXY_SWITCHES, &route.switches);
}

/// What a route without an Origin rule lacks, in its own web server's words.
fn no_origin_rule(kind: crate::proxy::Kind) -> &'static str {
    use crate::proxy::Kind;
    match kind {
        Kind::HostNginx | Kind::ContainerNginx => {
            "no `if ($http_origin ...) { return 403; }` in the location"
        }
        Kind::Apache => {
            "no `RewriteCond %{HTTP:Origin} ...` + `RewriteRule ... - [F]` for the path"
        }
        Kind::Caddy => "no matcher on the Origin header that answers 403 in the route",
    }
}

/// When the check allows the admin's own host but not the official client: mistake 2.
fn domain_origin_only(oc: &OriginRules, domain: &str) -> Option<String> {
    let own = format!("https://{domain}");
    oc.refused_by(&own).is_none().then(|| {
        format!("it allows {own} instead: your own host name replaced the official origins")
    })
}

pub fn tls(facts: &Facts, s: &Setup, v: &mut Verdicts) {
    let all = [
        TLS_PRESENT,
        TLS_NAME,
        TLS_KEY,
        TLS_VALID,
        TLS_DAYS_LEFT,
        TLS_CHAIN,
        TLS_PUBLIC_CA,
        TLS_RENEWAL,
        TLS_RELOAD_HOOK,
    ];
    // The site that names the certificate: nginx's server, or Apache's or Caddy's site.
    let front = s.front.as_ref().and_then(|f| f.site.as_ref().ok());
    let Some(domain) = &s.domain else {
        for c in all {
            v.skip(c, "no TLS server for the domain");
        }
        return;
    };
    let (missing, key_file, container) = match (&s.site, front) {
        (Some(site), _) => (
            format!(
                "{}:{}: no ssl_certificate in the server",
                site.server.file, site.server.line
            ),
            site.server.ssl_certificate_key.clone(),
            site.container,
        ),
        (None, Some(f)) => match &f.certificate {
            crate::proxy::SiteCertificate::File { key, .. } => (String::new(), key.clone(), None),
            crate::proxy::SiteCertificate::Missing(why) => (why.clone(), None, None),
            crate::proxy::SiteCertificate::ByServer(why) => {
                v.pass_with(TLS_PRESENT, why.clone());
                for c in &all[1..] {
                    v.skip(
                        c,
                        format!(
                            "{why}: nothing on disk to read; the live TLS probe checks what it \
                             serves"
                        ),
                    );
                }
                return;
            }
            crate::proxy::SiteCertificate::Unknown(why) => {
                for c in all {
                    v.skip(c, why.clone());
                }
                return;
            }
        },
        (None, None) => {
            for c in all {
                v.skip(c, "no TLS server for the domain");
            }
            return;
        }
    };
    let Some(cert) = setup::site_certificate(facts, s) else {
        v.fail(TLS_PRESENT, vec![missing]);
        for c in &all[1..] {
            v.skip(c, "no certificate");
        }
        return;
    };
    let (cert_path, lineage) = (cert.path.to_string(), cert.lineage);
    if let Some(c) = container
        && c.paths_in_container.contains(&cert_path)
    {
        // dpserver makes its certificate inside the nginx container (certbot there, a
        // self-signed one from the image until then): nothing on the host to read.
        for check in all {
            v.skip(
                check,
                format!(
                    "the certificate {cert_path} is inside the container of compose service {} \
                     (image or named volume), not on the host; the live TLS probe checks what it serves",
                    c.service
                ),
            );
        }
        return;
    }
    let info = match cert.info {
        Ok(info) => info,
        Err(why) => {
            v.fail(TLS_PRESENT, vec![format!("{cert_path}: {why}")]);
            for c in &all[1..] {
                v.skip(c, "the certificate could not be read");
            }
            return;
        }
    };
    v.pass_with(TLS_PRESENT, cert_path.clone());
    v.check(
        TLS_NAME,
        info.names.iter().any(|n| name_covers(n, domain)),
        vec![format!(
            "{cert_path} is for {}, not {domain}",
            info.names.join(", ")
        )],
    );
    match info.key_matches {
        Some(ok) => v.check(
            TLS_KEY,
            ok,
            vec![format!(
                "{} does not match {cert_path}",
                key_file.as_deref().unwrap_or("the key")
            )],
        ),
        None => v.skip(
            TLS_KEY,
            info.key_problem
                .clone()
                .unwrap_or_else(|| "the key could not be read".into()),
        ),
    }
    let valid = !info.expired && !info.not_yet_valid;
    v.check(
        TLS_VALID,
        valid,
        vec![if info.expired {
            format!("{cert_path} expired on {}", info.not_after)
        } else {
            format!("{cert_path} is valid only from {}", info.not_before)
        }],
    );
    if valid {
        v.check(
            TLS_DAYS_LEFT,
            info.days_left > 14,
            vec![format!(
                "{cert_path} expires on {} ({} days left)",
                info.not_after, info.days_left
            )],
        );
    } else {
        v.skip(TLS_DAYS_LEFT, "the certificate is not valid now");
    }
    v.check(
        TLS_PUBLIC_CA,
        !info.self_signed,
        vec![format!("{cert_path} is self-signed ({})", info.subject)],
    );
    if info.self_signed {
        v.skip(TLS_CHAIN, "self-signed");
    } else {
        v.check(
            TLS_CHAIN,
            info.chain_length >= 2,
            vec![format!(
                "{cert_path} holds {} certificate(s): the intermediate is missing",
                info.chain_length
            )],
        );
    }
    let Some(lineage) = lineage else {
        let why = if info.self_signed {
            "self-signed: nothing renews it"
        } else {
            "not a certbot certificate: renewal is up to whatever issued it"
        };
        v.skip(TLS_RENEWAL, why);
        v.skip(TLS_RELOAD_HOOK, why);
        return;
    };
    match facts.tls.renewal_scheduled {
        Some(true) => v.pass_with(TLS_RENEWAL, facts.tls.renewal_schedule.join("; ")),
        Some(false) => v.fail(
            TLS_RENEWAL,
            vec!["no certbot.timer enabled and no cron job running certbot".into()],
        ),
        None => v.fail(
            TLS_RENEWAL,
            vec![
                "could not see a certbot timer or cron job (systemd's state is not visible here)"
                    .into(),
            ],
        ),
    }
    let r = lineage.renewal.as_ref();
    let hooks: Vec<&str> = r
        .into_iter()
        .flat_map(|r| [r.deploy_hook.as_deref(), r.renew_hook.as_deref()])
        .flatten()
        .chain(facts.tls.deploy_hooks.iter().map(String::as_str))
        .collect();
    let installer = r.and_then(|r| r.installer.as_deref());
    // certbot's nginx and apache installers reload the server they installed into.
    let reloads = matches!(installer, Some("nginx" | "apache"))
        || hooks.iter().any(|h| {
            ["nginx", "apache2", "apachectl", "httpd", "caddy", "reload"]
                .iter()
                .any(|w| h.contains(w))
        });
    v.check(
        TLS_RELOAD_HOOK,
        reloads,
        vec![format!(
            "{}: no deploy hook and no web server installer (nginx, apache)",
            r.map(|r| r.path.as_str()).unwrap_or(&lineage.name)
        )],
    );
}

pub fn net(facts: &Facts, s: &Setup, v: &mut Verdicts) {
    let fw = &facts.network.firewall;
    let ufw_on = fw.ufw_enabled == Some(true);
    let active = ufw_on || fw.firewalld_present || fw.nftables_input_drops;
    let allows = |port: u16, names: &[&str]| fw.allows(port, names);
    if active {
        v.check(
            NET_FIREWALL_HTTPS,
            allows(443, crate::detect::network::HTTPS_NAMES),
            vec![format!(
                "the firewall is active and has no rule for 443: {}",
                fw.ufw_rules
                    .iter()
                    .chain(fw.firewalld_allows.iter())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )],
        );
        let tcp = s.instance.as_ref().map(|i| i.tcp_port()).unwrap_or(27750);
        v.check(
            NET_FIREWALL_TCP,
            allows(tcp, &[]),
            vec![format!("the firewall is active and has no rule for {tcp}")],
        );
    } else {
        v.skip(
            NET_FIREWALL_HTTPS,
            "no active ufw, firewalld or dropping nftables input chain seen",
        );
        v.skip(
            NET_FIREWALL_TCP,
            "no active ufw, firewalld or dropping nftables input chain seen",
        );
    }
    let Some((port, _)) = s.instance.as_ref().and_then(|i| i.ws_port()) else {
        v.skip(NET_WS_NOT_PUBLIC, "no WebSocket port");
        return;
    };
    if !facts.network.visible {
        v.skip(
            NET_WS_NOT_PUBLIC,
            facts
                .network
                .not_visible_because
                .clone()
                .unwrap_or_else(|| "listening sockets are not visible".into()),
        );
        return;
    }
    let in_container = s.instance.as_ref().is_some_and(|i| i.in_container());
    let public: Vec<String> = facts
        .network
        .listeners
        .iter()
        .filter(|l| {
            let host_port = s
                .instance
                .as_ref()
                .and_then(|i| i.ws_endpoint())
                .map(|(_, p)| p)
                .unwrap_or(port);
            l.port == host_port && !l.loopback_only()
        })
        .map(|l| {
            format!(
                "{}:{} is listening ({})",
                l.address,
                l.port,
                l.process.as_deref().unwrap_or("unknown process")
            )
        })
        .collect();
    let blocked = ufw_on && !allows(port, &[]);
    let _ = in_container; // Docker's published ports bypass ufw: no exception for them
    if public.is_empty() || (blocked && !in_container) {
        v.pass(NET_WS_NOT_PUBLIC);
    } else {
        v.fail(NET_WS_NOT_PUBLIC, public);
    }
}

pub fn dns(s: &Setup, obs: &Observations, v: &mut Verdicts) {
    let Some(domain) = &s.domain else {
        v.skip(DNS_NAME, "no domain");
        v.skip(DNS_RESOLVES_HERE, "no domain");
        return;
    };
    match crate::model::DomainName::parse(domain) {
        Ok(_) => v.pass(DNS_NAME),
        Err(e) => v.fail(DNS_NAME, vec![format!("{domain} ({}): {e}", s.domain_from)]),
    }
    match &obs.dns {
        None => v.skip(DNS_RESOLVES_HERE, obs.why_not("dns")),
        Some(d) if d.resolved.is_empty() => v.fail(
            DNS_RESOLVES_HERE,
            vec![format!(
                "{domain} does not resolve{}",
                d.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )],
        ),
        Some(d) => {
            let here = d.resolved.iter().any(|a| d.local.contains(a));
            v.check(
                DNS_RESOLVES_HERE,
                here,
                vec![format!(
                    "{domain} resolves to {}; this machine has {}",
                    d.resolved.join(", "),
                    d.local.join(", ")
                )],
            );
        }
    }
}

pub fn live(s: &Setup, obs: &Observations, v: &mut Verdicts) {
    let all = [
        LIVE_TCP,
        LIVE_DIRECT,
        LIVE_TLS_TRUSTED,
        LIVE_PROXY_OFFICIAL,
        LIVE_PROXY_NO_ORIGIN,
        LIVE_PROXY_FOREIGN,
        LIVE_OWN_ADDRESSES,
    ];
    let Some(l) = &obs.live else {
        for c in all {
            v.skip(c, obs.why_not("live"));
        }
        return;
    };
    let judge = |v: &mut Verdicts,
                 c: &'static CheckDef,
                 check: &Option<crate::verify::Check>,
                 what: &str| {
        match check {
            Some(k) if k.passed => v.pass_with(c, k.detail.clone()),
            Some(k) => v.fail(c, vec![format!("{what}: {}", k.detail)]),
            None => v.skip(c, format!("{what}: nothing to probe")),
        }
    };
    judge(v, LIVE_TCP, &l.tcp, &l.tcp_target);
    if l.direct.is_none()
        && let Some(i) = s.instance.as_ref().filter(|i| i.in_container())
    {
        // dpserver's layout: only the proxy's container reaches the WebSocket port.
        v.skip(
            LIVE_DIRECT,
            format!(
                "{} does not publish its WebSocket port on the host; the handshakes through the \
                 proxy reach it",
                i.described
            ),
        );
    }
    judge(v, LIVE_DIRECT, &l.direct, &l.direct_target);
    let Some(p) = &l.proxy else {
        for c in &all[2..] {
            v.skip(c, "no domain to probe through the proxy");
        }
        return;
    };
    match p.tls.as_ref() {
        Some(t) => match &t.verify_error {
            None => v.pass_with(LIVE_TLS_TRUSTED, t.names.join(", ")),
            Some(e) => v.fail(
                LIVE_TLS_TRUSTED,
                vec![format!("{} via {}: {e}", p.url, p.connect_to)],
            ),
        },
        None => v.fail(
            LIVE_TLS_TRUSTED,
            vec![format!("{}: no TLS handshake with {}", p.url, p.connect_to)],
        ),
    }
    let by_name = |n: &str| p.checks.iter().find(|c| c.name == n).cloned();
    let target = format!("{} via {}", p.url, p.connect_to);
    judge(
        v,
        LIVE_PROXY_OFFICIAL,
        &by_name("proxy-official-origin"),
        &format!("{target}, Origin {WEB}"),
    );
    judge(
        v,
        LIVE_PROXY_NO_ORIGIN,
        &by_name("proxy-no-origin"),
        &format!("{target}, no Origin"),
    );
    judge(
        v,
        LIVE_PROXY_FOREIGN,
        &by_name("proxy-foreign-origin"),
        &format!("{target}, Origin {}", crate::verify::FOREIGN_ORIGIN),
    );
    // The same at this machine's own addresses, as users from outside arrive.
    let failed: Vec<String> = l
        .own_addresses
        .iter()
        .filter(|(_, c)| !c.passed)
        .map(|(a, c)| format!("{} via {a}: {}", p.url, c.detail))
        .collect();
    if l.own_addresses.is_empty() {
        v.skip(
            LIVE_OWN_ADDRESSES,
            "this machine has no address but loopback here: check from another machine",
        );
    } else if failed.is_empty() {
        v.pass_with(
            LIVE_OWN_ADDRESSES,
            l.own_addresses
                .iter()
                .map(|(a, _)| a.clone())
                .collect::<Vec<_>>()
                .join(", "),
        );
    } else {
        v.fail(LIVE_OWN_ADDRESSES, failed);
    }
    let _ = s;
}

pub fn logs(facts: &Facts, s: &Setup, obs: &Observations, v: &mut Verdicts) {
    let l = &obs.logs;
    let proxied = s.site.as_ref().is_some_and(|site| site.location.is_some());
    match &l.server {
        None => {
            v.skip(LOG_REAL_IP, obs.why_not("journal"));
            v.skip(LOG_SOCKET_ERRORS, obs.why_not("journal"));
        }
        Some(srv) => {
            if proxied {
                v.check(
                    LOG_REAL_IP,
                    srv.peer_address.count == 0,
                    srv.peer_address.evidence(),
                );
            } else {
                v.skip(LOG_REAL_IP, "no proxy in front");
            }
            v.check(
                LOG_SOCKET_ERRORS,
                srv.socket_errors.count == 0,
                srv.socket_errors.evidence(),
            );
        }
    }
    match &l.access {
        None => {
            for c in [LOG_APP_REFUSED, LOG_BROWSER_REFUSED, LOG_BACKEND_DOWN] {
                v.skip(
                    c,
                    l.access_missing
                        .clone()
                        .unwrap_or_else(|| "no access log read".into()),
                );
            }
        }
        Some(a) => {
            v.check(LOG_APP_REFUSED, a.app_403.count == 0, a.app_403.evidence());
            // A 403 is what the Origin check gives a page of another site: when the check
            // lets both web clients in, the refused browsers came from other sites (the
            // access log has no Origin to tell more), and that is the check doing its job.
            let admits_web_clients = s.route(facts).is_some_and(|r| {
                r.origin.unreadable.is_empty()
                    && r.origin.refused_by(WEB).is_none()
                    && r.origin.refused_by(MIRROR).is_none()
            });
            if a.browser_403.count > 0 && admits_web_clients {
                v.pass_with(
                    LOG_BROWSER_REFUSED,
                    format!(
                        "{} request(s) refused with 403, from pages of other sites: the \
                         Origin check lets the web client in (a site of yours among them? \
                         add it to the extra origins)",
                        a.browser_403.count
                    ),
                );
            } else {
                v.check(
                    LOG_BROWSER_REFUSED,
                    a.browser_403.count == 0,
                    a.browser_403.evidence(),
                );
            }
            v.check(
                LOG_BACKEND_DOWN,
                a.bad_gateway.count == 0,
                a.bad_gateway.evidence(),
            );
        }
    }
    let _ = RuntimeKind::None;
}

/// What is wrong with a hand-written route, judged as the audit judges it, for a proxy to
/// `upstream_host:upstream_port` that must also let `extra_origins` in. Empty when it
/// already does what dpwizard would write.
pub fn route_problems(
    route: &Route,
    upstream_host: &str,
    upstream_port: u16,
    extra_origins: &[String],
    domain: &str,
) -> Vec<String> {
    let mut v = Verdicts::default();
    let u = Upstream {
        addr: upstream_host.to_string(),
        port: upstream_port,
        listen: Some(upstream_host.to_string()),
        from: "the answers".into(),
        names: Vec::new(),
        other_names: Vec::new(),
        problem: None,
    };
    judge_route(route, Some(&u), domain, &mut v);
    let mut problems: Vec<String> = v
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| format!("{} [{}]: {}", f.title, f.id, f.evidence.join("; ")))
        .collect();
    for o in extra_origins {
        if let Some(r) = route.origin.refused_by(o) {
            problems.push(format!("the Origin check at {} refuses {o}", r.at));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::args::DrawpileArgs;
    use crate::detect::network::Listener;
    use crate::detect::systemd::ServiceUnit;

    /// A machine whose unit listens for WebSockets on 27751 (at `listen`), with the
    /// listeners the kernel shows and ufw's state.
    fn facts(listen: Option<&str>, listener: &str, ufw: Option<(bool, &[&str])>) -> Facts {
        let mut f = Facts::default();
        let mut argv = vec!["/usr/bin/drawpile-srv", "--websocket-port", "27751"];
        if let Some(l) = listen {
            argv.extend(["--websocket-listen", l]);
        }
        f.runtime.kind = RuntimeKind::SystemdService;
        f.runtime.units.push(ServiceUnit {
            name: "drawpile-srv.service".into(),
            path: "/etc/systemd/system/drawpile-srv.service".into(),
            exec_start: Some(argv.iter().map(|s| s.to_string()).collect()),
            options: DrawpileArgs::parse(&argv[1..]),
            user: Some("nobody".into()),
            ..Default::default()
        });
        f.network.visible = true;
        f.network.listeners.push(Listener {
            address: listener.into(),
            port: 27751,
            process: Some("drawpile-srv".into()),
            ..Default::default()
        });
        if let Some((on, rules)) = ufw {
            f.network.firewall.ufw_enabled = Some(on);
            f.network.firewall.ufw_rules = rules.iter().map(|r| r.to_string()).collect();
        }
        f
    }

    fn net_verdict(f: &Facts) -> Option<Vec<String>> {
        let s = setup::read(f, None);
        let mut v = Verdicts::default();
        net(f, &s, &mut v);
        v.findings
            .iter()
            .find(|x| x.id == NET_WS_NOT_PUBLIC.id)
            .map(|x| x.evidence.clone())
    }

    #[test]
    fn a_public_websocket_port_is_found_unless_loopback_or_firewalled() {
        let open = facts(None, "0.0.0.0", None);
        let ev = net_verdict(&open).expect("public and no firewall");
        assert!(
            ev[0].starts_with("0.0.0.0:27751 is listening (drawpile-srv)"),
            "{ev:?}"
        );
        assert_eq!(
            net_verdict(&facts(Some("127.0.0.1"), "127.0.0.1", None)),
            None
        );
        // ufw on without a rule for the port: blocked.
        let blocked = facts(
            None,
            "::",
            Some((true, &["allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in"])),
        );
        assert_eq!(net_verdict(&blocked), None);
        // ufw on but allowing it: reachable.
        let allowed = facts(
            None,
            "::",
            Some((true, &["allow tcp 27751 0.0.0.0/0 any 0.0.0.0/0 in"])),
        );
        assert!(net_verdict(&allowed).is_some());
    }
}
