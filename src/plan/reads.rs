//! What the planner needs read before it can plan: every file a plan for these answers may
//! change or must see, named here once. The edge (`apply::snapshot`) reads them into a
//! `Snapshot`; the planner itself reads nothing.

use crate::answers::{Answers, TlsMode};
use crate::detect::Facts;

use super::firewall::NFTABLES_CONF;
use super::front_apache::DEBIAN_ROOT as APACHE_ROOT;
use super::front_caddy::{CADDYFILE, UNIT_DIRS as CADDY_UNIT_DIRS, UNITS as CADDY_UNITS};
use super::make::{self_signed_paths, site_file_name};

/// The reads a plan needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Files read as they are (an absent one is simply absent from the snapshot).
    pub files: Vec<String>,
    /// Files that may be symbolic links (Debian's sites-enabled → sites-available): the
    /// path each resolves to is recorded and read as well, since edits go to the real file.
    pub resolve: Vec<String>,
    /// Files whose directory may be a symbolic link (a Compose project linked into place):
    /// the directory is resolved, since the file itself may not exist yet (a new override).
    pub resolve_dir: Vec<String>,
    /// Directories whose every entry is read (what `a2enmod` would link).
    pub list: Vec<String>,
    /// Directories whose names are listed into `Snapshot::dirs` (the browser client's).
    pub listings: Vec<String>,
    /// Directories whose existence decides a layout (nginx's sites-available/).
    pub dirs: Vec<String>,
    /// A fresh self-signed certificate and key for this domain are wanted: made at the
    /// edge, since key generation is not pure (the same inputs must give the same plan).
    pub self_signed_for: Option<String>,
}

/// The drop-in names dpwizard may use for a unit (the first one no other drop-in outranks).
pub const DROPIN_NAMES: [&str; 3] = [
    "zz-dpwizard.conf",
    "zzz-dpwizard.conf",
    "zzzz-dpwizard.conf",
];

pub fn reads(facts: &Facts, answers: &Answers) -> Reads {
    let domain = answers.site.domain.as_str();
    let mut r = Reads::default();
    let files = &mut r.files;
    // nginx on the host: the files of its TLS servers (each once: thousands of servers may
    // share one), and where a new site for the domain would go.
    let mut server_files: Vec<String> = facts
        .nginx
        .servers
        .iter()
        .filter(|s| s.ssl)
        .map(|s| s.file.to_string())
        .collect();
    server_files.sort();
    server_files.dedup();
    files.extend(server_files.iter().cloned());
    r.resolve.extend(server_files);
    let site = site_file_name(domain);
    files.push(format!("/etc/nginx/sites-available/{site}"));
    files.push(format!("/etc/nginx/sites-enabled/{site}"));
    files.push(format!("/etc/nginx/conf.d/{site}"));
    r.dirs.push("/etc/nginx/sites-available".into());
    let (c, k) = self_signed_paths(domain);
    files.push(c);
    files.push(k);
    if answers.tls.mode == Some(TlsMode::SelfSigned) {
        r.self_signed_for = Some(domain.to_string());
    }
    // systemd: drop-ins, enablement links, a new unit, its user.
    for u in &facts.runtime.units {
        for name in DROPIN_NAMES {
            files.push(format!("/etc/systemd/system/{}.d/{name}", u.name));
        }
        for t in u
            .wanted_by
            .iter()
            .map(String::as_str)
            .chain(["multi-user.target"])
        {
            files.push(format!("/etc/systemd/system/{t}.wants/{}", u.name));
        }
    }
    files.push("/etc/systemd/system/drawpile-srv.service".into());
    for sock in &facts.runtime.sockets {
        files.push(format!("/etc/systemd/system/{}", sock.name));
        files.push(format!(
            "/etc/systemd/system/{}.d/zz-dpwizard.conf",
            sock.name
        ));
        for via in &sock.enabled_via {
            files.push(format!("/etc/systemd/system/{via}/{}", sock.name));
        }
    }
    files.push("/etc/sysusers.d/drawpile-srv.conf".into());
    // An explicit drawpile.user must exist before a unit may run as it.
    files.push("/etc/passwd".into());
    // Compose projects: every file Compose reads, the override file customisations go to,
    // and the sites nginx in their containers reads through bind mounts.
    for f in &facts.runtime.compose.files {
        files.push(f.path.clone());
        r.resolve_dir.extend(f.config_files.iter().cloned());
        r.resolve_dir.extend(f.override_path().ok());
    }
    for c in &facts.nginx_containers {
        r.resolve_dir.extend(
            c.config
                .servers
                .iter()
                .filter(|s| s.ssl)
                .map(|s| s.file.to_string()),
        );
    }
    // The nftables rules a firewall step may extend.
    files.push(NFTABLES_CONF.into());
    // Apache (Debian layout): every file its configuration reads (the domain's vhost is
    // among them, edited at its real path), certbot's SSL options (they turn SSLEngine on),
    // and the module directories.
    if facts.apache.config_root.as_deref() == Some(APACHE_ROOT) {
        files.extend(facts.apache.files.iter().cloned());
        r.resolve.extend(facts.apache.files.iter().cloned());
        files.push("/etc/letsencrypt/options-ssl-apache.conf".into());
        for dir in ["mods-available", "mods-enabled"] {
            r.list.push(format!("{APACHE_ROOT}/{dir}"));
        }
    }
    // Caddy: the Caddyfile and the files it imports, and which of Debian's units (Caddyfile
    // or API/JSON) starts at boot.
    files.push(CADDYFILE.into());
    for unit in CADDY_UNITS {
        files.push(format!(
            "/etc/systemd/system/multi-user.target.wants/{unit}"
        ));
        for dir in CADDY_UNIT_DIRS {
            files.push(format!("{dir}/{unit}"));
        }
    }
    files.extend(facts.caddy.files.iter().cloned());
    // The browser client's directory, when it is hosted: index.html and a .wasm must be there.
    if let Some(dir) = answers.web_client.hosted() {
        r.listings.push(dir.as_str().to_string());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_is_asked_for_only_with_a_self_signed_answer() {
        let facts = Facts::default();
        let mut answers =
            crate::answers::parse("t.toml", "[site]\ndomain = \"paint.example.com\"\n")
                .expect("valid answers");
        assert_eq!(reads(&facts, &answers).self_signed_for, None);
        answers.tls.mode = Some(TlsMode::SelfSigned);
        let r = reads(&facts, &answers);
        assert_eq!(r.self_signed_for.as_deref(), Some("paint.example.com"));
        // The files it would write are read first (to compare, and to back up).
        let (c, k) = self_signed_paths("paint.example.com");
        assert!(r.files.contains(&c) && r.files.contains(&k));
    }
}
