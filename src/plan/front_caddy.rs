//! Caddy 2 in front (a Caddyfile): the marked `handle /drawpile-web/ws` in the domain's
//! existing site; the rest of the Caddyfile byte for byte. When Caddy manages the site's
//! certificate itself (automatic HTTPS, or its internal CA), the TLS step says so and plans
//! no certbot. A JSON-configured Caddy is not edited. Pure: the files come from the
//! [`Snapshot`]; `caddy validate` judges the result before the reload.

use super::caddy::{BlockSpec, render_block};
use super::front_apache::Upstream;
use super::make::{PlanError, Snapshot};
use super::{Action, Change, FileMode, Plan};
use crate::detect::Facts;
use crate::formats::caddyfile::{Caddyfile, CertSource, preemptions, set_managed_block};

/// The Caddyfile Debian's caddy.service runs with.
pub const CADDYFILE: &str = "/etc/caddy/Caddyfile";

const WS_PATH: &str = "/drawpile-web/ws";

/// Debian's two units: the Caddyfile one and the API one (`--resume`, JSON).
pub const UNITS: &[&str] = &["caddy.service", "caddy-api.service"];

/// Where the snapshot looks for a Caddy unit's file, most specific first.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Why the Caddy that starts at boot does not run from /etc/caddy/Caddyfile, if it does not:
/// the enabled unit's `ExecStart=` read as Caddy reads its flags. Nothing enabled (or no
/// unit readable): `None`, the Caddyfile is what Debian's caddy.service runs.
fn enabled_elsewhere(snap: &Snapshot) -> Option<String> {
    use crate::formats::caddyfile::{ConfigSource, config_source};
    let mut elsewhere = None;
    for unit in UNITS {
        if snap
            .get(&format!(
                "/etc/systemd/system/multi-user.target.wants/{unit}"
            ))
            .is_none()
        {
            continue;
        }
        let Some(text) = UNIT_DIRS
            .iter()
            .find_map(|d| snap.get(&format!("{d}/{unit}")))
        else {
            continue;
        };
        let text = String::from_utf8_lossy(text);
        let Some(exec) = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ExecStart="))
            .rfind(|v| !v.trim().is_empty())
        else {
            continue;
        };
        let argv: Vec<String> = exec.split_whitespace().map(str::to_string).collect();
        match config_source(&argv) {
            ConfigSource::Caddyfile(f) if f == CADDYFILE => return None,
            ConfigSource::Caddyfile(f) => {
                elsewhere = Some(format!("{unit} runs Caddy with the Caddyfile {f}"))
            }
            ConfigSource::Json(why) => elsewhere = Some(format!("{unit}: {why}")),
        }
    }
    elsewhere
}

