//! Versions of a tree's programs without running them: the tree's package database
//! (`/var/lib/dpkg/status`). Under `--root`, the tree's nginx, certbot or docker are
//! whatever the image holds, and dpwizard runs as root: they are read, never executed.

use std::collections::BTreeMap;

use super::Ctx;
use crate::host::ReadKind;

pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// Installed packages and their versions, from a dpkg status file.
#[derive(Debug, Clone, Default)]
pub struct Packages {
    installed: BTreeMap<String, String>,
    /// Why the database could not be read, when it could not.
    pub problem: Option<String>,
}

impl Packages {
    pub fn read(ctx: &Ctx) -> Packages {
        match ctx.host.read_string_kind(DPKG_STATUS, ReadKind::PackageDb) {
            Ok(text) => Packages {
                installed: parse_dpkg_status(&text),
                problem: None,
            },
            Err(e) => Packages {
                installed: BTreeMap::new(),
                problem: Some(format!("{DPKG_STATUS} {e}")),
            },
        }
    }

    /// The first of `names` that is installed, with its package version.
    pub fn first_installed<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a str)> {
        names
            .iter()
            .find_map(|n| self.installed.get(*n).map(|v| (*n, v.as_str())))
    }

    /// The upstream version (`1.22.1` of `1.22.1-9+deb12u1`, `20.10.24` of
    /// `20.10.24+dfsg1-1+b3`, `2.6.2` of `2.6.2-5`) of the first installed package.
    pub fn upstream_version(&self, names: &[&str]) -> Option<String> {
        self.first_installed(names).map(|(_, v)| upstream(v))
    }
}

/// `[epoch:]upstream[-debian]` → upstream without a `+dfsg`/`~` repack suffix.
pub fn upstream(version: &str) -> String {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    let v = v.rsplit_once('-').map_or(v, |(u, _)| u);
    let v = v.split(['+', '~']).next().unwrap_or(v);
    v.to_string()
}

/// Package → version for every stanza whose Status is `install ok installed`.
pub fn parse_dpkg_status(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in text.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.split_whitespace().last() == Some("installed");
            }
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            out.insert(n.to_string(), v.to_string());
        }
    }
    out
}

/// The packages that ship each program dpwizard would otherwise ask for its version.
pub fn packages_of(program: &str) -> &'static [&'static str] {
    match program {
        "nginx" => &[
            "nginx",
            "nginx-core",
            "nginx-full",
            "nginx-light",
            "nginx-extras",
        ],
        "apache" | "apache2" | "httpd" => &["apache2-bin", "apache2", "httpd"],
        "caddy" => &["caddy"],
        "lighttpd" => &["lighttpd"],
        "haproxy" => &["haproxy"],
        "traefik" => &["traefik"],
        "certbot" => &["certbot", "python3-certbot"],
        "docker" => &["docker-ce-cli", "docker.io", "docker-cli"],
        "docker-compose" => &["docker-compose"],
        "docker-compose-plugin" => &["docker-compose-plugin", "docker-compose-v2"],
        _ => &[],
    }
}

/// The sentence a probe report carries when a tree's program was not run.
pub fn not_run(program: &str, packages: &Packages) -> String {
    match packages.first_installed(packages_of(program)) {
        Some((pkg, v)) => format!(
            "not run: it belongs to the tree under --root; version from its package database \
             ({pkg} {v})"
        ),
        None => format!(
            "not run: it belongs to the tree under --root; version unknown ({})",
            packages
                .problem
                .clone()
                .unwrap_or_else(|| format!("no {program} package in {DPKG_STATUS}"))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_and_upstream_versions() {
        let text = "Package: nginx\nStatus: install ok installed\nVersion: 1.22.1-9+deb12u1\n\n\
                    Package: docker.io\nStatus: install ok installed\nVersion: 20.10.24+dfsg1-1+b3\n\n\
                    Package: caddy\nStatus: deinstall ok config-files\nVersion: 2.6.2-5\n\n\
                    Package: certbot\nStatus: install ok installed\nVersion: 1:2.1.0-4\n";
        let db = parse_dpkg_status(text);
        assert_eq!(
            db.get("nginx").map(String::as_str),
            Some("1.22.1-9+deb12u1")
        );
        assert!(!db.contains_key("caddy"), "removed, only its config left");
        let p = Packages {
            installed: db,
            problem: None,
        };
        assert_eq!(
            p.upstream_version(packages_of("nginx")).as_deref(),
            Some("1.22.1")
        );
        assert_eq!(
            p.upstream_version(packages_of("docker")).as_deref(),
            Some("20.10.24")
        );
        assert_eq!(
            p.upstream_version(packages_of("certbot")).as_deref(),
            Some("2.1.0")
        );
        assert_eq!(p.upstream_version(packages_of("caddy")), None);
        assert_eq!(
            not_run("nginx", &p),
            "not run: it belongs to the tree under --root; version from its package database \
             (nginx 1.22.1-9+deb12u1)"
        );
    }
}
