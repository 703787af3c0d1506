//! The Caddyfile block, judged by the REAL caddy (Debian's 2.6): `caddy validate` accepts
//! the edited Caddyfile, `caddy adapt` shows the WebSocket route sorted before the site's
//! catch-all `handle` with the 403 before the proxy, and in a throwaway VPS caddy serving
//! TLS on 443 in front of drawpile-srv answers 101 (official Origin), 101 (no Origin),
//! 403 (foreign Origin) while the rest of the site is served as before. The reader's
//! answers (directive order, who manages the certificate, JSON-configured units) are
//! checked against the same real program and Debian's own caddy units.

use std::process::Command;

use dpwizard::formats::caddyfile::{Caddyfile, CertSource, set_managed_block};
use dpwizard::plan::caddy::{BlockSpec, render_block};

use crate::support::front::{DOMAIN, assert_three_handshakes, selfsigned};
use crate::support::vps::Vps;
use crate::support::*;

/// An admin's Caddyfile: global options, a snippet, several addresses, certificate files
/// (a test cannot reach an ACME server), and a catch-all `handle` that would take every
/// path if Caddy did not sort the WebSocket route first.
fn caddyfile(cert_dir: &str) -> String {
    format!(
        "{{\n\tadmin off\n}}\n\n(common) {{\n\tencode gzip\n}}\n\n\
www.{DOMAIN}, {DOMAIN}:443 {{\n\timport common\n\ttls {cert_dir}/cert.pem {cert_dir}/key.pem\n\
\thandle {{\n\t\trespond \"the site\" 200\n\t}}\n}}\n"
    )
}

fn edited(original: &str) -> String {
    let c = Caddyfile::parse(original).unwrap();
    let site = c.site_for(DOMAIN).expect("the site");
    assert!(matches!(c.cert_source(site), CertSource::Files { .. }));
    let block = render_block(
        &BlockSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 27751,
            extra_origins: vec!["https://paint.example.org".into()],
        },
        &site.child_indent(original),
    );
    let out = set_managed_block(original, site, &block).unwrap();
    assert_eq!(out.replace(&block, ""), original, "every other byte kept");
    // Planned again on its own result: nothing changes.
    let again = Caddyfile::parse(&out).unwrap();
    let site = again.site_for(DOMAIN).unwrap();
    assert_eq!(set_managed_block(&out, site, &block).unwrap(), out);
    out
}

pub(crate) fn caddy(args: &[&str], file: &std::path::Path) -> std::process::Output {
    Command::new("caddy")
        .args(args)
        .arg("--config")
        .arg(file)
        .args(["--adapter", "caddyfile"])
        .env("HOME", file.parent().unwrap())
        .env("XDG_DATA_HOME", file.parent().unwrap())
        .env("XDG_CONFIG_HOME", file.parent().unwrap())
        .output()
        .unwrap()
}

#[test]
fn caddy_validates_the_edited_caddyfile_and_routes_the_path_first() {
    if skip_unless_program("caddy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = selfsigned();
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, edited(&caddyfile(&dir.path().display().to_string()))).unwrap();
    let v = caddy(&["validate"], &file);
    let all = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(v.status.success(), "{}", all(&v));
    assert!(all(&v).contains("Valid configuration"), "{}", all(&v));

    let a = caddy(&["adapt"], &file);
    assert!(a.status.success(), "{}", all(&a));
    let json: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let routes = &json["apps"]["http"]["servers"]["srv0"]["routes"];
    // Caddy's own reading of the site's addresses agrees with site_for's.
    let site = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["match"][0]["host"]
                .as_array()
                .is_some_and(|h| h.contains(&DOMAIN.into()))
        })
        .expect("a route for the domain");
    assert_eq!(
        site["match"][0]["host"],
        serde_json::json!([format!("www.{DOMAIN}"), DOMAIN])
    );
    let inner = site["handle"][0]["routes"].as_array().unwrap();
    // The handles, in the order Caddy runs them: ours (path-matched) before the catch-all.
    let handles: Vec<&serde_json::Value> =
        inner.iter().filter(|r| r["group"].is_string()).collect();
    assert_eq!(handles.len(), 2);
    assert_eq!(
        handles[0]["match"][0]["path"],
        serde_json::json!(["/drawpile-web/ws"])
    );
    assert!(handles[1].get("match").is_none());
    // Inside it: the 403 for a present, non-empty Origin not in the list, then the proxy.
    let ours = handles[0]["handle"][0]["routes"].as_array().unwrap();
    assert_eq!(ours[0]["handle"][0]["status_code"], 403);
    assert_eq!(
        ours[0]["match"][0]["header_regexp"]["Origin"]["pattern"],
        ".+"
    );
    assert_eq!(
        ours[0]["match"][0]["not"][0]["header"]["Origin"],
        serde_json::json!([
            "https://web.drawpile.net",
            "https://web.foxdice.cn",
            "https://paint.example.org"
        ])
    );
    let rp = &ours[1]["handle"][0];
    assert_eq!(rp["handler"], "reverse_proxy");
    assert_eq!(rp["upstreams"][0]["dial"], "127.0.0.1:27751");
    assert_eq!(
        rp["headers"]["request"]["set"]["X-Real-Ip"],
        serde_json::json!(["{http.request.remote.host}"])
    );
}

