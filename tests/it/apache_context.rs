//! Apache's route read as Apache reads it, on fake Debian machines (plan_fronts.rs's
//! shapes): an `Include` inside the `<VirtualHost>` is followed (evidence points into the
//! included file, the plan still edits the vhost's own file and keeps a sound included
//! route), and what a virtual host inherits from the main server (outside every
//! `<VirtualHost>`) is judged by Apache 2.4's merge rules: the main server's `ProxyPass`
//! lines come before the host's own, its `RequestHeader` applies, its rewrite rules only
//! with `RewriteOptions Inherit`.

use crate::audit_fronts::{GOOD_WS, MODULES, apache, assert_findings, assert_plan_keeps, evidence};
use crate::plan_fronts::{ENABLED, VHOST, answers, le_ssl, proxy_findings};
use crate::support::*;

/// The snippet an admin keeps the WebSocket lines in, included from the vhost.
const SNIPPET: &str = "/etc/apache2/conf-available/drawpile.conf";

/// GOOD_WS without its indentation, as a file of its own.
fn snippet(body: &str) -> String {
    body.replace('\t', "")
}

/// The le-ssl vhost including the snippet above the site's own `ProxyPass /`.
fn including() -> String {
    le_ssl(&format!("\tInclude {SNIPPET}\n"))
}

#[test]
fn a_route_in_an_included_file_is_read_and_kept() {
    let m = apache(&including(), MODULES);
    m.file(SNIPPET, snippet(GOOD_WS));
    // Sound: nothing fires, and the plan keeps it (no block, no duplicate route).
    assert_findings(&m, &[]);
    assert_plan_keeps(&m, &format!("{SNIPPET}:4: the virtual host's own route"));
    let a = answers(&m, "");
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(m.read(VHOST), including(), "the vhost is not touched");
    assert_eq!(m.read(SNIPPET), snippet(GOOD_WS));
}

#[test]
fn mistakes_in_an_included_file_are_shown_where_they_are() {
    // The wrong port, the pre-2025 Origin rule, no X-Real-IP: each named at its line in
    // the snippet.
    let broken = snippet(GOOD_WS)
        .replace("27751", "9999")
        .replace(
            r"!^(https://web\.(drawpile\.net|foxdice\.cn))?$",
            r"!^https://web\.drawpile\.net$",
        )
        .replace("RequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n", "");
    let m = apache(&including(), MODULES);
    m.file(SNIPPET, &broken);
    let f = proxy_findings(&m);
    let ids: Vec<&str> = f.iter().map(|x| &x[..13]).collect();
    assert_eq!(
        ids,
        [
            "DPW-PROXY-003",
            "DPW-PROXY-005",
            "DPW-PROXY-007",
            "DPW-PROXY-010"
        ],
        "{f:#?}"
    );
    let all = f.join("\n");
    for want in [
        format!("{SNIPPET}:2: RewriteCond %{{HTTP:Origin}} !^https://web\\.drawpile\\.net$"),
        format!("{SNIPPET}:4: ProxyPass /drawpile-web/ws ws://127.0.0.1:9999/drawpile-web/ws"),
    ] {
        assert!(all.contains(&want), "{want}\n{all}");
    }

    // The plan puts its block into the vhost's own file, above the Include (whose rules
    // would otherwise come first), and leaves the snippet alone; then nothing fires.
    let a = answers(&m, "");
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let after = m.read(VHOST);
    assert!(
        after.find("# END dpwizard").unwrap() < after.find(&format!("Include {SNIPPET}")).unwrap(),
        "{after}"
    );
    assert_eq!(m.read(SNIPPET), broken);
    assert_eq!(proxy_findings(&m), Vec::<String>::new());

    // The same through a glob relative to ServerRoot.
    let glob = le_ssl("\tIncludeOptional conf-available/drawpile*.conf\n");
    let m = apache(&glob, MODULES);
    m.file(SNIPPET, &broken);
    let f = proxy_findings(&m);
    assert!(
        f.iter()
            .any(|x| x.starts_with(&format!("DPW-PROXY-007: {SNIPPET}:4: ProxyPass"))),
        "{f:#?}"
    );
    let a = answers(&m, "");
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let after = m.read(VHOST);
    assert!(
        after.find("# END dpwizard").unwrap()
            < after.find("IncludeOptional conf-available").unwrap(),
        "{after}"
    );
    assert_eq!(proxy_findings(&m), Vec::<String>::new());
}

