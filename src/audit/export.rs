//! `dpwizard answers --from-machine`: the machine's current setup as an answers file, so a
//! setup made by hand can be adopted (apply with it is a no-op when the setup is sound) and
//! a good box can be cloned. Every value goes through the same validators as a typed one.

use crate::answers::{
    Answers, DrawpileAnswers, ProxyAnswers, ProxyServer, Runtime, SiteAnswers, SiteFile,
    TlsAnswers, TlsMode, WebClientAnswers,
};
use crate::detect::Facts;
use crate::detect::runtime::RuntimeKind;
use crate::model::*;

use super::setup;

/// The answers file text, or why none can be written. `front_files` are Apache's or
/// Caddy's configuration files when one of them is in front (`audit::front::files`);
/// `web_client` is dpwizard's browser-client block when a web server's files hold one
/// (`audit::web_client::find_block`).
pub fn answers_from_machine(
    facts: &Facts,
    front_files: &crate::proxy::Files,
    web_client: Option<&super::web_client::Block>,
    domain: Option<&str>,
) -> Result<String, String> {
    let s = setup::read(facts, domain).with_front(facts, front_files);
    let mut notes: Vec<(String, String)> = Vec::new();
    let mut note = |k: &str, v: String| notes.push((k.to_string(), v));

    let Some(domain) = s.domain.clone() else {
        return Err(
            "no server block serves /drawpile-web/ws, so the domain is unknown: pass --domain NAME"
                .into(),
        );
    };
    let domain = DomainName::parse(&domain)
        .map_err(|e| format!("the domain {domain:?} ({}): {e}", s.domain_from))?;
    note("site.domain", format!("from {}", s.domain_from));

    let mut d = DrawpileAnswers::default();
    let container_unit = setup::container_unit_image(facts);
    if let Some(i) = &s.instance {
        d.runtime = match i.kind {
            // A unit runs the container (`docker run` in its ExecStart): apply manages it.
            _ if container_unit.is_some() => {
                d.image = container_unit
                    .as_deref()
                    .and_then(|im| ImageRef::parse(im).ok());
                Some(Runtime::NewContainer)
            }
            RuntimeKind::SystemdService | RuntimeKind::SystemdSocket => {
                Some(Runtime::SystemdService)
            }
            RuntimeKind::Appimage => Some(Runtime::Appimage),
            RuntimeKind::Docker => Some(Runtime::Docker),
            RuntimeKind::Compose => Some(Runtime::Compose),
            RuntimeKind::None => None,
        };
        note("drawpile.runtime", format!("detected: {}", i.described));
        if let Some(u) = i.unit {
            d.unit = UnitName::parse(&u.name).ok();
        }
        if let Some((p, from)) = i.ws_port() {
            d.websocket_port = Port::new(p.into()).ok();
            note("drawpile.websocket_port", format!("from {from}"));
        }
        if !i.in_container() {
            d.websocket_listen = i
                .args
                .websocket_listen
                .as_deref()
                .and_then(|a| ListenAddress::parse(a).ok());
        }
        d.tcp_port = i
            .args
            .port
            .as_deref()
            .and_then(|p| p.parse::<i64>().ok())
            .and_then(|p| Port::new(p).ok());
        d.web_admin_port = i
            .args
            .web_admin_port
            .as_deref()
            .and_then(|p| p.parse::<i64>().ok())
            .and_then(|p| Port::new(p).ok());
    }

    let mut tls = TlsAnswers::default();
    let mut proxy = ProxyAnswers::default();
    // Apache or Caddy serving 443 (and no nginx site for the domain): that one, which keeps
    // its own site and certificate.
    let front = crate::proxy::front::in_front(facts);
    if s.site.is_none() && front != ProxyServer::Nginx {
        proxy.server = Some(front);
        note(
            "proxy.server",
            format!("{} serves port 443 here", front.as_str()),
        );
    }
    if let Some(site) = &s.site {
        let in_container = |p: &Option<String>| {
            site.container
                .is_some_and(|c| p.as_ref().is_some_and(|p| c.paths_in_container.contains(p)))
        };
        if in_container(&site.server.ssl_certificate) {
            // Not a host path: an answers file naming it would point apply at nothing.
            note(
                "proxy.site_file",
                format!(
                    "nginx runs in compose service {}; its certificate {} is inside the container",
                    site.container.map(|c| c.service.as_str()).unwrap_or(""),
                    site.server.ssl_certificate.as_deref().unwrap_or("")
                ),
            );
        } else if let (Some(c), Some(k)) = (
            &site.server.ssl_certificate,
            &site.server.ssl_certificate_key,
        ) && let (Ok(c), Ok(k)) = (AbsPath::parse(c), AbsPath::parse(k))
        {
            tls.mode = Some(TlsMode::Existing);
            tls.certificate = Some(c);
            tls.key = Some(k);
            let managed = facts.tls.lineages.iter().find(|l| {
                l.fullchain_path
                    == tls
                        .certificate
                        .as_ref()
                        .map(|c| c.to_string())
                        .unwrap_or_default()
            });
            note(
                "tls.mode",
                match managed {
                    Some(l) => format!(
                        "the certificate in use, renewed by certbot (lineage {})",
                        l.name
                    ),
                    None => "the certificate in use".into(),
                },
            );
        }
        proxy.server = Some(ProxyServer::Nginx);
        proxy.site_file = AbsPath::parse(&site.server.file).ok().map(SiteFile::Path);
        note(
            "proxy.site_file",
            format!(
                "the server block at {}:{}",
                site.server.file, site.server.line
            ),
        );
    }
    // The route of whichever web server is in front: what its Origin check lets in.
    if let Some(route) = s.route(facts) {
        proxy.extra_origins = route
            .origin
            .extra_origins()
            .iter()
            .filter_map(|o| Origin::parse(o).ok())
            .collect();
        if !proxy.extra_origins.is_empty() {
            note(
                "proxy.extra_origins",
                format!("allowed by the Origin check at {}", route.at),
            );
        }
    }
    // The browser client dpwizard set up to host: the same directory and host again.
    let mut client = WebClientAnswers::default();
    if let Some(b) = web_client
        && let Some(dir) = b.directory().and_then(|d| ClientDir::parse(&d).ok())
    {
        let at = format!("{}:{}", b.file, b.line);
        client.enabled = true;
        client.directory = Some(dir);
        // A site of its own when the block serves another host than the domain.
        client.domain = b
            .host()
            .and_then(|h| DomainName::parse(&h).ok())
            .filter(|h| *h != domain);
        client.acknowledged = true;
        note(
            "web_client.enabled",
            format!("dpwizard's browser-client block at {at}"),
        );
        if client.domain.is_some() {
            note(
                "web_client.domain",
                format!("the site of its own that the block at {at} serves"),
            );
        }
        note(
            "web_client.acknowledged",
            format!(
                "acknowledged by the admin when the client was set up: dpwizard writes the\n\
                 block at {at} only after that. The warning:\n{}",
                crate::answers::WEB_CLIENT_WARNING.replace(". ", ".\n")
            ),
        );
    }
    let answers = Answers {
        drawpile: d,
        site: SiteAnswers {
            domain,
            email: None,
        },
        tls,
        proxy,
        web_client: client,
    };
    let text = crate::answers::to_toml(
        &answers,
        "dpwizard answers file, written by `dpwizard answers --from-machine`\n\
         from this machine's current setup. `dpwizard plan --answers FILE` shows what\n\
         apply would change with it (nothing, when the setup is sound).\n\
         Reference: docs/answers.md.",
        &|k| notes.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
    );
    // What is written must read back: the same validators as any answers file.
    crate::answers::parse("--from-machine", &text).map_err(|e| e.render())?;
    Ok(text)
}
