//! The audit's side effects, all read-only: live handshakes (TCP, WebSocket, through the
//! proxy with TLS and SNI), DNS, `nginx -t` in private namespaces, and the logs. Every probe
//! is bounded by the timeout, and they run concurrently.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::Observations;
use super::logs::{self, AccessLog, LogEvidence};
use super::setup::{self, Setup};
use crate::detect::Facts;
use crate::detect::runtime::RuntimeKind;
use crate::host::Host;
use crate::verify::{self, Check, ProxyReport, TlsVerify};

#[derive(Debug, Clone)]
pub struct Options {
    pub offline: bool,
    /// How far back the logs are read, in seconds, and as typed (`7d`).
    pub since_secs: i64,
    pub since_text: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Live {
    pub tcp_target: String,
    pub tcp: Option<Check>,
    pub direct_target: String,
    pub direct: Option<Check>,
    pub proxy: Option<ProxyReport>,
    /// The browser client's handshake at each of this machine's own (non-loopback)
    /// addresses: (address, check).
    #[serde(default)]
    pub own_addresses: Vec<(String, Check)>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_log_is_read_from_its_tail_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = "first line\nsecond line\nthird\n";
        std::fs::write(dir.path().join("log"), text).unwrap();
        let host = crate::host::Host::new(
            dir.path(),
            std::time::Duration::from_secs(1),
            crate::host::Clock::System,
        );
        let tail = super::read_tail(&host, std::path::Path::new("/log"), 15).unwrap();
        assert_eq!(String::from_utf8(tail).unwrap(), "third\n");
        let all = super::read_tail(&host, std::path::Path::new("/log"), 1000).unwrap();
        assert_eq!(all, text.as_bytes());
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dns {
    pub resolved: Vec<String>,
    pub local: Vec<String>,
    pub error: Option<String>,
}

fn addr(host: &str, port: u16) -> Option<SocketAddr> {
    let h = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!(
        "{}:{port}",
        if h.contains(':') {
            format!("[{h}]")
        } else {
            h.to_string()
        }
    )
    .parse()
    .ok()
}

async fn live(s: &Setup<'_>, t: Duration) -> Live {
    let mut out = Live::default();
    let Some(i) = &s.instance else {
        return out;
    };
    let tcp_host = match i.args.listen.as_deref() {
        Some(a) if !a.is_empty() && a != "0.0.0.0" && a != "::" && !i.in_container() => a,
        _ => "127.0.0.1",
    };
    let tcp = addr(tcp_host, i.tcp_port());
    let direct = i.ws_endpoint().and_then(|(h, p)| addr(&h, p));
    out.tcp_target = tcp.map(|a| a.to_string()).unwrap_or_default();
    out.direct_target = direct.map(|a| a.to_string()).unwrap_or_default();
    // Where nginx listens for the domain on 443: its own address when the listen directive
    // names one (`listen 203.0.113.5:443 ssl`), else this machine's loopback.
    let proxy_target = s.domain.as_ref().and_then(|d| {
        // Apache or Caddy in front: their sites on *:443 answer on the loopback.
        if s.site.is_none() && s.front_site().is_some() {
            return Some((d.clone(), SocketAddr::from(([127, 0, 0, 1], 443))));
        }
        let site = s.site.as_ref()?;
        let bound = site
            .server
            .listen
            .iter()
            .filter(|l| l.port == Some(443))
            .filter_map(|l| l.address.as_deref())
            .map(|a| a.trim_matches(['[', ']']))
            .find(|a| !matches!(*a, "" | "*" | "0.0.0.0" | "::"))
            .and_then(|a| addr(a, 443));
        Some((
            d.clone(),
            bound.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 443))),
        ))
    });
    let tcp_probe = async {
        let a = tcp?;
        let r = verify::tcp_greeting(a, t).await;
        Some(Check {
            name: "tcp".into(),
            origin: None,
            expect: verify::Expect::Reach,
            passed: r.is_ok(),
            detail: match &r {
                Ok(g) => format!("greeting from {}", g.message),
                Err(e) => e.to_string(),
            },
            status: None,
        })
    };
    let direct_probe = async {
        let a = direct?;
        Some(verify::check_direct(a, t).await)
    };
    let own_domain = proxy_target.as_ref().map(|(d, _)| d.clone());
    let proxy_probe = async {
        let (d, a) = proxy_target?;
        Some(verify::check_proxy(&d, a, TlsVerify::SystemRoots, t).await)
    };
    let own_probe = async {
        let Some(d) = &own_domain else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for ip in verify::reachable_addresses() {
            let at = SocketAddr::new(ip, 443);
            let r = verify::check_proxy(d, at, TlsVerify::SystemRoots, t).await;
            if let Some(c) = r
                .checks
                .into_iter()
                .find(|c| c.origin.as_deref() == Some(verify::OFFICIAL_ORIGIN))
            {
                out.push((at.to_string(), c));
            }
        }
        out
    };
    let (tcp, direct, proxy, own) = tokio::join!(tcp_probe, direct_probe, proxy_probe, own_probe);
    out.own_addresses = own;
    out.tcp = tcp;
    out.direct = direct;
    out.proxy = proxy;
    out
}

