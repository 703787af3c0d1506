//! Facts + Answers (+ the bytes of the files to edit, read once at the edge) → Plan.
//! Pure: it reads nothing (what it needs read is named in `plan::reads`) and makes no keys,
//! so `plan`, `apply --dry-run`, the wizard's review and the tests see the same thing.
//! `make` is the order of the stages: the decisions (`decide`), then how drawpile-srv runs
//! (`service`), the certificate, the route in the web server in front (`nginx_site`,
//! `front_apache`, `front_caddy`, or `compose_front` for dpserver's nginx container), and
//! last the commands for what changed and the firewall (`firewall`).

use std::collections::BTreeMap;

use super::decide::{DEFAULT_TCP_PORT, Decisions, compose_target, decide};
use super::firewall::firewall_rules;
use super::nginx::{LocationSpec, REVERTIBLE_SWITCHES};
use super::service::{is_enablement_link, restart_why};
use super::{Action, Change, FileMode, Plan};
use crate::answers::{Answers, ProxyServer, Runtime};
use crate::detect::Facts;
use crate::detect::runtime::RuntimeKind;
use crate::proxy::Kind;

/// The current bytes of the files a plan may change (absent: the file does not exist).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub files: BTreeMap<String, Vec<u8>>,
    /// Config files that are symlinks (Debian's sites-enabled → sites-available): the path
    /// the link resolves to on the machine. Edits go to the real file, never through a link.
    pub real_paths: BTreeMap<String, String>,
    /// Paths in `files` that are symbolic links (their bytes are the link's target).
    pub symlinks: std::collections::BTreeSet<String>,
    /// A self-signed certificate and key made at the edge when `plan::reads` asked for one
    /// (or why it could not be made): the planner uses it only if the files need replacing.
    pub generated: Option<Result<super::selfsigned::SelfSigned, String>>,
    /// Directory listings, as `plan::reads` asks for them (the browser client's directory).
    pub dirs: BTreeMap<String, Vec<String>>,
}

