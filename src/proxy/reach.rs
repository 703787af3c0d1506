//! How the web server in front reaches drawpile-srv's WebSocket listener: an address and
//! port on this host (a port a container publishes, or the one drawpile-srv binds), or a
//! compose service's name and container port on a network both join. The audit compares a
//! route's target with it; the planner writes it.

use crate::audit::setup::Instance;
use crate::detect::Facts;

/// Where drawpile-srv's WebSocket listener is reached from the proxy.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: String,
    pub port: u16,
    /// `--websocket-listen`, when set (not for containers).
    pub listen: Option<String>,
    /// Where the port was read, for evidence.
    pub from: String,
    /// Names that reach it on a compose network (the service, its container_name); empty
    /// when the proxy reaches it through an address.
    pub names: Vec<String>,
    /// The project's other services: a proxy_pass naming one of them goes elsewhere.
    pub other_names: Vec<String>,
    /// Why the proxy cannot reach it at all (a port the container does not publish, no
    /// shared network).
    pub problem: Option<String>,
}

/// How the proxy reaches drawpile-srv's WebSocket listener: nginx in a container of the same
/// Compose project by service name and container port over a shared network; nginx on the
/// host through the host side of the published port (or not at all when it is not published).
pub fn upstream_of(
    facts: &Facts,
    i: &Instance,
    nginx: Option<&crate::detect::nginx::NginxContainer>,
) -> Option<Upstream> {
    let (port, from) = i.ws_port()?;
    let nginx = nginx.filter(|n| n.network_mode.as_deref() != Some("host"));
    if let (Some(n), Some((file, svc))) = (nginx, i.compose) {
        // Names resolve on a network both join: the same Docker network (a project's own,
        // or an external one shared by two projects).
        let shared = svc
            .networks
            .iter()
            .any(|net| n.network_names.contains(&file.network_name(net)));
        let mut names = vec![svc.name.clone()];
        names.extend(svc.container_name.clone());
        let others = facts
            .runtime
            .compose
            .files
            .iter()
            .filter(|f| f.path == file.path)
            .flat_map(|f| f.services.iter().chain(&f.other_services))
            .filter(|o| o.name != svc.name)
            .map(|o| o.name.clone())
            .collect();
        return Some(Upstream {
            addr: svc.name.clone(),
            port,
            listen: None,
            from,
            names,
            other_names: others,
            problem: (!shared).then(|| {
                format!(
                    "compose service {} (networks {}) shares no network with the nginx service {} \
                     (networks {}): it cannot reach it by name",
                    svc.name,
                    svc.networks
                        .iter()
                        .map(|k| file.network_name(k))
                        .collect::<Vec<_>>()
                        .join(", "),
                    n.service,
                    n.network_names.join(", ")
                )
            }),
        });
    }
    if i.in_container() && i.ws_endpoint().is_none() {
        let published: Vec<String> = i
            .ports()
            .iter()
            .map(|p| {
                format!(
                    "{}{}:{}",
                    if p.host_ip.is_empty() {
                        String::new()
                    } else {
                        format!("{}:", p.host_ip)
                    },
                    p.host_port.map(|h| h.to_string()).unwrap_or_default(),
                    p.container_port
                )
            })
            .collect();
        return Some(Upstream {
            addr: String::new(),
            port,
            listen: None,
            from: from.clone(),
            names: Vec::new(),
            other_names: Vec::new(),
            problem: Some(format!(
                "{} does not publish its WebSocket port {port} on the host (ports: {}): a proxy on \
                 the host reaches nothing there",
                i.described,
                if published.is_empty() {
                    "none".into()
                } else {
                    published.join(", ")
                }
            )),
        });
    }
    let (addr, host_port) = i.ws_endpoint()?;
    Some(Upstream {
        addr,
        port: host_port,
        listen: (!i.in_container())
            .then(|| i.args.websocket_listen.clone())
            .flatten(),
        from,
        names: Vec::new(),
        other_names: Vec::new(),
        problem: None,
    })
}
