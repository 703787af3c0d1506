//! TLS: certbot and its lineages (live/ links into archive/, renewal/*.conf with the
//! authenticator, webroot and hooks), every certificate parsed (names, validity, issuer,
//! chain, whether the key matches), how renewal is scheduled (timer or cron), and the other
//! certificates web server configs point at.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;
use crate::host::ReadKind;

const LE: &str = "/etc/letsencrypt";

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct TlsFacts {
    /// certbot's path and version, null when not installed.
    pub certbot: Option<String>,
    pub certbot_version: Option<String>,
    /// Lineages under /etc/letsencrypt/live.
    pub lineages: Vec<Lineage>,
    /// How renewal runs: `certbot.timer` (enabled or not), cron entries.
    pub renewal_schedule: Vec<String>,
    /// Whether a renewal timer or cron job was found (null: cannot tell, e.g. no systemd
    /// state under another root and no cron file).
    pub renewal_scheduled: Option<bool>,
    /// Hooks in /etc/letsencrypt/renewal-hooks/deploy (run after every renewal).
    pub deploy_hooks: Vec<String>,
    /// Certificates referenced by web server configurations (outside certbot's lineages
    /// too), each parsed.
    pub referenced: Vec<ReferencedCert>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Lineage {
    /// Lineage name (the directory under live/), usually the first domain.
    pub name: String,
    /// Names on the certificate (SANs, else CN).
    pub names: Vec<String>,
    /// Expiry, RFC 3339.
    pub not_after: Option<String>,
    pub cert_path: String,
    pub fullchain_path: String,
    pub key_path: String,
    pub certificate: Option<CertInfo>,
    /// From renewal/<name>.conf.
    pub renewal: Option<RenewalConf>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct RenewalConf {
    pub path: String,
    pub authenticator: Option<String>,
    pub installer: Option<String>,
    /// webroot_path (and every path of [[webroot_map]]).
    pub webroot: Vec<String>,
    pub server: Option<String>,
    pub renew_hook: Option<String>,
    pub deploy_hook: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Days left until expiry (negative: expired), by dpwizard's clock.
    pub days_left: i64,
    pub expired: bool,
    pub not_yet_valid: bool,
    pub self_signed: bool,
    /// Certificates in the file (a full chain has 2 or more).
    pub chain_length: usize,
    /// The private key matches the certificate; null when the key could not be read.
    pub key_matches: Option<bool>,
    /// Why the key could not be checked.
    pub key_problem: Option<String>,
    pub key_type: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ReferencedCert {
    pub path: String,
    pub key_path: Option<String>,
    /// Which config line points at it (file:line).
    pub referenced_by: String,
    pub certificate: Option<CertInfo>,
    pub error: Option<String>,
}

/// Parses a PEM bundle: the leaf (first) certificate's facts and the chain length.
pub fn parse_cert_pem(pem: &[u8], now: i64) -> Result<CertInfo, String> {
    let mut chain = 0;
    let mut leaf: Option<CertInfo> = None;
    for item in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let item = item.map_err(|e| format!("not PEM: {e}"))?;
        if item.label != "CERTIFICATE" {
            continue;
        }
        chain += 1;
        if leaf.is_some() {
            continue;
        }
        let cert = item
            .parse_x509()
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let v = cert.validity();
        let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
        leaf = Some(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            names: crate::verify::certificate_names(&cert),
            not_before: crate::verify::rfc3339(&v.not_before),
            not_after: crate::verify::rfc3339(&v.not_after),
            days_left: (na - now).div_euclid(86400),
            expired: now > na,
            not_yet_valid: now < nb,
            self_signed: cert.subject() == cert.issuer(),
            key_type: Some(key_type(&cert)),
            ..Default::default()
        });
    }
    let mut info = leaf.ok_or_else(|| "no certificate in the file".to_string())?;
    info.chain_length = chain;
    Ok(info)
}

fn key_type(cert: &x509_parser::certificate::X509Certificate<'_>) -> String {
    use x509_parser::public_key::PublicKey;
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(r)) => format!("RSA {}", r.key_size()),
        Ok(PublicKey::EC(e)) => format!("EC {}", e.key_size()),
        Ok(_) => "other".into(),
        Err(_) => "unknown".into(),
    }
}

/// Whether a PEM private key belongs to the certificate: their public keys are compared.
pub fn key_matches(cert_pem: &[u8], key_pem: &str) -> Result<bool, String> {
    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| format!("key not readable: {e}"))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem).map_err(|e| format!("{e}"))?;
    let cert = pem.parse_x509().map_err(|e| format!("{e}"))?;
    use rcgen::PublicKeyData;
    Ok(cert.public_key().raw == key.subject_public_key_info().as_slice())
}

