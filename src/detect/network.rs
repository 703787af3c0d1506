//! Listening sockets (from /proc/net/tcp and tcp6; owners from /proc/*/fd links) and
//! firewalls (ufw, firewalld, nftables) — read only. Sockets belong to the live machine, so
//! under another `--root` they are reported as not visible.

use std::collections::HashMap;

use serde::Serialize;

use super::Ctx;

/// The ports dpwizard cares about, and what each is for.
pub const INTERESTING: &[(u16, &str)] = &[
    (80, "HTTP (ACME challenges, redirect)"),
    (443, "HTTPS (the proxy the browser reaches)"),
    (27750, "drawpile TCP"),
    (27751, "drawpile WebSocket"),
    (27780, "drawpile web admin"),
];

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NetworkFacts {
    /// False when the listeners cannot be seen (another root, /proc unreadable).
    pub visible: bool,
    /// Why not visible.
    pub not_visible_because: Option<String>,
    /// Every listening TCP socket.
    pub listeners: Vec<Listener>,
    /// Who listens on the ports that matter (80, 443, 27750, 27751, 27780).
    pub interesting: Vec<PortUse>,
    /// Owners of sockets could be read (needs root for other users' processes).
    pub owners_visible: bool,
    pub firewall: Firewall,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Listener {
    /// Bound address (`0.0.0.0`, `::`, `127.0.0.1`, …).
    pub address: String,
    pub port: u16,
    /// Process name owning the socket, null when not visible (non-root).
    pub process: Option<String>,
    pub pid: Option<u32>,
    /// Socket inode (links /proc/net/tcp to /proc/PID/fd).
    pub inode: u64,
}

impl Listener {
    /// Bound to a loopback address only.
    pub fn loopback_only(&self) -> bool {
        self.address.starts_with("127.") || self.address == "::1"
    }
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct PortUse {
    pub port: u16,
    pub purpose: String,
    /// `address (process)` for each listener on it; empty when free.
    pub listeners: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Firewall {
    /// ufw: `ENABLED=yes` in /etc/ufw/ufw.conf.
    pub ufw_enabled: Option<bool>,
    /// ufw rules mentioning the ports that matter, as written in user.rules/user6.rules.
    pub ufw_rules: Vec<String>,
    /// firewalld configuration present, and its zones' services/ports.
    pub firewalld_present: bool,
    pub firewalld_allows: Vec<String>,
    /// /etc/nftables.conf exists.
    pub nftables_conf: bool,
    /// An input chain in /etc/nftables.conf drops what no rule accepts (`policy drop`).
    #[serde(default)]
    pub nftables_input_drops: bool,
    /// TCP ports its input chains accept (`tcp dport 443 accept`, `{ 80, 443 }`, `https`).
    #[serde(default)]
    pub nftables_accepts: Vec<u16>,
}

/// Reads an nftables.conf's input chains: whether one drops by default, and the TCP ports
/// they accept. A line-based reading of the common shape (one statement a line).
pub fn parse_nftables(text: &str) -> (bool, Vec<u16>) {
    let mut drops = false;
    let mut ports = Vec::new();
    let mut in_input = false;
    let mut depth = 0i32;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with("chain ") && line.ends_with('{') {
            in_input = line.split_whitespace().nth(1) == Some("input");
            depth = 1;
            continue;
        }
        if in_input {
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if depth <= 0 {
                in_input = false;
                continue;
            }
            if line.contains("hook input") && line.contains("policy drop") || line == "policy drop;"
            {
                drops = true;
            }
            if let Some(rest) = line.split("tcp dport").nth(1)
                && line.contains("accept")
            {
                let spec = rest.split("accept").next().unwrap_or("");
                for w in spec.split(|c: char| c == ',' || c == '{' || c == '}' || c.is_whitespace())
                {
                    let p = match w {
                        "http" => Some(80),
                        "https" => Some(443),
                        w => w.parse().ok(),
                    };
                    if let Some(p) = p
                        && !ports.contains(&p)
                    {
                        ports.push(p);
                    }
                }
            }
        }
    }
    (drops, ports)
}

impl Firewall {
    /// A ufw or firewalld rule lets `port` in (by number, or by one of the service `names`
    /// such as `https` or ufw's `Nginx Full` profile).
    pub fn allows(&self, port: u16, names: &[&str]) -> bool {
        let p = port.to_string();
        let ufw_allows = self
            .ufw_rules
            .iter()
            .filter(|r| r.starts_with("allow") || r.contains(" allow "));
        if self.nftables_accepts.contains(&port) {
            return true;
        }
        ufw_allows.chain(self.firewalld_allows.iter()).any(|r| {
            let r_low = r.to_ascii_lowercase();
            r_low
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == p)
                || names.iter().any(|n| r_low.contains(n))
        })
    }
}

/// Service names that open 443 in ufw profiles and firewalld services.
pub const HTTPS_NAMES: &[&str] = &[
    "nginx full",
    "nginx https",
    "www full",
    "www secure",
    "apache full",
    "https",
];
/// Service names that open 80.
pub const HTTP_NAMES: &[&str] = &[
    "nginx full",
    "nginx http",
    "www full",
    "www",
    "apache full",
    "http",
];

/// Parses /proc/net/tcp or tcp6: listening sockets as (address, port, inode).
pub fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<(String, u16, u64)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != "0A" {
            continue;
        }
        let Some((addr_hex, port_hex)) = f[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        let Ok(inode) = f[9].parse::<u64>() else {
            continue;
        };
        let Some(address) = decode_addr(addr_hex, v6) else {
            continue;
        };
        out.push((address, port, inode));
    }
    out
}