#[test]
fn real_caddy_on_443_passes_the_three_handshakes() {
    if skip_unless_root("a throwaway VPS with caddy on 443")
        || skip_unless_program("caddy")
        || skip_unless_program("curl")
    {
        return;
    }
    let vps = Vps::new();
    let (cert, key) = selfsigned();
    vps.file("/etc/ssl/dpw/cert.pem", &cert, 0o644)
        .file("/etc/ssl/dpw/key.pem", &key, 0o600)
        .file(
            "/etc/caddy/Caddyfile",
            edited(&caddyfile("/etc/ssl/dpw")),
            0o644,
        );
    assert_three_handshakes(
        &vps,
        "export HOME=/root XDG_DATA_HOME=/tmp/caddy-data XDG_CONFIG_HOME=/tmp/caddy-config",
        "caddy run --config /etc/caddy/Caddyfile --adapter caddyfile >/tmp/caddy.log 2>&1 &",
        "200",
        "/tmp/caddy.log",
    );
}

/// `preemptions` claims Caddy runs some site directives before dpwizard's handle and others
/// after it; the real `caddy adapt` says in which order the routes run.
#[test]
fn preemptions_follow_caddys_real_directive_order() {
    use dpwizard::formats::caddyfile::preemptions;
    if skip_unless_program("caddy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // (a directive of the admin's, whether Caddy runs it before dpwizard's handle, whether it
    // also applies to /drawpile-web/ws and so keeps the handle from seeing the request)
    let cases = [
        ("redir * https://elsewhere.example{uri}", true, true),
        ("rewrite * /index.html", true, true),
        ("uri strip_prefix /drawpile-web", true, true),
        ("try_files {path} /index.html", true, true),
        ("method * POST", true, true),
        (
            "handle /drawpile-web/ws* {\n\t\trespond \"mine\"\n\t}",
            true,
            true,
        ),
        (
            "handle_path /drawpile-web/ws/* {\n\t\trespond \"mine\"\n\t}",
            true,
            false,
        ),
        ("redir /old /new", true, false),
        (
            "handle /drawpile-web* {\n\t\trespond \"mine\"\n\t}",
            false,
            false,
        ),
        ("handle {\n\t\trespond \"mine\"\n\t}", false, false),
        ("route {\n\t\trespond \"mine\"\n\t}", false, false),
        ("respond \"mine\"", false, false),
        ("reverse_proxy localhost:8080", false, false),
        ("file_server", false, false),
    ];
    for (directive, first, takes) in cases {
        let original =
            format!("{{\n\tadmin off\n\tauto_https off\n}}\n{DOMAIN}:443 {{\n\t{directive}\n}}\n");
        let text = {
            let c = Caddyfile::parse(&original).unwrap();
            let site = c.site_for(DOMAIN).unwrap();
            let block = render_block(
                &BlockSpec {
                    upstream_host: "127.0.0.1".into(),
                    upstream_port: 27751,
                    extra_origins: vec![],
                },
                "\t",
            );
            set_managed_block(&original, site, &block).unwrap()
        };
        let c = Caddyfile::parse(&text).unwrap();
        let site = c.site_for(DOMAIN).unwrap();
        let claimed: Vec<usize> = preemptions(&text, site, "/drawpile-web/ws")
            .iter()
            .map(|p| p.directive.line)
            .collect();
        assert_eq!(!claimed.is_empty(), takes, "{directive}: {claimed:?}");

        let file = dir.path().join("Caddyfile");
        std::fs::write(&file, &text).unwrap();
        let a = caddy(&["adapt"], &file);
        assert!(
            a.status.success(),
            "{directive}: {}",
            String::from_utf8_lossy(&a.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
        let routes = json["apps"]["http"]["servers"]["srv0"]["routes"][0]["handle"][0]["routes"]
            .as_array()
            .unwrap()
            .clone();
        let ours = routes
            .iter()
            .position(|r| r["match"][0]["path"] == serde_json::json!(["/drawpile-web/ws"]))
            .unwrap_or_else(|| panic!("{directive}: {routes:#?}"));
        // What `preemptions` counts as running first, Caddy runs first (one route each).
        assert_eq!(routes.len(), 2, "{directive}: {routes:#?}");
        assert_eq!(ours, if first { 1 } else { 0 }, "{directive}: {routes:#?}");
    }
}

/// What `cert_source` says about a site, and what the real `caddy adapt` makes of it: files
/// loaded, the internal issuer, automatic HTTPS disabled, or Caddy's own ACME management.
#[test]
fn cert_source_agrees_with_caddy_adapt() {
    if skip_unless_program("caddy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = selfsigned();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let site = |global: &str, body: &str| {
        format!(
            "{{\n\tadmin off\n{global}}}\n(t) {{\n\ttls internal\n}}\n{DOMAIN} {{\n{body}\trespond hi\n}}\n"
        )
    };
    let cases = [
        (site("", ""), "automatic"),
        (site("", "\ttls admin@example.test\n"), "automatic"),
        (site("", "\ttls internal\n"), "internal"),
        (site("", "\ttls {\n\t\tissuer internal\n\t}\n"), "internal"),
        (site("\tlocal_certs\n", ""), "internal"),
        (site("", "\timport t\n"), "internal"),
        (
            site("", &format!("\ttls {d}/cert.pem {d}/key.pem\n")),
            "files",
        ),
        (site("\tauto_https off\n", ""), "not managed"),
        (site("\tauto_https disable_certs\n", ""), "not managed"),
    ];
    for (text, expected) in cases {
        let c = Caddyfile::parse(&text).unwrap();
        let ours = match c.cert_source(c.site_for(DOMAIN).unwrap()) {
            CertSource::Automatic => "automatic",
            CertSource::Internal => "internal",
            CertSource::Files { .. } => "files",
            CertSource::NotManaged { .. } => "not managed",
            CertSource::Unknown { .. } => "unknown",
        };
        let file = dir.path().join("Caddyfile");
        std::fs::write(&file, &text).unwrap();
        let a = caddy(&["adapt"], &file);
        assert!(
            a.status.success(),
            "{text}: {}",
            String::from_utf8_lossy(&a.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
        let tls = &json["apps"]["tls"];
        let auto = &json["apps"]["http"]["servers"]["srv0"]["automatic_https"];
        let issuers = tls["automation"]["policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["issuers"].as_array().cloned().unwrap_or_default())
            .map(|i| i["module"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>();
        let caddys = if tls["certificates"]["load_files"].is_array() {
            "files"
        } else if auto["disable"] == true || auto["disable_certificates"] == true {
            "not managed"
        } else if issuers.iter().any(|i| i == "internal") {
            "internal"
        } else {
            "automatic"
        };
        assert_eq!((ours, caddys), (expected, expected), "{text}\n{json:#}");
    }
}

/// Debian's own units: caddy.service runs the Caddyfile, caddy-api.service the API's JSON.
#[test]
fn debians_caddy_units_are_told_apart() {
    use dpwizard::formats::caddyfile::{ConfigSource, config_source};
    let exec = |unit: &str| -> Option<Vec<String>> {
        let text = std::fs::read_to_string(format!("/lib/systemd/system/{unit}")).ok()?;
        let line = text.lines().find_map(|l| l.strip_prefix("ExecStart="))?;
        Some(line.split_whitespace().map(String::from).collect())
    };
    let (Some(file), Some(api)) = (exec("caddy.service"), exec("caddy-api.service")) else {
        eprintln!("SKIPPED: caddy is not installed (scripts/test-deps.sh installs it)");
        return;
    };
    assert_eq!(
        config_source(&file),
        ConfigSource::Caddyfile("/etc/caddy/Caddyfile".into())
    );
    assert!(matches!(config_source(&api), ConfigSource::Json(why) if why.contains("--resume")));
}

/// A Caddyfile whose only site has no braces: the block goes at the end of the file, and the
/// real caddy reads it as part of that site, sorted before the site's catch-all handle.
#[test]
fn an_unbraced_site_gets_the_block_inside_it() {
    if skip_unless_program("caddy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = format!(
        "{{\n\tadmin off\n\tauto_https off\n}}\n{DOMAIN}:443\n\nhandle {{\n\trespond \"the site\"\n}}\n"
    );
    let c = Caddyfile::parse(&original).unwrap();
    let site = c.site_for(DOMAIN).expect("the unbraced site");
    let block = render_block(
        &BlockSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 27751,
            extra_origins: vec![],
        },
        &site.child_indent(&original),
    );
    let text = set_managed_block(&original, site, &block).unwrap();
    assert_eq!(text, format!("{original}{block}"));
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, &text).unwrap();
    let a = caddy(&["adapt"], &file);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let json: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let site = &json["apps"]["http"]["servers"]["srv0"]["routes"][0];
    assert_eq!(site["match"][0]["host"], serde_json::json!([DOMAIN]));
    let inner = site["handle"][0]["routes"].as_array().unwrap();
    assert_eq!(inner.len(), 2, "{inner:#?}");
    assert_eq!(
        inner[0]["match"][0]["path"],
        serde_json::json!(["/drawpile-web/ws"])
    );
}
