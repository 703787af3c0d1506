//! `dpwizard audit` with Apache or Caddy in front, on fake Debian machines built here (the
//! shapes of plan_fronts.rs: certbot's `*-le-ssl.conf`, a Caddyfile with several sites).
//! Each case breaks one thing in a setup that is right in every other respect and asserts
//! the exact ids that fire; a correct route written by hand in another style than
//! dpwizard's raises nothing. `answers --from-machine` reads the same route back.

use crate::plan_fronts::{
    CADDYFILE, DOMAIN, ENABLED, VHOST, apache_machine, assert_exported_answers_change_nothing,
    caddy_machine, le_ssl,
};
use crate::support::*;

/// drawpile-srv's WebSocket port on loopback, as the route expects.
pub(crate) fn with_port(m: &FakeMachine) {
    // Where the answers files of these tests go.
    std::fs::create_dir_all(m.path("/root")).unwrap();
    m.dropin(
        "drawpile-srv.service",
        "override.conf",
        "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --websocket-port 27751 \
         --websocket-listen 127.0.0.1\n",
    );
}

pub(crate) const MODULES: &[&str] = &[
    "proxy",
    "proxy_http",
    "proxy_wstunnel",
    "headers",
    "rewrite",
];

/// Apache with `vhost` as the domain's le-ssl file and `modules` enabled (as a2enmod links).
pub(crate) fn apache(vhost: &str, modules: &[&str]) -> FakeMachine {
    let m = apache_machine(vhost);
    // The certificate the vhost names: a CA-issued one in certbot's lineage, renewed by cron
    // with a reload hook, so the TLS checks pass and each case fires only its own ids.
    crate::audit::lineage_for(
        &m,
        DOMAIN,
        crate::audit::CertSpec {
            name: DOMAIN,
            ..crate::audit::GOOD_CERT
        },
        true,
        true,
    );
    for module in modules {
        m.symlink(
            &format!("/etc/apache2/mods-enabled/{module}.load"),
            &format!("../mods-available/{module}.load"),
        );
    }
    with_port(&m);
    m
}

/// The audit's finding ids, and the report.
fn audit(m: &FakeMachine) -> (Vec<String>, serde_json::Value) {
    let run = m.dpwizard(["audit", "--offline", "--json", "--domain", DOMAIN]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    let ids = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let errors = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "error");
    assert_eq!(run.code, i32::from(errors), "exit code follows the errors");
    (ids, v)
}

