//! `[web_client]` under --root: nginx in dpserver's container gets the client in its
//! bind-mounted site and the directory mounted read-only through the override file; a second
//! apply changes nothing; rollback restores; a directory without a client is refused by key
//! with nothing written. (The live tests with Chromium: web_client_live.rs.)

use crate::readonly::snapshot;
use crate::support::dpserver::{self, DOMAIN};
use crate::support::*;

const SITE: &str = "/root/dpserver/nginx-config/default.conf";
const OVERRIDE: &str = "/root/dpserver/docker-compose.override.yaml";
const DIR: &str = "/srv/drawpile-web";

fn answers(m: &FakeMachine) -> String {
    let text = format!(
        "[site]\ndomain = \"{DOMAIN}\"\n\n[web_client]\nenabled = true\ndirectory = \"{DIR}\"\n\
         acknowledged = true\n"
    );
    let p = m.path("/answers.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn dpserver_s_nginx_container_serves_the_client_through_a_read_only_mount() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(&format!("{DIR}/index.html"), "<p>client</p>\n")
        .file(&format!("{DIR}/client.wasm"), b"\0asm\x01\0\0\0");
    let a = answers(&m);
    let site_before = m.read(SITE);
    assert!(!m.path(OVERRIDE).exists());

    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let site = m.read(SITE);
    let begin = site.find("# >>> dpwizard web client").unwrap();
    let end = site.find("# <<< dpwizard web client\n").unwrap() + 26;
    let block = &site[begin..end];
    assert_eq!(block.matches(&format!("root {DIR};")).count(), 3, "{block}");
    // Besides whole lines added inside the TLS server that holds the WebSocket route, the
    // site is what allowing the page's own origin makes of it (the page connects with it):
    // the same as applying that origin alone on a twin machine.
    let twin = FakeMachine::debian12();
    dpserver::current(&twin);
    let p = twin.path("/answers.toml");
    std::fs::write(
        &p,
        format!("[site]\ndomain = \"{DOMAIN}\"\n[proxy]\nextra_origins = [\"https://{DOMAIN}\"]\n"),
    )
    .unwrap();
    let run = twin.dpwizard(["apply", "--yes", "--answers", p.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let start = site[..begin].rfind('\n').unwrap() + 1;
    assert_eq!(
        format!("{}{}", &site[..start], &site[end..]),
        twin.read(SITE),
        "{site}"
    );
    assert_ne!(twin.read(SITE), site_before);
    let ws = site.find("location /drawpile-web/ws").unwrap();
    let server = site[..ws].rfind("server {").unwrap();
    assert!(
        server < begin && !site[server..begin].contains("\n}"),
        "{site}"
    );
    assert_eq!(
        m.read(OVERRIDE)
            .lines()
            .filter(|l| l.contains(DIR))
            .collect::<Vec<_>>(),
        [format!("      - \"{DIR}:{DIR}:ro\"")],
        "{}",
        m.read(OVERRIDE)
    );
    // dpserver's own page at / (its server-level root) is behind the client now: said.
    let root_line = site_before[..site_before.find("\troot /var/www/public_html;").unwrap()]
        .matches('\n')
        .count()
        + 1;
    assert!(
        apply.stdout.contains(&format!(
            "https://{DOMAIN}/ now serves the browser client: what the site served there before \
             ({SITE}:{root_line}) is no longer reachable"
        )),
        "{}",
        apply.stdout
    );
    assert!(
        apply.stdout.contains("up -d nginx"),
        "the container is re-created with the mount: {}",
        apply.stdout
    );
    // Judged from the block under --root (no live probes).
    let audit = m.dpwizard(["audit", "--json", "--domain", DOMAIN]);
    let v: serde_json::Value =
        serde_json::from_str(&audit.stdout).unwrap_or_else(|e| panic!("{e}: {audit:?}"));
    for id in ["DPW-WEB-001", "DPW-WEB-002", "DPW-WEB-003", "DPW-WEB-005"] {
        assert!(v["passed"].to_string().contains(id), "{id}: {v}");
    }

    let again = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);

    let rb = m.dpwizard(["rollback"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(m.read(SITE), site_before);
    assert!(!m.path(OVERRIDE).exists());
}

#[test]
fn a_directory_without_a_client_is_refused_with_nothing_written() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(&format!("{DIR}/index.html"), "<p>no wasm</p>\n");
    let a = answers(&m);
    let before = snapshot(m.root());
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 2, "{apply:?}");
    assert!(
        apply.stderr.contains(&format!(
            "{a}:6:13: [web_client.directory] {DIR} holds no built browser client: a .wasm file \
             missing there"
        )),
        "{apply:?}"
    );
    assert_eq!(snapshot(m.root()), before, "something was written");
}

#[test]
fn under_root_the_audit_judges_the_block_and_names_a_missing_header() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(&format!("{DIR}/index.html"), "<p>client</p>\n")
        .file(&format!("{DIR}/client.wasm"), b"\0asm\x01\0\0\0");
    let a = answers(&m);
    let apply = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let site = m.read(SITE);
    m.file(
        SITE,
        site.lines()
            .filter(|l| !l.contains("Cross-Origin-Opener-Policy"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    std::fs::remove_file(m.path(&format!("{DIR}/client.wasm"))).unwrap();
    let audit = m.dpwizard(["audit", "--json", "--domain", DOMAIN]);
    let v: serde_json::Value =
        serde_json::from_str(&audit.stdout).unwrap_or_else(|e| panic!("{e}: {audit:?}"));
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .filter(|id| id.starts_with("DPW-WEB"))
        .collect();
    assert_eq!(ids, ["DPW-WEB-001", "DPW-WEB-002"], "{v}");
    let evidence = v["findings"].to_string();
    assert!(
        evidence.contains("the block sets no Cross-Origin-Opener-Policy: same-origin: the page is not cross-origin isolated"),
        "{evidence}"
    );
    assert!(
        evidence.contains(&format!("{DIR} has no index.html or no .wasm file")),
        "{evidence}"
    );
    for id in ["DPW-WEB-003", "DPW-WEB-005", "DPW-WEB-006", "DPW-WEB-007"] {
        assert!(v["passed"].to_string().contains(id), "{id}: {v}");
    }
    // Not probed under --root: the redirect is skipped, with the reason.
    assert!(v["skipped"].to_string().contains("DPW-WEB-008"), "{v}");
}

/// `answers --from-machine` exported to a file; `plan --check` with it finds nothing to do.
fn export_changes_nothing(m: &FakeMachine) -> String {
    let run = m.dpwizard(["answers", "--from-machine"]);
    assert_eq!(run.code, 0, "{run:?}");
    let p = m.path("/exported.toml");
    std::fs::write(&p, &run.stdout).unwrap();
    let check = m.dpwizard(["plan", "--check", "--answers", p.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{check:?}\n{}", run.stdout);
    run.stdout
}

/// The `[web_client]` section's keys and values (its comments left out), or none.
fn web_client_section(text: &str) -> Vec<String> {
    text.find("[web_client]")
        .map(|i| {
            text[i + "[web_client]".len()..]
                .lines()
                .take_while(|l| !l.starts_with('['))
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The section that hosts the client from DIR (on a site of its own for `own`).
fn hosted(own: Option<&str>) -> Vec<String> {
    let mut lines = vec![
        "enabled = true".to_string(),
        format!("directory = \"{DIR}\""),
    ];
    lines.extend(own.map(|d| format!("domain = \"{d}\"")));
    lines.push("acknowledged = true".into());
    lines
}

/// A client dpwizard set up is exported as `[web_client]` (on, its directory, the
/// acknowledgement the admin gave then, said in a comment), so applying the export changes
/// nothing: on dpserver with the client at the domain's root, and with nginx on the host
/// serving it on a site of its own (`web_client.domain`). Without the block there is none.
#[test]
fn answers_from_machine_exports_the_hosted_client_and_applying_it_changes_nothing() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(&format!("{DIR}/index.html"), "<p>client</p>\n")
        .file(&format!("{DIR}/client.wasm"), b"\0asm\x01\0\0\0");
    assert!(web_client_section(&export_changes_nothing(&m)).is_empty());
    let apply = m.dpwizard(["apply", "--yes", "--answers", &answers(&m)]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let text = export_changes_nothing(&m);
    assert_eq!(web_client_section(&text), hosted(None), "{text}");
    let line = m
        .read(SITE)
        .lines()
        .position(|l| l.trim() == "# >>> dpwizard web client")
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!(
            "# acknowledged by the admin when the client was set up: dpwizard writes the\n\
             # block at {SITE}:{line} only after that."
        )),
        "{text}"
    );

    // nginx on the host, the client on a site of its own with a certificate naming it.
    let (m, answers, _dir) = crate::apply::plan_and_apply::machine();
    let (domain, own) = ("paint.example.com", "web.paint.example.com");
    let mut params =
        rcgen::CertificateParams::new(vec![domain.to_string(), own.to_string()]).unwrap();
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(60);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap().pem();
    let archive = format!("/etc/letsencrypt/archive/{domain}");
    m.file(&format!("{archive}/cert1.pem"), &cert)
        .file(&format!("{archive}/fullchain1.pem"), &cert)
        .file(&format!("{archive}/privkey1.pem"), key.serialize_pem())
        .file(&format!("{DIR}/index.html"), "<p>client</p>\n")
        .file(&format!("{DIR}/client.wasm"), b"\0asm\x01\0\0\0");
    let text = format!(
        "{}[web_client]\nenabled = true\ndirectory = \"{DIR}\"\ndomain = \"{own}\"\n\
         acknowledged = true\n",
        std::fs::read_to_string(&answers).unwrap()
    );
    std::fs::write(&answers, text).unwrap();
    let apply = m.dpwizard(["apply", "--yes", "--answers", answers.to_str().unwrap()]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let text = export_changes_nothing(&m);
    assert_eq!(web_client_section(&text), hosted(Some(own)), "{text}");
    assert!(text.contains(&format!("domain = \"{domain}\"")), "{text}");
}