/// The live probes, once more after a short pause when any failed: a server or proxy that was
/// just restarted or reloaded may need a moment. No client is held open to keep a server up:
/// the audit judges the setup as users meet it. A failure that stays is what it reports.
async fn live_settled(s: &Setup<'_>, t: Duration) -> Live {
    let first = live(s, t).await;
    let failed = |l: &Live| {
        [&l.tcp, &l.direct]
            .into_iter()
            .flatten()
            .chain(l.proxy.iter().flat_map(|p| p.checks.iter()))
            .any(|c| !c.passed)
    };
    if !failed(&first) {
        return first;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    live(s, t).await
}

/// What `domain` resolves to (A and AAAA), and this machine's own addresses.
pub async fn dns(domain: &str, t: Duration) -> Dns {
    let mut out = Dns::default();
    match tokio::time::timeout(t, tokio::net::lookup_host((domain, 443))).await {
        Ok(Ok(addrs)) => {
            let mut seen: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            seen.sort();
            seen.dedup();
            out.resolved = seen;
        }
        Ok(Err(e)) => out.error = Some(e.to_string()),
        Err(_) => out.error = Some(format!("no answer within {:.1} s", t.as_secs_f64())),
    }
    if let Ok(ifs) = nix::ifaddrs::getifaddrs() {
        for i in ifs {
            let Some(a) = i.address else { continue };
            let ip = if let Some(v4) = a.as_sockaddr_in() {
                Some(std::net::IpAddr::V4(v4.ip()))
            } else {
                a.as_sockaddr_in6().map(|v6| std::net::IpAddr::V6(v6.ip()))
            };
            if let Some(ip) = ip {
                let s = ip.to_string();
                if !out.local.contains(&s) {
                    out.local.push(s);
                }
            }
        }
    }
    out
}

async fn server_log(host: &Host, s: &Setup<'_>, since: i64) -> Result<logs::ServerLog, String> {
    let i = s.instance.as_ref().ok_or("no drawpile-srv instance")?;
    let now = host.clock().now_unix();
    match (i.kind, i.unit, i.container) {
        (RuntimeKind::Docker | RuntimeKind::Compose, _, Some(c)) => {
            let docker = host.which("docker").ok_or("docker is not installed")?;
            let out = host
                .run(
                    host.command(docker)
                        .args(["logs", "--since", &format!("{since}s"), &c.name]),
                )
                .await;
            if !out.success() {
                return Err(format!("docker logs {}: {}", c.name, out.describe()));
            }
            let text = out.stdout_str() + &out.stderr_str();
            Ok(logs::server_log(&text, &format!("docker logs {}", c.name)))
        }
        (_, Some(u), _) => {
            let jc = host
                .which("journalctl")
                .ok_or("journalctl is not installed")?;
            // The socket's own messages (systemd failing it) are logged under its name.
            let socket: Vec<String> = i
                .socket
                .map(|sock| vec!["-u".to_string(), sock.name.clone()])
                .unwrap_or_default();
            let out = host
                .run(host.command(jc).args(socket).args([
                    "-u",
                    &u.name,
                    "--since",
                    &format!("@{}", now - since),
                    "--no-pager",
                    "-q",
                    "-o",
                    "short-iso",
                ]))
                .await;
            if !out.success() {
                return Err(format!("journalctl -u {}: {}", u.name, out.describe()));
            }
            Ok(logs::server_log(
                &out.stdout_str(),
                &format!("journalctl -u {}", u.name),
            ))
        }
        _ => Err("drawpile-srv's log is not reachable for this runtime".into()),
    }
}

/// How much of each access log is read: the newest part, which is what `--since` looks at;
/// a busy site's log can be gigabytes.
const LOG_TAIL_BYTES: u64 = 64 << 20;

/// The last `max` bytes of a file, starting at a whole line.
fn read_tail(host: &Host, target: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = host.open_file(target, crate::host::ReadKind::LogTail)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.take(max).read_to_end(&mut bytes)?;
    if start > 0 {
        let first = bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        bytes.drain(..first);
    }
    Ok(bytes)
}

fn access_logs(host: &Host, since_unix: i64) -> Result<AccessLog, String> {
    let mut files = host.glob("/var/log/nginx/*access*.log");
    files.extend(host.glob("/var/log/nginx/*access*.log.1"));
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err("no nginx access log under /var/log/nginx".into());
    }
    let mut out = AccessLog::default();
    let mut read_any = false;
    for f in &files {
        if let Ok(bytes) = read_tail(host, f, LOG_TAIL_BYTES) {
            read_any = true;
            logs::access_log(
                &mut out,
                &String::from_utf8_lossy(&bytes),
                &f.display().to_string(),
                since_unix,
            );
        }
    }
    if !read_any {
        return Err("the nginx access logs are not readable".into());
    }
    Ok(out)
}

