//! plan/apply on Compose setups (under --root): drawpile/dpserver with nginx in a container
//! (its site in the bind-mounted nginx-config/default.conf, drawpile-srv reached over the
//! compose network, customisations in docker-compose.override.yaml), and the README's "own
//! web server" variant (nginx on the host, the WebSocket port published on loopback).

use crate::readonly::snapshot;
use crate::support::dpserver::{self, DOMAIN};
use crate::support::*;

const SITE: &str = "/root/dpserver/nginx-config/default.conf";
const MAIN: &str = "/root/dpserver/docker-compose.yaml";
const OVERRIDE: &str = "/root/dpserver/docker-compose.override.yaml";

fn answers(extra: &str) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("answers.toml");
    std::fs::write(&p, format!("[site]\ndomain = \"{DOMAIN}\"\n{extra}")).unwrap();
    let s = p.to_str().unwrap().to_string();
    (d, s)
}

/// What the planner must never do on a machine whose 443 belongs to a container.
fn assert_nothing_on_the_host(out: &str) {
    for bad in [
        "apt-get",
        "certbot certonly",
        "systemctl",
        "/etc/nginx/",
        "127.0.0.1:27751",
    ] {
        assert!(!out.contains(bad), "{bad:?} planned:\n{out}");
    }
}

#[test]
fn plan_on_dpserver_as_it_is_now_changes_nothing() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let (_d, a) = answers("");
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("Nothing to do"), "{}", plan.stdout);
    assert_nothing_on_the_host(&plan.stdout);
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
}

/// `answers --from-machine` on `m`, written to a file; `plan --check` with it finds nothing
/// to do. Returns the export and the file (in the temp dir).
pub(crate) fn exported_answers_plan_nothing(
    m: &FakeMachine,
) -> (String, tempfile::TempDir, std::path::PathBuf) {
    let exported = m.dpwizard(["answers", "--from-machine"]);
    assert_eq!(exported.code, 0, "{exported:?}");
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("answers.toml");
    std::fs::write(&p, &exported.stdout).unwrap();
    let check = m.dpwizard(["plan", "--check", "--answers", p.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}{check:?}", exported.stdout);
    (exported.stdout, d, p)
}

#[test]
fn answers_from_the_machine_plan_nothing_on_a_sound_dpserver() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let (exported, _d, _) = exported_answers_plan_nothing(&m);
    assert!(
        exported.contains(&format!("site_file = \"{SITE}\"")),
        "{exported}"
    );
}