/// Asserts the exact ids, and returns the findings' evidence and fix by id.
pub(crate) fn assert_findings(m: &FakeMachine, expected: &[&str]) -> serde_json::Value {
    let (ids, v) = audit(m);
    assert_eq!(
        ids,
        expected,
        "{}",
        serde_json::to_string_pretty(&v["findings"]).unwrap()
    );
    assert!(
        v["passed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "DPW-PROXY-013"),
        "{v}"
    );
    v
}

/// The evidence of finding `id`, joined.
pub(crate) fn evidence(v: &serde_json::Value, id: &str) -> String {
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {v}"));
    format!(
        "{}\nfix: {}",
        f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n"),
        f["fix"].as_str().unwrap()
    )
}

/// A route written by hand, in another style than dpwizard's: two Origin conditions
/// AND'ed (`!^$`, then the official origins or the admin's own, case-insensitive), the
/// proxy inside `<Location>` (tried before the host's `ProxyPass /`), the header there too.
pub(crate) const HAND_APACHE: &str = "\tRewriteEngine on\n\
\tRewriteCond %{HTTP:Origin} !^$\n\
\tRewriteCond %{HTTP:Origin} !^https://(web\\.drawpile\\.net|web\\.foxdice\\.cn|paint\\.example\\.org)$ [NC]\n\
\tRewriteRule ^/drawpile-web/ws - [F]\n\
\t<Location /drawpile-web/ws>\n\
\t\tProxyPass ws://127.0.0.1:27751/drawpile-web/ws\n\
\t\tRequestHeader set X-Real-IP \"expr=%{REMOTE_ADDR}\"\n\
\t</Location>\n";

/// The checks of the site and its route that Apache and Caddy are judged by.
pub(crate) const ROUTE_CHECKS: &[&str] = &[
    "DPW-PROXY-001",
    "DPW-PROXY-002",
    "DPW-PROXY-003",
    "DPW-PROXY-004",
    "DPW-PROXY-005",
    "DPW-PROXY-006",
    "DPW-PROXY-007",
    "DPW-PROXY-008",
    "DPW-PROXY-009",
    "DPW-PROXY-010",
];

#[test]
fn apache_a_hand_written_route_raises_nothing_and_is_exported() {
    let m = apache(&le_ssl(HAND_APACHE), MODULES);
    let v = assert_findings(&m, &[]);
    for id in ROUTE_CHECKS.iter().chain(&["DPW-PROXY-014"]) {
        assert!(
            v["passed"].as_array().unwrap().iter().any(|p| p == id),
            "{id}: {v}"
        );
    }
    let skipped = v["skipped"].as_array().unwrap();
    let syntax = skipped.iter().find(|s| s["id"] == "DPW-PROXY-012").unwrap();
    assert!(
        syntax["reason"]
            .as_str()
            .unwrap()
            .contains("apache2ctl configtest"),
        "{syntax}"
    );
    let notes = v["notes"].to_string();
    assert!(notes.contains(&format!("{ENABLED}:2")), "{notes}");
    // Without --domain the audit finds it from the virtual host whose route serves the path.
    let run = m.dpwizard(["audit", "--offline", "--json"]);
    let w: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(w["domain"], DOMAIN, "{w}");
    assert_eq!(
        w["domain_from"],
        format!("ServerName of the virtual host at {ENABLED}:2")
    );

    let run = m.dpwizard(["answers", "--from-machine"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("server = \"apache\""), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("extra_origins = [\"https://paint.example.org\"]"),
        "{}",
        run.stdout
    ); // Applying that export keeps the route as it is: nothing to change.
    assert_exported_answers_change_nothing(&m, "apache");
    assert_plan_keeps(&m, &format!("{VHOST}:10: the virtual host's own route"));
}

/// `plan` with the exported answers says the hand-written route is kept.
pub(crate) fn assert_plan_keeps(m: &FakeMachine, note: &str) {
    let run = m.dpwizard(["answers", "--from-machine", "--domain", DOMAIN]);
    let p = m.path("/root/kept.toml");
    std::fs::write(&p, &run.stdout).unwrap();
    let plan = m.dpwizard([
        "--color",
        "never",
        "plan",
        "--answers",
        &p.display().to_string(),
    ]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains(note), "{}", plan.stdout);
    assert!(plan.stdout.contains("kept as it is"), "{}", plan.stdout);
}

/// certbot's file with the site's own `ProxyPass /` above `extra` (the order an admin who
/// appends the WebSocket lines at the end gets).
fn le_ssl_after_app(extra: &str) -> String {
    le_ssl("").replace(
        "\tProxyPassReverse / http://127.0.0.1:8080/\n",
        &format!("\tProxyPassReverse / http://127.0.0.1:8080/\n{extra}"),
    )
}

pub(crate) const GOOD_WS: &str = "\tRewriteEngine On\n\
\tRewriteCond %{HTTP:Origin} !^(https://web\\.(drawpile\\.net|foxdice\\.cn))?$\n\
\tRewriteRule ^/drawpile-web/ws - [F]\n\
\tProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws\n\
\tRequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n";

#[test]
fn apache_proxypass_slash_above_the_route_shadows_it() {
    let m = apache(&le_ssl_after_app(GOOD_WS), MODULES);
    let v = assert_findings(&m, &["DPW-PROXY-002"]);
    let e = evidence(&v, "DPW-PROXY-002");
    assert!(
        e.contains(&format!(
            "{ENABLED}:5: ProxyPass / http://127.0.0.1:8080/: takes /drawpile-web/ws first"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{ENABLED}:10: ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws: never reached"
        )),
        "{e}"
    );
    assert!(
        e.contains("fix: Put `ProxyPass /drawpile-web/ws ...` above"),
        "{e}"
    );
    // Without --domain, the virtual host that names the path gives it, reached or not.
    let run = m.dpwizard(["audit", "--offline", "--json"]);
    let w: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(w["domain"], DOMAIN, "{w}");
    // A virtual host without any rule for the path gives no domain: the audit says so.
    let m = apache(&le_ssl(""), MODULES);
    let run = m.dpwizard(["audit", "--offline", "--json"]);
    let w: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let ids: Vec<&str> = w["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .filter(|id| id.starts_with("DPW-PROXY-"))
        .collect();
    assert_eq!(ids, ["DPW-PROXY-001", "DPW-PROXY-002"], "{w}");
    let e = evidence(&w, "DPW-PROXY-001");
    assert!(
        e.contains(
            "no Apache site on 443 has a route for /drawpile-web/ws, so the domain is unknown"
        ),
        "{e}"
    );
    assert!(e.contains("pass --domain"), "{e}");
    // The same lines in the right order: nothing.
    let m = apache(&le_ssl(GOOD_WS), MODULES);
    assert_findings(&m, &[]);
}

#[test]
fn apache_origin_rules_from_before_2025_lock_out_the_app_and_the_mirror() {
    let old = GOOD_WS.replace(
        "!^(https://web\\.(drawpile\\.net|foxdice\\.cn))?$",
        "!^https://web\\.drawpile\\.net$",
    );
    let m = apache(&le_ssl(&old), MODULES);
    let v = assert_findings(&m, &["DPW-PROXY-003", "DPW-PROXY-005"]);
    // Such a route is not kept: apply puts dpwizard's block before it.
    let a = m.path("/root/a.toml");
    std::fs::write(&a, format!("[site]\ndomain = \"{DOMAIN}\"\n")).unwrap();
    let a = a.display().to_string();
    assert_ne!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    assert_eq!(m.dpwizard(["apply", "--yes", "--answers", &a]).code, 0);
    assert_findings(&m, &[]);
    let e = evidence(&v, "DPW-PROXY-003");
    assert!(
        e.starts_with(&format!(
            "{ENABLED}:6: RewriteCond %{{HTTP:Origin}} !^https://web\\.drawpile\\.net$ + \
             RewriteRule ^/drawpile-web/ws - [F] refuses the empty Origin"
        )),
        "{e}"
    );
    assert!(
        e.contains("fix: Use the documented rule: `RewriteEngine On`"),
        "{e}"
    );
    // An equality that names one origin: the same two.
    let eq = GOOD_WS.replace(
        "!^(https://web\\.(drawpile\\.net|foxdice\\.cn))?$",
        "!=https://web.drawpile.net",
    );
    assert_findings(
        &apache(&le_ssl(&eq), MODULES),
        &["DPW-PROXY-003", "DPW-PROXY-005"],
    );
}

#[test]
fn apache_without_an_origin_rule_or_with_one_that_never_runs() {
    let none = GOOD_WS
        .lines()
        .filter(|l| !l.contains("Rewrite"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let v = assert_findings(&apache(&le_ssl(&none), MODULES), &["DPW-PROXY-006"]);
    let e = evidence(&v, "DPW-PROXY-006");
    assert!(
        e.contains(&format!(
            "{ENABLED}:5: no `RewriteCond %{{HTTP:Origin}} ...`"
        )),
        "{e}"
    );
    // The rule is there, but mod_rewrite is off for the host.
    let off = GOOD_WS.replace("\tRewriteEngine On\n", "");
    let v = assert_findings(&apache(&le_ssl(&off), MODULES), &["DPW-PROXY-006"]);
    let e = evidence(&v, "DPW-PROXY-006");
    assert!(
        e.contains("(never runs: the virtual host has no `RewriteEngine On`)"),
        "{e}"
    );
}

#[test]
fn apache_wrong_port_http_without_upgrade_and_http_10() {
    let port = GOOD_WS.replace("27751", "27750");
    let v = assert_findings(&apache(&le_ssl(&port), MODULES), &["DPW-PROXY-007"]);
    assert!(
        evidence(&v, "DPW-PROXY-007").contains(&format!(
            "{ENABLED}:8: ProxyPass /drawpile-web/ws ws://127.0.0.1:27750/drawpile-web/ws"
        )),
        "{v}"
    );
    let http = GOOD_WS.replace("ws://127.0.0.1", "http://127.0.0.1");
    let v = assert_findings(&apache(&le_ssl(&http), MODULES), &["DPW-PROXY-009"]);
    assert!(
        evidence(&v, "DPW-PROXY-009").contains("without upgrade=websocket"),
        "{v}"
    );
    // The version is unknown under --root: `upgrade=websocket` is taken at its word.
    let upgrade = http.replace(
        "/drawpile-web/ws\n\tRequest",
        "/drawpile-web/ws upgrade=websocket\n\tRequest",
    );
    assert_findings(&apache(&le_ssl(&upgrade), MODULES), &[]);
    let v10 = format!("{GOOD_WS}\tSetEnv force-proxy-request-1.0 1\n");
    let v = assert_findings(&apache(&le_ssl(&v10), MODULES), &["DPW-PROXY-008"]);
    assert!(
        evidence(&v, "DPW-PROXY-008").contains(&format!(
            "{ENABLED}:10: SetEnv force-proxy-request-1.0 1 (Apache then speaks HTTP/1.0"
        )),
        "{v}"
    );
}

#[test]
fn apache_missing_modules_are_named_where_they_break_the_route() {
    let v = assert_findings(
        &apache(&le_ssl(GOOD_WS), &["proxy", "proxy_http", "rewrite"]),
        &["DPW-PROXY-009", "DPW-PROXY-010"],
    );
    assert!(
        evidence(&v, "DPW-PROXY-009").contains(
            "ws:// needs mod_proxy_wstunnel, which is not enabled (a2enmod proxy_wstunnel)"
        ),
        "{v}"
    );
    assert!(
        evidence(&v, "DPW-PROXY-010").contains("mod_headers is not enabled (a2enmod headers)"),
        "{v}"
    );
    let v = assert_findings(
        &apache(&le_ssl(GOOD_WS), &["proxy_wstunnel", "headers", "rewrite"]),
        &["DPW-PROXY-007"],
    );
    assert!(
        evidence(&v, "DPW-PROXY-007").contains("mod_proxy is not enabled (a2enmod proxy)"),
        "{v}"
    );
    // No X-Real-IP at all.
    let no_ip = GOOD_WS.replace("\tRequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n", "");
    assert_findings(&apache(&le_ssl(&no_ip), MODULES), &["DPW-PROXY-010"]);
}

#[test]
fn apache_a_second_vhost_for_the_name_is_never_used() {
    let m = apache(&le_ssl(GOOD_WS), MODULES);
    m.file(
        "/etc/apache2/sites-enabled/zz-copy.conf",
        format!("# an old copy\n{}", le_ssl("")),
    );
    let v = assert_findings(&m, &["DPW-PROXY-014"]);
    let e = evidence(&v, "DPW-PROXY-014");
    assert!(
        e.contains(&format!(
            "/etc/apache2/sites-enabled/zz-copy.conf:3: another virtual host for {DOMAIN} on \
             443, never used for it (Apache takes the first, {ENABLED}:2)"
        )),
        "{e}"
    );
}

#[test]
fn apache_no_vhost_for_the_domain() {
    let m = apache(
        &le_ssl(GOOD_WS).replace(DOMAIN, "other.example.test"),
        MODULES,
    );
    let v = assert_findings(&m, &["DPW-PROXY-001", "DPW-PROXY-002"]);
    assert!(
        evidence(&v, "DPW-PROXY-001").contains(&format!(
            "Apache has no <VirtualHost> on 443 with SSLEngine on for {DOMAIN}"
        )),
        "{v}"
    );
}

#[test]
fn apache_block_written_by_apply_with_extra_origins_exports_and_changes_nothing() {
    let m = apache(&le_ssl(""), MODULES);
    let p = m.path("/root/answers.toml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(
        &p,
        format!(
            "[site]\ndomain = \"{DOMAIN}\"\n[proxy]\nextra_origins = [\"https://paint.example.org\"]\n"
        ),
    )
    .unwrap();
    let apply = m.dpwizard(["apply", "--yes", "--answers", &p.display().to_string()]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(m.read(VHOST).contains("paint\\.example\\.org"));
    assert_findings(&m, &[]);
    let run = m.dpwizard(["answers", "--from-machine", "--domain", DOMAIN]);
    assert!(
        run.stdout
            .contains("extra_origins = [\"https://paint.example.org\"]"),
        "{}",
        run.stdout
    );
    assert_exported_answers_change_nothing(&m, "apache");
}

/// A Caddyfile with several sites; `body` is the domain's.
fn caddyfile(body: &str) -> String {
    format!(
        "{{\n\temail admin@example.test\n}}\n\n(common) {{\n\tencode gzip\n}}\n\n\
www.{DOMAIN} {{\n\tredir https://{DOMAIN}{{uri}} permanent\n}}\n\n\
{DOMAIN} {{\n\timport common\n{body}}}\n\n\
other.example.test {{\n\treverse_proxy 127.0.0.1:9000\n}}\n"
    )
}

pub(crate) fn caddy(body: &str) -> FakeMachine {
    let m = caddy_machine(&caddyfile(body));
    with_port(&m);
    m
}

/// Another style than dpwizard's: a named matcher for the upgrade, the foreign-Origin
/// matcher at site level used inside the handle, the upstream as a URL, a longer
/// placeholder for the client's address, and a catch-all `handle` for the files.
pub(crate) const HAND_CADDY: &str = "\t@websocket {\n\t\tpath /drawpile-web/ws\n\t\theader Connection *Upgrade*\n\t\theader Upgrade websocket\n\t}\n\
\t@foreign {\n\t\theader Origin *\n\t\tnot {\n\t\t\theader Origin https://web.drawpile.net\n\t\t\theader Origin https://web.foxdice.cn\n\t\t\theader Origin https://paint.example.org\n\t\t}\n\t}\n\
\thandle @websocket {\n\t\trespond @foreign \"Forbidden\" 403\n\t\treverse_proxy http://localhost:27751 {\n\t\t\theader_up X-Real-IP {http.request.remote.host}\n\t\t}\n\t}\n\
\thandle {\n\t\troot * /srv/www\n\t\tfile_server\n\t}\n";

/// The real `caddy adapt` accepts the Caddyfile these tests write (where caddy is installed).
fn assert_caddy_accepts(m: &FakeMachine) {
    if which_host("caddy").is_none() {
        return;
    }
    let out = crate::plan_caddy_live::caddy(&["adapt"], &m.path(CADDYFILE));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn caddy_a_hand_written_route_raises_nothing_and_is_exported() {
    let m = caddy(HAND_CADDY);
    assert_caddy_accepts(&m);
    let v = assert_findings(&m, &[]);
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("Caddy's reverse_proxy speaks HTTP/1.1 to the upstream by itself"),
        "{notes}"
    );
    assert!(notes.contains(&format!("{CADDYFILE}:13")), "{notes}");
    let run = m.dpwizard(["answers", "--from-machine"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("server = \"caddy\""), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("extra_origins = [\"https://paint.example.org\"]"),
        "{}",
        run.stdout
    );
    assert_exported_answers_change_nothing(&m, "caddy");
    assert_plan_keeps(&m, &format!("{CADDYFILE}:30: the site's own route"));
}

const GOOD_HANDLE: &str = "\t@bad {\n\t\theader_regexp Origin .+\n\t\tnot {\n\t\t\theader Origin https://web.drawpile.net\n\t\t\theader Origin https://web.foxdice.cn\n\t\t}\n\t}\n\
\thandle /drawpile-web/ws {\n\t\trespond @bad 403\n\t\treverse_proxy 127.0.0.1:27751 {\n\t\t\theader_up X-Real-IP {remote_host}\n\t\t}\n\t}\n\
\tfile_server\n";

#[test]
fn caddy_origin_matchers_that_lock_out_the_app_or_let_everyone_in() {
    let m = caddy(GOOD_HANDLE);
    assert_caddy_accepts(&m);
    assert_findings(&m, &[]);
    // A regex on the Origin alone: an absent header never matches it, so `not` refuses the
    // desktop app; and it names no mirror.
    let old = GOOD_HANDLE.replace(
        "\t@bad {\n\t\theader_regexp Origin .+\n\t\tnot {\n\t\t\theader Origin https://web.drawpile.net\n\t\t\theader Origin https://web.foxdice.cn\n\t\t}\n\t}\n",
        "\t@bad not header_regexp Origin ^https://web\\.drawpile\\.net$\n",
    );
    let v = assert_findings(&caddy(&old), &["DPW-PROXY-003", "DPW-PROXY-005"]);
    let e = evidence(&v, "DPW-PROXY-003");
    assert!(
        e.starts_with(&format!(
            "{CADDYFILE}:17: @bad not header_regexp Origin ^https://web\\.drawpile\\.net$ + \
             respond @bad 403 refuses the empty Origin"
        )),
        "{e}"
    );
    assert!(
        e.contains("fix: Answer 403 only to a present Origin"),
        "{e}"
    );
    let none = GOOD_HANDLE.replace("\t\trespond @bad 403\n", "");
    let v = assert_findings(&caddy(&none), &["DPW-PROXY-006"]);
    assert!(
        evidence(&v, "DPW-PROXY-006")
            .contains("no matcher on the Origin header that answers 403 in the route"),
        "{v}"
    );
}

#[test]
fn caddy_what_runs_before_the_handle_keeps_the_route_from_being_reached() {
    // A single-page app's fallback: Caddy runs try_files before every handle, so the path
    // becomes /index.html.
    let spa = format!("\ttry_files {{path}} /index.html\n{GOOD_HANDLE}");
    let v = assert_findings(&caddy(&spa), &["DPW-PROXY-002"]);
    assert!(
        evidence(&v, "DPW-PROXY-002").contains(&format!(
            "{CADDYFILE}:15: try_files {{path}} /index.html: runs before every handle and takes \
             /drawpile-web/ws"
        )),
        "{v}"
    );
    // A handle on a named matcher without a single path sorts with the path-matched ones in
    // file order: written first, it takes the path.
    let first =
        format!("\t@site not path /api/*\n\thandle @site {{\n\t\tfile_server\n\t}}\n{GOOD_HANDLE}");
    let v = assert_findings(&caddy(&first), &["DPW-PROXY-002"]);
    let e = evidence(&v, "DPW-PROXY-002");
    assert!(
        e.contains(&format!(
            "{CADDYFILE}:16: handle @site: takes /drawpile-web/ws (Caddy sorts handle blocks by \
             path, the longest first) and proxies nothing there"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{CADDYFILE}:26: handle /drawpile-web/ws: never reached"
        )),
        "{e}"
    );
    // `handle /*` written first sorts after the longer path: nothing.
    let slash = format!("\thandle /* {{\n\t\tfile_server\n\t}}\n{GOOD_HANDLE}");
    assert_findings(&caddy(&slash), &[]);
}

#[test]
fn caddy_wrong_port_no_real_ip_and_two_sites_for_one_name() {
    let port = GOOD_HANDLE.replace("27751", "27750");
    let v = assert_findings(&caddy(&port), &["DPW-PROXY-007"]);
    assert!(
        evidence(&v, "DPW-PROXY-007")
            .contains(&format!("{CADDYFILE}:24: reverse_proxy 127.0.0.1:27750")),
        "{v}"
    );
    let no_ip = GOOD_HANDLE.replace(" {\n\t\t\theader_up X-Real-IP {remote_host}\n\t\t}\n", "\n");
    let v = assert_findings(&caddy(&no_ip), &["DPW-PROXY-010"]);
    assert!(
        evidence(&v, "DPW-PROXY-010").contains("fix: Add `header_up X-Real-IP {remote_host}`"),
        "{v}"
    );
    let twice = format!(
        "{}\n{DOMAIN} {{\n\tfile_server\n}}\n",
        caddyfile(GOOD_HANDLE)
    );
    let m = caddy_machine(&twice);
    with_port(&m);
    let v = assert_findings(&m, &["DPW-PROXY-014"]);
    assert!(
        evidence(&v, "DPW-PROXY-014")
            .contains(&format!("{CADDYFILE}:35: another site for {DOMAIN} on 443")),
        "{v}"
    );
}

#[test]
fn caddy_configured_in_json_is_skipped_with_the_reason() {
    use dpwizard::detect::webserver::WebServer;
    let mut facts = dpwizard::detect::Facts::default();
    facts.web_servers.push(WebServer {
        name: "caddy".into(),
        listens_443: Some(true),
        ..Default::default()
    });
    let obs = dpwizard::audit::Observations::default();
    let r = dpwizard::audit::judge(&facts, &obs, Some(DOMAIN));
    assert!(r.passed.contains(&"DPW-PROXY-013"), "{r:?}");
    for id in ["DPW-PROXY-002", "DPW-PROXY-006", "DPW-PROXY-007"] {
        let s = r.skipped.iter().find(|s| s.id == id).unwrap();
        assert!(
            s.reason.contains("it is configured in JSON"),
            "{id}: {}",
            s.reason
        );
    }
}

/// What the audit reads from Caddy's Origin matchers is what the real Caddy (Debian's 2.6)
/// does: each variant is served on a loopback port, and the requests that reach the proxy
/// (502: nothing listens behind it) are exactly those the route's Origin rules let through.
#[test]
fn caddy_origin_matchers_predict_the_real_caddys_answers() {
    if skip_unless_program("caddy") || skip_unless_program("curl") {
        return;
    }
    let dpwizard_block = dpwizard::plan::caddy::render_block(
        &dpwizard::plan::caddy::BlockSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 1,
            extra_origins: vec!["https://paint.example.org".into()],
        },
        "\t",
    );
    let in_handle = |matcher: &str| {
        format!(
            "\t{matcher}\n\thandle /drawpile-web/ws {{\n\t\trespond @bad 403\n\t\treverse_proxy 127.0.0.1:1\n\t}}\n"
        )
    };
    let variants = [
        dpwizard_block,
        in_handle(r"@bad not header_regexp Origin ^https://web\.drawpile\.net$"),
        in_handle(
            "@bad {\n\t\theader Origin *\n\t\tnot {\n\t\t\theader Origin https://web.drawpile.net\n\t\t\theader Origin https://web.foxdice.cn\n\t\t\theader Origin https://paint.example.org\n\t\t}\n\t}",
        ),
        in_handle("@bad {\n\t\theader Origin *\n\t\tnot header Origin https://web.*\n\t}"),
        in_handle(
            "@bad {\n\t\theader_regexp Origin .\n\t\tnot {\n\t\t\theader_regexp o Origin ^https://(web\\.drawpile\\.net|web\\.foxdice\\.cn)$\n\t\t}\n\t}",
        ),
        // Only some origins reach the route; the others fall through to the site's handle.
        "\t@ws {\n\t\tpath /drawpile-web/ws\n\t\theader Connection *Upgrade*\n\t\theader Origin https://web.drawpile.net\n\t}\n\thandle @ws {\n\t\treverse_proxy 127.0.0.1:1\n\t}\n\thandle {\n\t\trespond \"site\" 404\n\t}\n".to_string(),
    ];
    let origins = [
        "",
        "https://web.drawpile.net",
        "https://web.foxdice.cn",
        "https://paint.example.org",
        "https://evil.example",
    ];
    let dir = tempfile::tempdir().unwrap();
    for body in variants {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let text = format!(
            "{{\n\tadmin off\n\tauto_https off\n}}\n\nhttp://127.0.0.1:{port} {{\n{body}}}\n"
        );
        let c = dpwizard::formats::caddyfile::Caddyfile::parse(&text).unwrap();
        let site = c.sites().next().unwrap();
        let route = dpwizard::proxy::caddy::route("/c", &c, site);
        let file = dir.path().join("Caddyfile");
        std::fs::write(&file, &text).unwrap();
        let mut caddy = std::process::Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("caddy.log")).unwrap())
            .spawn()
            .unwrap();
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let real: Vec<bool> = origins
            .iter()
            .map(|o| {
                let out = std::process::Command::new("curl")
                    .args([
                        "-s",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        "--max-time",
                        "3",
                    ])
                    .args(["-H", "Connection: Upgrade", "-H", "Upgrade: websocket"])
                    .args(["-H", &format!("Origin: {o}")])
                    .arg(format!("http://127.0.0.1:{port}/drawpile-web/ws"))
                    .output()
                    .unwrap();
                // 502: it reached the proxy, which found nothing behind it.
                String::from_utf8_lossy(&out.stdout) != "502"
            })
            .collect();
        let _ = caddy.kill();
        let _ = caddy.wait();
        let log = std::fs::read_to_string(dir.path().join("caddy.log")).unwrap_or_default();
        assert!(up, "caddy did not start:\n{text}\n{log}");
        let predicted: Vec<bool> = origins
            .iter()
            .map(|o| route.origin.refused_by(o).is_some())
            .collect();
        assert_eq!(
            predicted, real,
            "refused, in the order {origins:?}:\n{text}"
        );
    }
}

/// The TLS checks judge the certificate the site in front names, as they do nginx's.
#[test]
fn the_tls_checks_read_the_certificate_of_apaches_vhost_and_leave_caddys_own_to_caddy() {
    // Apache's vhost names certbot's lineage: every TLS check passes with its path.
    let m = apache(&le_ssl(HAND_APACHE), MODULES);
    let v = assert_findings(&m, &[]);
    let passed = v["passed"].to_string();
    for id in ["DPW-TLS-001", "DPW-TLS-002", "DPW-TLS-003", "DPW-TLS-004"] {
        assert!(passed.contains(id), "{id}: {v}");
    }
    // A certificate for another name: DPW-TLS-002, with the file the vhost names.
    let m = apache(&le_ssl(HAND_APACHE), MODULES);
    crate::audit::lineage_for(
        &m,
        DOMAIN,
        crate::audit::CertSpec {
            name: "other.example.test",
            ..crate::audit::GOOD_CERT
        },
        true,
        true,
    );
    let v = assert_findings(&m, &["DPW-TLS-002"]);
    assert!(
        evidence(&v, "DPW-TLS-002").contains("other.example.test"),
        "{v}"
    );
    // Caddy's automatic HTTPS: present by Caddy's own word, the rest left to the live probe.
    let m = caddy(HAND_CADDY);
    let v = assert_findings(&m, &[]);
    let present = v["passed_with"].to_string() + &v["passed"].to_string();
    assert!(present.contains("DPW-TLS-001"), "{v}");
    let skipped = v["skipped"].as_array().unwrap();
    let name = skipped.iter().find(|s| s["id"] == "DPW-TLS-002").unwrap();
    assert!(
        name["reason"]
            .as_str()
            .unwrap()
            .contains("Caddy obtains and renews the certificate itself"),
        "{name}"
    );
}