/// Debian's apache2.conf order: modules, ports, conf-enabled, then the sites.
fn with_conf_enabled(m: &FakeMachine, name: &str, text: &str) {
    m.file(
        "/etc/apache2/apache2.conf",
        "ServerRoot \"/etc/apache2\"\nIncludeOptional mods-enabled/*.load\n\
IncludeOptional mods-enabled/*.conf\nInclude ports.conf\nIncludeOptional conf-enabled/*.conf\n\
IncludeOptional sites-enabled/*.conf\n",
    );
    m.file(&format!("/etc/apache2/conf-enabled/{name}"), text);
}

#[test]
fn a_main_server_proxypass_comes_before_every_hosts_own() {
    // mod_proxy merges the main server's ProxyPass list first: its `ProxyPass /` takes the
    // path although the host's own rule is right.
    let m = apache(&le_ssl(GOOD_WS), MODULES);
    let app = "/etc/apache2/conf-enabled/app.conf";
    with_conf_enabled(
        &m,
        "app.conf",
        "# the app, for every site\nProxyPass / http://127.0.0.1:8080/\n",
    );
    let v = assert_findings(&m, &["DPW-PROXY-002"]);
    let e = evidence(&v, "DPW-PROXY-002");
    assert!(
        e.contains(&format!(
            "{app}:2: ProxyPass / http://127.0.0.1:8080/ (main server, outside every \
             <VirtualHost>: Apache puts it before the host's own): takes /drawpile-web/ws first"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{ENABLED}:8: ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws: never reached"
        )),
        "{e}"
    );
    assert!(
        e.contains("a ProxyPass outside every <VirtualHost> comes before each host's own"),
        "{e}"
    );
    // The plan cannot place its block before it: refused by name, nothing written.
    let a = answers(&m, "");
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!(
            "{app}:2: this rule (/ → http://127.0.0.1:8080/) is outside every <VirtualHost>"
        )) && all.contains("move it into the virtual hosts that need it"),
        "{all}"
    );
    assert_eq!(m.read(VHOST), le_ssl(GOOD_WS));

    // A main-server rule for another path changes nothing.
    with_conf_enabled(&m, "app.conf", "ProxyPass /app http://127.0.0.1:8080/\n");
    assert_findings(&m, &[]);
}

#[test]
fn main_server_headers_apply_and_its_rewrite_rules_only_when_inherited() {
    let header = "\tRequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n";
    let no_header = GOOD_WS.replace(header, "");
    // RequestHeader outside every vhost: mod_headers merges it into each.
    let m = apache(&le_ssl(&no_header), MODULES);
    with_conf_enabled(&m, "realip.conf", header.trim_start());
    assert_findings(&m, &[]);

    // The Origin rule outside every vhost: mod_rewrite does not inherit rules by default,
    // so the host has none.
    let origin = "RewriteEngine On\n\
RewriteCond %{HTTP:Origin} !^(https://web\\.(drawpile\\.net|foxdice\\.cn))?$\n\
RewriteRule ^/drawpile-web/ws - [F]\n";
    let proxy_only = "\tProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws\n\
\tRequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n";
    let m = apache(&le_ssl(proxy_only), MODULES);
    with_conf_enabled(&m, "origin.conf", origin);
    assert_findings(&m, &["DPW-PROXY-006"]);
    // With `RewriteOptions Inherit` in the host they run (RewriteEngine comes from the main
    // server when the host sets none), and the evidence names their file.
    let inherit = format!("\tRewriteOptions Inherit\n{proxy_only}");
    m.file(VHOST, le_ssl(&inherit));
    assert_findings(&m, &[]);
    // The same with `InheritDown` in the main server; `IgnoreInherit` in the host refuses it.
    m.file(VHOST, le_ssl(proxy_only));
    with_conf_enabled(
        &m,
        "origin.conf",
        &format!("RewriteOptions InheritDown\n{origin}"),
    );
    assert_findings(&m, &[]);
    m.file(
        VHOST,
        le_ssl(&format!("\tRewriteOptions IgnoreInherit\n{proxy_only}")),
    );
    assert_findings(&m, &["DPW-PROXY-006"]);
    // A pre-2025 rule inherited is judged where it is written.
    m.file(VHOST, le_ssl(proxy_only));
    with_conf_enabled(
        &m,
        "origin.conf",
        &format!("RewriteOptions InheritDown\n{origin}").replace(
            r"!^(https://web\.(drawpile\.net|foxdice\.cn))?$",
            r"!^https://web\.drawpile\.net$",
        ),
    );
    let v = assert_findings(&m, &["DPW-PROXY-003", "DPW-PROXY-005"]);
    assert!(
        evidence(&v, "DPW-PROXY-003").contains("/etc/apache2/conf-enabled/origin.conf:3:"),
        "{v}"
    );
}