/// The kernel prints addresses as 32-bit words in host byte order (little-endian here).
fn decode_addr(hex: &str, v6: bool) -> Option<String> {
    // Each word was loaded from memory in network byte order and printed as a native
    // (little-endian on these machines) integer.
    let word = |s: &str| u32::from_str_radix(s, 16).ok();
    if !v6 {
        if hex.len() != 8 {
            return None;
        }
        let w = u32::from_str_radix(hex, 16).ok()?;
        return Some(std::net::Ipv4Addr::from(w.swap_bytes()).to_string());
    }
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for i in 0..4 {
        let w = word(&hex[i * 8..i * 8 + 8])?;
        bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let ip = std::net::Ipv6Addr::from(bytes);
    Some(match ip.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => ip.to_string(),
    })
}

/// Maps socket inodes to (pid, process name) by reading /proc/*/fd links.
fn socket_owners() -> (HashMap<u64, (u32, String)>, bool) {
    let mut map = HashMap::new();
    let mut denied = false;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (map, false);
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let fds = match std::fs::read_dir(p.path().join("fd")) {
            Ok(f) => f,
            Err(_) => {
                denied = true;
                continue;
            }
        };
        let mut comm = None;
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let l = link.to_string_lossy();
            if let Some(inode) = l
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            {
                let name = comm.get_or_insert_with(|| {
                    std::fs::read_to_string(p.path().join("comm"))
                        .map(|c| c.trim().to_string())
                        .unwrap_or_default()
                });
                map.entry(inode).or_insert((pid, name.clone()));
            }
        }
    }
    (map, !denied)
}

