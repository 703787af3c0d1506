//! Which web server is in front: the one serving 443. dpwizard never sets up a second one
//! next to it (they would fight for the port), so the default and the check of an explicit
//! `proxy.server` both come from here; the wizard offers the same one.

use crate::answers::ProxyServer;
use crate::detect::Facts;
use crate::plan::make::PlanError;

/// The detection name of a front end (`facts.web_servers[].name`).
fn detected_name(s: ProxyServer) -> &'static str {
    match s {
        ProxyServer::Nginx => "nginx",
        ProxyServer::Apache => "apache",
        ProxyServer::Caddy => "caddy",
    }
}

const ALL: [ProxyServer; 3] = [ProxyServer::Nginx, ProxyServer::Apache, ProxyServer::Caddy];

/// The front ends that serve 443 here: by their live listeners first (what actually answers),
/// else by their configuration (under `--root`, or while stopped).
pub fn serving_443(facts: &Facts) -> Vec<ProxyServer> {
    let find = |live: bool| -> Vec<ProxyServer> {
        ALL.into_iter()
            .filter(|s| {
                facts.web_servers.iter().any(|w| {
                    w.name == detected_name(*s)
                        && if live {
                            w.listens_443 == Some(true)
                        } else {
                            w.serves_443_by_config
                        }
                })
            })
            .collect()
    };
    let live = find(true);
    if live.is_empty() { find(false) } else { live }
}

/// The default `proxy.server`: the web server serving 443, nginx when none does (dpwizard
/// installs it then).
pub fn in_front(facts: &Facts) -> ProxyServer {
    serving_443(facts)
        .first()
        .copied()
        .unwrap_or(ProxyServer::Nginx)
}

/// Why `chosen` cannot be the front end here, if it cannot: another web server serves 443.
/// (nginx keeps its own, older check: it is refused where it is not configured and another
/// server holds 443.)
pub fn conflict(facts: &Facts, chosen: ProxyServer) -> Option<String> {
    if chosen == ProxyServer::Nginx {
        return None;
    }
    let serving = serving_443(facts);
    if serving.contains(&chosen) {
        return None;
    }
    Some(match serving.first() {
        Some(other) => format!(
            "proxy.server = \"{}\" but {} serves port 443 here: dpwizard does not set up a second \
             web server that would fight it for the port (leave proxy.server out to use {})",
            chosen.as_str(),
            detected_name(*other),
            other.as_str()
        ),
        None => format!(
            "proxy.server = \"{}\" but {} does not serve port 443 here (no HTTPS site on 443 \
             was found in its configuration): set up the HTTPS site for the domain first",
            chosen.as_str(),
            detected_name(chosen)
        ),
    })
}

/// `systemctl reload UNIT` for a host web server that runs, `start` for one detection saw
/// stopped (nothing on 80 or 443: a reload would fail). None for nginx in a container (it
/// has no unit: its reload runs inside the container).
pub fn reload_or_start(
    facts: &Facts,
    kind: super::Kind,
    reload_why: &str,
) -> Option<crate::plan::Action> {
    let unit = kind.unit()?;
    let detected = match kind {
        super::Kind::Apache => "apache",
        super::Kind::Caddy => "caddy",
        _ => "nginx",
    };
    let stopped = facts
        .web_servers
        .iter()
        .find(|w| w.name == detected)
        .is_some_and(|w| w.listens_80 == Some(false) && w.listens_443 == Some(false));
    let (verb, why) = if stopped {
        (
            "start",
            format!("{unit} is not running: it starts with the new configuration"),
        )
    } else {
        ("reload", reload_why.to_string())
    };
    Some(crate::plan::Action {
        argv: vec!["systemctl".into(), verb.into(), unit.into()],
        why,
    })
}

/// The front end a plan uses: `proxy.server`, else the one serving 443. Apache and Caddy
/// keep their site's certificate, so answers that ask for another one are refused by key.
pub fn choose(facts: &Facts, answers: &crate::answers::Answers) -> Result<ProxyServer, PlanError> {
    let chosen = answers.proxy.server.unwrap_or_else(|| in_front(facts));
    if let Some(why) = conflict(facts, chosen) {
        return Err(PlanError::Answer {
            key: "proxy.server",
            message: why,
        });
    }
    if chosen == ProxyServer::Nginx {
        return Ok(chosen);
    }
    let name = chosen.as_str();
    let refuse = |key: &'static str, what: &str| PlanError::Answer {
        key,
        message: format!(
            "{what} is for nginx: with {name} in front, the certificate stays the one its site              already has (and its site file is found by the domain); leave the key out"
        ),
    };
    if answers
        .tls
        .mode
        .is_some_and(|m| m != crate::answers::TlsMode::Existing)
    {
        return Err(refuse("tls.mode", "a tls.mode other than \"existing\""));
    }
    if answers.tls.certificate.is_some() || answers.tls.key.is_some() {
        return Err(refuse("tls.certificate", "tls.certificate / tls.key"));
    }
    if matches!(
        answers.proxy.site_file,
        Some(crate::answers::SiteFile::Path(_))
    ) {
        return Err(refuse("proxy.site_file", "proxy.site_file"));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::webserver::WebServer;

    fn with(servers: &[(&str, Option<bool>, bool)]) -> Facts {
        let mut f = Facts::default();
        for (name, live, by_config) in servers {
            f.web_servers.push(WebServer {
                name: name.to_string(),
                listens_443: *live,
                serves_443_by_config: *by_config,
                ..Default::default()
            });
        }
        f
    }

    #[test]
    fn the_default_is_the_server_on_443_and_never_a_second_one() {
        assert_eq!(in_front(&with(&[])), ProxyServer::Nginx);
        assert_eq!(
            in_front(&with(&[("apache", Some(true), true)])),
            ProxyServer::Apache
        );
        // Caddy answers on 443; Apache only has a 443 vhost in a stopped configuration.
        let f = with(&[("apache", Some(false), true), ("caddy", Some(true), true)]);
        assert_eq!(in_front(&f), ProxyServer::Caddy);
        assert!(conflict(&f, ProxyServer::Caddy).is_none());
        let e = conflict(&f, ProxyServer::Apache).unwrap();
        assert!(e.contains("but caddy serves port 443"), "{e}");
        // Under --root nothing listens: the configuration decides.
        let f = with(&[("caddy", None, true)]);
        assert_eq!(in_front(&f), ProxyServer::Caddy);
        let e = conflict(&with(&[]), ProxyServer::Apache).unwrap();
        assert!(e.contains("apache does not serve port 443"), "{e}");
    }

    #[test]
    fn a_stopped_server_is_started_a_running_one_reloaded_and_a_container_has_no_unit() {
        let mut f = with(&[("nginx", Some(false), true)]);
        f.web_servers[0].listens_80 = Some(false);
        let a = reload_or_start(&f, super::super::Kind::HostNginx, "w").unwrap();
        assert_eq!(a.argv, ["systemctl", "start", "nginx"]);
        f.web_servers[0].listens_443 = Some(true);
        let a = reload_or_start(&f, super::super::Kind::HostNginx, "w").unwrap();
        assert_eq!(
            (a.argv.as_slice(), a.why.as_str()),
            (
                &["systemctl".to_string(), "reload".into(), "nginx".into()][..],
                "w"
            )
        );
        let f = with(&[("apache", Some(true), true)]);
        let a = reload_or_start(&f, super::super::Kind::Apache, "w").unwrap();
        assert_eq!(a.argv, ["systemctl", "reload", "apache2"]);
        assert!(reload_or_start(&f, super::super::Kind::ContainerNginx, "w").is_none());
    }
}