/// RHEL/Fedora's httpd layout: httpd.conf, modules by LoadModule lines in conf.modules.d,
/// sites (certbot's `-le-ssl.conf` too) in conf.d.
const RHEL_SITE: &str = "/etc/httpd/conf.d/draw-le-ssl.conf";

fn rhel(vhost: &str, modules: &[&str]) -> FakeMachine {
    let m = crate::plan_fronts::with_drawpile();
    m.file(
        "/etc/httpd/conf/httpd.conf",
        "ServerRoot \"/etc/httpd\"\nListen 80\nInclude conf.modules.d/*.conf\n\
IncludeOptional conf.d/*.conf\n",
    )
    .file(
        "/etc/httpd/conf.modules.d/00-base.conf",
        "LoadModule headers_module modules/mod_headers.so\n\
LoadModule rewrite_module modules/mod_rewrite.so\n",
    )
    .file(
        "/etc/httpd/conf.modules.d/00-ssl.conf",
        "LoadModule ssl_module modules/mod_ssl.so\n",
    )
    .file(
        "/etc/httpd/conf.modules.d/00-proxy.conf",
        modules
            .iter()
            .map(|m| format!("LoadModule {m}_module modules/mod_{m}.so\n"))
            .collect::<String>(),
    )
    .file("/etc/httpd/conf.d/ssl.conf", "Listen 443 https\n")
    .file(RHEL_SITE, vhost)
    .file(
        "/etc/letsencrypt/options-ssl-apache.conf",
        "SSLEngine on\nSSLProtocol all -SSLv2 -SSLv3\n",
    );
    crate::audit::lineage_for(
        &m,
        crate::plan_fronts::DOMAIN,
        crate::audit::CertSpec {
            name: crate::plan_fronts::DOMAIN,
            ..crate::audit::GOOD_CERT
        },
        true,
        true,
    );
    crate::audit_fronts::with_port(&m);
    m
}

#[test]
fn rhel_layout_is_audited_from_conf_d_and_loadmodule_and_planned_by_hand() {
    let proxy = ["proxy", "proxy_http", "proxy_wstunnel"];
    let m = rhel(&le_ssl(GOOD_WS), &proxy);
    let v = assert_findings(&m, &[]);
    assert!(
        v["notes"].to_string().contains(&format!("{RHEL_SITE}:2")),
        "{}",
        v["notes"]
    );
    // Without mod_proxy_wstunnel's LoadModule line the ws:// route cannot upgrade; the
    // evidence says what to add on this layout (no a2enmod here).
    let m = rhel(&le_ssl(GOOD_WS), &proxy[..2]);
    let v = assert_findings(&m, &["DPW-PROXY-009"]);
    let e = evidence(&v, "DPW-PROXY-009");
    assert!(
        e.contains(&format!(
            "{RHEL_SITE}:8: ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws: \
             ws:// needs mod_proxy_wstunnel, which is not enabled (`LoadModule \
             proxy_wstunnel_module modules/mod_proxy_wstunnel.so` in conf.modules.d)"
        )),
        "{e}"
    );

    // The plan refuses, naming the vhost, the block, the missing lines and the commands.
    let m = rhel(&le_ssl(""), &proxy[..1]);
    let a = answers(&m, "[proxy]\nserver = \"apache\"\n");
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    for want in [
        "Apache's configuration here is the RHEL/Fedora httpd layout \
         (/etc/httpd/conf/httpd.conf: sites in /etc/httpd/conf.d, modules loaded by LoadModule \
         lines in /etc/httpd/conf.modules.d)",
        &format!(
            "1. In the virtual host for {} on 443 ({RHEL_SITE}:2)",
            crate::plan_fronts::DOMAIN
        ),
        "    RewriteRule ^/drawpile-web/ws - [F]\n",
        "    ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws\n",
        "\n    LoadModule proxy_http_module modules/mod_proxy_http.so\n    LoadModule \
         proxy_wstunnel_module modules/mod_proxy_wstunnel.so\n",
        "3. `apachectl configtest`, then `systemctl reload httpd`",
    ] {
        assert!(all.contains(want), "{want}\n---\n{all}");
    }
    assert!(!all.contains("LoadModule proxy_module"), "{all}");
    assert_eq!(m.read(RHEL_SITE), le_ssl(""));
}