#[test]
fn dpserver_before_2026_gets_its_origin_check_replaced_in_the_mounted_site() {
    let m = FakeMachine::debian12();
    dpserver::pre_2026(&m);
    let before = snapshot(m.root());
    let site_before = m.read(SITE);
    let main_before = m.read(MAIN);
    let (_d, a) = answers("");
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let out = &plan.stdout;
    assert!(out.contains(&format!("== {SITE}")), "{out}");
    assert!(
        out.contains("-\t\tif ($http_origin != \"https://web.drawpile.net\") {"),
        "{out}"
    );
    assert!(out.contains("+\t# BEGIN dpwizard"), "{out}");
    assert!(
        out.contains("+\t    proxy_pass http://drawpile-srv:27751;"),
        "{out}"
    );
    // drawpile-srv already has --websocket-port 27751: the override file is not needed.
    assert!(
        !out.contains(OVERRIDE),
        "no -f for a file that is not there: {out}"
    );
    // The container's nginx is checked, then reloaded, with the project's files.
    let exec =
        "docker-compose --project-directory /root/dpserver -f /root/dpserver/docker-compose.yaml";
    assert!(
        out.contains(&format!("{exec} exec -T nginx nginx -t")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{exec} exec -T nginx nginx -s reload")),
        "{out}"
    );
    assert!(!out.contains(" up -d"), "only nginx changes: {out}");
    assert!(out.contains("certbot inside that container"), "{out}");
    assert_nothing_on_the_host(out);
    assert_eq!(snapshot(m.root()), before, "plan wrote something");

    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    // Under --root the container is not reached: its check and reload are listed.
    assert!(
        apply.stdout.contains(&format!(
            "nginx -t in its container not run: --root is not /: run `{exec} exec -T nginx nginx -t`"
        )),
        "{}",
        apply.stdout
    );
    assert!(
        apply.stdout.contains("exec -T nginx nginx -s reload"),
        "{}",
        apply.stdout
    );
    let site = m.read(SITE);
    assert!(
        site.contains("proxy_pass http://drawpile-srv:27751;"),
        "{site}"
    );
    assert!(!site.contains("$http_origin != "), "{site}");
    assert!(
        site.contains(r#"if ($http_origin !~ "^(https://web\.(drawpile\.net|foxdice\.cn))?$")"#),
        "{site}"
    );
    // Every byte outside the replaced location is as before.
    let begin = site.find("\t# BEGIN dpwizard").unwrap();
    let end = site.find("# END dpwizard\n").unwrap() + "# END dpwizard\n".len();
    let old_begin = site_before.find("\tlocation /drawpile-web/ws {").unwrap();
    let old_end = site_before[old_begin..].find("\n\t}\n").unwrap() + old_begin + 4;
    assert_eq!(&site[..begin], &site_before[..old_begin]);
    assert_eq!(&site[end..], &site_before[old_end..]);
    assert_eq!(m.read(MAIN), main_before);
    assert!(!m.path(OVERRIDE).exists());
    // The audit now passes the location.
    let audit = m.dpwizard(["--format", "json", "audit"]);
    assert!(
        !audit
            .stdout
            .contains("DPW-PROXY-003\",\"severity\":\"error"),
        "{}",
        audit.stdout
    );

    // A second apply changes nothing.
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    let again = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);

    let rb = m.dpwizard(["rollback"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(m.read(SITE), site_before);
    let after: Vec<String> = snapshot(m.root())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var/lib/dpwizard") && !k.starts_with("var/log"))
        .map(|(k, v)| format!("{k} {:?}", v.3))
        .collect();
    let before: Vec<String> = before
        .into_iter()
        .map(|(k, v)| format!("{k} {:?}", v.3))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn a_missing_websocket_port_goes_into_the_override_file_and_a_public_one_comes_out() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    // Without --websocket-port (as before dpserver added it), and 27751 published on every
    // address by an earlier customisation in the override file.
    let main = dpserver::COMPOSE.replace("            --websocket-port 27751\n", "");
    m.file(MAIN, &main);
    let override_text = "# my changes\nservices:\n    drawpile-srv:\n        ports:\n            - \"27751:27751\"\n    listserver:\n        restart: unless-stopped\n";
    m.file(OVERRIDE, override_text);
    let (_d, a) = answers("");
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout.contains(&format!("== {OVERRIDE}")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("exec -T nginx nginx -s reload"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("-f /root/dpserver/docker-compose.override.yaml up -d drawpile-srv"),
        "{}",
        plan.stdout
    );
    assert_nothing_on_the_host(&plan.stdout);
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(m.read(MAIN), main, "the project's own file is never edited");
    let o = m.read(OVERRIDE);
    assert!(
        o.starts_with("# my changes\nservices:\n    drawpile-srv:\n"),
        "{o}"
    );
    assert!(
        o.contains("    listserver:\n        restart: unless-stopped\n"),
        "{o}"
    );
    assert!(!o.contains("27751:27751"), "{o}");
    // The command keeps its ${DOMAIN} for Compose to interpolate from .env.
    assert!(o.contains("\"--local-host\", \"${DOMAIN}\""), "{o}");
    assert!(o.contains("\"--websocket-port\", \"27751\""), "{o}");
    assert!(!o.contains("--websocket-listen"), "{o}");
    // Detect reads the merged project: the port is set, nothing is published.
    let v = m.detect_json(&[]);
    let svc = jget(&v, "runtime.compose.files.0.services.0");
    assert_eq!(svc["options"]["websocket_port"], "27751", "{svc}");
    assert!(
        !svc["ports"].to_string().contains("27751"),
        "{}",
        svc["ports"]
    );
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    assert_eq!(m.dpwizard(["rollback"]).code, 0);
    assert_eq!(m.read(OVERRIDE), override_text);
}

#[test]
fn a_new_override_file_is_created_and_removed_by_rollback() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let main = dpserver::COMPOSE.replace("            --websocket-port 27751\n", "");
    m.file(MAIN, &main);
    let (_d, a) = answers("");
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let o = m.read(OVERRIDE);
    assert!(
        o.contains("services:\n  drawpile-srv:\n    command: ["),
        "{o}"
    );
    assert_eq!(m.read(MAIN), main);
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    assert_eq!(m.dpwizard(["rollback"]).code, 0);
    assert!(!m.path(OVERRIDE).exists());
}

/// The README's "Using your own web server" (no nginx service; nginx on the host), with
/// `ws_ports` as extra drawpile-srv port lines in the project's own file, and answers for a
/// self-signed certificate on the host.
fn own_web_server(ws_ports: &[&str]) -> (FakeMachine, tempfile::TempDir, String) {
    let m = FakeMachine::debian12();
    let domain = "paint.example.com";
    dpserver::install(
        &m,
        "/root/dpserver",
        &dpserver::own_web_server_compose(ws_ports),
        &dpserver::default_conf(dpserver::ORIGIN_CHECK_2026),
    );
    m.file(
        "/root/dpserver/.env",
        dpserver::dotenv().replace(DOMAIN, domain),
    );
    crate::support::nginx::trees::debian_default(m.root());
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("answers.toml");
    std::fs::write(
        &p,
        format!("[site]\ndomain = \"{domain}\"\n[tls]\nmode = \"self-signed\"\n"),
    )
    .unwrap();
    let a = p.to_str().unwrap().to_string();
    (m, d, a)
}

/// The tree without dpwizard's own state and logs, as `path -> (mode, bytes)`.
fn tree_without_state(root: &std::path::Path) -> Vec<String> {
    snapshot(root)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var/lib/dpwizard") && !k.starts_with("var/log"))
        .map(|(k, v)| format!("{k} {:?}", v.3))
        .collect()
}

#[test]
fn the_own_web_server_variant_publishes_the_websocket_port_on_loopback_only() {
    // The README's list of changes publishes the web admin and the list server, not 27751.
    let (m, _d, a) = own_web_server(&[]);
    let main = m.read(MAIN);
    let before = tree_without_state(m.root());
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let out = &plan.stdout;
    assert!(out.contains(&format!("== {OVERRIDE}")), "{out}");
    assert!(!out.contains(&format!("== {MAIN}")), "{out}");
    assert!(out.contains("proxy_pass http://127.0.0.1:27751;"), "{out}");
    assert!(!out.contains("exec -T"), "{out}");
    // Only drawpile-srv is re-created, with both files (the override exists by then).
    assert!(
        out.contains(&format!(
            "docker-compose --project-directory /root/dpserver -f {MAIN} -f {OVERRIDE} up -d drawpile-srv"
        )),
        "{out}"
    );
    assert!(!out.contains("up -d listserver"), "{out}");

    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(m.read(MAIN), main, "the project's own file is never edited");
    // The command already has --websocket-port 27751: only the port goes into the override.
    assert_eq!(
        m.read(OVERRIDE),
        "# Customisations of this Compose project (its README: they survive `git pull`); \
         written by dpwizard.\nservices:\n  drawpile-srv:\n    ports:\n      - \"127.0.0.1:27751:27751\"\n"
    );
    // Compose (and detect, which reads the project as Compose does) sees the merged result.
    let v = m.detect_json(&[]);
    let ports = jget(&v, "runtime.compose.files.0.services.0.ports");
    let ws: Vec<String> = ports
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["container_port"] == 27751)
        .map(|p| format!("{}:{}", p["host_ip"], p["host_port"]))
        .collect();
    assert_eq!(ws, ["\"127.0.0.1\":27751"], "{ports}");
    crate::compose::agree_with_docker_compose(&m, "/root/dpserver", &v);
    let audit = m.dpwizard(["--format", "json", "audit"]);
    assert!(
        !audit
            .stdout
            .contains("DPW-PROXY-007\",\"severity\":\"error"),
        "{}",
        audit.stdout
    );

    // Applying twice changes nothing.
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    let again = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);

    assert_eq!(m.dpwizard(["rollback"]).code, 0);
    assert!(!m.path(OVERRIDE).exists());
    assert_eq!(tree_without_state(m.root()), before);
}

#[test]
fn the_own_web_server_variant_moves_a_public_port_of_the_override_to_loopback() {
    let (m, _d, a) = own_web_server(&[]);
    // An earlier customisation published 27751 on every address, and left the command folded
    // without the WebSocket port.
    let main = m.read(MAIN);
    let override_text = "# mine\nservices:\n    drawpile-srv:\n        command: >\n            --sessions /home/drawpile/sessions\n            --local-host ${DOMAIN}\n        ports:\n            - \"27751:27751\" # for nginx\n";
    m.file(OVERRIDE, override_text);
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(m.read(MAIN), main);
    // The folded command stays folded, byte for byte, with the option added on its own line.
    assert_eq!(
        m.read(OVERRIDE),
        "# mine\nservices:\n    drawpile-srv:\n        command: >\n            --sessions /home/drawpile/sessions\n            --local-host ${DOMAIN}\n            --websocket-port 27751\n        ports:\n            - \"127.0.0.1:27751:27751\"\n"
    );
    // Read as Compose reads it: the command interpolated, the port on loopback only.
    let v = m.detect_json(&[]);
    crate::compose::agree_with_docker_compose(&m, "/root/dpserver", &v);
    let svc = jget(&v, "runtime.compose.files.0.services.0");
    assert_eq!(svc["options"]["websocket_port"], "27751", "{svc}");
    assert_eq!(svc["options"]["local_host"], "paint.example.com", "{svc}");
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    assert_eq!(m.dpwizard(["rollback"]).code, 0);
    assert_eq!(m.read(OVERRIDE), override_text);
}

#[test]
fn the_own_web_server_variant_reports_a_public_port_of_the_projects_own_file() {
    let (m, _d, a) = own_web_server(&["27751:27751"]);
    let main = m.read(MAIN);
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout.contains(&format!(
            "service drawpile-srv publishes its WebSocket port 27751 on the host (0.0.0.0:27751), \
             past the TLS and Origin check of the web server on the host; dpwizard does not \
             edit {MAIN} (the project's own file): remove that ports: line there"
        )),
        "{}",
        plan.stdout
    );
    // A loopback mapping of the same host port would clash with it: nothing for Compose.
    assert!(!plan.stdout.contains(OVERRIDE), "{}", plan.stdout);
    assert!(!plan.stdout.contains("up -d"), "{}", plan.stdout);
    let apply = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(m.read(MAIN), main);
    assert!(!m.path(OVERRIDE).exists());
}