/// Reads a certbot renewal conf (INI-like; `[[webroot_map]]` lists domain = path).
pub fn parse_renewal_conf(path: &str, text: &str) -> RenewalConf {
    let mut r = RenewalConf {
        path: path.to_string(),
        ..Default::default()
    };
    let mut section = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if l.starts_with('[') {
            section = l.trim_matches(['[', ']']).to_string();
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim().to_string());
        match (section.as_str(), k) {
            ("renewalparams", "authenticator") => r.authenticator = Some(v),
            ("renewalparams", "installer") => r.installer = Some(v).filter(|v| v != "None"),
            ("renewalparams", "server") => r.server = Some(v),
            ("renewalparams", "renew_hook") => r.renew_hook = Some(v),
            ("renewalparams", "deploy_hook") => r.deploy_hook = Some(v),
            ("renewalparams", "webroot_path") => r.webroot.extend(
                v.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty()),
            ),
            ("webroot_map", _) if !r.webroot.contains(&v) => r.webroot.push(v),
            _ => {}
        }
    }
    r
}

fn cert_with_key(ctx: &Ctx, cert: &Path, key: Option<&Path>) -> Result<CertInfo, String> {
    let bytes = ctx
        .host
        .read_kind(cert, ReadKind::Certificate)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let mut info = parse_cert_pem(&bytes, ctx.host.clock().now_unix())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if let Some(key) = key {
        match ctx.host.read_string_kind(key, ReadKind::Certificate) {
            Ok(k) => match key_matches(&bytes, &k) {
                Ok(m) => info.key_matches = Some(m),
                Err(e) => info.key_problem = Some(format!("{}: {e}", key.display())),
            },
            Err(e) => {
                info.key_problem = Some(format!(
                    "{}: {e}{}",
                    key.display(),
                    if e.kind() == std::io::ErrorKind::PermissionDenied {
                        " (run as root to check the key)"
                    } else {
                        ""
                    }
                ))
            }
        }
    }
    Ok(info)
}

pub async fn detect(ctx: &Ctx) -> TlsFacts {
    let host = &ctx.host;
    let mut facts = TlsFacts::default();
    match host.which("certbot") {
        Some(certbot) if !host.runs_target_programs() => {
            facts.certbot = Some(certbot.display().to_string());
            let packages = ctx.packages();
            ctx.probes.skipped(
                "certbot --version",
                super::packages::not_run("certbot", packages),
            );
            facts.certbot_version =
                packages.upstream_version(super::packages::packages_of("certbot"));
        }
        Some(certbot) => {
            facts.certbot = Some(certbot.display().to_string());
            let out = host.run(host.command(&certbot).arg("--version")).await;
            ctx.probes.command("certbot --version", &out, &[0]);
            let text = out.stdout_str() + &out.stderr_str();
            facts.certbot_version = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("certbot "))
                .map(|v| v.trim().to_string());
        }
        None => ctx.probes.skipped("certbot", "certbot is not installed"),
    }
    for name in host.list_dir(format!("{LE}/live")).unwrap_or_default() {
        let dir = PathBuf::from(format!("{LE}/live/{name}"));
        if !host.is_dir(&dir) {
            continue; // live/README
        }
        let mut l = Lineage {
            cert_path: dir.join("cert.pem").display().to_string(),
            fullchain_path: dir.join("fullchain.pem").display().to_string(),
            key_path: dir.join("privkey.pem").display().to_string(),
            name: name.clone(),
            ..Default::default()
        };
        match cert_with_key(
            ctx,
            &dir.join("fullchain.pem"),
            Some(&dir.join("privkey.pem")),
        ) {
            Ok(info) => {
                l.names = info.names.clone();
                l.not_after = Some(info.not_after.clone());
                l.certificate = Some(info);
            }
            Err(e) => l.errors.push(e),
        }
        let conf = format!("{LE}/renewal/{name}.conf");
        match host.read_to_string(&conf) {
            Ok(text) => l.renewal = Some(parse_renewal_conf(&conf, &text)),
            Err(e) => l
                .errors
                .push(format!("{conf}: {e} (certbot cannot renew it)")),
        }
        facts.lineages.push(l);
    }
    facts.deploy_hooks = host
        .list_dir(format!("{LE}/renewal-hooks/deploy"))
        .unwrap_or_default()
        .into_iter()
        .map(|f| format!("{LE}/renewal-hooks/deploy/{f}"))
        .collect();
    let timer_unit = [
        "/etc/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    ]
    .iter()
    .map(|d| format!("{d}/certbot.timer"))
    .find(|p| host.exists(p));
    if let Some(t) = &timer_unit {
        let enabled = host.exists("/etc/systemd/system/timers.target.wants/certbot.timer");
        facts.renewal_schedule.push(format!(
            "{t} ({})",
            if enabled { "enabled" } else { "not enabled" }
        ));
        if enabled {
            facts.renewal_scheduled = Some(true);
        }
    }
    for cron in ["/etc/cron.d/certbot", "/etc/crontab"] {
        if let Ok(text) = host.read_to_string(cron) {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                if line.contains("certbot") && line.contains("renew") {
                    facts
                        .renewal_schedule
                        .push(format!("{cron}: {}", line.trim()));
                    facts.renewal_scheduled = Some(true);
                }
            }
        }
    }
    if facts.renewal_scheduled.is_none() && host.is_live() {
        // On the live machine the files above are the whole story.
        facts.renewal_scheduled = Some(false);
    }
    facts
}