fn firewall(ctx: &Ctx) -> Firewall {
    let host = &ctx.host;
    let mut fw = Firewall::default();
    if let Ok(conf) = host.read_to_string("/etc/ufw/ufw.conf") {
        fw.ufw_enabled = Some(conf.lines().any(|l| {
            let l = l.trim();
            l.eq_ignore_ascii_case("ENABLED=yes") || l.eq_ignore_ascii_case("ENABLED=\"yes\"")
        }));
        for f in ["/etc/ufw/user.rules", "/etc/ufw/user6.rules"] {
            if let Ok(text) = host.read_to_string(f) {
                for l in text.lines().filter(|l| l.starts_with("### tuple ###")) {
                    let mentions = INTERESTING.iter().any(|(p, _)| {
                        l.split(|c: char| c.is_whitespace() || c == ',')
                            .any(|w| w == p.to_string())
                    }) || l.contains(" any any ");
                    if mentions {
                        fw.ufw_rules
                            .push(l.trim_start_matches("### tuple ###").trim().to_string());
                    }
                }
            }
        }
    }
    let zones: Vec<_> = host
        .glob("/etc/firewalld/zones/*.xml")
        .into_iter()
        .chain(host.glob("/usr/lib/firewalld/zones/public.xml"))
        .collect();
    fw.firewalld_present = host.is_file("/etc/firewalld/firewalld.conf") || !zones.is_empty();
    for z in zones {
        if let Ok(text) = host.read_to_string(&z) {
            for tag in text.split('<').skip(1) {
                let attr = |name: &str| {
                    tag.split(&format!("{name}=\""))
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                };
                if tag.starts_with("service ") {
                    if let Some(n) = attr("name") {
                        fw.firewalld_allows
                            .push(format!("{}: service {n}", z.display()));
                    }
                } else if tag.starts_with("port ")
                    && let (Some(p), Some(proto)) = (attr("port"), attr("protocol"))
                {
                    fw.firewalld_allows
                        .push(format!("{}: port {p}/{proto}", z.display()));
                }
            }
        }
    }
    fw.nftables_conf = host.is_file("/etc/nftables.conf");
    if let Ok(text) = host.read_to_string("/etc/nftables.conf") {
        (fw.nftables_input_drops, fw.nftables_accepts) = parse_nftables(&text);
    }
    fw
}

pub async fn detect(ctx: &Ctx) -> NetworkFacts {
    let mut facts = NetworkFacts {
        firewall: firewall(ctx),
        ..Default::default()
    };
    if !ctx.host.is_live() {
        facts.not_visible_because = Some(format!(
            "--root {}: listening sockets belong to this host, not to that tree",
            ctx.host.root().display()
        ));
        ctx.probes
            .skipped("listening sockets", "another root than /");
        return facts;
    }
    let start = std::time::Instant::now();
    let mut sockets = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        match std::fs::read_to_string(file) {
            Ok(t) => sockets.extend(parse_proc_net_tcp(&t, v6)),
            Err(e) if !v6 => {
                facts.not_visible_because = Some(format!("{file}: {e}"));
                ctx.probes
                    .failed("listening sockets", start.elapsed(), format!("{file}: {e}"));
                return facts;
            }
            Err(_) => {}
        }
    }
    let (owners, all_visible) = socket_owners();
    facts.visible = true;
    facts.owners_visible = all_visible;
    facts.listeners = sockets
        .into_iter()
        .map(|(address, port, inode)| {
            let owner = owners.get(&inode);
            Listener {
                address,
                port,
                process: owner.map(|(_, n)| n.clone()),
                pid: owner.map(|(p, _)| *p),
                inode,
            }
        })
        .collect();
    facts
        .listeners
        .sort_by(|a, b| (a.port, &a.address).cmp(&(b.port, &b.address)));
    facts
        .listeners
        .dedup_by(|a, b| a.port == b.port && a.address == b.address && a.inode == b.inode);
    facts.interesting = INTERESTING
        .iter()
        .map(|(port, purpose)| PortUse {
            port: *port,
            purpose: purpose.to_string(),
            listeners: facts
                .listeners
                .iter()
                .filter(|l| l.port == *port)
                .map(|l| {
                    format!(
                        "{} ({})",
                        l.address,
                        l.process.as_deref().unwrap_or("owner unknown")
                    )
                })
                .collect(),
        })
        .collect();
    ctx.probes.ok("listening sockets", start.elapsed());
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_decode() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:6C47 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1\n   2: 0100007F:9C4F 0100007F:6C47 01 00000000:00000000 00:00000000 00000000  1000        0 7 1\n";
        assert_eq!(
            parse_proc_net_tcp(v4, false),
            vec![
                ("127.0.0.1".into(), 27719, 12345),
                ("0.0.0.0".into(), 443, 999)
            ]
        );
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n   1: 00000000000000000000000001000000:6C5F 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1\n";
        assert_eq!(
            parse_proc_net_tcp(v6, true),
            vec![("::".into(), 443, 4242), ("::1".into(), 27743, 4343)]
        );
    }
}