#[test]
fn the_own_web_server_variant_on_the_host_network_listens_on_loopback_and_publishes_nothing() {
    let (m, _d, a) = own_web_server(&[]);
    let main = m
        .read(MAIN)
        .replacen(
            "        restart: always\n        ports:\n            - \"27750:27750\"\n            - \"127.0.0.1:27780:27780\"\n",
            "        restart: always\n        network_mode: host\n",
            1,
        )
        .replacen(
            "        networks:\n            - dpserver\n\n    listserver:",
            "\n    listserver:",
            1,
        );
    m.file(MAIN, &main);
    let v = m.detect_json(&[]);
    assert_eq!(
        jget(&v, "runtime.compose.files.0.services.0.network_mode"),
        "host"
    );
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(m.read(MAIN), main);
    let o = m.read(OVERRIDE);
    assert!(
        o.contains("\"--websocket-port\", \"27751\", \"--websocket-listen\", \"127.0.0.1\"]"),
        "{o}"
    );
    assert!(
        !o.contains("ports:"),
        "Docker ignores ports: on the host's network: {o}"
    );
    let v = m.detect_json(&[]);
    crate::compose::agree_with_docker_compose(&m, "/root/dpserver", &v);
    // The audit's verdict: the listener is on the host's loopback only.
    let (ids, v, _) = crate::audit::audit(&m, &[]);
    assert!(!ids.contains(&"DPW-SRV-008".to_string()), "{ids:?}");
    assert!(v["passed"].to_string().contains("DPW-SRV-008"), "{v}");
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
}