/// Runs every probe the options allow, concurrently.
pub async fn observe(
    host: &Host,
    facts: &Facts,
    domain: Option<&str>,
    opts: &Options,
) -> Observations {
    // Apache's or Caddy's files first: the domain may come from their site.
    let front_files = super::front::files(host, facts);
    let s = setup::read(facts, domain).with_front(facts, &front_files);
    let mut obs = Observations::default();
    let live_ok = if opts.offline {
        Err("--offline".to_string())
    } else if !host.is_live() {
        Err("--root is not /: the probes would test this machine, not the tree".to_string())
    } else {
        Ok(())
    };
    let nginx_present = facts.nginx.conf_path.is_some();
    let nginx_t = async {
        if !nginx_present {
            return Err("nginx is not installed".to_string());
        }
        match crate::validate::nginx(host).await {
            crate::validate::Validation::Passed(_) => Ok(Ok(())),
            crate::validate::Validation::Failed(e) => Ok(Err(e)),
            crate::validate::Validation::Skipped(why) => Err(why),
        }
    };
    let live_probe = async {
        match &live_ok {
            Ok(()) => Ok(live_settled(&s, opts.timeout).await),
            Err(e) => Err(e.clone()),
        }
    };
    let dns_probe = async {
        match (&live_ok, &s.domain) {
            (Ok(()), Some(d)) => Ok(dns(d, opts.timeout).await),
            (Err(e), _) => Err(e.clone()),
            (_, None) => Err("no domain".to_string()),
        }
    };
    let journal = async {
        match &live_ok {
            Ok(()) => server_log(host, &s, opts.since_secs).await,
            Err(_) if !host.is_live() => {
                Err("--root is not /: the journal is this machine's".into())
            }
            Err(_) => server_log(host, &s, opts.since_secs).await,
        }
    };
    let (nginx_t, live_r, dns_r, journal_r) = tokio::join!(nginx_t, live_probe, dns_probe, journal);
    match nginx_t {
        Ok(r) => obs.nginx_test = Some(r),
        Err(why) => obs.not_observed.push(("nginx_test".into(), why)),
    }
    match live_r {
        Ok(l) => obs.live = Some(l),
        Err(why) => obs.not_observed.push(("live".into(), why)),
    }
    match dns_r {
        Ok(d) => obs.dns = Some(d),
        Err(why) => obs.not_observed.push(("dns".into(), why)),
    }
    let since_unix = host.clock().now_unix() - opts.since_secs;
    obs.logs = LogEvidence {
        since: opts.since_text.clone(),
        server: None,
        access: None,
        access_missing: None,
    };
    match journal_r {
        Ok(l) => obs.logs.server = Some(l),
        Err(why) => obs.not_observed.push(("journal".into(), why)),
    }
    match access_logs(host, since_unix) {
        Ok(a) => obs.logs.access = Some(a),
        Err(why) => obs.logs.access_missing = Some(why),
    }
    obs.front_files = front_files;
    if let Some(d) = &s.domain {
        obs.front_block = super::front::observe(host, facts, d);
        obs.web_client =
            super::web_client::observe(host, facts, d, live_ok.clone(), opts.timeout).await;
    }
    obs
}
