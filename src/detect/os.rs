//! The operating system: distribution (os-release), package manager, whether systemd is
//! PID 1, whether we are in a container, and who we are (non-root sees less).

use serde::Serialize;

use super::Ctx;
use crate::host::ReadKind;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct OsFacts {
    /// `ID=` from os-release, e.g. `debian`.
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    pub id_like: Vec<String>,
    /// `apt`, `dnf`, `yum`, `zypper`, `pacman` or `apk`, by which one is installed.
    pub package_manager: Option<String>,
    /// /run/systemd/system exists: systemd is PID 1 and systemctl can be used.
    pub systemd_running: bool,
    /// `docker`, `podman`, or another name from /run/systemd/container or cgroups.
    pub container: Option<String>,
    pub euid: u32,
    pub is_root: bool,
    /// What cannot be seen, and why (not root, another root than /).
    pub limits: Vec<String>,
}

/// Parses os-release(5): `KEY=value` with optional shell-style quotes.
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let (k, v) = line.split_once('=')?;
            let v = v.trim();
            let v = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')))
            {
                v[1..v.len() - 1]
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\")
            } else {
                v.to_string()
            };
            Some((k.trim().to_string(), v))
        })
        .collect()
}

pub fn detect(ctx: &Ctx) -> OsFacts {
    let host = &ctx.host;
    let mut facts = OsFacts::default();

    let release = host
        .read_string_kind("/etc/os-release", ReadKind::SystemInfo)
        .or_else(|e| {
            // Only a missing file falls back; a FIFO or a huge file is reported as it is.
            if e.kind() == std::io::ErrorKind::NotFound {
                host.read_string_kind("/usr/lib/os-release", ReadKind::SystemInfo)
            } else {
                Err(e)
            }
        });
    match release {
        Ok(text) => {
            for (k, v) in parse_os_release(&text) {
                match k.as_str() {
                    "ID" => facts.id = Some(v),
                    "VERSION_ID" => facts.version_id = Some(v),
                    "PRETTY_NAME" => facts.pretty_name = Some(v),
                    "ID_LIKE" => facts.id_like = v.split_whitespace().map(String::from).collect(),
                    _ => {}
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            facts.limits.push(format!("no /etc/os-release: {e}"))
        }
        Err(e) => facts.limits.push(format!("/etc/os-release {e}")),
    }

    facts.package_manager = [
        ("apt-get", "apt"),
        ("dnf", "dnf"),
        ("yum", "yum"),
        ("zypper", "zypper"),
        ("pacman", "pacman"),
        ("apk", "apk"),
    ]
    .iter()
    .find(|(bin, _)| host.which(bin).is_some())
    .map(|(_, name)| name.to_string());

    facts.systemd_running = host.is_dir("/run/systemd/system");

    facts.container = if host.exists("/.dockerenv") {
        Some("docker".into())
    } else if host.exists("/run/.containerenv") {
        Some("podman".into())
    } else if let Ok(c) = host.read_string_kind("/run/systemd/container", ReadKind::SystemInfo) {
        Some(c.trim().to_string()).filter(|s| !s.is_empty())
    } else if host.is_live() {
        std::fs::read_to_string("/proc/1/cgroup")
            .ok()
            .and_then(|cg| container_from_cgroup(&cg))
    } else {
        None
    };

    let euid = nix::unistd::geteuid();
    facts.euid = euid.as_raw();
    facts.is_root = euid.is_root();
    if !facts.is_root {
        facts.limits.push(
            "not running as root: other users' processes, private keys and some logs cannot be read"
                .into(),
        );
    }
    if !host.is_live() {
        facts.limits.push(format!(
            "looking at {} instead of /: listening sockets, running services and containers \
             belong to this host, not to that tree, so they are not reported",
            host.root().display()
        ));
    }
    facts
}

/// Container runtimes leave their name in PID 1's cgroup path (cgroup v1 mostly).
fn container_from_cgroup(text: &str) -> Option<String> {
    for name in ["docker", "kubepods", "lxc", "libpod"] {
        if text.lines().any(|l| l.contains(&format!("/{name}"))) {
            return Some(name.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_and_bare_values() {
        let kv = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n# c\nID_LIKE='rhel fedora'\n",
        );
        assert_eq!(
            kv[0],
            (
                "PRETTY_NAME".into(),
                "Debian GNU/Linux 12 (bookworm)".into()
            )
        );
        assert_eq!(kv[1], ("ID".into(), "debian".into()));
        assert_eq!(kv[2], ("VERSION_ID".into(), "12".into()));
        assert_eq!(kv[3], ("ID_LIKE".into(), "rhel fedora".into()));
    }

    #[test]
    fn cgroup_names_the_runtime() {
        assert_eq!(
            container_from_cgroup("12:pids:/docker/0123abc\n").as_deref(),
            Some("docker")
        );
        assert_eq!(container_from_cgroup("0::/init.scope\n"), None);
    }
}