/// Adds Caddy's changes to `plan`; returns the reload when something changed.
pub fn plan(
    plan: &mut Plan,
    facts: &Facts,
    snap: &Snapshot,
    domain: &str,
    up: &Upstream,
) -> Result<Option<Action>, PlanError> {
    if facts.caddy.caddyfile.is_none() || snap.get(CADDYFILE).is_none() {
        return Err(PlanError::Unsupported(format!(
            "proxy.server = \"caddy\" but there is no {CADDYFILE}: this Caddy is configured in \
             JSON (a config file or the admin API), which dpwizard does not edit; add the route \
             from Drawpile's documentation by hand; nothing was changed"
        )));
    }
    if let Some(why) = enabled_elsewhere(snap) {
        return Err(PlanError::Unsupported(format!(
            "{why}: dpwizard edits only {CADDYFILE} and does not edit that configuration; add \
             the route from Drawpile's documentation by hand; nothing was changed"
        )));
    }
    // The site may be in the Caddyfile or in a file it imports.
    let files = std::iter::once(CADDYFILE.to_string())
        .chain(facts.caddy.files.iter().cloned())
        .collect::<Vec<_>>();
    let mut found = None;
    for f in &files {
        let Some(bytes) = snap.get(f) else { continue };
        let text = String::from_utf8_lossy(bytes).into_owned();
        let c = Caddyfile::parse(&text).map_err(|e| PlanError::Conflict(format!("{f}: {e}")))?;
        if c.site_for(domain).is_some() {
            found = Some((f.clone(), text, c));
            break;
        }
    }
    let Some((file, text, c)) = found else {
        return Err(PlanError::Missing(format!(
            "{CADDYFILE} has no site for {domain} on 443: dpwizard does not write a new Caddy \
             site in this version; add `{domain} {{ … }}` first, then run dpwizard again; \
             nothing was changed"
        )));
    };
    let Some(site) = c.site_for(domain) else {
        return Err(PlanError::Conflict(format!("{file}: the site went away")));
    };
    // Something Caddy runs before every `handle` (a redirect, an authentication, a rewrite)
    // or a `handle` that sorts first would keep the route from ever running.
    let pre = preemptions(&text, site, WS_PATH);
    if let Some(p) = pre.iter().find(|p| p.certain) {
        return Err(PlanError::Conflict(format!(
            "{file}:{}: `{}` runs before any `handle {WS_PATH}` and takes the path, so the \
             WebSocket route would never run; narrow it (a matcher that leaves {WS_PATH} out), \
             then run again; nothing was changed",
            p.directive.line,
            p.directive
                .words
                .iter()
                .map(|w| w.value.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    for p in pre.iter().filter(|p| !p.certain) {
        plan.notes.push(format!(
            "{file}:{}: `{}` uses a named matcher dpwizard does not evaluate: if it matches \
             {WS_PATH}, it runs before the WebSocket route",
            p.directive.line,
            p.directive.name().unwrap_or("?")
        ));
    }
    let spec = BlockSpec {
        upstream_host: up.host.clone(),
        upstream_port: up.port,
        extra_origins: up.extra_origins.clone(),
    };
    // A route written by hand that already does what the block would (judged as the audit
    // judges it) is kept: adopting a sound setup changes nothing.
    let route = crate::proxy::caddy::route(&file, &c, site);
    let keep = site.managed_block(&text).is_none() && up.served_by(&route, domain);
    if keep {
        plan.notes.push(format!(
            "{}: the site's own route for {WS_PATH} already does what dpwizard's block would \
             (Origin rule, proxy, X-Real-IP): kept as it is",
            route.at
        ));
    }
    let block = render_block(&spec, &site.child_indent(&text));
    let new = if keep {
        Some(text.clone())
    } else {
        set_managed_block(&text, site, &block)
    };
    let new = new.ok_or_else(|| {
        PlanError::Conflict(format!(
            "{file}:{}: the site for {domain} has no braces; write it as `{domain} {{ … }}` so \
             dpwizard can add its block inside; nothing was changed",
            site.line
        ))
    })?;
    plan.notes.push(match c.cert_source(site) {
        CertSource::Automatic => format!(
            "TLS: Caddy obtains and renews the certificate for {domain} itself (automatic \
             HTTPS): dpwizard plans no certbot and no self-signed certificate"
        ),
        CertSource::Internal => format!(
            "TLS: Caddy serves {domain} with a certificate from its own local CA (tls internal): \
             browsers do not trust it, so the web client cannot connect until they do; \
             dpwizard plans no certbot"
        ),
        CertSource::Files { cert, line, .. } => format!(
            "TLS: Caddy serves {domain} with {cert} ({file}:{line}), renewed by whoever \
             renews it now; dpwizard plans no certbot"
        ),
        CertSource::NotManaged { line } => format!(
            "TLS: automatic HTTPS is off ({file}:{line}) and the site names no certificate: \
             Caddy may not serve {domain} over HTTPS; dpwizard plans no certbot"
        ),
        CertSource::Unknown { import } => format!(
            "TLS: the site's certificate may come from the imported {import}; dpwizard plans \
             no certbot"
        ),
    });
    if new == text {
        return Ok(None);
    }
    plan.changes.push(Change::Write {
        path: file.clone(),
        old: Some(text.into_bytes()),
        new: new.into_bytes(),
        mode: FileMode::CONFIG,
        secret: false,
        why: format!(
            "adds `handle {WS_PATH}` (the Origin rule, then the WebSocket proxy with X-Real-IP) \
             to the site for {domain} (line {}), between dpwizard markers; every other byte \
             stays",
            site.line
        ),
    });
    Ok(crate::proxy::front::reload_or_start(
        facts,
        crate::proxy::Kind::Caddy,
        "Caddy loads the new Caddyfile (a graceful reload: open connections finish)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Upstream {
        Upstream {
            host: "127.0.0.1".into(),
            port: 27751,
            extra_origins: vec![],
        }
    }

    #[test]
    fn a_running_caddy_is_reloaded_and_a_stopped_one_started() {
        let text = "d.example {\n\tfile_server\n}\n";
        let mut snap = Snapshot::default();
        snap.files
            .insert(CADDYFILE.into(), text.as_bytes().to_vec());
        let mut f = Facts::default();
        f.caddy.caddyfile = Some(CADDYFILE.into());
        let up = up();
        for (listening, verb) in [(true, "reload"), (false, "start")] {
            f.web_servers = vec![crate::detect::webserver::WebServer {
                name: "caddy".into(),
                listens_80: Some(listening),
                listens_443: Some(listening),
                ..Default::default()
            }];
            let mut p = Plan::default();
            let a = plan(&mut p, &f, &snap, "d.example", &up).unwrap().unwrap();
            assert_eq!(a.argv, ["systemctl", verb, "caddy"]);
            assert_eq!(p.changes.len(), 1);
            assert!(p.notes[0].contains("automatic HTTPS"), "{:?}", p.notes);
        }
    }

    #[test]
    fn the_api_unit_enabled_instead_of_the_caddyfile_one_is_refused() {
        let mut snap = Snapshot::default();
        snap.files
            .insert(CADDYFILE.into(), b"d.example {\n}\n".to_vec());
        let unit = |exec: &str| format!("[Service]\nExecStart=\nExecStart={exec}\n").into_bytes();
        snap.files.insert(
            "/lib/systemd/system/caddy.service".into(),
            unit("/usr/bin/caddy run --environ --config /etc/caddy/Caddyfile"),
        );
        snap.files.insert(
            "/lib/systemd/system/caddy-api.service".into(),
            unit("/usr/bin/caddy run --environ --resume"),
        );
        let wants = |u: &str| format!("/etc/systemd/system/multi-user.target.wants/{u}");
        // Neither enabled (or only caddy.service): the Caddyfile.
        assert_eq!(enabled_elsewhere(&snap), None);
        snap.files.insert(
            wants("caddy-api.service"),
            b"/lib/systemd/system/caddy-api.service".to_vec(),
        );
        let why = enabled_elsewhere(&snap).unwrap();
        assert_eq!(
            why,
            "caddy-api.service: caddy runs with --resume: its configuration is the API's autosave.json"
        );
        let mut f = Facts::default();
        f.caddy.caddyfile = Some(CADDYFILE.into());
        let up = up();
        let e = plan(&mut Plan::default(), &f, &snap, "d.example", &up)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&why) && e.contains("does not edit that configuration"),
            "{e}"
        );
        // Both enabled: the Caddyfile one counts.
        snap.files.insert(
            wants("caddy.service"),
            b"/lib/systemd/system/caddy.service".to_vec(),
        );
        assert_eq!(enabled_elsewhere(&snap), None);
    }

    #[test]
    fn a_caddy_without_a_caddyfile_is_not_edited() {
        let up = up();
        let e = plan(
            &mut Plan::default(),
            &Facts::default(),
            &Snapshot::default(),
            "d.example",
            &up,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("there is no /etc/caddy/Caddyfile: this Caddy is configured in JSON"),
            "{e}"
        );
    }
}