impl Snapshot {
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An explicit answer that cannot be honoured: named by its key so the message can point
    /// at the line of the answers file.
    #[error("[{key}] {message}")]
    Answer { key: &'static str, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Conflict(String),
}

/// Where certbot's http-01 challenges are served from (the port-80 server of dpwizard's site).
pub const ACME_WEBROOT: &str = "/var/www/dpwizard-acme";

/// Where self-signed certificates go.
pub fn self_signed_paths(domain: &str) -> (String, String) {
    (
        format!("/etc/ssl/dpwizard/{}", file_name(domain, "", ".crt")),
        format!("/etc/ssl/dpwizard/{}", file_name(domain, "", ".key")),
    )
}

/// The name of dpwizard's own site file for a domain.
pub fn site_file_name(domain: &str) -> String {
    file_name(domain, "dpwizard-", ".conf")
}

/// `PREFIX DOMAIN SUFFIX` as a file name. A domain may be 253 characters, a file name only
/// 255 bytes (and a temp name beside it needs room): a long domain is shortened with a hash
/// of it, so every name stays well within NAME_MAX and is still one per domain.
fn file_name(domain: &str, prefix: &str, suffix: &str) -> String {
    const MAX: usize = 180;
    if prefix.len() + domain.len() + suffix.len() <= MAX {
        return format!("{prefix}{domain}{suffix}");
    }
    let hash = crate::apply::journal::sha256(domain.as_bytes());
    let keep = MAX - prefix.len() - suffix.len() - 17;
    format!("{prefix}{}~{}{suffix}", &domain[..keep], &hash[..16])
}

/// The plan when the web server in front is nginx in a container of the drawpile service's
/// own Compose project (dpserver): none of the host-nginx decisions apply.
fn compose_front_plan(
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
) -> Result<Option<Plan>, PlanError> {
    if facts.runtime.kind != RuntimeKind::Compose
        || !matches!(answers.drawpile.runtime, None | Some(Runtime::Compose))
    {
        return Ok(None);
    }
    let Ok(t) = compose_target(facts) else {
        return Ok(None); // decide_compose says why
    };
    match super::compose_front::front(facts, answers, &t) {
        Some(front) => {
            super::compose_front::refuse_answers(answers, t.service)?;
            super::compose_front::make(facts, answers, snap, &t, front).map(Some)
        }
        None => Ok(None),
    }
}

/// What is missing comes first: the packages are installed (Debian and Ubuntu, with apt),
/// then apply plans again with them there. Elsewhere the admin installs them.
fn install_first(facts: &Facts, packages: &[&'static str]) -> Result<Plan, PlanError> {
    let list = packages.join(" ");
    if facts.os.package_manager.as_deref() != Some("apt") {
        let hint = match facts.os.package_manager.as_deref() {
            Some("dnf") | Some("yum") => format!(
                "`{} install {}`",
                facts.os.package_manager.as_deref().unwrap_or("dnf"),
                list.replace("docker.io", "docker")
            ),
            _ => format!("your package manager ({list})"),
        };
        return Err(PlanError::Missing(format!(
            "this setup needs {list}, which is not installed: install it with {hint}, then run \
             dpwizard again (dpwizard installs packages itself only on Debian and Ubuntu); \
             nothing was changed"
        )));
    }
    let mut install = vec![
        "apt-get".to_string(),
        "install".into(),
        "-y".into(),
        "--no-install-recommends".into(),
    ];
    install.extend(packages.iter().map(|p| p.to_string()));
    Ok(Plan {
        actions: vec![
            Action {
                argv: vec!["apt-get".into(), "update".into()],
                why: "fresh package lists (a new VPS often has none)".into(),
            },
            Action {
                argv: install,
                why: format!("installs {list}, which this setup needs"),
            },
        ],
        notes: vec![format!(
            "{list} is installed first; then dpwizard plans the rest with it there and shows it \
             (apply does both steps)"
        )],
        then_replan: true,
        ..Default::default()
    })
}

/// Builds the plan. `now_unix` decides validity of a generated certificate.
pub fn make(
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
    now_unix: i64,
) -> Result<Plan, PlanError> {
    let answers = &super::web_client::with_own_origin(answers);
    let plan = make_route(facts, answers, snap, now_unix)?;
    super::web_client::extend(plan, facts, answers, snap)
}

/// The plan for the WebSocket route (and everything it needs), before the browser client.
fn make_route(
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
    now_unix: i64,
) -> Result<Plan, PlanError> {
    if let Some(plan) = compose_front_plan(facts, answers, snap)? {
        return Ok(plan);
    }
    let mut d = decide(facts, answers, snap)?;
    if d.certbot.is_some() && facts.tls.certbot.is_none() {
        d.packages.push("certbot");
    }
    if !d.packages.is_empty() {
        return install_first(facts, &d.packages);
    }
    let mut plan = Plan::default();
    super::service::plan(&mut plan, facts, answers, snap, &d)?;
    plan_self_signed(&mut plan, snap, &d, now_unix)?;
    let spec = route_spec(answers, &d);
    let front_reload = plan_route(&mut plan, facts, snap, &d, &spec)?;
    if d.certbot.is_some() {
        plan_acme_webroot(&mut plan, snap, &d);
    }
    finish(plan, facts, answers, snap, &d, &spec, front_reload)
}

/// The self-signed certificate and key, when the answers ask for one and the files there are
/// not a valid one for the domain (the material itself is made at the edge: `Snapshot::generated`).
pub(super) fn plan_self_signed(
    plan: &mut Plan,
    snap: &Snapshot,
    d: &Decisions,
    now_unix: i64,
) -> Result<(), PlanError> {
    if d.self_signed {
        let have = snap
            .get(&d.cert)
            .zip(snap.get(&d.key))
            .is_some_and(|(c, _)| {
                crate::detect::tls::parse_cert_pem(c, now_unix).is_ok_and(|i| {
                    !i.expired && i.days_left > 30 && i.names.iter().any(|n| n == &d.domain)
                })
            });
        if !have {
            let s = match &snap.generated {
                Some(Ok(s)) => s.clone(),
                Some(Err(e)) => {
                    return Err(PlanError::Conflict(format!(
                        "cannot make a certificate: {e}"
                    )));
                }
                None => {
                    return Err(PlanError::Conflict(
                        "no certificate was made for the plan (plan::reads asks for one only \
                         with tls.mode = \"self-signed\")"
                            .into(),
                    ));
                }
            };
            plan.changes.push(Change::Write {
                path: d.cert.clone(),
                old: snap.get(&d.cert).map(<[u8]>::to_vec),
                new: s.cert_pem.into_bytes(),
                mode: FileMode::CONFIG,
                secret: false,
                why: "a self-signed certificate (browsers need an exception for it)".into(),
            });
            plan.changes.push(Change::Write {
                path: d.key.clone(),
                old: snap.get(&d.key).map(<[u8]>::to_vec),
                new: s.key_pem.into_bytes(),
                mode: FileMode::SECRET,
                secret: true,
                why: "its private key (0600)".into(),
            });
            plan.notes.push(format!(
                "{} is self-signed: browsers show a warning until users add an exception, and \
                 the web client cannot connect before that. Use a real certificate for a public server.",
                d.cert
            ));
        }
    }
    Ok(())
}

/// Where the web server in front reaches drawpile-srv's WebSocket listener, and the origins
/// it lets in besides the official ones.
fn route_spec(answers: &Answers, d: &Decisions) -> LocationSpec {
    let revert: Vec<String> = d
        .server
        .map(|s| {
            s.proxy_directives
                .iter()
                .filter(|x| {
                    REVERTIBLE_SWITCHES.contains(&x.name.as_str())
                        && x.args.first().is_some_and(|a| a == "off")
                })
                .map(|x| x.name.clone())
                .collect()
        })
        .unwrap_or_default();
    LocationSpec {
        upstream_host: if d.ws_listen == "0.0.0.0" || d.ws_listen == "::" {
            "127.0.0.1".into()
        } else {
            d.ws_listen.clone()
        },
        upstream_port: d.ws_port,
        extra_origins: answers
            .proxy
            .extra_origins
            .iter()
            .map(|o| o.to_string())
            .collect(),
        revert_switches: revert,
    }
}

/// The route for `/drawpile-web/ws` in the site of the web server in front, each kind by
/// its own planner. Returns the reload Apache and Caddy need (nginx's is decided with the
/// other commands, since a certificate change needs it too).
fn plan_route(
    plan: &mut Plan,
    facts: &Facts,
    snap: &Snapshot,
    d: &Decisions,
    spec: &LocationSpec,
) -> Result<Option<Action>, PlanError> {
    let front_up = super::front_apache::Upstream {
        host: spec.upstream_host.clone(),
        port: spec.upstream_port,
        extra_origins: spec.extra_origins.clone(),
    };
    let (kind, reload) = match d.front {
        ProxyServer::Nginx => {
            super::nginx_site::plan(plan, facts, snap, d, spec)?;
            return Ok(None); // validated and reloaded with the certificate, in finish()
        }
        ProxyServer::Apache => (
            Kind::Apache,
            super::front_apache::plan(plan, facts, snap, &d.domain, &front_up)?,
        ),
        ProxyServer::Caddy => (
            Kind::Caddy,
            super::front_caddy::plan(plan, facts, snap, &d.domain, &front_up)?,
        ),
    };
    if reload.is_some() {
        plan.check.push(kind);
    }
    Ok(reload)
}

/// certbot's webroot: nginx serves its http-01 challenges from there on the first pass.
fn plan_acme_webroot(plan: &mut Plan, snap: &Snapshot, d: &Decisions) {
    let readme = format!("{ACME_WEBROOT}/README");
    plan.changes.push(Change::Write {
        old: snap.get(&readme).map(<[u8]>::to_vec),
        path: readme,
        new: b"nginx serves ACME http-01 challenges for certbot from here (dpwizard).\n".to_vec(),
        mode: FileMode::CONFIG,
        secret: false,
        why: "the webroot certbot answers its challenges from".into(),
    });
    plan.notes.push(format!(
        "certbot obtains the certificate for {} over HTTP first; then dpwizard writes the \
         HTTPS server (apply does both steps)",
        d.domain
    ));
}

/// The commands for what changed (in order: units, web server, firewall, certbot) and
/// what verify checks afterwards.
fn finish(
    plan: Plan,
    facts: &Facts,
    answers: &Answers,
    snap: &Snapshot,
    d: &Decisions,
    spec: &LocationSpec,
    front_reload: Option<Action>,
) -> Result<Plan, PlanError> {
    let mut plan = plan.without_noops();
    plan.then_replan = d.certbot.is_some();
    plan.verify = (!plan.then_replan).then(|| super::VerifySpec {
        domain: d.domain.clone(),
        websocket: if spec.upstream_host.contains(':') {
            format!("[{}]:{}", spec.upstream_host, spec.upstream_port)
        } else {
            format!("{}:{}", spec.upstream_host, spec.upstream_port)
        },
        retry_not_found: d.front != ProxyServer::Nginx,
    });
    if !plan.manual.is_empty() {
        plan.verify = None; // the container must be re-created first
    }
    let certbot_action = d.certbot.clone().map(|argv| Action {
        argv,
        why: "obtains the certificate (webroot: nginx keeps running); its deploy hook reloads \
              nginx after every renewal"
            .into(),
    });

    // 4. Commands, only for what changed.
    let unit_changed = plan
        .changes
        .iter()
        .any(|c| c.path().starts_with("/etc/systemd/"));
    let nginx_changed = plan
        .changes
        .iter()
        .any(|c| c.path().starts_with("/etc/nginx/") || c.path().starts_with("/etc/ssl/dpwizard/"));
    if let (true, Some((docker, image))) = (unit_changed, &d.new_container) {
        // An image already here (preloaded, or a machine without registry access) is used
        // as it is; pulling it again is the admin's call.
        let tagged = if image.rsplit('/').next().is_some_and(|n| n.contains(':')) {
            image.clone()
        } else {
            format!("{image}:latest")
        };
        let present = facts
            .runtime
            .docker
            .images
            .iter()
            .any(|i| i == &tagged || i.strip_prefix("docker.io/") == Some(tagged.as_str()));
        if present {
            plan.notes.push(format!(
                "{image} is already on this machine: not pulled (`docker pull {image}` updates it)"
            ));
        } else {
            plan.actions.push(Action {
                argv: vec![docker.clone(), "pull".into(), image.clone()],
                why: "fetches the official image".into(),
            });
        }
    }
    if unit_changed && d.new_service {
        plan.actions.push(Action {
            argv: vec!["systemd-sysusers".into()],
            why: "creates the system user".into(),
        });
    }
    if unit_changed {
        plan.actions.push(Action {
            argv: vec!["systemctl".into(), "daemon-reload".into()],
            why: "systemd reads the new unit files".into(),
        });
        let config_changed = plan
            .changes
            .iter()
            .any(|c| c.path().starts_with("/etc/systemd/") && !is_enablement_link(c.path()));
        let running = d
            .unit
            .live
            .as_ref()
            .is_some_and(|l| l.active_state.as_deref() == Some("active"));
        if config_changed || d.new_service || d.new_container.is_some() {
            plan.actions.push(Action {
                argv: vec!["systemctl".into(), "restart".into(), d.unit.name.clone()],
                why: restart_why(&d.unit, d.new_service || d.new_container.is_some()),
            });
        } else if !running {
            plan.actions.push(Action {
                argv: vec!["systemctl".into(), "start".into(), d.unit.name.clone()],
                why: "starts drawpile-srv (it was enabled above, so it also starts at every boot)"
                    .into(),
            });
        }
    }
    if nginx_changed {
        plan.check.insert(0, Kind::HostNginx);
        // nginx installed but not running (nothing listens on 80 or 443): a reload would
        // fail, so it is started with the new configuration.
        plan.actions.extend(crate::proxy::front::reload_or_start(
            facts,
            Kind::HostNginx,
            "nginx serves the new location (a reload drops no connection)",
        ));
    }
    plan.actions.extend(front_reload);
    // 5. The firewall the machine already uses lets browsers (80, 443) and the apps (the TCP
    // port) in. Before certbot: its challenge comes in on port 80.
    let tcp_port = answers
        .drawpile
        .tcp_port
        .map(|p| p.get())
        .or_else(|| d.unit.options.port.as_deref().and_then(|p| p.parse().ok()))
        .unwrap_or(DEFAULT_TCP_PORT);
    let http = d.certbot.is_some() || d.server.is_none();
    let (files, rules, notes) = firewall_rules(&facts.network.firewall, snap, tcp_port, http);
    plan.changes.extend(files);
    plan.actions.extend(rules);
    // Said with a change, not on every run of an unchanged machine.
    if !plan.changes.is_empty() || !plan.actions.is_empty() {
        plan.notes.extend(notes);
    }
    plan.actions.extend(certbot_action);
    Ok(plan)
}