#[test]
fn a_project_named_compose_yaml_gets_compose_override_yaml() {
    let (m, _d, a) = own_web_server(&[]);
    let main = m.read(MAIN);
    std::fs::remove_file(m.path(MAIN)).unwrap();
    m.file("/root/dpserver/compose.yaml", &main);
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stdout.contains(
            "-f /root/dpserver/compose.yaml -f /root/dpserver/compose.override.yaml up -d drawpile-srv"
        ),
        "{}",
        apply.stdout
    );
    assert_eq!(m.read("/root/dpserver/compose.yaml"), main);
    assert!(
        m.read("/root/dpserver/compose.override.yaml")
            .contains("- \"127.0.0.1:27751:27751\"")
    );
    assert!(!m.path(OVERRIDE).exists());
    let v = m.detect_json(&[]);
    crate::compose::agree_with_docker_compose(&m, "/root/dpserver", &v);
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
}

#[test]
fn answers_the_container_cannot_honour_are_refused_at_their_line() {
    let m = FakeMachine::debian12();
    dpserver::pre_2026(&m);
    let before = snapshot(m.root());
    for (extra, key) in [
        ("[tls]\nmode = \"certbot\"\n", "[tls.mode]"),
        (
            "[drawpile]\nwebsocket_listen = \"127.0.0.1\"\n",
            "[drawpile.websocket_listen]",
        ),
        (
            "[drawpile]\nweb_admin_port = 9999\n",
            "[drawpile.web_admin_port]",
        ),
    ] {
        let (_d, a) = answers(extra);
        let run = m.dpwizard(["apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 2, "{extra}: {run:?}");
        assert!(run.stderr.contains(key), "{extra}: {}", run.stderr);
        assert!(run.stderr.contains("compose service"), "{}", run.stderr);
    }
    // The web admin port it already has asks for nothing.
    let (_d, a) = answers("[drawpile]\nweb_admin_port = 27780\n");
    assert_eq!(m.dpwizard(["plan", "--answers", &a]).code, 0);
    assert_eq!(snapshot(m.root()), before, "nothing written");
}

#[test]
fn a_websocket_port_published_by_the_projects_own_file_is_reported_not_edited() {
    let m = FakeMachine::debian12();
    dpserver::pre_2026(&m);
    let main = dpserver::COMPOSE.replacen(
        "            - \"27750:27750\"\n",
        "            - \"27750:27750\"\n            - \"27751:27751\"\n",
        1,
    );
    m.file(MAIN, &main);
    let (_d, a) = answers("");
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stdout.contains(&format!(
            "publishes its WebSocket port 27751 on the host (0.0.0.0:27751), past the TLS \
             and Origin check of the nginx container; dpwizard does not edit {MAIN} (the project's own \
             file): remove that ports: line there"
        )),
        "{}",
        apply.stdout
    );
    assert_eq!(m.read(MAIN), main);
    assert!(!m.path(OVERRIDE).exists());
}

/// README's dpserver examples are this binary's output on the fixture, not typed by hand:
/// the blocks between `<!-- BEGIN generated: NAME -->` and `<!-- END generated: NAME -->`
/// (rewritten by `DPWIZARD_BLESS=1 cargo test --test it readme_dpserver`).
#[test]
fn readme_dpserver_examples_are_the_binarys_output() {
    let m = FakeMachine::debian12();
    dpserver::pre_2026(&m);
    let audit = m.dpwizard(["--color", "never", "audit", "--offline"]);
    assert_eq!(audit.code, 1, "{audit:?}");
    let (_d, a) = answers("");
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let root = m.root().display().to_string();
    for out in [&audit.stdout, &plan.stdout] {
        assert!(!out.contains(&root), "the fixture's path leaks: {out}");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let mut readme = std::fs::read_to_string(&path).unwrap();
    for (name, command, out) in [
        (
            "dpserver audit",
            "$ sudo dpwizard audit --offline",
            &audit.stdout,
        ),
        (
            "dpserver plan",
            "$ sudo dpwizard plan --answers dpserver.toml    # [site] domain = \"draw.example.com\"",
            &plan.stdout,
        ),
    ] {
        let begin = format!("<!-- BEGIN generated: {name} -->\n");
        let end = format!("<!-- END generated: {name} -->");
        let (Some(b), Some(e)) = (readme.find(&begin), readme.find(&end)) else {
            panic!("README.md has no {begin:?} … {end:?} block");
        };
        readme = format!(
            "{}{begin}```\n{command}\n{out}```\n{}",
            &readme[..b],
            &readme[e..]
        );
    }
    if std::env::var_os("DPWIZARD_BLESS").is_some() {
        std::fs::write(&path, &readme).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap() == readme,
        "README.md's dpserver examples are stale: run DPWIZARD_BLESS=1 cargo test --test it readme_dpserver"
    );
}