/// Adds the certificates web server configs point at: (cert path, key path, file:line).
pub fn add_referenced(facts: &mut TlsFacts, ctx: &Ctx, refs: &[(String, Option<String>, String)]) {
    for (cert, key, at) in refs {
        if facts.referenced.iter().any(|r| &r.path == cert) {
            continue;
        }
        let (certificate, error) =
            match cert_with_key(ctx, Path::new(cert), key.as_deref().map(Path::new)) {
                Ok(i) => (Some(i), None),
                Err(e) => (None, Some(e)),
            };
        facts.referenced.push(ReferencedCert {
            path: cert.clone(),
            key_path: key.clone(),
            referenced_by: at.clone(),
            certificate,
            error,
        });
    }
}

/// Whether a certificate name (or an nginx `server_name`) `pattern` covers `domain`:
/// exact, a one-level `*.` wildcard, or nginx's `.example.com` (the name and its subdomains).
pub fn name_covers(pattern: &str, domain: &str) -> bool {
    pattern.eq_ignore_ascii_case(domain)
        || pattern.strip_prefix("*.").is_some_and(|w| {
            domain
                .split_once('.')
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(w))
        })
        || pattern
            .strip_prefix('.')
            .is_some_and(|w| domain.eq_ignore_ascii_case(w) || domain.ends_with(pattern))
}

#[cfg(test)]
mod name_tests {
    use super::name_covers;

    #[test]
    fn names_and_wildcards() {
        assert!(name_covers("paint.example.com", "PAINT.example.com"));
        assert!(name_covers("*.example.com", "paint.example.com"));
        assert!(!name_covers("*.example.com", "a.paint.example.com"));
        assert!(!name_covers("example.com", "paint.example.com"));
        assert!(name_covers(".example.com", "example.com"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_conf_is_read() {
        let r = parse_renewal_conf(
            "/etc/letsencrypt/renewal/x.conf",
            "# renew_before_expiry = 30 days\nversion = 2.1.0\narchive_dir = /etc/letsencrypt/archive/x\n\n[renewalparams]\naccount = abc\nauthenticator = webroot\nwebroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\nkey_type = ecdsa\nrenew_hook = systemctl reload nginx\n[[webroot_map]]\nx.example.com = /var/www/html\n",
        );
        assert_eq!(r.authenticator.as_deref(), Some("webroot"));
        assert_eq!(r.webroot, vec!["/var/www/html"]);
        assert_eq!(r.renew_hook.as_deref(), Some("systemctl reload nginx"));
        assert_eq!(r.installer, None);
    }

    #[test]
    fn certificates_and_keys() {
        let now = 1_795_000_000;
        let a = crate::plan::selfsigned::generate("a.example.com", now, 10).unwrap();
        let b = crate::plan::selfsigned::generate("b.example.com", now, 10).unwrap();
        let info = parse_cert_pem(a.cert_pem.as_bytes(), now).unwrap();
        assert_eq!(info.names, vec!["a.example.com"]);
        assert_eq!(info.days_left, 9);
        assert!(info.self_signed && !info.expired);
        let later = parse_cert_pem(a.cert_pem.as_bytes(), now + 11 * 86400).unwrap();
        assert!(later.expired && later.days_left < 0);
        let chain = format!("{}{}", a.cert_pem, b.cert_pem);
        assert_eq!(
            parse_cert_pem(chain.as_bytes(), now).unwrap().chain_length,
            2
        );
        assert_eq!(key_matches(a.cert_pem.as_bytes(), &a.key_pem), Ok(true));
        assert_eq!(key_matches(a.cert_pem.as_bytes(), &b.key_pem), Ok(false));
        assert!(parse_cert_pem(b"garbage", now).is_err());
        assert!(key_matches(a.cert_pem.as_bytes(), "garbage").is_err());
    }
}
