//! What must hold before apply writes anything for certbot: the domain resolves to this
//! machine and port 80 reaches nginx, since Let's Encrypt connects to the name on port 80.
//! Without this check a certbot run fails after the drop-in was written and drawpile-srv
//! restarted. Read-only; the verdict is pure (`judge`), the lookups are the edge.

use std::time::Duration;

use crate::audit::observe::Dns;
use crate::detect::Facts;
use crate::host::Host;

/// Why certbot cannot succeed now, each with what to do; empty when it can.
pub fn judge(domain: &str, dns: &Dns, facts: &Facts) -> Vec<String> {
    let mut problems = Vec::new();
    let local_public: Vec<&String> = dns
        .local
        .iter()
        .filter(|a| !is_loopback_or_link_local(a))
        .collect();
    match (&dns.error, dns.resolved.as_slice()) {
        (Some(e), _) => problems.push(format!(
            "{domain} does not resolve ({e}): create its A (and AAAA) record pointing at this \
             machine ({}), wait until `getent hosts {domain}` shows it, then run apply again",
            list_or(&local_public, "its public address")
        )),
        (None, []) => problems.push(format!(
            "{domain} has no A or AAAA record: point it at this machine ({})",
            list_or(&local_public, "its public address")
        )),
        (None, resolved) if !resolved.iter().any(|r| dns.local.contains(r)) => {
            problems.push(format!(
                "{domain} resolves to {}, which is not this machine ({}): fix the DNS record, \
                 or, behind NAT or with split-horizon DNS where that is expected, run apply \
                 with --skip-dns-check",
                resolved.join(", "),
                list_or(&local_public, "no public address on its interfaces")
            ))
        }
        _ => {}
    }
    // Port 80: certbot's webroot challenge is answered by nginx.
    if facts.network.visible {
        let others: Vec<String> = facts
            .network
            .listeners
            .iter()
            .filter(|l| l.port == 80)
            .filter_map(|l| l.process.clone())
            .filter(|p| p != "nginx")
            .collect();
        if let Some(p) = others.first() {
            problems.push(format!(
                "port 80 is taken by {p}: Let's Encrypt checks the domain through port 80, which \
                 nginx must answer; stop {p} or move it off port 80, then run apply again"
            ));
        }
    }
    problems
}

fn list_or(addrs: &[&String], none: &str) -> String {
    if addrs.is_empty() {
        none.to_string()
    } else {
        addrs
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn is_loopback_or_link_local(a: &str) -> bool {
    match a.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback() || v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => v6.is_loopback() || (v6.segments()[0] & 0xffc0) == 0xfe80,
        Err(_) => false,
    }
}

/// The live check: DNS and port 80, on this machine. Under `--root` nothing can be said of
/// another machine's DNS: the caller skips it and says so.
pub async fn certbot(host: &Host, domain: &str, facts: &Facts) -> Vec<String> {
    let _ = host;
    let dns = crate::audit::observe::dns(domain, Duration::from_secs(5)).await;
    judge(domain, &dns, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(resolved: &[&str], local: &[&str], error: Option<&str>) -> Dns {
        Dns {
            resolved: resolved.iter().map(|s| s.to_string()).collect(),
            local: local.iter().map(|s| s.to_string()).collect(),
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn the_domain_must_resolve_here_and_port_80_must_be_nginx_s() {
        let facts = Facts::default();
        let here = ["127.0.0.1", "203.0.113.7", "fe80::1"];
        assert!(judge("a.example", &dns(&["203.0.113.7"], &here, None), &facts).is_empty());
        let p = judge("a.example", &dns(&["198.51.100.1"], &here, None), &facts);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("resolves to 198.51.100.1, which is not this machine (203.0.113.7)"),
            "{p:?}"
        );
        assert!(p[0].contains("--skip-dns-check"), "{p:?}");
        let p = judge(
            "a.example",
            &dns(&[], &here, Some("Name or service not known")),
            &facts,
        );
        assert!(
            p[0].contains("does not resolve (Name or service not known)"),
            "{p:?}"
        );
        assert!(p[0].contains("getent hosts a.example"), "{p:?}");

        let mut facts = Facts::default();
        facts.network.visible = true;
        facts
            .network
            .listeners
            .push(crate::detect::network::Listener {
                address: "0.0.0.0".into(),
                port: 80,
                process: Some("apache2".into()),
                ..Default::default()
            });
        let p = judge("a.example", &dns(&["203.0.113.7"], &here, None), &facts);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("port 80 is taken by apache2"), "{p:?}");
    }
}
