//! The changes to how drawpile-srv runs: the systemd drop-in with its arguments (compared
//! as drawpile-srv reads them), a socket unit migrated to the service, the service enabled,
//! a `docker run` to redo by hand. Renderers: they turn decisions into file contents.

use super::decide::DEFAULT_TCP_PORT;
use super::decide::{Decisions, MigrateReason, SocketPlan};
use super::make::{PlanError, Snapshot};
use super::{Action, Change, FileMode, Plan};
use crate::answers::Answers;
use crate::detect::Facts;
use crate::detect::systemd::{ServiceUnit, SocketUnit};
use crate::detect::systemd::{listen_addr as slot_addr, listen_port as slot_port};

/// The `docker run` that re-creates `c` with the WebSocket port published on loopback.
pub fn docker_run_command(c: &crate::detect::docker::Container, ws_port: u16) -> Vec<String> {
    let mut cmd = vec![
        "docker".to_string(),
        "run".into(),
        "-d".into(),
        "--name".into(),
        c.name.clone(),
    ];
    if let Some(r) = &c.restart_policy {
        cmd.extend(["--restart".to_string(), r.clone()]);
    }
    if let Some(n) = c
        .network_mode
        .as_deref()
        .filter(|n| !matches!(*n, "default" | "bridge"))
    {
        cmd.extend(["--network".to_string(), n.to_string()]);
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &c.ports {
        if p.container_port == ws_port {
            continue;
        }
        let host_ip = if p.is_public() {
            String::new()
        } else {
            format!("{}:", p.host_ip)
        };
        let spec = format!(
            "{host_ip}{}:{}{}",
            p.host_port.map(|h| h.to_string()).unwrap_or_default(),
            p.container_port,
            if p.protocol == "tcp" {
                String::new()
            } else {
                format!("/{}", p.protocol)
            }
        );
        if seen.insert(spec.clone()) {
            cmd.extend(["-p".to_string(), spec]);
        }
    }
    cmd.extend(["-p".to_string(), format!("127.0.0.1:{ws_port}:{ws_port}")]);
    for m in &c.mounts {
        cmd.extend(["-v".to_string(), format!("{}:{}", m.source, m.destination)]);
    }
    for e in &c.env {
        // Values are not shown by detection (they may be secrets): pass them through.
        cmd.extend(["-e".to_string(), e.clone()]);
    }
    cmd.push(c.image.clone());
    cmd.extend(
        with_websocket(
            &std::iter::once(String::new())
                .chain(c.args.iter().cloned())
                .collect::<Vec<_>>(),
            ws_port,
            None,
        )
        .into_iter()
        .skip(1),
    );
    cmd
}

/// The ExecStart= words for `argv`: a word kept from the unit's own command line (`orig`,
/// written as `raw`) is repeated as written, so `%i`, `%%` and quoting keep their meaning;
/// a word dpwizard adds is quoted.
pub(super) fn exec_line(argv: &[String], orig: &[String], raw: &[String]) -> String {
    let mut next = 0;
    argv.iter()
        .map(|a| {
            // Kept words stay in order (only WebSocket options are dropped, only added at
            // the end), so the next match at or after the last one is this word's origin.
            let found = (next..orig.len().min(raw.len())).find(|&k| orig[k] == *a);
            match found {
                Some(k) => {
                    next = k + 1;
                    raw[k].clone()
                }
                None => exec_quote(a),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes an argument for ExecStart= when it needs it (systemd.service(5), Command lines).
pub(super) fn exec_quote(arg: &str) -> String {
    let escaped = arg.replace('%', "%%");
    if escaped.is_empty()
        || escaped
            .chars()
            .any(|c| c.is_whitespace() || "\"'\\;$".contains(c))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// One option of drawpile-srv as its command line spells it: the long name and the short
/// letter (QCommandLineParser accepts `--name v`, `--name=v`, `-x v`, `-xv` and `-x=v`).
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
}

pub const OPT_PORT: Opt = Opt {
    long: "port",
    short: Some('p'),
};

pub const OPT_WEB_ADMIN_PORT: Opt = Opt {
    long: "web-admin-port",
    short: None,
};

pub const OPT_WEBSOCKET_PORT: Opt = Opt {
    long: "websocket-port",
    short: None,
};

pub const OPT_WEBSOCKET_LISTEN: Opt = Opt {
    long: "websocket-listen",
    short: None,
};

/// `argv` (program first) with each option of `set` given exactly once with its value
/// (None: removed). An option already given once with that value stays as it is written,
/// where it is; otherwise every occurrence goes and it is added at the end. Every other
/// argument keeps its place and spelling, so rendering twice gives the same line.
pub fn set_options(argv: &[String], set: &[(Opt, Option<String>)]) -> Vec<String> {
    // (option index in `set`, position, how many arguments, value) of every occurrence.
    let mut found: Vec<(usize, usize, usize, Option<String>)> = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        let hit = set.iter().enumerate().find_map(|(k, (o, _))| {
            if let Some(rest) = a.strip_prefix("--") {
                match rest.split_once('=') {
                    Some((n, v)) if n == o.long => Some((k, 1, Some(v.to_string()))),
                    None if rest == o.long => Some((k, 2, argv.get(i + 1).cloned())),
                    _ => None,
                }
            } else if let (Some(c), Some(rest)) = (o.short, a.strip_prefix('-')) {
                let mut chars = rest.chars();
                if chars.next() != Some(c) || rest.starts_with('-') {
                    return None;
                }
                let inline = chars.as_str();
                Some(if inline.is_empty() {
                    (k, 2, argv.get(i + 1).cloned())
                } else {
                    (k, 1, Some(inline.trim_start_matches('=').to_string()))
                })
            } else {
                None
            }
        });
        match hit {
            Some((k, n, v)) => {
                found.push((k, i, n, v));
                i += n;
            }
            None => i += 1,
        }
    }
    let keep = |k: usize| {
        let mine: Vec<_> = found.iter().filter(|f| f.0 == k).collect();
        matches!(mine.as_slice(), [one] if one.3.is_some() && one.3 == set[k].1)
    };
    let mut out: Vec<String> = argv.iter().take(1).cloned().collect();
    let mut i = 1;
    while i < argv.len() {
        match found.iter().find(|f| f.1 == i) {
            Some(&(k, _, n, _)) => {
                if keep(k) {
                    out.extend(argv[i..(i + n).min(argv.len())].iter().cloned());
                }
                i += n;
            }
            None => {
                out.push(argv[i].clone());
                i += 1;
            }
        }
    }
    for (k, (o, v)) in set.iter().enumerate() {
        if let Some(v) = v
            && !keep(k)
        {
            out.push(format!("--{}", o.long));
            out.push(v.clone());
        }
    }
    out
}

/// The unit's effective argv with the WebSocket options set exactly once.
pub fn with_websocket(argv: &[String], port: u16, listen: Option<&str>) -> Vec<String> {
    set_options(
        argv,
        &[
            (OPT_WEBSOCKET_PORT, Some(port.to_string())),
            (OPT_WEBSOCKET_LISTEN, listen.map(str::to_string)),
        ],
    )
}

/// What drawpile-srv must end up running with: the decisions, and every explicit answer
/// (an explicit value always wins over what the unit says now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Wanted {
    binary: Option<String>,
    user: Option<String>,
    tcp_port: Option<u16>,
    web_admin_port: Option<u16>,
}

impl Wanted {
    fn from_answers(answers: &Answers) -> Wanted {
        Wanted {
            binary: answers.drawpile.binary.as_ref().map(|b| b.to_string()),
            user: answers.drawpile.user.as_ref().map(|u| u.to_string()),
            tcp_port: answers.drawpile.tcp_port.map(|p| p.get()),
            web_admin_port: answers.drawpile.web_admin_port.map(|p| p.get()),
        }
    }
}

/// Two listen addresses mean the same (`127.0.0.1` and `127.000.000.001` do not parse alike
/// as text, but drawpile-srv reads both as an IP).
pub(super) fn same_address(a: &str, b: &str) -> bool {
    match (
        a.trim_matches(['[', ']']).parse::<std::net::IpAddr>(),
        b.trim_matches(['[', ']']).parse::<std::net::IpAddr>(),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// True when the unit already runs drawpile-srv the way the plan wants: its options as
/// drawpile-srv reads them (long or short, `=` or a space, any order, the last of a repeated
/// one), not its command line as text. Then no drop-in is written and nothing restarts.
pub(super) fn effective_matches(unit: &ServiceUnit, d: &Decisions, want: &Wanted) -> bool {
    let Some(argv) = unit.exec_start.as_ref() else {
        return false;
    };
    let o = &unit.options;
    let num = |v: &Option<String>| v.as_deref().and_then(|p| p.parse::<u16>().ok());
    o.websocket_port_number() == Some(d.ws_port)
        && o.websocket_listen
            .as_deref()
            .is_some_and(|l| same_address(l, &d.ws_listen))
        && want.binary.as_ref().is_none_or(|b| argv.first() == Some(b))
        && want
            .tcp_port
            .is_none_or(|p| num(&o.port).unwrap_or(DEFAULT_TCP_PORT) == p)
        && want
            .web_admin_port
            .is_none_or(|p| num(&o.web_admin_port) == Some(p))
        && want
            .user
            .as_ref()
            .is_none_or(|u| unit.user.as_ref() == Some(u))
}

/// A drop-in name that sorts after every existing drop-in of the unit.
pub(super) fn dropin_name(unit: &ServiceUnit) -> String {
    let mut name = "zz-dpwizard.conf".to_string();
    while unit
        .dropins
        .iter()
        .filter_map(|d| d.rsplit('/').next())
        .any(|existing| existing > name.as_str() && !existing.ends_with(&name))
    {
        name.insert(0, 'z');
    }
    name
}

/// The drop-in's text. `previous` is dpwizard's own drop-in from an earlier run: settings it
/// made then show up as the unit's now, and must be written again, not dropped.
pub(super) fn render_dropin(
    unit: &ServiceUnit,
    d: &Decisions,
    want: &Wanted,
    notify_ok: bool,
    previous: Option<&[u8]>,
) -> String {
    let mut base: Vec<String> = unit.exec_start.clone().unwrap_or_default();
    if let (Some(b), Some(first)) = (&want.binary, base.first_mut()) {
        *first = b.clone();
    }
    if let SocketPlan::Migrate(sock, _) = d.socket {
        // The socket's ports become arguments, unless the unit already sets them.
        let o = &unit.options;
        if let Some(tcp) = sock.slots.tcp.as_deref() {
            if o.port.is_none()
                && let Some(p) = slot_port(tcp).filter(|p| *p != 27750)
            {
                base.extend(["--port".to_string(), p.to_string()]);
            }
            if o.listen.is_none()
                && let Some(a) = slot_addr(tcp)
            {
                base.extend(["--listen".to_string(), a]);
            }
        }
        // A two-line socket from a build without web admin meant its second line for
        // WebSockets: that port is the WebSocket port now, not a web admin.
        if o.web_admin_port.is_none()
            && let Some(p) = sock.slots.web_admin.as_deref().and_then(slot_port)
            && p != d.ws_port
        {
            base.extend(["--web-admin-port".to_string(), p.to_string()]);
        }
    }
    let mut set = vec![
        (OPT_WEBSOCKET_PORT, Some(d.ws_port.to_string())),
        (OPT_WEBSOCKET_LISTEN, Some(d.ws_listen.clone())),
    ];
    if let Some(p) = want.tcp_port {
        set.push((OPT_PORT, Some(p.to_string())));
    }
    if let Some(p) = want.web_admin_port {
        set.push((OPT_WEB_ADMIN_PORT, Some(p.to_string())));
    }
    let argv = set_options(&base, &set);
    let mut text = format!(
        "# Written by dpwizard: drawpile-srv's WebSocket listener for the reverse proxy at\n\
         # https://{}/drawpile-web/ws. Remove this file and run `systemctl daemon-reload` to undo.\n\
         [Service]\nExecStart=\nExecStart={}{}\n",
        d.domain,
        unit.exec_start_prefixes,
        exec_line(
            &argv,
            unit.exec_start.as_deref().unwrap_or_default(),
            &unit.exec_start_raw
        )
    );
    let had = |line: &str| {
        previous.is_some_and(|p| String::from_utf8_lossy(p).lines().any(|l| l == line))
    };
    if !notify_ok && (unit.type_.as_deref() == Some("notify") || had("Type=simple")) {
        text.push_str(
            "# This build never reports readiness: Type=notify would hang at start.\nType=simple\n",
        );
    }
    let user = match &want.user {
        Some(u) if unit.user.as_ref() != Some(u) || had(&format!("User={u}")) => Some(u.as_str()),
        Some(_) => None,
        None if unit.user.as_deref().is_none_or(|u| u == "root" || u == "0")
            || (had("User=nobody") && unit.user.as_deref() == Some("nobody")) =>
        {
            Some("nobody")
        }
        None => None,
    };
    match user {
        Some("nobody") if want.user.is_none() => {
            text.push_str("# drawpile-srv refuses to run as root.\nUser=nobody\n")
        }
        Some(u) => text.push_str(&format!("User={u}\n")),
        None => {}
    }
    text
}

/// A link in a `<target>.wants/` directory: it enables a unit, it changes nothing a running
/// service reads, so it needs a daemon-reload but no restart.
pub(super) fn is_enablement_link(path: &str) -> bool {
    path.rsplit_once('/')
        .is_some_and(|(dir, _)| dir.ends_with(".wants") || dir.ends_with(".requires"))
}

/// Why drawpile-srv restarts, and what it ends: a restart drops every session in memory, so
/// the review says how many users are on the server now when the server told systemd.
pub(super) fn restart_why(unit: &ServiceUnit, new: bool) -> String {
    if new {
        return "starts drawpile-srv (enabled above, so it also starts at every boot)".into();
    }
    let now = unit
        .live
        .as_ref()
        .filter(|l| l.active_state.as_deref() == Some("active"))
        .and_then(|l| l.status_text.as_deref())
        .filter(|t| !t.trim().is_empty());
    match now {
        Some(status) => format!(
            "drawpile-srv restarts with the new settings: this ends what is on the server now \
             ({}; sessions not saved to disk are lost)",
            status
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
        ),
        None => "drawpile-srv restarts with the new settings (sessions in memory end)".into(),
    }
}

/// Moves a socket unit out of the way: its dpwizard drop-in and enablement links go, a real
/// unit file in /etc is removed (its bytes stay in the run's backup, and the review shows the
/// removal) and the name is masked, so `Also=` or a package cannot bring it back.
pub(super) fn migrate_socket(
    plan: &mut Plan,
    snap: &Snapshot,
    sock: &SocketUnit,
    reason: MigrateReason,
) {
    let ours = format!("/etc/systemd/system/{}.d/zz-dpwizard.conf", sock.name);
    if let Some(old) = snap.get(&ours) {
        plan.changes.push(Change::Remove {
            path: ours,
            old: old.to_vec(),
            why: "dpwizard's earlier socket slots are no longer used".into(),
        });
    }
    for via in &sock.enabled_via {
        let link = format!("/etc/systemd/system/{via}/{}", sock.name);
        if let Some(old) = snap.get(&link) {
            plan.changes.push(Change::Remove {
                path: link,
                old: old.to_vec(),
                why: format!("disables {}", sock.name),
            });
        }
    }
    let mask = format!("/etc/systemd/system/{}", sock.name);
    match snap.get(&mask) {
        Some(b"/dev/null") => {}
        Some(old) if !snap.symlinks.contains(&mask) => {
            plan.changes.push(Change::Remove {
                path: mask.clone(),
                old: old.to_vec(),
                why: format!(
                    "moves the socket unit {} aside (the run's backup keeps it; rollback puts it \
                     back) before masking the name",
                    sock.name
                ),
            });
            plan.changes.push(mask_change(mask, sock, reason));
        }
        _ => plan.changes.push(mask_change(mask, sock, reason)),
    }
    plan.actions.push(Action {
        argv: vec!["systemctl".into(), "stop".into(), sock.name.clone()],
        why: "stops the socket before drawpile-srv restarts with its own listeners".into(),
    });
}

pub(super) fn mask_change(path: String, sock: &SocketUnit, reason: MigrateReason) -> Change {
    Change::Symlink {
        path,
        target: "/dev/null".into(),
        why: format!(
            "masks {}: {}; its ports move to drawpile-srv's arguments",
            sock.name,
            reason.why()
        ),
    }
}

/// Enables the service the way `systemctl enable` would (a link in each `WantedBy=` target's
/// `.wants/`), as a journalled change that rollback undoes. A service left disabled by an
/// installer that used socket activation would otherwise be off after the next reboot.
pub(super) fn enable_service(plan: &mut Plan, snap: &Snapshot, unit: &ServiceUnit) {
    if unit.masked {
        return;
    }
    // A unit without [Install] (static) is started by something else on purpose.
    if unit.wanted_by.is_empty() {
        plan.notes.push(format!(
            "{} is not enabled and has no WantedBy=: nothing starts it at boot unless another \
             unit does (add WantedBy=multi-user.target to its [Install] section and enable it)",
            unit.name
        ));
        return;
    }
    let targets = unit.wanted_by.clone();
    for t in targets {
        let link = format!("/etc/systemd/system/{t}.wants/{}", unit.name);
        if snap.get(&link).is_none() {
            plan.changes.push(Change::Symlink {
                path: link,
                target: unit.path.clone(),
                why: format!(
                    "enables {} ({t}), so drawpile-srv starts at every boot on its own",
                    unit.name
                ),
            });
        }
    }
}

/// How drawpile-srv runs, changed: a socket migrated, the drop-in (or a new unit, a Compose
/// service, a container to redo by hand), the service enabled.
pub(super) fn plan(
    plan: &mut Plan,
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
    d: &Decisions,
) -> Result<(), PlanError> {
    let notify_ok = facts
        .drawpile
        .binaries
        .iter()
        .find(|b| {
            b.found_via
                .iter()
                .any(|v| v == &format!("unit {}", d.unit.name))
        })
        .is_some_and(|b| b.systemd_support.supported != Some(false));

    // 1. The socket unit, if drawpile-srv is socket-activated: its ports move to arguments
    // and the service is enabled on its own, so it comes back after a reboot.
    if let SocketPlan::Migrate(sock, reason) = d.socket {
        migrate_socket(plan, snap, sock, reason);
    }

    // 2. The service drop-in (not with 2.2.x sockets: the arguments would be ignored).
    let dropin = format!(
        "/etc/systemd/system/{}.d/{}",
        d.unit.name,
        dropin_name(&d.unit)
    );
    let want = Wanted::from_answers(answers);
    let dropin_text = render_dropin(&d.unit, d, &want, notify_ok, snap.get(&dropin));
    let service_dropin = !d.new_service
        && d.new_container.is_none()
        && d.docker_run.is_none()
        && d.compose.is_none();
    if let Some((file, service, tool)) = &d.compose {
        let target = super::compose_front::Target {
            file,
            service,
            tool: tool.clone(),
        };
        super::compose_override::host_front(plan, snap, &target, d.ws_port)?;
    }
    if let Some(c) = d.docker_run {
        let wants = c.options.websocket_port_number() == Some(d.ws_port)
            && c.options.websocket_listen.is_none()
            && c.ports
                .iter()
                .any(|p| p.container_port == d.ws_port && p.host_ip == "127.0.0.1");
        if !wants {
            let run = docker_run_command(c, d.ws_port);
            plan.manual
                .push(format!("docker stop {0} && docker rm {0}", c.name));
            plan.manual.push(crate::ui::shell::join(&run));
            plan.notes.push(format!(
                "container {} was started by hand (no file says how): re-create it with the \
                 commands above (its volumes keep the data; -e names pass the current \
                 environment values through, set them in your shell first)",
                c.name
            ));
        }
    }
    if let Some((docker, image)) = &d.new_container {
        let text = super::systemd::render_new_container(&super::systemd::NewContainer {
            docker: docker.clone(),
            image: image.clone(),
            container_name: "drawpile-srv".into(),
            volume: "drawpile-srv-data".into(),
            args: super::systemd::ServerArgs {
                tcp_port: answers.drawpile.tcp_port.map(|p| p.get()).unwrap_or(27750),
                websocket_port: d.ws_port,
                websocket_listen: None,
                web_admin_port: answers.drawpile.web_admin_port.map(|p| p.get()),
            },
        });
        plan.changes.push(Change::Write {
            old: snap.get(&d.unit.path).map(<[u8]>::to_vec),
            path: d.unit.path.clone(),
            new: text.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "runs {image} with the WebSocket port published on 127.0.0.1:{} for nginx \
                 (inside the container it listens on all of its interfaces)",
                d.ws_port
            ),
        });
    }
    if d.new_service {
        let user = d.unit.user.clone().unwrap_or_else(|| "drawpile".into());
        let binary = d
            .unit
            .exec_start
            .as_ref()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        let unit_text = super::systemd::render_new_service(&super::systemd::NewService {
            binary,
            user: user.clone(),
            args: super::systemd::ServerArgs {
                tcp_port: answers.drawpile.tcp_port.map(|p| p.get()).unwrap_or(27750),
                websocket_port: d.ws_port,
                websocket_listen: Some(d.ws_listen.clone()),
                web_admin_port: answers.drawpile.web_admin_port.map(|p| p.get()),
            },
            // Type=notify only with evidence the build sends READY=1; simple is always safe.
            notify: false,
        });
        plan.changes.push(Change::Write {
            old: snap.get(&d.unit.path).map(<[u8]>::to_vec),
            path: d.unit.path.clone(),
            new: unit_text.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "a hardened unit running {} as the system user {user}, WebSocket on {}:{}",
                d.unit
                    .exec_start
                    .as_ref()
                    .and_then(|a| a.first())
                    .map(String::as_str)
                    .unwrap_or("?"),
                d.ws_listen,
                d.ws_port
            ),
        });
        let sysusers = "/etc/sysusers.d/drawpile-srv.conf".to_string();
        plan.changes.push(Change::Write {
            old: snap.get(&sysusers).map(<[u8]>::to_vec),
            path: sysusers,
            new: super::systemd::render_sysusers(&user).into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!("the dedicated system user {user} (systemd-sysusers creates it)"),
        });
    }
    // A unit whose effective settings already are the ones dpwizard would write (set by
    // hand, e.g. in override.conf) needs no drop-in: adding one would change nothing.
    let already = snap.get(&dropin).is_none()
        && matches!(d.socket, SocketPlan::None)
        && effective_matches(&d.unit, d, &want)
        && (notify_ok || d.unit.type_.as_deref() != Some("notify"))
        && d.unit
            .user
            .as_deref()
            .is_some_and(|u| u != "root" && u != "0");
    if service_dropin && !already {
        plan.changes.push(Change::Write {
            old: snap.get(&dropin).map(<[u8]>::to_vec),
            path: dropin,
            new: dropin_text.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "makes {} listen for WebSockets on {}:{} (sorts after every other drop-in, so its \
             ExecStart is the effective one)",
                d.unit.name, d.ws_listen, d.ws_port
            ),
        });
    }

    // The service starts at boot on its own (after its unit file, for the review's order).
    if !d.unit.enabled && d.compose.is_none() && d.docker_run.is_none() {
        enable_service(plan, snap, &d.unit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::ProxyServer;
    use crate::detect::args::DrawpileArgs;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_restart_says_what_it_ends_when_the_server_told_systemd() {
        let mut unit = ServiceUnit::default();
        assert!(restart_why(&unit, false).contains("sessions in memory end"));
        unit.live = Some(crate::detect::systemd::LiveState {
            active_state: Some("active".into()),
            status_text: Some("3 users and 1 sessions\u{1b}[2J".into()),
            ..Default::default()
        });
        let why = restart_why(&unit, false);
        assert!(why.contains("(3 users and 1 sessions[2J;"), "{why}");
        assert!(
            !why.contains('\u{1b}'),
            "no escape reaches the terminal: {why}"
        );
        assert!(restart_why(&unit, true).starts_with("starts drawpile-srv"));
    }

    #[test]
    fn options_are_set_in_every_spelling_and_kept_in_place_when_already_right() {
        // Short, inline, `=` and repeated forms are all the same option to drawpile-srv.
        let argv = v(&["srv", "-p27000", "--x", "-p", "1", "--port=2", "-d", "/db"]);
        assert_eq!(
            set_options(&argv, &[(OPT_PORT, Some("27750".into()))]),
            v(&["srv", "--x", "-d", "/db", "--port", "27750"])
        );
        // Given once with the wanted value: not moved, not respelled.
        let argv = v(&[
            "srv",
            "-p",
            "27750",
            "--websocket-port=27751",
            "--websocket-listen",
            "127.0.0.1",
            "-d",
            "/db",
        ]);
        assert_eq!(with_websocket(&argv, 27751, Some("127.0.0.1")), argv);
        assert_eq!(
            set_options(&argv, &[(OPT_PORT, Some("27750".into()))]),
            argv
        );
        // None removes; `-d` is not `-p`, `--ports` is not `--port`.
        let argv = v(&[
            "srv",
            "--ports",
            "1",
            "--websocket-listen",
            "0.0.0.0",
            "-d",
            "/p",
        ]);
        assert_eq!(
            with_websocket(&argv, 27751, None),
            v(&[
                "srv",
                "--ports",
                "1",
                "-d",
                "/p",
                "--websocket-port",
                "27751"
            ])
        );
    }

    #[test]
    fn the_effective_configuration_is_compared_as_drawpile_reads_it() {
        let argv = v(&[
            "/usr/bin/drawpile-srv",
            "--websocket-listen=127.0.0.1",
            "-p",
            "27750",
            "--websocket-port",
            "27751",
        ]);
        let unit = ServiceUnit {
            options: DrawpileArgs::parse(&argv[1..]),
            exec_start: Some(argv.clone()),
            user: Some("drawpile".into()),
            ..Default::default()
        };
        let d = Decisions {
            unit: unit.clone(),
            new_service: false,
            new_container: None,
            docker_run: None,
            compose: None,
            socket: SocketPlan::None,
            ws_port: 27751,
            ws_listen: "127.0.0.1".into(),
            domain: "x.example".into(),
            front: ProxyServer::Nginx,
            server: None,
            cert: String::new(),
            key: String::new(),
            self_signed: false,
            certbot: None,
            packages: Vec::new(),
        };
        assert!(effective_matches(&unit, &d, &Wanted::default()));
        let want = |f: fn(&mut Wanted)| {
            let mut w = Wanted::default();
            f(&mut w);
            w
        };
        assert!(effective_matches(
            &unit,
            &d,
            &want(|w| w.tcp_port = Some(27750))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.tcp_port = Some(27760))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.web_admin_port = Some(27780))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.user = Some("nobody".into()))
        ));
        assert!(!effective_matches(
            &unit,
            &d,
            &want(|w| w.binary = Some("/opt/srv".into()))
        ));
        let other_port = Decisions {
            ws_port: 27752,
            ..d.clone()
        };
        assert!(!effective_matches(&unit, &other_port, &Wanted::default()));
        let other_listen = Decisions {
            ws_listen: "0.0.0.0".into(),
            ..d
        };
        assert!(!effective_matches(&unit, &other_listen, &Wanted::default()));
    }

    #[test]
    fn websocket_options_are_set_exactly_once() {
        let argv: Vec<String> = [
            "/usr/bin/drawpile-srv",
            "--port",
            "27750",
            "--websocket-port",
            "1",
            "--websocket-listen=0.0.0.0",
            "-d",
            "/var/lib/db",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = with_websocket(&argv, 27751, Some("127.0.0.1"));
        assert_eq!(
            out,
            vec![
                "/usr/bin/drawpile-srv",
                "--port",
                "27750",
                "-d",
                "/var/lib/db",
                "--websocket-port",
                "27751",
                "--websocket-listen",
                "127.0.0.1"
            ]
        );
        assert_eq!(exec_quote("my dir"), "\"my dir\"");
        assert_eq!(exec_quote("100%"), "100%%");
    }

    #[test]
    fn words_kept_from_the_unit_are_written_as_they_were() {
        let line = "/usr/bin/drawpile-srv --database /var/lib/dp/%i.db --motd \"100%% fun\" \
                    --websocket-port 1";
        let cmd = crate::formats::systemd_unit::split_exec(line).unwrap();
        let argv = with_websocket(&cmd.argv, 27751, Some("127.0.0.1"));
        assert_eq!(
            exec_line(&argv, &cmd.argv, &cmd.raw),
            "/usr/bin/drawpile-srv --database /var/lib/dp/%i.db --motd \"100%% fun\" \
             --websocket-port 27751 --websocket-listen 127.0.0.1"
        );
    }
}
